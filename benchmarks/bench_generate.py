"""Synthetic shop generation speed and memory, at about 10 million events.

    python benchmarks/bench_generate.py                     # 290,000 customers x 60 days, ~10 M events
    python benchmarks/bench_generate.py --out .cartrisk/bench10m   # keep the shop (bench_features.py reads it)

Times :func:`training.synthetic_shop.generate_shop` and :func:`training.synthetic_shop.write_shop` (Parquet,
truth included) and reports the peak resident memory of the process. Without ``--out`` the files go to a
temporary folder that is removed afterwards. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import peak_rss_mib, report

TEN_MILLION_CUSTOMERS = 290_000
"""Known customers that give about 10 million events over 60 days (9,998,598 with seed 7)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=TEN_MILLION_CUSTOMERS,
                        help="known customers (default: %(default)s, about 10 million events over 60 days)")
    parser.add_argument("--days", type=int, default=60, help="days of sessions (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder to keep the shop in (default: a temporary folder, removed after)")
    args = parser.parse_args()

    from training.synthetic_shop import generate_shop, write_shop

    out = args.out if args.out is not None else Path(tempfile.mkdtemp(prefix="bench_generate_"))
    try:
        t0 = time.perf_counter()
        shop = generate_shop(args.customers, args.days, args.seed)
        t1 = time.perf_counter()
        write_shop(shop, out)
        t2 = time.perf_counter()
    finally:
        if args.out is None:
            shutil.rmtree(out, ignore_errors=True)
    summary = shop.summary()
    report(
        "generate",
        {
            "customers": args.customers,
            "days": args.days,
            "seed": args.seed,
            "events": summary["rows"]["events"],
            "rows": summary["rows"],
            "sessions": summary["sessions"],
            "carts": summary["carts"],
            "abandonment_rate": round(summary["abandonment_rate"], 4),
            "generate_seconds": round(t1 - t0, 2),
            "write_seconds": round(t2 - t1, 2),
            "total_seconds": round(t2 - t0, 2),
            "peak_rss_mib": round(peak_rss_mib()),
            "out": str(args.out) if args.out is not None else None,
        },
    )


if __name__ == "__main__":
    main()
