"""Training speed: about one million cart snapshots, trained and logged to MLflow (embedded SQLite store).

    python benchmarks/bench_train.py [--customers 420000] [--days 60]

Generates a shop and derives its snapshots first (not timed), then times `training.train.train_and_log`: the
time split, LightGBM with early stopping, calibration check, test metrics and slices, plots, and logging
parameters, metrics, artifacts and the model to MLflow. The workspace is a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import peak_rss_mib, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=420_000, help="customers of the generated shop")
    parser.add_argument("--days", type=int, default=60, help="days of the generated shop")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    os.environ["CARTRISK_HOME"] = tempfile.mkdtemp(prefix="cartrisk-bench-train-")
    os.environ.pop("MLFLOW_TRACKING_URI", None)

    from features.snapshots import build_snapshots
    from training.synthetic_shop import generate_shop
    from training.train import TrainConfig, train_and_log

    t0 = time.perf_counter()
    shop = generate_shop(customers=args.customers, days=args.days, seed=args.seed)
    snaps = build_snapshots(shop.dataset)
    truth = shop.snapshots
    del shop
    prepared = time.perf_counter() - t0
    t1 = time.perf_counter()
    result = train_and_log(snaps, TrainConfig(seed=args.seed, register=True), truth=truth, source="bench")
    seconds = time.perf_counter() - t1
    report(
        "train_with_mlflow",
        {
            "snapshots": len(snaps),
            "train_rows": len(result.split.train),
            "valid_rows": len(result.split.valid),
            "test_rows": len(result.split.test),
            "best_iteration": int(result.metrics["best_iteration"]),
            "train_and_log_seconds": round(seconds, 1),
            "data_prep_seconds_not_timed": round(prepared, 1),
            "test_roc_auc": round(result.metrics["test_roc_auc"], 4),
            "bayes_limit_roc_auc": round(result.metrics.get("bayes_limit_roc_auc", float("nan")), 4),
            "test_ece": round(result.metrics["test_ece"], 4),
            "peak_rss_mib": round(peak_rss_mib()),
        },
    )


if __name__ == "__main__":
    main()
