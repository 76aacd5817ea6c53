"""The risk model: a LightGBM booster plus the calibration map that turns its scores into probabilities.

The calibrator is a monotone piecewise-linear map (isotonic regression knots) stored as two short arrays, so
serving applies it with one ``numpy.interp`` and needs neither scikit-learn nor MLflow at request time.
Categorical features are passed to LightGBM natively, with the fixed category lists of
:data:`features.snapshots.CATEGORIES`, so codes are the same in training and serving.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression

from features.definitions import CATEGORICAL_FEATURES, FEATURE_NAMES, FEATURE_SET
from features.snapshots import model_frame

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 63,
    "min_data_in_leaf": 100,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "max_cat_to_onehot": 8,
    "verbose": -1,
    "num_threads": 0,
}
"""No class reweighting: the policy needs probabilities, and abandonment is the majority class anyway."""


@dataclass
class RiskModel:
    """Booster + calibration knots + the feature set it was trained on."""

    booster: lgb.Booster
    calib_x: np.ndarray
    calib_y: np.ndarray
    feature_names: tuple[str, ...] = FEATURE_NAMES
    feature_set: str = FEATURE_SET
    params: dict[str, Any] = field(default_factory=dict)

    def raw_scores(self, frame: pd.DataFrame) -> np.ndarray:
        """Uncalibrated probabilities of the booster for a snapshot table (or a model frame)."""
        if self.feature_set == FEATURE_SET and not _is_model_frame(frame):
            frame = model_frame(frame)
        return np.asarray(self.booster.predict(frame[list(self.feature_names)]), dtype=np.float64)

    def calibrate(self, scores: np.ndarray) -> np.ndarray:
        """Apply the calibration map to booster probabilities."""
        if len(self.calib_x) == 0:
            return np.asarray(scores, dtype=np.float64)
        return np.interp(scores, self.calib_x, self.calib_y)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated abandonment probabilities."""
        return self.calibrate(self.raw_scores(frame))

    def save(self, folder: Path) -> None:
        """Write ``booster.txt`` (LightGBM text model) and ``calibration.json``."""
        folder.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(folder / "booster.txt"))
        (folder / "calibration.json").write_text(json.dumps(self.metadata(), indent=1))

    def metadata(self) -> dict[str, Any]:
        return {
            "calib_x": self.calib_x.tolist(),
            "calib_y": self.calib_y.tolist(),
            "feature_names": list(self.feature_names),
            "feature_set": self.feature_set,
            "params": self.params,
        }

    @classmethod
    def load(cls, folder: Path) -> RiskModel:
        meta = json.loads((folder / "calibration.json").read_text())
        return cls(
            booster=lgb.Booster(model_file=str(folder / "booster.txt")),
            calib_x=np.asarray(meta["calib_x"], dtype=np.float64),
            calib_y=np.asarray(meta["calib_y"], dtype=np.float64),
            feature_names=tuple(meta["feature_names"]),
            feature_set=meta["feature_set"],
            params=meta.get("params", {}),
        )


def fit_calibrator(scores: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Isotonic calibration knots (x ascending, y non-decreasing) fitted on held-out scores."""
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip", increasing=True)
    iso.fit(scores, y)
    x = np.asarray(iso.X_thresholds_, dtype=np.float64)
    yk = np.asarray(iso.y_thresholds_, dtype=np.float64)
    # keep probabilities strictly inside (0, 1) so log loss stays finite on new data
    return x, np.clip(yk, 1e-4, 1 - 1e-4)


def fit_risk_model(
    train_x: pd.DataFrame,
    train_y: np.ndarray,
    valid_x: pd.DataFrame,
    valid_y: np.ndarray,
    params: dict[str, Any] | None = None,
    seed: int = 7,
    max_rounds: int = 2000,
    early_stopping_rounds: int = 50,
    calibrate: bool = True,
    encode: Callable[[pd.DataFrame], pd.DataFrame] | None = model_frame,
    categorical: Sequence[str] = CATEGORICAL_FEATURES,
    feature_set: str = FEATURE_SET,
) -> RiskModel:
    """Train with early stopping on one half of the validation rows; calibrate on the other half.

    Pass the validation rows in time order: the halves are split by position (first half earlier), so the
    calibrator sees data the booster never used, not even for choosing the number of rounds. ``encode`` turns a
    table into model inputs (cart snapshots by default); pass ``None`` for data that is already numeric, with
    ``categorical`` naming its categorical columns and ``feature_set`` naming the data set.
    """
    full = {**DEFAULT_PARAMS, **(params or {}), "seed": seed, "deterministic": True, "force_row_wise": True}
    xt, xv = (encode(train_x), encode(valid_x)) if encode is not None else (train_x, valid_x)
    half = len(xv) // 2 if calibrate else len(xv)
    stop_x, stop_y = xv.iloc[:half], np.asarray(valid_y)[:half]
    cal_x, cal_y = xv.iloc[half:], np.asarray(valid_y)[half:]
    dtrain = lgb.Dataset(xt, label=np.asarray(train_y), categorical_feature=list(categorical),
                         free_raw_data=False)
    dvalid = lgb.Dataset(stop_x, label=stop_y, reference=dtrain)
    booster = lgb.train(
        full,
        dtrain,
        num_boost_round=max_rounds,
        valid_sets=[dvalid],
        valid_names=["valid"],
        callbacks=[lgb.early_stopping(early_stopping_rounds, verbose=False)],
    )
    model = RiskModel(booster=booster, calib_x=np.empty(0), calib_y=np.empty(0), params=full,
                      feature_names=tuple(xt.columns), feature_set=feature_set)
    if calibrate and len(cal_x) > 0:
        scores = np.asarray(booster.predict(cal_x), dtype=np.float64)
        if calibration_helps(scores, cal_y):
            model.calib_x, model.calib_y = fit_calibrator(scores, cal_y)
    return model


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def calibration_helps(scores: np.ndarray, y: np.ndarray, min_rows: int = 200) -> bool:
    """Whether isotonic calibration lowers log loss out of sample (2-fold cross-fit, in time order).

    LightGBM trained on log loss is often calibrated already; a calibrator fitted on few rows can make it worse,
    so it is kept only when it helps on rows it was not fitted on.
    """
    if len(y) < min_rows or len(np.unique(y)) < 2:
        return False
    half = len(y) // 2
    gain = 0.0
    for fit, check in ((slice(0, half), slice(half, None)), (slice(half, None), slice(0, half))):
        if len(np.unique(y[fit])) < 2:
            return False
        x, yk = fit_calibrator(scores[fit], y[fit])
        gain += _log_loss(y[check], scores[check]) - _log_loss(y[check], np.interp(scores[check], x, yk))
    return gain > 0


def _is_model_frame(frame: pd.DataFrame) -> bool:
    return list(frame.columns) == list(FEATURE_NAMES) and all(
        dtype == np.float64 for dtype in frame.dtypes
    )
