"""Minimal FastAPI + LightGBM endpoint: the same ``/score`` body, answers the calibrated probability only.

    CARTRISK_BENCH_MODEL_DIR=folder CARTRISK_PROFILE_STORE=sqlite:///profiles.db \
        uvicorn benchmarks.baselines.fastapi_app:app --workers 1

Fair to the project's service: the body is validated with the same ``ScoreRequest`` schema, the customer profile
comes from the same store, the features are computed with the same code (``cart_features``) and the booster scores
one numpy row (no DataFrame); what it leaves out is the reasons, segments and incentive.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from fastapi import FastAPI

from features.definitions import CATEGORICAL_FEATURES, FEATURE_NAMES
from features.online import NEW_CUSTOMER_PROFILE, cart_features
from features.snapshots import category_code
from serving.resilient import ResilientProfiles
from serving.schemas import ScoreRequest
from serving.scorer import live_events
from training.model import RiskModel

_MODEL = RiskModel.load(Path(os.environ["CARTRISK_BENCH_MODEL_DIR"]))
_PROFILES = ResilientProfiles.open(os.environ["CARTRISK_PROFILE_STORE"],
                                   budget_ms=float(os.environ.get("CARTRISK_PROFILE_BUDGET_MS", "5")))
_CATEGORICAL = frozenset(CATEGORICAL_FEATURES)

app = FastAPI(title="baseline: FastAPI + LightGBM")


@app.post("/score")
def score(cart: ScoreRequest) -> dict[str, float | str]:
    profile = None
    if cart.customer_id is not None:
        found = _PROFILES.lookup(cart.customer_id)
        profile = dict(found.profile) if found.profile is not None else (
            None if found.degraded else dict(NEW_CUSTOMER_PROFILE))
    feats = cart_features(live_events(cart), profile, is_guest=cart.customer_id is None,
                          shop_aov=_PROFILES.shop_aov)
    row = np.array([[category_code(n, feats[n]) if n in _CATEGORICAL else float(feats[n]) for n in FEATURE_NAMES]],
                   dtype=np.float64)
    raw = float(_MODEL.booster.predict(row)[0])
    risk = float(_MODEL.calibrate(np.array([raw]))[0]) if len(_MODEL.calib_x) else raw
    return {"session_id": cart.session_id, "risk": risk if math.isfinite(risk) else raw}
