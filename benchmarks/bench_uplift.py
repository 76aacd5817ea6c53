"""The profit policy on generated shops: its true profit as a share of the oracle's, next to the baselines.

    python benchmarks/bench_uplift.py [--shops 100000:0.3:1 500000:0.3:2 100000:1.0:31] [--days 60]

Each shop is ``customers:experiment_share:seed``. For each: generate it, derive its snapshots, run what
``cartrisk uplift train`` runs (experiment table, split by decision time, the uplift learner, the policy on the
last week of experiment carts) and report, per policy, the true incremental profit per cart (from the generator's
per-arm purchase probabilities) and its share of the oracle's (the best eligible choice per cart under the true
effects, which knows what no model can see: intent, price sensitivity, the rest of the cart).

Also reported, as a ceiling for any policy that sees only the cart's features: the same policy driven by LightGBM
regressions of the *true* per-arm purchase probabilities on the features (fitted on the training window's truth;
a diagnostic that uses the truth, not a model anyone could train on a real shop). Prints one JSON line per shop
and a markdown table.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import machine, peak_rss_mib, report

from training.uplift_model import UpliftModel
from training.uplift_train import UpliftConfig


@dataclass
class TruthRegression(UpliftModel):
    """The feature-only ceiling: regressions of the true per-arm probabilities (see the module docstring)."""

    regressions: dict[str, Any] | None = None

    def purchase_probabilities(self, x: pd.DataFrame) -> pd.DataFrame:
        assert self.regressions is not None
        x = x[list(self.feature_names)]
        return pd.DataFrame({a: np.clip(r.predict(x), 1e-4, 1 - 1e-4) for a, r in self.regressions.items()},
                            index=x.index)


def feature_ceiling(result: Any, truth: pd.DataFrame, catalogue: Any) -> dict[str, float]:
    import lightgbm as lgb

    from features.snapshots import model_frame
    from training.uplift_train import evaluate_uplift

    frame = result.table.frame
    train, valid = frame.iloc[result.split.train], frame.iloc[result.split.valid]
    keep = truth.drop(columns=[c for c in ("incentive", "customer_id", "device", "cart_value", "shipping_fee")
                               if c in truth])
    t_train = train[["session_id"]].merge(keep, on="session_id", how="left")
    t_valid = valid[["session_id"]].merge(keep, on="session_id", how="left")
    regressions = {}
    for arm in result.model.arms:
        col = f"p_purchase_{arm}"
        ok, vok = t_train[col].notna().to_numpy(), t_valid[col].notna().to_numpy()
        d = lgb.Dataset(model_frame(train)[ok], t_train[col].to_numpy()[ok])
        dv = lgb.Dataset(model_frame(valid)[vok], t_valid[col].to_numpy()[vok], reference=d)
        regressions[arm] = lgb.train({"objective": "regression", "learning_rate": 0.05, "num_leaves": 31,
                                      "verbose": -1, "seed": 7}, d, 2000, valid_sets=[dv],
                                     callbacks=[lgb.early_stopping(50, verbose=False)])
    m = result.model
    ceiling = TruthRegression(m.base, m.offsets, m.shifts, m.value, m.value_default, m.feature_names, m.feature_set,
                              regressions=regressions)
    metrics, _, _ = evaluate_uplift(ceiling, result.test_frame, catalogue, truth)
    return {"share_of_oracle": metrics["policy_share_of_oracle"], "profit_per_cart": metrics["policy_profit_per_cart"]}


def run_shop(customers: int, share: float, seed: int, days: int, bases: list[str]) -> list[dict[str, Any]]:
    from features.snapshots import build_snapshots
    from serving.policy import default_catalogue
    from training.synthetic_shop import generate_shop
    started = time.perf_counter()
    shop = generate_shop(customers, days, seed, experiment_share=share)
    snaps = build_snapshots(shop.dataset)
    generated = time.perf_counter() - started
    assert shop.dataset.experiments is not None
    catalogue = default_catalogue()
    about = {"customers": customers, "days": days, "experiment_share": share, "seed": seed}
    return [fit_one(snaps, shop, catalogue, about, base, generated, UpliftConfig(refit_base=base == "refit"))
            for base in bases]


def fit_one(snaps: pd.DataFrame, shop: Any, catalogue: Any, about: dict[str, Any], base: str, generated: float,
            config: UpliftConfig) -> dict[str, Any]:
    from training.uplift_train import fit_and_evaluate

    t0 = time.perf_counter()
    result = fit_and_evaluate(snaps, shop.dataset.experiments, catalogue, shop.experiments, config)
    fitted = time.perf_counter() - t0
    ceiling = feature_ceiling(result, shop.experiments, catalogue)
    policies = {name: {k: round(float(v), 4) for k, v in values.items()} for name, values in result.policies.items()}
    m = result.model
    return {
        **about, "base": base,
        "trees": {"base": sum(b.num_trees() for b in m.base), "offsets": sum(b.num_trees() for b in m.offsets.values()),
                  "value": m.value.num_trees() if m.value is not None else 0},
        "experiment_carts": len(result.table.frame), "test_carts": int(result.metrics["test_rows"]),
        "learned_share_of_oracle": round(result.metrics["policy_share_of_oracle"], 4),
        "best_baseline_share_of_oracle": round(result.metrics["best_baseline_share_of_oracle"], 4),
        "feature_ceiling_share_of_oracle": round(ceiling["share_of_oracle"], 4),
        "qini_mean": round(result.metrics.get("qini_mean", float("nan")), 4),
        "policies": policies,
        "seconds_generate_and_snapshots": round(generated, 1), "seconds_fit_and_evaluate": round(fitted, 1),
        "peak_rss_mib": round(peak_rss_mib()),
    }


def markdown(rows: list[dict[str, Any]]) -> str:
    names = ["learned", "rule_based", "everyone_reminder_email", "everyone_early_access", "high_risk_discount_10",
             "everyone_discount_10", "no_incentive"]
    head = "| shop | base | experiment carts (test) | feature ceiling | " + " | ".join(names) + " | fit + evaluate |"
    lines = [head, "|" + "---|" * (5 + len(names))]
    for r in rows:
        cells = [f"{r['customers']:,} customers, share {r['experiment_share']}, seed {r['seed']}",
                 f"{r['base']} ({r['trees']['base']} trees)",
                 f"{r['experiment_carts']:,} ({r['test_carts']:,})",
                 f"{r['feature_ceiling_share_of_oracle']:.0%}"]
        for n in names:
            p = r["policies"].get(n, {})
            share, profit = p.get("share_of_oracle", float("nan")), p.get("profit_per_cart", float("nan"))
            cells.append(f"{share:.0%} ({profit:+.3f})")
        cells.append(f"{r['seconds_fit_and_evaluate']} s")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shops", nargs="+", default=["100000:0.3:1", "100000:1.0:31", "500000:0.3:2"],
                        help="customers:experiment_share:seed per shop")
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--base", nargs="+", choices=["folds", "refit"], default=["refit"],
                        help="how new carts get their base score: the mean of the cross-fitted fold models (folds) "
                             "or one model refitted on all training rows (refit); several: each fitted on the "
                             "same shop")
    args = parser.parse_args()
    rows = []
    for spec in args.shops:
        customers, share, seed = spec.split(":")
        for row in run_shop(int(customers), float(share), int(seed), args.days, args.base):
            report("uplift_policy", row)
            rows.append(row)
    print(f"\n{machine()}\n")
    print(markdown(rows))


if __name__ == "__main__":
    main()
