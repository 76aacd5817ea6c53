"""The scorer the service runs, on a real Redis profile store that goes away mid-traffic and comes back."""

from __future__ import annotations

import time

import pytest
from conftest import QuickModel
from test_profile_store import RedisServer, redis_server  # noqa: F401  (the throwaway redis-server fixture)

from serving.examples import request_for_snapshot
from serving.profile_store import sync_profiles
from serving.resilient import ResilientProfiles
from serving.schemas import ScoreRequest
from serving.scorer import Scorer

pytestmark = pytest.mark.services


def test_answers_keep_coming_degraded_while_redis_is_down_and_recover(
    quick_model: QuickModel, redis_server: RedisServer  # noqa: F811
) -> None:
    ds, shop, snaps, model = quick_model.ds, quick_model.shop, quick_model.snaps, quick_model.model
    sync_profiles(ds, redis_server.url)
    profiles = ResilientProfiles.open(redis_server.url, budget_ms=20, retry_after_s=0.5)
    scorer = Scorer(model, "1", profiles=profiles)
    known = snaps[snaps["customer_id"].notna()].drop_duplicates("session_id").head(20)
    carts = [ScoreRequest.model_validate(request_for_snapshot(shop, s, int(n)))
             for s, n in zip(known["session_id"], known["n_events"], strict=True)]

    def traffic(seconds: float) -> list[tuple[bool, float, float]]:
        out = []
        end = time.monotonic() + seconds
        i = 0
        while time.monotonic() < end:
            started = time.perf_counter()
            answer = scorer.score(carts[i % len(carts)])
            out.append((answer.degraded, answer.risk, time.perf_counter() - started))
            i += 1
        return out

    before = traffic(0.5)
    assert before and not any(d for d, _, _ in before)
    redis_server.kill()
    during = traffic(1.5)
    assert during and all(d for d, _, _ in during)  # every answer while down says so
    assert all(0 < r < 1 for _, r, _ in during)  # and still carries a risk from session signals
    assert max(s for _, _, s in during) < 0.2  # nobody waits on the dead store
    assert profiles.degraded_count >= len(during)
    redis_server.start()
    sync_profiles(ds, redis_server.url)
    time.sleep(0.6)  # past retry_after_s: the next lookup probes the store again
    after = traffic(0.5)
    assert after and not any(d for d, _, _ in after)
