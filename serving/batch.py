"""Batch scoring: every cart of a data set (or of its last days) with the service's model and policy.

:func:`latest_carts` takes each cart session's latest snapshot (the cart as it stands at the end of the data,
or at the end of the window), :class:`BatchScorer` scores them all at once and returns one row per cart:

``cart_id`` (the session), ``customer_id``, ``snapshot_time``, ``cart_value``, ``segments`` (``;``-separated),
``risk``, ``risk_band``, ``incentive``, ``channel``, ``policy`` (``profit`` with uplift models, else ``rules``),
``rule`` (which rule of the policy decided),
``expected_cost``, ``expected_uplift``, ``expected_recovered_revenue`` (uplift of the chosen incentive x expected
order value; empty without uplift models, since nothing measured says what an incentive recovers),
``expected_profit``, ``explored``, ``propensity``, ``top_reasons`` and ``why``.

The same code decides as in the service: the risk is the booster's calibrated probability (vectorised), the
reasons are the same path contributions as :mod:`serving.fastpredict` (per-leaf tables, gathered for all rows
from LightGBM's leaf indices), the segments come from the same rules (vectorised), and each cart's incentive from
the same decision functions (:func:`serving.policy.decide` or :func:`serving.uplift_policy.decide_uplift`, with
the same exploration draws from the session id, so a cart gets the same answer here as from ``/score``). A daily
budget of the ``uplift:`` section is spent on the most profitable offers first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd

from features.definitions import FEATURE_NAMES
from features.segments import RuleSet, assign_segments, default_rules
from features.snapshots import model_frame
from serving.fastpredict import FastBooster
from serving.policy import CartContext, Catalogue, decide, default_catalogue
from serving.uplift_policy import Budget, decide_uplift, exploration_draws
from serving.uplift_scorer import DailyBudget
from training.model import RiskModel
from training.uplift_model import UpliftModel

__all__ = ["BATCH_COLUMNS", "BatchScorer", "latest_carts", "path_contributions"]

BATCH_COLUMNS = ("cart_id", "customer_id", "snapshot_time", "cart_value", "segments", "risk", "risk_band",
                 "incentive", "channel", "policy", "rule", "expected_cost", "expected_uplift",
                 "expected_recovered_revenue", "expected_profit", "explored", "propensity", "top_reasons", "why")

Progress = Callable[[str, int], None]
"""Called with a stage name and the number of carts done in it."""


def latest_carts(snapshots: pd.DataFrame, last_days: float | None = None) -> pd.DataFrame:
    """Each session's latest snapshot with something in the cart; with ``last_days``, only sessions whose latest
    snapshot falls in the last ``last_days`` days of the data."""
    snaps = snapshots[snapshots["cart_value"].to_numpy(dtype=np.float64) > 0]
    snaps = snaps.sort_values(["session_id", "snapshot_time", "n_events"], kind="stable")
    latest = snaps.groupby("session_id", sort=False, observed=True).tail(1)
    if last_days is not None:
        times = pd.to_datetime(latest["snapshot_time"], utc=True)
        latest = latest[times > times.max() - pd.Timedelta(days=float(last_days))]
    return latest.sort_values("snapshot_time", kind="stable").reset_index(drop=True)


def path_contributions(fast: FastBooster, leaves: np.ndarray) -> np.ndarray:
    """Per row and feature, the path contributions of :class:`FastBooster` (the service's reasons), from the leaf
    index of every row in every tree (``Booster.predict(x, pred_leaf=True)``)."""
    n = leaves.shape[0]
    table = fast._table.astype(np.float32)
    out = np.zeros((n, fast.n_features), dtype=np.float32)
    for t in range(leaves.shape[1]):
        out += table[fast._offsets[t] + leaves[:, t]]
    return out


@dataclass
class BatchScorer:
    """The service's model and policy for a whole table of carts."""

    model: RiskModel
    catalogue: Catalogue | None = None
    rules: RuleSet | None = None
    uplift: UpliftModel | None = None
    top_reasons: int = 3
    explore: bool = True

    def __post_init__(self) -> None:
        self.catalogue = self.catalogue or default_catalogue()
        self.rules = self.rules or default_rules()
        self._fast = FastBooster(self.model.booster)

    def risk_and_reasons(self, x: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
        """Calibrated risk and the top reasons (features that raised the risk most) of every row."""
        matrix = x[list(FEATURE_NAMES)].to_numpy(dtype=np.float64)
        risk = self.model.calibrate(np.asarray(self.model.booster.predict(matrix), dtype=np.float64))
        leaves = np.asarray(self.model.booster.predict(matrix, pred_leaf=True), dtype=np.int64).reshape(len(x), -1)
        contrib = path_contributions(self._fast, leaves)
        k = min(self.top_reasons, contrib.shape[1])
        top = np.argsort(-contrib, axis=1)[:, :k]
        names = list(FEATURE_NAMES)
        reasons = []
        for row, idx in zip(contrib, top, strict=True):
            reasons.append("; ".join(f"{names[i]} ({row[i]:+.2f})" for i in idx if row[i] > 0))
        return np.clip(risk, 0.0, 1.0), reasons

    def score(self, carts: pd.DataFrame, progress: Progress | None = None) -> pd.DataFrame:
        """One row per cart of ``carts`` (snapshot rows, e.g. from :func:`latest_carts`); see the module doc."""
        assert self.rules is not None
        carts = carts.reset_index(drop=True)
        x = model_frame(carts)
        risk, reasons = self.risk_and_reasons(x)
        if progress:
            progress("model", len(carts))
        member = assign_segments(carts, self.rules)
        names = np.array(member.columns, dtype=object)
        flags = member.to_numpy(dtype=bool)
        segments = [names[row].tolist() for row in flags]
        records = cast(list[dict[str, Any]], carts[list(_CONTEXT_COLUMNS)].to_dict("records"))
        contexts = [CartContext.from_features(r) for r in records]
        probs: list[dict[str, float]] | None = None
        values = np.full(len(carts), np.nan)
        if self.uplift is not None:
            p = self.uplift.purchase_probabilities(x)
            probs = cast(list[dict[str, float]], p.to_dict("records"))
            values = self.uplift.expected_order_value(x)
        rows = self._decide(carts["session_id"].astype(str).tolist(), risk, segments, contexts, probs, values)
        if progress:
            progress("policy", len(carts))
        out = pd.DataFrame({
            "cart_id": carts["session_id"].astype(str),
            "customer_id": carts["customer_id"].astype("string"),
            "snapshot_time": carts["snapshot_time"],
            "cart_value": carts["cart_value"].astype(np.float64),
            "segments": [";".join(s) for s in segments],
            "risk": risk,
            **{k: [r[k] for r in rows] for k in _DECISION_COLUMNS},
            "top_reasons": reasons,
        })
        return out[list(BATCH_COLUMNS)]

    def _decide(self, sessions: list[str], risk: np.ndarray, segments: list[list[str]], contexts: list[CartContext],
                probs: list[dict[str, float]] | None, values: np.ndarray) -> list[dict[str, Any]]:
        assert self.catalogue is not None
        cat = self.catalogue
        rules = [decide(float(r), s, c, cat) for r, s, c in zip(risk, segments, contexts, strict=True)]
        if probs is None:
            return [{"risk_band": d.risk_band, "incentive": d.code, "channel": d.channel, "policy": "rules",
                     "rule": d.rule, "expected_cost": round(d.expected_cost, 4), "expected_uplift": np.nan,
                     "expected_recovered_revenue": np.nan, "expected_profit": np.nan, "explored": False,
                     "propensity": np.nan, "why": d.reason} for d in rules]
        s = cat.uplift
        budget = DailyBudget(s.daily_budget, s.segment_caps) if s.daily_budget is not None or s.segment_caps else None

        def one(k: int, left: Budget | None) -> Any:
            draws = exploration_draws(sessions[k]) if self.explore else None
            return decide_uplift(probs[k], float(values[k]), segments[k], contexts[k], cat, left, draws)

        decisions = [one(k, None) for k in range(len(sessions))]
        if budget is not None:  # the budget goes to the most profitable offers first
            order = sorted(range(len(decisions)), key=lambda k: -(decisions[k].chosen.expected_profit
                                                                 if decisions[k].chosen else 0.0))
            for k in order:
                if decisions[k].chosen is None:
                    continue
                decisions[k] = one(k, budget.remaining())
                if decisions[k].chosen is not None:
                    budget.spend(decisions[k].chosen.expected_cost, segments[k])
        out = []
        for k, d in enumerate(decisions):
            value = max(float(values[k]), contexts[k].cart_value)
            uplift = d.chosen.uplift if d.chosen is not None else 0.0
            out.append({"risk_band": rules[k].risk_band, "incentive": d.code, "channel": d.channel,
                        "policy": "profit", "rule": d.rule, "expected_cost": round(d.expected_cost, 4),
                        "expected_uplift": round(uplift, 5),
                        "expected_recovered_revenue": round(uplift * value, 4),
                        "expected_profit": round(d.chosen.expected_profit, 4) if d.chosen is not None else 0.0,
                        "explored": d.explored, "propensity": round(d.propensity, 5), "why": d.reason})
        return out


_DECISION_COLUMNS = ("risk_band", "incentive", "channel", "policy", "rule", "expected_cost", "expected_uplift",
                     "expected_recovered_revenue", "expected_profit", "explored", "propensity", "why")

_CONTEXT_COLUMNS = ("cart_value", "shipping_fee", "free_shipping_threshold", "account_required", "is_guest",
                    "funnel_step", "device", "seconds_since_prev_event")
"""The snapshot columns :meth:`CartContext.from_features` reads."""
