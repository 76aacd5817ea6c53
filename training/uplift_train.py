"""Train the uplift models on the logged experiments and evaluate the profit policy they drive.

:func:`fit_and_evaluate` is the whole job without any tracking: experiment table -> time split by decision
(train / validation / test; a session on one side only) -> meta-learner (:mod:`training.uplift_model`) -> per arm
Qini coefficient, AUUC and uplift at 10/30% on the test window -> the profit policy against the baselines, with the
generator's truth when it exists and with off-policy estimates (IPS, DR) always.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.definitions import CATEGORICAL_FEATURES, FEATURE_SET
from features.snapshots import model_frame
from serving.policy import NONE, Catalogue
from training.data import TimeSplit, time_split
from training.evaluate import expected_calibration_error
from training.uplift_data import ExperimentTable, experiment_table
from training.uplift_eval import (
    baseline_choices,
    learned_choices,
    off_policy_values,
    oracle_choices,
    policy_inputs,
    policy_values,
    true_profits,
)
from training.uplift_metrics import qini_auc_score, uplift_at_k, uplift_auc_score
from training.uplift_model import UpliftModel, fit_uplift_model

__all__ = ["UpliftConfig", "UpliftResult", "arm_metrics", "comparison_rows", "evaluate_uplift", "fit_and_evaluate"]


@dataclass
class UpliftConfig:
    valid_days: float = 7.0
    test_days: float = 7.0
    seed: int = 7
    folds: int = 3
    refit_base: bool = True
    """Score new carts with one base model refitted on all training rows (see :mod:`training.uplift_model`)."""
    cv_folds: int = 5
    max_rounds: int = 1000
    patience: int = 50

    def as_params(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class UpliftResult:
    model: UpliftModel
    table: ExperimentTable
    split: TimeSplit
    metrics: dict[str, float]
    policies: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per policy: true profit per cart and share of the oracle (with truth), IPS and DR estimates."""
    test_frame: pd.DataFrame | None = None
    test_uplift: pd.DataFrame | None = None


def comparison_rows(frame: pd.DataFrame, code: str) -> tuple[np.ndarray, np.ndarray]:
    """The rows that compare incentive ``code`` with control (a boolean mask) and their treatment flags.

    Control rows are limited to the kind of cart the incentive can be given to: an incentive never given to a
    guest in these rows (an e-mail needs an address) is compared with known customers' control carts only."""
    arm = frame["incentive"].astype(str).to_numpy()
    guest = frame["is_guest"].to_numpy(dtype=np.float64) == 1 if "is_guest" in frame else np.zeros(len(frame), bool)
    never_guest = not guest[arm == code].any()
    rows = (arm == code) | ((arm == NONE) & ~(guest & never_guest))
    return rows, (arm[rows] == code).astype(np.float64)


def arm_metrics(frame: pd.DataFrame, uplift: pd.DataFrame) -> dict[str, float]:
    """Qini coefficient, AUUC and uplift at 10/30% of each arm against control, on their comparison rows."""
    out: dict[str, float] = {}
    y = frame["bought"].to_numpy(dtype=np.float64)
    qinis = []
    for code in uplift.columns:
        rows, t = comparison_rows(frame, str(code))
        if t.sum() < 2 or (1 - t).sum() < 2:
            continue
        u = uplift[code].to_numpy()[rows]
        out[f"qini_{code}"] = qini_auc_score(y[rows], u, t)
        out[f"auuc_{code}"] = uplift_auc_score(y[rows], u, t)
        out[f"uplift_at_10_{code}"] = uplift_at_k(y[rows], u, t, k=0.1)
        out[f"uplift_at_30_{code}"] = uplift_at_k(y[rows], u, t, k=0.3)
        out[f"observed_ate_{code}"] = float(y[rows][t == 1].mean() - y[rows][t == 0].mean())
        out[f"predicted_ate_{code}"] = float(u[t == 1].mean())
        qinis.append(out[f"qini_{code}"])
    if qinis:
        out["qini_mean"] = float(np.mean(qinis))
    return out


def fit_and_evaluate(
    snapshots: pd.DataFrame,
    experiments: pd.DataFrame,
    catalogue: Catalogue,
    truth: pd.DataFrame | None = None,
    config: UpliftConfig | None = None,
) -> UpliftResult:
    """Build the experiment table, split it by time, fit the uplift models and evaluate (see the module doc)."""
    config = config or UpliftConfig()
    arms = [a for a in catalogue.codes if a in set(experiments["incentive"].astype(str))]
    table = experiment_table(snapshots, experiments, arms=arms)
    frame = table.frame
    split = time_split(frame, valid_days=config.valid_days, test_days=config.test_days)
    x = model_frame(frame)
    arm = frame["incentive"].astype(str).to_numpy()
    y = frame["bought"].to_numpy(dtype=np.float64)
    value = frame["order_value"].to_numpy(dtype=np.float64)
    tr, va, te = split.train, split.valid, split.test
    model = fit_uplift_model(x.iloc[tr], arm[tr], y[tr], x.iloc[va], arm[va], y[va], table.arms,
                             categorical=CATEGORICAL_FEATURES, value=value[tr], value_valid=value[va],
                             folds=config.folds, refit_base=config.refit_base, cv_folds=config.cv_folds,
                             seed=config.seed, max_rounds=config.max_rounds, patience=config.patience,
                             feature_set=FEATURE_SET)
    test = frame.iloc[te].reset_index(drop=True)
    metrics, policies, uplift = evaluate_uplift(model, test, catalogue, truth)
    metrics["train_rows"] = float(len(tr))
    return UpliftResult(model, table, split, metrics, policies, test, uplift)


def evaluate_uplift(model: UpliftModel, test: pd.DataFrame, catalogue: Catalogue, truth: pd.DataFrame | None = None
                    ) -> tuple[dict[str, float], dict[str, dict[str, float]], pd.DataFrame]:
    """Metrics of ``model`` on held-out experiment rows: per-arm Qini/AUUC/uplift@k, calibration of the purchase
    probability under the arm each cart was given, and the profit policy against the baselines (off-policy
    estimates always; true profits and the oracle when the generator's ``truth`` is given)."""
    xt = model_frame(test)
    probs = model.purchase_probabilities(xt)
    uplift = probs.drop(columns=NONE).sub(probs[NONE], axis=0)
    metrics = arm_metrics(test, uplift)
    arm = test["incentive"].astype(str).to_numpy()
    y = test["bought"].to_numpy(dtype=np.float64)
    given = probs.to_numpy()[np.arange(len(test)), [list(probs.columns).index(a) for a in arm]]
    metrics["ece"] = expected_calibration_error(y, given)
    inputs = policy_inputs(test, probs, model.expected_order_value(xt), catalogue)
    choices = {"learned": learned_choices(inputs, catalogue), **baseline_choices(inputs, catalogue)}
    policies: dict[str, dict[str, float]] = {name: {} for name in choices}
    for name, est in off_policy_values(choices, test, inputs, catalogue).items():
        policies[name].update(est)
    if truth is not None:
        t = test[["session_id"]].merge(truth, on="session_id", how="left", validate="one_to_one")
        if t["p_purchase_none"].notna().all():
            profits = true_profits(t, model.arms, catalogue)
            oracle = oracle_choices(profits, inputs.eligible)
            for name, values in policy_values(choices, profits, oracle).items():
                policies.setdefault(name, {}).update(values)
            learned = policies["learned"]
            metrics["policy_share_of_oracle"] = learned["share_of_oracle"]
            metrics["policy_profit_per_cart"] = learned["profit_per_cart"]
            metrics["oracle_profit_per_cart"] = policies["oracle"]["profit_per_cart"]
            rivals = {k: v["profit_per_cart"] for k, v in policies.items() if k not in ("learned", "oracle")}
            best = max(rivals, key=lambda k: rivals[k])
            metrics["best_baseline_profit_per_cart"] = rivals[best]
            metrics["best_baseline_share_of_oracle"] = policies[best]["share_of_oracle"]
    for key in ("dr_profit_per_cart", "dr_se", "ips_profit_per_cart", "ips_se"):
        metrics[f"policy_{key}"] = policies["learned"][key]
    metrics["incentive_share"] = float(np.mean(choices["learned"] != NONE))
    metrics["test_rows"] = float(len(test))
    return metrics, policies, uplift
