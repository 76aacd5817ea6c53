"""A plain BentoML service: validates the same ``/score`` body, builds a pandas DataFrame, calls booster.predict.

    BENTOML_HOME=... CARTRISK_PROFILE_STORE=sqlite:///profiles.db \
        bentoml serve benchmarks.baselines.plain_bentoml:PlainRisk

The textbook way to serve the same model with BentoML (one worker, like the project's service): same schema, same
profile store, same feature code, then one-row DataFrame -> ``booster.predict`` -> calibration. No reasons,
segments or incentive. The project's service should reach at least twice this one's throughput.
"""

from __future__ import annotations

import os
from pathlib import Path

import bentoml
import numpy as np
import pandas as pd

from features.definitions import CATEGORICAL_FEATURES, FEATURE_NAMES
from features.online import NEW_CUSTOMER_PROFILE, cart_features
from features.snapshots import category_code
from serving.resilient import ResilientProfiles
from serving.schemas import ScoreRequest
from serving.scorer import live_events
from training.model import RiskModel

MODEL_TAG = os.environ.get("CARTRISK_MODEL_TAG", "cartrisk-risk:latest")
_CATEGORICAL = frozenset(CATEGORICAL_FEATURES)


@bentoml.service(name="plain-risk", traffic={"timeout": 10})
class PlainRisk:
    risk_model = bentoml.models.BentoModel(MODEL_TAG)

    def __init__(self) -> None:
        self.model = RiskModel.load(Path(self.risk_model.path))
        self.profiles = ResilientProfiles.open(os.environ["CARTRISK_PROFILE_STORE"], budget_ms=5)

    @bentoml.api
    def score(self, cart: ScoreRequest, /) -> dict[str, float | str]:
        profile = None
        if cart.customer_id is not None:
            found = self.profiles.lookup(cart.customer_id)
            profile = dict(found.profile) if found.profile is not None else (
                None if found.degraded else dict(NEW_CUSTOMER_PROFILE))
        feats = cart_features(live_events(cart), profile, is_guest=cart.customer_id is None,
                              shop_aov=self.profiles.shop_aov)
        frame = pd.DataFrame([{n: category_code(n, feats[n]) if n in _CATEGORICAL else float(feats[n])
                               for n in FEATURE_NAMES}], columns=list(FEATURE_NAMES), dtype="float64")
        raw = self.model.booster.predict(frame)
        return {"session_id": cart.session_id, "risk": float(self.model.calibrate(np.asarray(raw))[0])}
