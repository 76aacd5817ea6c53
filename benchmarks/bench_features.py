"""Batch feature derivation speed and memory: snapshots of a generated shop of about 10 million events.

    python benchmarks/bench_features.py --data .cartrisk/bench10m   # reuses a generated shop if present

Generates the shop first when ``--data`` does not exist (not timed), then times loading, preparing sessions and
profiles, and deriving the snapshot table, and reports peak memory.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import peak_rss_mib, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(".cartrisk/bench10m"), help="generated shop folder")
    parser.add_argument("--customers", type=int, default=None, help="customers when generating (default: "
                        "the size that gives about 10 million events, see bench_generate.py)")
    parser.add_argument("--days", type=int, default=None, help="days when generating")
    args = parser.parse_args()

    from features.io import load_dataset
    from features.profiles import prepare_shop
    from features.snapshots import snapshots_from_shop

    if not (args.data / "events.parquet").exists():
        import subprocess

        cmd = [sys.executable, str(Path(__file__).with_name("bench_generate.py")), "--out", str(args.data)]
        if args.customers:
            cmd += ["--customers", str(args.customers)]
        if args.days:
            cmd += ["--days", str(args.days)]
        subprocess.run(cmd, check=True)

    t0 = time.perf_counter()
    ds = load_dataset(args.data, quarantine_dir=None)
    t1 = time.perf_counter()
    shop = prepare_shop(ds)
    t2 = time.perf_counter()
    snaps = snapshots_from_shop(shop)
    t3 = time.perf_counter()
    report(
        "batch_features",
        {
            "events": len(ds.events),
            "snapshots": len(snaps),
            "load_and_validate_seconds": round(t1 - t0, 2),
            "sessions_and_labels_seconds": round(t2 - t1, 2),
            "snapshot_features_seconds": round(t3 - t2, 2),
            "derivation_seconds": round(t3 - t1, 2),
            "total_seconds": round(t3 - t0, 2),
            "peak_rss_mib": round(peak_rss_mib()),
        },
    )


if __name__ == "__main__":
    main()
