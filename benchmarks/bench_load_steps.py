"""Loading and features of a large shop, step by step, and the compiled id numbering against pandas.

    python benchmarks/bench_load_steps.py --data DIR [--repeat 2] [--all-text]

DIR is a shop on disk (``cartrisk generate`` or ``write_shop(generate_shop(N, 60, seed=9), DIR)``). Times, per
repetition: reading each table (``features.io.read_raw``) and validating it, ``prepare_shop`` (events put in
order, sessions, labels), ``compute_profiles`` for every cart's session start, and the snapshots of the latest
cart state (``snapshots_from_shop(latest_only=True)``, which computes the profiles again); then, for each id
column of the events, e-mail events and orders, ``features.ids.factorize_ids`` against ``pd.factorize`` (and
checks they agree). ``new_gib`` is the new memory each read touched (``_common.fresh_pages``); ``--all-text``
reads every text column as text, leaving out the categories that loading asks for (the schema's ``few_values``),
to compare. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import fresh_pages, peak_rss_mib, report


def _timed(fn: Any) -> tuple[Any, float]:
    t = time.perf_counter()
    out = fn()
    return out, round(time.perf_counter() - t, 2)


def one_pass(data: Path, all_text: bool, new_gib: dict[str, float]) -> dict[str, float]:
    """Seconds of each loading and feature step, once; the new memory of each read goes to ``new_gib``."""
    import numpy as np

    from features.io import Dataset, read_raw, table_path
    from features.profiles import compute_profiles, prepare_shop
    from features.schema import TABLES
    from features.snapshots import snapshots_from_shop
    from features.validate import validate

    seconds: dict[str, float] = {}
    tables: dict[str, Any] = {}
    for name, schema in TABLES.items():
        path = table_path(data, name)
        if path is None:
            continue
        categories = [] if all_text else [c.name for c in schema.columns if c.few_values]
        before = fresh_pages()
        raw, seconds[f"read_{name}"] = _timed(lambda p=path, c=categories: read_raw(p, categories=c))
        new_gib[f"read_{name}"] = round((fresh_pages() - before) / 2**30, 2)
        checked, seconds[f"validate_{name}"] = _timed(lambda r=raw, s=schema: validate(r, s, max_bad_share=0.05))
        tables[name] = checked.good
    ds = Dataset(events=tables["events"], orders=tables["orders"], email_events=tables["email_events"],
                 customers=tables["customers"], experiments=tables.get("experiments"))
    shop, seconds["prepare_shop"] = _timed(lambda: prepare_shop(ds))
    carts = shop.sessions["has_cart"].to_numpy()
    starts = shop.sessions["start_us"].to_numpy()[carts]
    _, seconds["compute_profiles_per_cart"] = _timed(
        lambda: compute_profiles(shop, shop.session_customer[carts], np.asarray(starts)))
    _, seconds["snapshots_latest"] = _timed(lambda: snapshots_from_shop(shop, latest_only=True))
    return seconds


def id_columns(data: Path) -> dict[str, dict[str, float]]:
    """``factorize_ids`` against ``pd.factorize`` on each id column (seconds), after checking they agree."""
    import numpy as np
    import pandas as pd

    from features.ids import factorize_ids
    from features.io import read_raw, table_path

    out: dict[str, dict[str, float]] = {}
    factorize_ids(pd.Series(["c1"] * 200_000, dtype="string"))  # the compiled code loaded once
    for table, column in (("events", "session_id"), ("events", "customer_id"), ("events", "product_id"),
                          ("email_events", "customer_id"), ("orders", "customer_id")):
        path = table_path(data, table)
        if path is None:
            continue
        values = read_raw(path)[column]
        (codes, uniques), fast = _timed(lambda v=values: factorize_ids(v))
        (want, want_uniques), slow = _timed(lambda v=values: pd.factorize(v.astype("string"), sort=False))
        if not (np.array_equal(codes, want) and list(uniques) == list(want_uniques)):
            raise AssertionError(f"{table}.{column}: factorize_ids differs from pd.factorize")
        out[f"{table}.{column}"] = {"factorize_ids": fast, "pd_factorize": slow, "distinct": len(uniques)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="a shop's tables (Parquet or CSV)")
    parser.add_argument("--repeat", type=int, default=2, help="passes over the loading and feature steps")
    parser.add_argument("--all-text", action="store_true",
                        help="read every text column as text (no categories for the few_values columns)")
    args = parser.parse_args()
    new_gib: list[dict[str, float]] = []
    passes = []
    for _ in range(args.repeat):
        new_gib.append({})
        passes.append(one_pass(args.data, args.all_text, new_gib[-1]))
    report("load_steps", {"all_text": args.all_text, "passes": passes, "new_gib": new_gib,
                          "ids": id_columns(args.data), "peak_rss_mib": round(peak_rss_mib())})


if __name__ == "__main__":
    main()
