"""UCI online shoppers: held-out and cross-validated figures of the project's training code, with timings.

    python benchmarks/bench_uci.py [--train FILE] [--test FILE] [--seed 7] [--folds 5] [--repeats 5]

Without ``--test`` it runs what ``cartrisk benchmark uci --train FILE`` runs (a stratified 70/30 split of the file
plus stratified k-fold cross-validation), and also repeats the 70/30 split for ``--repeats`` seeds to show how much
the held-out figures move with the split alone. With ``--test`` it trains on all of FILE and tests on the other
file. The data are read in place (``../shared/data`` by default). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import peak_rss_mib, report

DEFAULT_TRAIN = (Path(__file__).resolve().parents[2] / "shared" / "data" / "uci-online-shoppers"
                 / "online_shoppers_intention.train.csv")


def _round(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=Path, default=DEFAULT_TRAIN, help="labelled UCI CSV")
    parser.add_argument("--test", type=Path, default=None, help="labelled UCI CSV to test on")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds (0 = none)")
    parser.add_argument("--repeats", type=int, default=5, help="70/30 splits with seeds seed, seed+1, ...")
    args = parser.parse_args()

    from training.uci import (
        HEADLINE,
        PUBLISHED,
        UCI_PARAMS,
        cross_validate,
        holdout_benchmark,
        read_uci_csv,
        split_benchmark,
    )

    t0 = time.perf_counter()
    train = read_uci_csv(args.train, require_label=True)
    results: dict[str, Any] = {"train_file": args.train.name, "rows": len(train),
                               "read_s": round(time.perf_counter() - t0, 2)}

    t0 = time.perf_counter()
    if args.test is not None:
        test = read_uci_csv(args.test, require_label=True)
        result = holdout_benchmark(train, test, seed=args.seed)
        results["test_file"] = args.test.name
    else:
        result = split_benchmark(train, seed=args.seed)
    held = result.as_dict()
    results["holdout"] = _round({k: held[k] for k in (*HEADLINE, "n_test", "n_train", "precision", "recall",
                                                       "threshold", "rounds", "calibrated")})
    results["holdout"]["protocol"] = held["protocol"]
    results["holdout_s"] = round(time.perf_counter() - t0, 2)

    if args.test is None and args.folds:
        t0 = time.perf_counter()
        cv = cross_validate(train, seed=args.seed, folds=args.folds)
        results["cv"] = {"folds": args.folds, **{k: {"mean": round(cv[k]["mean"], 4), "std": round(cv[k]["std"], 4)}
                                                 for k in HEADLINE}}
        results["cv_s"] = round(time.perf_counter() - t0, 2)

    if args.test is None and args.repeats > 1:
        t0 = time.perf_counter()
        runs = [split_benchmark(train, seed=args.seed + i).test for i in range(args.repeats)]
        results["holdout_over_seeds"] = {
            "seeds": [args.seed, args.seed + args.repeats - 1],
            **{k: {"mean": round(float(np.mean([r[k] for r in runs])), 4),
                   "std": round(float(np.std([r[k] for r in runs], ddof=1)), 4)} for k in HEADLINE},
        }
        results["repeats_s"] = round(time.perf_counter() - t0, 2)

    results["published"] = PUBLISHED
    results["params"] = UCI_PARAMS
    results["peak_rss_mib"] = round(peak_rss_mib(), 1)
    report("uci_online_shoppers", results)


if __name__ == "__main__":
    main()
