"""Uplift models: the purchase probability of a cart under each incentive, learned from randomised experiments.

The learner (a LightGBM meta-learner with honest cross-fitting):

1. A *base* model ``m(x)``: the purchase log-odds of a cart, pooled over every arm (the arms are randomised, so
   this is the outcome under the experiment's mix of incentives). It is cross-fitted: the training rows are split
   into ``folds`` parts and each row's base score comes from the model fitted on the other parts, so step 2 never
   sees a score fitted on the row itself. New carts get the mean of the fold models' scores, or, with
   ``refit_base``, the score of one more base model fitted on all training rows (a third of the trees to walk
   per cart; on the shops of ``benchmarks/bench_uplift.py`` the policy's profit was the same or slightly higher).
2. Per arm ``a`` (``none`` included) a constant shift ``c_a`` (the arm's average effect on the log-odds, one
   Newton-fitted number) and an *offset* booster ``f_a(x)`` trained on the rows given ``a``, starting from the base
   score plus ``c_a`` (LightGBM ``init_score``): small trees, strong regularisation. It learns how the arm's effect
   varies with the cart, not the whole outcome again. Its number of rounds is chosen by k-fold cross-validation
   on all the arm's rows (training and validation windows), then it is refitted on them: an arm's validation
   window alone holds too few rows to stop on, and stopping early on noise shrinks every effect to zero.
3. ``P(bought | x, a) = sigmoid(m(x) + c_a + f_a(x))``; the uplift of ``a`` is ``P(bought | x, a) - P(bought | x,
   none)``.

Why the constant first: boosting with a small learning rate needs many rounds to move a whole arm by its average
effect, and early stopping ends it before it does (measured: predicted average effects near 0 while the observed
ones were 0.02-0.04). The honest part: every row's base score comes from a model that never saw the row (out of
fold for training rows; validation rows were only used to stop the base models), so ``c_a`` and ``f_a`` are not
fitted on scores that already know the outcome.

Pooling lets every arm borrow the base model's strength (most of what decides a purchase does not depend on the
incentive), while the offsets keep each arm's own effect. A separate regression gives the expected order value of
a bought cart (what a purchase is worth), which the policy needs for its margin.

Inputs are plain numeric frames (``encode``d beforehand), so the same code serves the cart features of the shop
and the Hillstrom e-mail data.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import lightgbm as lgb
import numpy as np
import pandas as pd

from training.model import DEFAULT_PARAMS

__all__ = ["BASE_PARAMS", "OFFSET_PARAMS", "UpliftModel", "constant_shift", "fit_uplift_model"]

BASE_PARAMS: dict[str, Any] = {**DEFAULT_PARAMS, "num_leaves": 31, "min_data_in_leaf": 50}
"""The pooled purchase model: the risk model's defaults with smaller trees (experiments are smaller data)."""
OFFSET_PARAMS: dict[str, Any] = {
    **DEFAULT_PARAMS,
    "learning_rate": 0.03,
    "num_leaves": 7,
    "min_data_in_leaf": 200,
    "lambda_l2": 10.0,
    "bagging_fraction": 1.0,
    "bagging_freq": 0,
}
"""Per-arm offsets: small, strongly regularised trees (they learn a shift, not the whole outcome)."""
VALUE_PARAMS: dict[str, Any] = {**BASE_PARAMS, "objective": "regression", "bagging_fraction": 1.0, "bagging_freq": 0}


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float64)


@dataclass
class UpliftModel:
    """The base booster(s) new carts are scored with (one refitted, or the cross-fitted ones, averaged), one offset
    booster per arm, and the order-value regression."""

    base: list[lgb.Booster]
    offsets: dict[str, lgb.Booster]
    shifts: dict[str, float]
    """Per arm, the constant log-odds shift fitted before its offset booster."""
    value: lgb.Booster | None
    value_default: float
    feature_names: tuple[str, ...]
    feature_set: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def arms(self) -> tuple[str, ...]:
        """The arms modelled, control first."""
        return ("none", *[a for a in self.offsets if a != "none"])

    def base_logit(self, x: pd.DataFrame) -> np.ndarray:
        x = x[list(self.feature_names)]
        return np.mean([np.asarray(b.predict(x, raw_score=True), dtype=np.float64) for b in self.base], axis=0)

    def purchase_probabilities(self, x: pd.DataFrame) -> pd.DataFrame:
        """``P(bought | x, arm)`` for every arm (columns in :attr:`arms` order), same index as ``x``."""
        x = x[list(self.feature_names)]
        base = self.base_logit(x)
        out = {arm: _sigmoid(base + self.shifts[arm] + np.asarray(self.offsets[arm].predict(x, raw_score=True)))
               for arm in self.arms}
        return pd.DataFrame(out, index=x.index)

    def uplift(self, x: pd.DataFrame) -> pd.DataFrame:
        """Uplift of every arm but ``none``: ``P(bought | x, arm) - P(bought | x, none)``."""
        p = self.purchase_probabilities(x)
        return p.drop(columns="none").sub(p["none"], axis=0)

    def expected_order_value(self, x: pd.DataFrame) -> np.ndarray:
        """Expected value of the order if the cart is bought (never below 0)."""
        if self.value is None:
            return np.full(len(x), self.value_default)
        v = np.asarray(self.value.predict(x[list(self.feature_names)]), dtype=np.float64)
        return np.maximum(v, 0.0)

    # ------------------------------------------------------------------------------------------- storage

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for k, booster in enumerate(self.base):
            booster.save_model(str(folder / f"base_{k}.txt"))
        for arm, booster in self.offsets.items():
            booster.save_model(str(folder / f"offset_{arm}.txt"))
        if self.value is not None:
            self.value.save_model(str(folder / "value.txt"))
        meta = {"base_models": len(self.base), "arms": list(self.offsets), "shifts": self.shifts,
                "value": self.value is not None,
                "value_default": self.value_default, "feature_names": list(self.feature_names),
                "feature_set": self.feature_set, "params": self.params}
        (folder / "uplift.json").write_text(json.dumps(meta, indent=1))

    @classmethod
    def load(cls, folder: Path) -> UpliftModel:
        meta = json.loads((folder / "uplift.json").read_text())
        return cls(
            base=[lgb.Booster(model_file=str(folder / f"base_{k}.txt"))
                  for k in range(meta.get("base_models", meta.get("folds", 0)))],  # "folds": saved before refits
            offsets={arm: lgb.Booster(model_file=str(folder / f"offset_{arm}.txt")) for arm in meta["arms"]},
            shifts={arm: float(v) for arm, v in meta["shifts"].items()},
            value=lgb.Booster(model_file=str(folder / "value.txt")) if meta["value"] else None,
            value_default=float(meta["value_default"]),
            feature_names=tuple(meta["feature_names"]),
            feature_set=meta["feature_set"],
            params=meta.get("params", {}),
        )


def _train(params: dict[str, Any], x: pd.DataFrame, y: np.ndarray, xv: pd.DataFrame, yv: np.ndarray,
           categorical: Sequence[str], max_rounds: int, patience: int, init: np.ndarray | None = None,
           init_valid: np.ndarray | None = None) -> lgb.Booster:
    cats = [c for c in categorical if c in x.columns]
    dtrain = lgb.Dataset(x, label=y, init_score=init, categorical_feature=cats, free_raw_data=False)
    dvalid = lgb.Dataset(xv, label=yv, init_score=init_valid, reference=dtrain)
    return lgb.train(params, dtrain, num_boost_round=max_rounds, valid_sets=[dvalid], valid_names=["valid"],
                     callbacks=[lgb.early_stopping(patience, verbose=False)])


def _adapted(params: dict[str, Any], rows: int, seed: int) -> dict[str, Any]:
    """Fixed seeds; leaves no larger than the data allows (small experiments get smaller leaves)."""
    out = {**params, "seed": seed, "deterministic": True, "force_row_wise": True}
    out["min_data_in_leaf"] = int(max(5, min(int(out["min_data_in_leaf"]), rows // 20)))
    return out


def constant_shift(y: np.ndarray, z: np.ndarray, iterations: int = 30) -> float:
    """The constant ``c`` maximising the likelihood of ``y`` under ``sigmoid(z + c)`` (Newton's method)."""
    c = 0.0
    for _ in range(iterations):
        p = _sigmoid(z + c)
        step = float(np.sum(y - p)) / (float(np.sum(p * (1.0 - p))) + 1e-12)
        c += step
        if abs(step) < 1e-10:
            break
    return float(c)


def _cv_offset(params: dict[str, Any], x: pd.DataFrame, y: np.ndarray, init: np.ndarray,
               categorical: Sequence[str], max_rounds: int, patience: int, folds: int, seed: int
               ) -> tuple[lgb.Booster, int]:
    """An offset booster from ``init``, its rounds chosen by ``folds``-fold cross-validation, refitted on all rows."""
    cats = [c for c in categorical if c in x.columns]
    data = lgb.Dataset(x, label=y, init_score=init, categorical_feature=cats, free_raw_data=False)
    folds = int(max(2, min(folds, len(x) // 20)))
    cv = lgb.cv(params, data, num_boost_round=max_rounds, nfold=folds, stratified=False, seed=seed,
                callbacks=[lgb.early_stopping(patience, verbose=False)])
    history = [v for k, v in cv.items() if k.endswith("-mean")]
    rounds = max(1, len(cast(list[float], history[0])))
    return lgb.train(params, data, num_boost_round=rounds), rounds


def fit_uplift_model(
    x: pd.DataFrame,
    arm: np.ndarray,
    y: np.ndarray,
    x_valid: pd.DataFrame,
    arm_valid: np.ndarray,
    y_valid: np.ndarray,
    arms: Sequence[str],
    categorical: Sequence[str] = (),
    value: np.ndarray | None = None,
    value_valid: np.ndarray | None = None,
    folds: int = 3,
    refit_base: bool = True,
    cv_folds: int = 5,
    seed: int = 7,
    max_rounds: int = 1000,
    patience: int = 50,
    base_params: dict[str, Any] | None = None,
    offset_params: dict[str, Any] | None = None,
    feature_set: str = "",
) -> UpliftModel:
    """Fit the meta-learner of the module docstring.

    ``x``/``arm``/``y`` are the training rows (numeric features, arm code per row, 1 = bought), ``*_valid`` the
    later rows used for early stopping. ``value``: the order value of each row (read for bought rows only).
    """
    arm = np.asarray(arm).astype(str)
    arm_valid = np.asarray(arm_valid).astype(str)
    y = np.asarray(y, dtype=np.float64)
    y_valid = np.asarray(y_valid, dtype=np.float64)
    if "none" not in arms:
        raise ValueError("arms must include the control arm 'none'")
    for name in arms:
        if not (arm == name).any() or not (arm_valid == name).any():
            raise ValueError(f"arm {name!r} has no training or no validation rows; every arm needs both")
    bp = _adapted({**BASE_PARAMS, **(base_params or {})}, len(x), seed)
    # -- 1. cross-fitted base
    fold_of = np.random.default_rng(seed).integers(0, folds, size=len(x))
    oof = np.zeros(len(x))
    base: list[lgb.Booster] = []
    for k in range(folds):
        fit, held = fold_of != k, fold_of == k
        booster = _train(bp, x[fit], y[fit], x_valid, y_valid, categorical, max_rounds, patience)
        oof[held] = booster.predict(x[held], raw_score=True)
        base.append(booster)
    base_valid = np.mean([b.predict(x_valid, raw_score=True) for b in base], axis=0)
    if refit_base:
        # new carts are scored by one base model fitted on all training rows (early-stopped on the validation rows,
        # as the fold models are); steps 2 and 3 still read the cross-fitted scores, the validation rows' included
        # (the mean of the fold models, which never trained on them), so nothing is fitted on a score that saw
        # its own outcome
        base = [_train(bp, x, y, x_valid, y_valid, categorical, max_rounds, patience)]
    # -- 2. per arm: a constant shift, then an offset booster with cross-validated rounds
    offsets: dict[str, lgb.Booster] = {}
    shifts: dict[str, float] = {}
    rounds: dict[str, int] = {}
    op_all = {**OFFSET_PARAMS, **(offset_params or {})}
    for name in ("none", *[a for a in arms if a != "none"]):
        rows, vrows = arm == name, arm_valid == name
        xa = pd.concat([x[rows], x_valid[vrows]])
        ya = np.concatenate([y[rows], y_valid[vrows]])
        za = np.concatenate([oof[rows], base_valid[vrows]])
        shifts[name] = constant_shift(ya, za)
        op = _adapted(op_all, int(rows.sum() + vrows.sum()), seed)
        offsets[name], rounds[name] = _cv_offset(op, xa, ya, za + shifts[name], categorical, max_rounds, patience,
                                                 cv_folds, seed)
    # -- 3. order value of bought carts
    value_model: lgb.Booster | None = None
    default = float("nan")
    if value is not None and value_valid is not None:
        bought, vbought = y == 1, y_valid == 1
        v, vv = np.asarray(value, dtype=np.float64), np.asarray(value_valid, dtype=np.float64)
        default = float(np.nanmean(v[bought])) if bought.any() else 0.0
        ok, vok = bought & np.isfinite(v), vbought & np.isfinite(vv)
        if ok.sum() >= 50 and vok.sum() >= 10:
            vp = _adapted(VALUE_PARAMS, int(ok.sum()), seed)
            value_model = _train(vp, x[ok], v[ok], x_valid[vok], vv[vok], categorical, max_rounds, patience)
    params = {"base": bp, "offset": op_all, "folds": folds, "refit_base": refit_base, "cv_folds": cv_folds,
              "seed": seed, "offset_rounds": rounds}
    return UpliftModel(base, offsets, shifts, value_model, default if np.isfinite(default) else 0.0,
                       tuple(x.columns), feature_set, params)
