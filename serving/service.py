"""The real-time scoring service (BentoML 1.4).

``bentoml serve serving.service:CartRisk`` (or ``cartrisk serve``) starts it. It loads the risk model from the
BentoML model store (imported from the MLflow registry by ``cartrisk import-model``; never the tracking server),
the segment rules and the incentive catalogue, and opens the profile store (``CARTRISK_PROFILE_STORE``, default the
workspace's SQLite file). Endpoints: ``POST /score`` (one cart), ``POST /score_batch`` (many), ``GET /policy``
(the active segment rules and incentive policy, read-only), ``GET /report`` (the marketers' HTML report of the
latest batch run, ``CARTRISK_REPORT`` or ``$CARTRISK_HOME/report/latest.html``), plus BentoML's ``/livez``,
``/readyz`` (false until the model and policy are loaded) and ``/metrics`` (Prometheus).

Environment: ``CARTRISK_API_KEY`` (when set, requests need the header ``x-api-key``; else 401),
``CARTRISK_CORS_ORIGINS`` (comma-separated checkout origins allowed by CORS), ``CARTRISK_MODEL_TAG`` (default
``cartrisk-risk:latest``), ``CARTRISK_PROFILE_BUDGET_MS`` (default 5), ``CARTRISK_WORKERS`` (worker processes;
default ``cpu_count``), ``CARTRISK_ACCESS_LOG`` (``1`` to log every request; default off), ``CARTRISK_UPLIFT_TAG``
(default ``cartrisk-uplift:latest``), ``CARTRISK_POLICY`` (``auto``: the profit policy when an uplift model was
imported, else the rule-based one; ``rules``; ``profit``: fail to start without an uplift model).

The incentive: with uplift models (imported by ``cartrisk import-model`` when ``cartrisk-uplift`` has a champion),
the profit policy chooses it (:mod:`serving.uplift_policy`; per-arm probabilities by :mod:`serving.uplift_scorer`;
the daily budget and segment caps of the catalogue's ``uplift:`` section split equally between the workers; a
share of carts explored at random, flagged with their propensity). Without them, the rule-based policy.

Speed settings (measured by ``benchmarks/bench_http.py``, figures in docs/benchmarks.md): ``/score`` is an
``async`` API, so it runs on the worker's event loop (scoring one cart takes a few hundred microseconds of CPU;
a sync API would hop to BentoML's one-thread pool and back for every request, which costs more than the scoring);
one worker per core; no per-request access log (Prometheus metrics count and time every request anyway).
``/score_batch`` stays sync (a large batch would hold up the event loop).
"""

from __future__ import annotations

import gc
import os
import time
from pathlib import Path
from typing import Any, Literal

import bentoml
from fastapi import FastAPI
from starlette.responses import HTMLResponse, JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from features.definitions import FEATURE_NAMES
from features.segments import default_rules
from serving.policy import catalogue_summary, default_catalogue
from serving.resilient import ResilientProfiles
from serving.schemas import BatchRequest, BatchResponse, ScoreRequest, ScoreResponse
from serving.scorer import Scorer
from serving.uplift_scorer import DailyBudget, FastUplift
from training.model import RiskModel
from training.uplift_model import UpliftModel

MODEL_TAG = os.environ.get("CARTRISK_MODEL_TAG", "cartrisk-risk:latest")
UPLIFT_TAG = os.environ.get("CARTRISK_UPLIFT_TAG", "cartrisk-uplift:latest")
_POLICY = os.environ.get("CARTRISK_POLICY", "auto").strip().lower()
if _POLICY not in ("auto", "rules", "profit"):
    raise ValueError(f"CARTRISK_POLICY must be auto, rules or profit, got {_POLICY!r}")


def _has_model(tag: str) -> bool:
    try:
        bentoml.models.get(tag)
    except bentoml.exceptions.NotFound:
        return False
    return True


_USE_UPLIFT = _POLICY != "rules" and (_POLICY == "profit" or _has_model(UPLIFT_TAG))
_CORS = [o.strip() for o in os.environ.get("CARTRISK_CORS_ORIGINS", "").split(",") if o.strip()]


def _workers(raw: str) -> int | Literal["cpu_count"]:
    if raw.strip() == "cpu_count":
        return "cpu_count"
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"CARTRISK_WORKERS must be a positive whole number or 'cpu_count', got {raw!r}")
    return n


_WORKERS = _workers(os.environ.get("CARTRISK_WORKERS", "cpu_count"))


def _worker_count() -> int:
    return int(os.cpu_count() or 1) if _WORKERS == "cpu_count" else int(_WORKERS)
_ACCESS_LOG = os.environ.get("CARTRISK_ACCESS_LOG", "").strip().lower() in ("1", "true", "yes", "on")

LATENCY = bentoml.metrics.Histogram(
    name="cartrisk_score_seconds", documentation="Time to score one cart, in process.",
    buckets=(0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1),
)
DEGRADED = bentoml.metrics.Counter(
    name="cartrisk_degraded_answers", documentation="Answers given without the customer profile (store down).",
)
INCENTIVES = bentoml.metrics.Counter(
    name="cartrisk_incentives", documentation="Incentives recommended, by code and channel.",
    labelnames=["code", "channel"],
)


class ApiKeyMiddleware:
    """Require ``x-api-key`` on the scoring endpoints when ``CARTRISK_API_KEY`` is set (health stays open)."""

    OPEN = ("/livez", "/readyz", "/healthz", "/metrics", "/docs.json", "/docs")

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.key = os.environ.get("CARTRISK_API_KEY") or None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.key and scope["type"] == "http" and scope.get("method") != "OPTIONS" \
                and not str(scope.get("path", "")).startswith(self.OPEN):
            headers = dict(scope.get("headers") or [])
            if headers.get(b"x-api-key", b"").decode("latin-1") != self.key:
                response = JSONResponse({"error": "missing or wrong x-api-key header"}, status_code=401)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


policy_app = FastAPI(title="cartrisk policy (read-only)")
report_app = FastAPI(title="cartrisk report (the latest batch run)")


def report_path() -> Path:
    """The latest report written by `cartrisk score` or `cartrisk report` (``CARTRISK_REPORT`` overrides)."""
    from cartrisk.settings import get_settings

    explicit = os.environ.get("CARTRISK_REPORT")
    return Path(explicit) if explicit else get_settings().home / "report" / "latest.html"


@bentoml.service(
    name="cartrisk",
    traffic={"timeout": 10},
    workers=_WORKERS,
    logging={"access": {"enabled": _ACCESS_LOG}},
    http={"cors": {"enabled": bool(_CORS), "access_control_allow_origins": _CORS,
                   "access_control_allow_methods": ["GET", "POST", "OPTIONS"],
                   "access_control_allow_headers": ["content-type", "x-api-key"]}},
)
@bentoml.asgi_app(policy_app, path="/policy")
@bentoml.asgi_app(report_app, path="/report")
class CartRisk:
    """Scores carts and recommends the incentive that recovers them at the least cost."""

    risk_model = bentoml.models.BentoModel(MODEL_TAG)
    if _USE_UPLIFT:  # declared only when present, so `bentoml build` packs it and a shop without one still runs
        uplift_model = bentoml.models.BentoModel(UPLIFT_TAG)

    def __init__(self) -> None:
        from cartrisk.settings import get_settings

        self.ready = False
        settings = get_settings()
        folder = Path(self.risk_model.path)
        model = RiskModel.load(folder)
        labels = dict(self.risk_model.info.labels)
        self.model_version = labels.get("mlflow_version", str(self.risk_model.tag.version))
        store = os.environ.get("CARTRISK_PROFILE_STORE", settings.profile_store_uri)
        budget = float(os.environ.get("CARTRISK_PROFILE_BUDGET_MS", "5"))
        self.profiles = ResilientProfiles.open(store, budget_ms=budget)
        self.rules = default_rules()
        self.catalogue = default_catalogue()
        uplift, daily = None, None
        self.uplift_labels: dict[str, str] = {}
        if _USE_UPLIFT:
            uplift = FastUplift(UpliftModel.load(Path(self.uplift_model.path)), FEATURE_NAMES)
            self.uplift_labels = dict(self.uplift_model.info.labels)
            s = self.catalogue.uplift
            daily = DailyBudget(s.daily_budget, s.segment_caps, share=1.0 / _worker_count())
        self.scorer = Scorer(model, self.model_version, profiles=self.profiles, catalogue=self.catalogue,
                             rules=self.rules, uplift=uplift, budget=daily)
        self.labels = labels
        # Everything loaded so far lives as long as the worker: move it out of the garbage collector's sight
        # and collect the young generation less often, so a full collection does not stall a request.
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 20, 20)
        self.ready = True

    def __is_ready__(self) -> bool:
        return self.ready

    def _score(self, cart: ScoreRequest) -> ScoreResponse:
        started = time.perf_counter()
        answer = self.scorer.score(cart)
        LATENCY.observe(time.perf_counter() - started)
        if answer.degraded:
            DEGRADED.inc()
        INCENTIVES.labels(code=answer.incentive.code, channel=answer.incentive.channel).inc()
        return answer

    @bentoml.api
    async def score(self, cart: ScoreRequest, /) -> ScoreResponse:
        """Risk, segments, recommended incentive and top reasons for one cart."""
        # async on purpose: see the module docstring (scoring is short and CPU-bound; no thread hop)
        return self._score(cart)

    @bentoml.api
    def score_batch(self, batch: BatchRequest, /) -> BatchResponse:
        """The same for up to 1,000 carts."""
        return BatchResponse(results=[self._score(cart) for cart in batch.carts])

    @report_app.get("/", response_class=HTMLResponse)
    def report(self) -> HTMLResponse:
        """The marketers' HTML report of the latest batch run (GET /report); 404 until one was written."""
        path = report_path()
        if not path.is_file():
            return HTMLResponse("<!DOCTYPE html><title>No report yet</title><p>No report yet: run <code>cartrisk "
                                "score --out DIR</code> or <code>cartrisk report --out FILE.html</code>.</p>",
                                status_code=404)
        return HTMLResponse(path.read_text(encoding="utf-8"))

    @policy_app.get("/")
    def policy(self) -> dict[str, Any]:
        """The segment rules and incentive policy this service applies (GET /policy)."""
        return self.policy_summary()

    def policy_summary(self) -> dict[str, Any]:
        budget = self.scorer.budget
        return {
            "model": {"version": self.model_version, "labels": self.labels},
            "incentive_chooser": "profit" if self.scorer.uplift is not None else "rules",
            "uplift_model": {"labels": self.uplift_labels,
                             "incentives": list(self.scorer.uplift.incentives)} if self.scorer.uplift else None,
            "budget_this_worker": budget.state() if budget is not None else None,
            "segments": [{"name": s.name, "description": s.description} for s in self.rules.segments],
            "incentive_policy": catalogue_summary(self.catalogue),
            "profile_store": self.profiles.stats(),
        }


CartRisk.add_asgi_middleware(ApiKeyMiddleware)  # type: ignore[attr-defined]
