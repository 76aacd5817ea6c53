"""The batch tree evaluator (serving/forest.py) against LightGBM's own batch prediction, on the same carts.

    python benchmarks/bench_forest.py [--customers 100000] [--repeats 5]

Trains the risk and uplift models of ``bench_score_batch.py`` (a small all-experiment shop), derives the latest
snapshot of every cart of a generated shop of ``--customers`` customers, and times, best of ``--repeats``:

* uplift: the raw scores of all the uplift boosters (3 cross-fitted base models, one offset per arm, the order
  value), ``Booster.predict(raw_score=True)`` once per booster against one ``Forest.raw``;
* risk and reasons: the risk booster's leaves (``predict(pred_leaf=True)``), its raw score and the top-3 path
  contributions gathered from them (what batch scoring did before) against one ``Forest.explain``.

Checks on the way that the raw scores are identical and the top reasons the same. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from _common import report
from bench_score_batch import models


def best(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from features.definitions import FEATURE_NAMES
    from features.snapshots import build_snapshots, model_frame
    from serving.batch import latest_carts
    from serving.fastpredict import FastBooster
    from serving.forest import Forest
    from training.synthetic_shop import generate_shop

    risk, uplift = models()
    carts = latest_carts(build_snapshots(generate_shop(args.customers, 60, seed=9).dataset, latest_only=True))
    x = np.ascontiguousarray(model_frame(carts)[list(FEATURE_NAMES)].to_numpy(dtype=np.float64))
    boosters = [*uplift.base, *(uplift.offsets[a] for a in uplift.arms), uplift.value]
    forest_up = Forest(boosters, x.shape[1])
    forest_risk = Forest([risk.booster], x.shape[1], explained=0)
    fast = FastBooster(risk.booster)

    def lightgbm_uplift() -> np.ndarray:
        return np.column_stack([b.predict(x, raw_score=True) for b in boosters])

    def lightgbm_risk() -> tuple[np.ndarray, np.ndarray]:
        leaves = np.asarray(risk.booster.predict(x, pred_leaf=True), dtype=np.int64).reshape(len(x), -1)
        raw = fast._leaf_value[fast._offsets + leaves].sum(axis=1)
        contrib = np.zeros((len(x), fast.n_features))
        for t in range(leaves.shape[1]):
            contrib += fast._table[fast._offsets[t] + leaves[:, t]]
        return raw, np.argsort(-contrib, axis=1, kind="stable")[:, :3]

    forest_up.raw(x[:10])  # compile (or load the compiled code) before timing
    assert np.array_equal(forest_up.raw(x), lightgbm_uplift()), "uplift raw scores differ"
    explained = forest_risk.explain(x, 3)
    raw, top = lightgbm_risk()
    same_top = float((explained.top == top).all(axis=1).mean())
    assert np.allclose(explained.raw[:, 0], raw, atol=1e-9), "risk raw scores differ"
    t_up_lgb = best(lightgbm_uplift, args.repeats)
    t_up_forest = best(lambda: forest_up.raw(x), args.repeats)
    t_risk_lgb = best(lightgbm_risk, args.repeats)
    t_risk_forest = best(lambda: forest_risk.explain(x, 3), args.repeats)
    report("forest", {
        "carts": len(x), "uplift_trees": forest_up.n_trees, "risk_trees": forest_risk.n_trees,
        "uplift_seconds": {"lightgbm": round(t_up_lgb, 3), "forest": round(t_up_forest, 3)},
        "risk_and_reasons_seconds": {"lightgbm": round(t_risk_lgb, 3), "forest": round(t_risk_forest, 3)},
        "uplift_speedup": round(t_up_lgb / t_up_forest, 2),
        "risk_and_reasons_speedup": round(t_risk_lgb / t_risk_forest, 2),
        "same_top_reasons_share": round(same_top, 5),
    })


if __name__ == "__main__":
    main()
