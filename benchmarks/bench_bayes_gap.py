"""Model against the Bayes limit on generated shops: what `cartrisk train` does, per shop size and seed.

    python benchmarks/bench_bayes_gap.py [--customers 20000 60000] [--seeds 7 8 9] [--days 60] [--default-only]

For each shop (customers x seed) it generates the shop, derives the snapshots, and runs
`training.train.train_and_log` with its defaults (7 validation days, 7 test days, the tree size chosen among
`COMPLEXITY_PRESETS` by validation loss on small training sets) into a temporary MLflow store. It reports the test
ROC-AUC, the Bayes limit (the generator's exact probability given only what the tables show, on the same test
snapshots), the gap, and which preset was chosen with each candidate's validation log loss. The issue's goal: a
gap within 0.01. Prints one JSON line per shop and a summary line.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, nargs="+", default=[20_000, 60_000], help="shop sizes")
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 8, 9], help="generator seeds")
    parser.add_argument("--days", type=int, default=60, help="days of each shop")
    parser.add_argument("--default-only", action="store_true",
                        help="train the default tree size only (no choice among the presets), for comparison")
    args = parser.parse_args()

    os.environ["CARTRISK_HOME"] = tempfile.mkdtemp(prefix="cartrisk-bench-bayes-")
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    from mlflow import MlflowClient

    from features.snapshots import build_snapshots
    from training.synthetic_shop import generate_shop
    from training.train import TrainConfig, train_and_log

    rows = []
    for customers in args.customers:
        for seed in args.seeds:
            shop = generate_shop(customers=customers, days=args.days, seed=seed)
            snaps = build_snapshots(shop.dataset)
            config = TrainConfig(seed=seed, select_max_rows=0) if args.default_only else TrainConfig(seed=seed)
            result = train_and_log(snaps, config, truth=shop.snapshots, source="bench")
            m = result.metrics
            params = MlflowClient().get_run(result.run_id).data.params
            row = {"customers": customers, "seed": seed, "test_snapshots": len(result.split.test),
                   "train_rows": int(m["train_rows"]), "model_roc_auc": round(m["test_roc_auc"], 4),
                   "bayes_limit_roc_auc": round(m["bayes_limit_roc_auc"], 4),
                   "gap": round(m["gap_to_bayes_limit_roc_auc"], 4), "preset": params["complexity_preset"],
                   "valid_logloss": {k.removeprefix("valid_logloss_preset_"): round(v, 5) for k, v in m.items()
                                     if k.startswith("valid_logloss_preset_")}}
            rows.append(row)
            print(row, flush=True)
    report("bayes_gap", {"shops": rows, "max_gap": max(r["gap"] for r in rows),
                         "within_0_01": sum(r["gap"] <= 0.01 for r in rows), "of": len(rows)})


if __name__ == "__main__":
    main()
