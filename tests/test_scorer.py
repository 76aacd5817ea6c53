"""In-process scoring: parity with the batch model, reasons, degraded answers, request validation."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import QuickModel
from pydantic import ValidationError

from features.definitions import LABEL
from features.profiles import PROFILE_FIELDS, Shop, compute_profiles, shop_aov
from serving.examples import request_for_snapshot
from serving.schemas import ScoreRequest
from serving.scorer import Scorer
from training.model import RiskModel


@dataclass
class AsOfStart:
    """Test double of the profile store that answers with each customer's profile as of a given session start,
    so online answers can be compared with the batch path exactly. The real stores are tested elsewhere."""

    profiles: dict[str, dict[str, Any]]
    shop_aov: float
    degraded: bool = False

    def lookup(self, customer_id: str) -> Any:
        @dataclass
        class Found:
            profile: dict[str, Any] | None
            degraded: bool
            known: bool

        if self.degraded:
            return Found(None, True, False)
        p = self.profiles.get(customer_id)
        return Found(p, False, p is not None)


@pytest.fixture(scope="module")
def setup(quick_model: QuickModel) -> tuple[Shop, pd.DataFrame, RiskModel]:
    return quick_model.shop, quick_model.snaps, quick_model.model


def _double_for(shop: Shop, snap: pd.Series) -> AsOfStart:
    code = int(np.flatnonzero(np.asarray(shop.ordered.session_ids) == snap["session_id"])[0])
    start = shop.sessions["start_us"].to_numpy()[[code]]
    cust = shop.session_customer[[code]]
    prof = compute_profiles(shop, cust, start).iloc[0]
    profiles = {} if cust[0] < 0 else {str(snap["customer_id"]): {f: _plain(prof[f]) for f in PROFILE_FIELDS}}
    return AsOfStart(profiles, float(shop_aov(shop, start)[0]))


def _plain(v: Any) -> Any:
    return None if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) else v


def test_online_risk_equals_the_batch_model(setup: tuple[Shop, pd.DataFrame, RiskModel]) -> None:
    shop, snaps, model = setup
    rows = snaps[snaps[LABEL].notna()].sample(60, random_state=1)
    batch = model.predict_proba(rows)
    for (_, snap), expected in zip(rows.iterrows(), batch, strict=True):
        scorer = Scorer(model, "test", profiles=_double_for(shop, snap))  # type: ignore[arg-type]
        req = ScoreRequest.model_validate(request_for_snapshot(shop, snap["session_id"], int(snap["n_events"])))
        answer = scorer.score(req)
        assert answer.risk == pytest.approx(expected, abs=1e-9), snap["snapshot_id"]
        assert not answer.degraded
        assert answer.risk_band in ("low", "medium", "high")


def test_reasons_are_the_largest_positive_contributions(setup: tuple[Shop, pd.DataFrame, RiskModel]) -> None:
    shop, snaps, model = setup
    snap = snaps.iloc[len(snaps) // 2]
    scorer = Scorer(model, "7", profiles=_double_for(shop, snap))  # type: ignore[arg-type]
    answer = scorer.score(ScoreRequest.model_validate(
        request_for_snapshot(shop, snap["session_id"], int(snap["n_events"]))))
    contribs = [r.contribution for r in answer.reasons]
    assert contribs == sorted(contribs, reverse=True) and all(c > 0 for c in contribs)
    assert len(answer.reasons) <= 3 and answer.model_version == "7"


def test_store_down_gives_a_degraded_answer_from_session_signals(setup: tuple[Shop, pd.DataFrame, RiskModel]) -> None:
    shop, snaps, model = setup
    snap = snaps[snaps["customer_id"].notna()].iloc[0]
    down = _double_for(shop, snap)
    down.degraded = True
    answer = Scorer(model, "1", profiles=down).score(ScoreRequest.model_validate(  # type: ignore[arg-type]
        request_for_snapshot(shop, snap["session_id"], int(snap["n_events"]))))
    assert answer.degraded and 0 < answer.risk < 1


NOW = datetime.now(UTC)
GOOD: dict[str, Any] = {"session_id": "s1", "events": [{"event_type": "add_to_cart", "event_time": NOW.isoformat(),
                                                       "product_id": "p1", "price": 10, "quantity": 1}]}


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"events": []}, "events"),
        ({"events": [{**GOOD["events"][0], "price": -1}]}, "price"),
        ({"events": [{**GOOD["events"][0], "event_type": "teleport"}]}, "event_type"),
        ({"events": [{**GOOD["events"][0], "event_time": (NOW + timedelta(hours=2)).isoformat()}]}, "future"),
        ({"events": [{**GOOD["events"][0], "event_time": "2026-01-01T10:00:00"}]}, "timezone"),
        ({"events": GOOD["events"] * 501}, "events"),
        ({"session_id": "x" * 200}, "session_id"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_requests_are_rejected_with_the_field(change: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError) as err:
        ScoreRequest.model_validate({**GOOD, **change})
    assert where in str(err.value)
