"""Score one cart in process: request -> features -> risk -> reasons -> segments -> incentive.

No DataFrame per request. One call into LightGBM's single-row C API gives the leaf each tree sends the cart to;
precomputed per-leaf path contributions (:mod:`serving.fastpredict`) then give both the raw score (their sum plus
the bias, the log-odds exactly as the booster computes it) and the reasons; the calibration map turns the score
into the probability. The incentive comes from the profit policy when uplift models are loaded (per-arm purchase
probabilities, :mod:`serving.uplift_scorer`; expected profit, :mod:`serving.uplift_policy`), from the rule-based
policy otherwise. The BentoML service (:mod:`serving.service`) and the batch scorer call this same code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from features.definitions import CATEGORICAL_FEATURES, FEATURE_NAMES, FEATURE_SET
from features.online import NEW_CUSTOMER_PROFILE, LiveEvent, cart_features, datetime_to_us
from features.segments import RuleSet, default_rules, segments_of
from features.snapshots import category_code
from serving.fastpredict import FastBooster
from serving.policy import CartContext, Catalogue, decide, default_catalogue, risk_band
from serving.resilient import ResilientProfiles
from serving.schemas import IncentiveOut, OfferOut, Reason, ScoreRequest, ScoreResponse
from serving.uplift_policy import decide_uplift, exploration_draws
from serving.uplift_scorer import DailyBudget, FastUplift
from training.model import RiskModel

_CATEGORICAL = frozenset(CATEGORICAL_FEATURES)


def live_events(req: ScoreRequest) -> list[LiveEvent]:
    """The request's events as :class:`LiveEvent`, with the checkout context applied.

    Device and traffic source describe the session (its first event); the context's fee, threshold and account
    step are what the page shows now, so they are attached to the latest event.
    """
    ctx = req.context
    events = sorted(req.events, key=lambda e: e.event_time)
    out = []
    last = len(events) - 1
    for i, e in enumerate(events):
        now = i == last
        out.append(
            LiveEvent(
                event_type=e.event_type,
                time_us=datetime_to_us(e.event_time),
                product_id=e.product_id,
                price=e.price,
                quantity=e.quantity,
                device=ctx.device if i == 0 else None,
                traffic_source=ctx.traffic_source if i == 0 else None,
                shipping_fee=ctx.shipping_fee if now and ctx.shipping_fee is not None else e.shipping_fee,
                free_shipping_threshold=ctx.free_shipping_threshold
                if now and ctx.free_shipping_threshold is not None else e.free_shipping_threshold,
                account_required=ctx.account_required
                if now and ctx.account_required is not None else e.account_required,
            )
        )
    return out


@dataclass
class Scorer:
    """Everything one answer needs, loaded once."""

    model: RiskModel
    model_version: str
    profiles: ResilientProfiles | None = None
    catalogue: Catalogue | None = None
    rules: RuleSet | None = None
    top_reasons: int = 3
    uplift: FastUplift | None = None
    """The uplift models: when set, the profit policy chooses the incentive (else the rule-based policy)."""
    budget: DailyBudget | None = None
    explore: bool = True
    """Profit policy: let the ``exploration_share`` of the catalogue draw a random incentive for some carts."""

    def __post_init__(self) -> None:
        if self.model.feature_set != FEATURE_SET:
            raise ValueError(f"model was trained on feature set {self.model.feature_set!r}; this code computes "
                             f"{FEATURE_SET!r}")
        self.catalogue = self.catalogue or default_catalogue()
        self.rules = self.rules or default_rules()
        self._names = list(FEATURE_NAMES)
        self._fast = FastBooster(self.model.booster)

    def features_of(self, req: ScoreRequest) -> tuple[dict[str, float | str], dict[str, Any] | None, bool]:
        """Feature values, the profile used (None = no history) and whether the store was unavailable."""
        guest = req.customer_id is None
        profile: dict[str, Any] | None = None
        degraded = False
        shop_aov = math.nan
        if self.profiles is not None:
            shop_aov = self.profiles.shop_aov
            if not guest:
                found = self.profiles.lookup(req.customer_id or "")
                degraded = found.degraded
                if found.profile is not None:
                    profile = dict(found.profile)
                elif not degraded:
                    profile = dict(NEW_CUSTOMER_PROFILE)  # known id, no record yet: scored as new
        elif not guest:
            profile = dict(NEW_CUSTOMER_PROFILE)
        return cart_features(live_events(req), profile, is_guest=guest, shop_aov=shop_aov), profile, degraded

    def score(self, req: ScoreRequest) -> ScoreResponse:
        feats, profile, degraded = self.features_of(req)
        row = np.array(
            [[category_code(n, feats[n]) if n in _CATEGORICAL else float(feats[n]) for n in self._names]],
            dtype=np.float64,
        )
        score, contrib = self._fast.explain(row[0])
        raw = 1.0 / (1.0 + math.exp(-score))
        risk = float(np.interp(raw, self.model.calib_x, self.model.calib_y)) if len(self.model.calib_x) else raw
        order = np.argsort(-contrib, kind="stable")[: self.top_reasons]  # ties: the lower index, as in batch
        reasons = [
            Reason(feature=self._names[i], value=_plain(feats[self._names[i]]), contribution=float(contrib[i]))
            for i in order
            if contrib[i] > 0
        ]
        segs = segments_of({**feats, "city": (profile or {}).get("city")}, self.rules)
        assert self.catalogue is not None
        cart = CartContext.from_features(feats)
        if self.uplift is not None:  # the rule-based decision is not needed, only the risk band
            band = risk_band(risk, self.catalogue.settings)
            incentive = self._profit_incentive(row[0], req.session_id, segs, cart)
        else:
            decision = decide(risk, segs, cart, self.catalogue)
            band = decision.risk_band
            incentive = IncentiveOut(code=decision.code, channel=decision.channel, message_key=decision.message_key,
                                     expected_cost=round(decision.expected_cost, 4), why=decision.reason)
        return ScoreResponse(
            session_id=req.session_id,
            risk=risk,
            risk_band=band,
            segments=segs,
            incentive=incentive,
            reasons=reasons,
            model_version=self.model_version,
            feature_set=FEATURE_SET,
            degraded=degraded,
        )


    def _profit_incentive(self, row: np.ndarray, session_id: str, segs: list[str], cart: CartContext
                          ) -> IncentiveOut:
        """The profit policy's answer (:func:`serving.uplift_policy.decide_uplift`); spends today's budget."""
        assert self.uplift is not None and self.catalogue is not None
        probs, value = self.uplift.answer(row)
        budget = self.budget.remaining() if self.budget is not None and not self.budget.unlimited else None
        draws = exploration_draws(session_id) if self.explore else None
        d = decide_uplift(probs, value, segs, cart, self.catalogue, budget, draws)
        if self.budget is not None and d.chosen is not None:
            self.budget.spend(d.chosen.expected_cost, segs)
        runner = d.runner_up
        return IncentiveOut(
            code=d.code, channel=d.channel, message_key=d.message_key, expected_cost=round(d.expected_cost, 4),
            why=d.reason, policy="profit",
            expected_uplift=round(d.chosen.uplift, 5) if d.chosen is not None else 0.0,
            expected_profit=round(d.chosen.expected_profit, 4) if d.chosen is not None else 0.0,
            runner_up=OfferOut(code=runner.code, expected_uplift=round(runner.uplift, 5),
                               expected_cost=round(runner.expected_cost, 4),
                               expected_profit=round(runner.expected_profit, 4)) if runner is not None else None,
            explored=d.explored, propensity=round(d.propensity, 5),
        )


def _plain(value: float | str) -> float | str | None:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
