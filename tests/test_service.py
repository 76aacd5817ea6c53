"""The BentoML service over HTTP, through its ASGI app: answers, bad requests, API key, policy, readiness."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from conftest import QuickModel

from serving.examples import example_request, request_for_snapshot


@pytest.fixture(scope="module")
def service_env(quick_model: QuickModel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A trained model in a throwaway BentoML store and profiles synced into SQLite."""
    from serving.model_import import save_bento_model
    from serving.profile_store import sync_profiles

    home = tmp_path_factory.mktemp("svc")
    mp = pytest.MonkeyPatch()
    mp.setenv("BENTOML_HOME", str(home / "bentoml"))
    mp.setenv("CARTRISK_HOME", str(home / "cartrisk"))
    store = f"sqlite:///{home / 'profiles.db'}"
    mp.setenv("CARTRISK_PROFILE_STORE", store)
    mp.setenv("CARTRISK_API_KEY", "s3cret")
    mp.setenv("CARTRISK_CORS_ORIGINS", "https://shop.example")
    ds, shop, snaps = quick_model.ds, quick_model.shop, quick_model.snaps
    quick_model.model.save(home / "model")
    tag = save_bento_model(home / "model", {"mlflow_version": "42", "mlflow_run_id": "r1"})
    mp.setenv("CARTRISK_MODEL_TAG", tag)
    # no uplift model for this service (the BentoML store is process-wide: other tests may have put one there)
    mp.setenv("CARTRISK_UPLIFT_TAG", "cartrisk-uplift:absent")
    sync_profiles(ds, store)
    sys.modules.pop("serving.service", None)
    service_module = importlib.import_module("serving.service")
    yield {"shop": shop, "snaps": snaps, "module": service_module}
    sys.modules.pop("serving.service", None)
    mp.undo()


@pytest.fixture(scope="module")
def client(service_env: dict[str, Any]) -> Iterator[Any]:
    from starlette.testclient import TestClient

    app = service_env["module"].CartRisk.to_asgi()
    with TestClient(app) as c:
        yield c


KEY = {"x-api-key": "s3cret"}


def test_score_answers_with_risk_incentive_reasons_and_versions(client: Any, service_env: dict[str, Any]) -> None:
    body = example_request(service_env["shop"], service_env["snaps"])
    resp = client.post("/score", json=body, headers=KEY)
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert 0 < out["risk"] < 1 and out["risk_band"] in ("low", "medium", "high")
    assert out["model_version"] == "42" and out["feature_set"] == "cart_features_v1"
    assert set(out["incentive"]) == {"code", "channel", "message_key", "expected_cost", "why", "policy",
                                     "expected_uplift", "expected_profit", "runner_up", "explored", "propensity"}
    # no uplift model in this store: the rule-based policy answers, and says so
    assert out["incentive"]["policy"] == "rules" and out["incentive"]["runner_up"] is None
    assert out["incentive"]["why"]
    assert all(r["contribution"] > 0 for r in out["reasons"])
    assert out["degraded"] is False and out["session_id"] == body["session_id"]


def test_score_batch(client: Any, service_env: dict[str, Any]) -> None:
    snaps: pd.DataFrame = service_env["snaps"]
    rows = snaps.sample(5, random_state=3)
    carts = [request_for_snapshot(service_env["shop"], s, int(n))
             for s, n in zip(rows["session_id"], rows["n_events"], strict=True)]
    resp = client.post("/score_batch", json={"carts": carts}, headers=KEY)
    assert resp.status_code == 200, resp.text
    assert [r["session_id"] for r in resp.json()["results"]] == list(rows["session_id"])


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"session_id": "s", "events": []},
        {"session_id": "s", "events": [{"event_type": "fly", "event_time": "2026-01-01T00:00:00Z"}]},
        {"session_id": "s", "events": [{"event_type": "add_to_cart", "event_time": "2026-01-01T00:00:00Z",
                                        "price": -5}]},
        {"session_id": "s", "events": [{"event_type": "add_to_cart", "event_time": "2099-01-01T00:00:00Z"}]},
        {"session_id": "s", "events": "many"},
    ],
)
def test_bad_requests_get_4xx_not_500(client: Any, body: dict[str, Any]) -> None:
    resp = client.post("/score", json=body, headers=KEY)
    assert 400 <= resp.status_code < 500, (resp.status_code, resp.text)


def test_not_json_gets_4xx(client: Any) -> None:
    resp = client.post("/score", content=b"{not json", headers={"content-type": "application/json", **KEY})
    assert 400 <= resp.status_code < 500


def test_api_key_is_required(service_env: dict[str, Any], client: Any) -> None:
    body = example_request(service_env["shop"], service_env["snaps"])
    assert client.post("/score", json=body).status_code == 401
    assert client.post("/score", json=body, headers={"x-api-key": "wrong"}).status_code == 401
    assert client.get("/livez").status_code == 200


def test_policy_endpoint_and_readiness(client: Any) -> None:
    policy = client.get("/policy/", headers=KEY)
    assert policy.status_code == 200, policy.text
    names = [s["name"] for s in policy.json()["segments"]]
    assert "vip" in names and "incentive_policy" in policy.json()
    assert client.get("/readyz").status_code == 200
    # /metrics is served by `bentoml serve` (Prometheus multiprocess), not by the bare ASGI app


def test_report_page_serves_the_latest_batch_report(client: Any, tmp_path: Any,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    page = tmp_path / "latest.html"
    monkeypatch.setenv("CARTRISK_REPORT", str(page))
    missing = client.get("/report/", headers=KEY)
    assert missing.status_code == 404 and "cartrisk score" in missing.text
    page.write_text("<!DOCTYPE html><title>r</title><p id='x'>42 carts</p>", encoding="utf-8")
    got = client.get("/report/", headers=KEY)
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/html")
    assert "42 carts" in got.text
    assert client.get("/report/").status_code == 401  # behind the API key like the rest


def test_cors_allows_the_checkout_origin_only(client: Any) -> None:
    ok = client.options("/score", headers={"origin": "https://shop.example", "access-control-request-method": "POST",
                                           "access-control-request-headers": "content-type,x-api-key"})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://shop.example"
    other = client.options("/score", headers={"origin": "https://evil.example",
                                              "access-control-request-method": "POST"})
    assert other.headers.get("access-control-allow-origin") != "https://evil.example"
