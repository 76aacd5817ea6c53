"""The profit policy: per cart, the incentive with the best expected profit, learned from experiments.

:func:`decide_uplift` is a pure function of the cart's purchase probability under each incentive (from the uplift
models), its expected order value, its segments and checkout context, the catalogue (eligibility, cost models,
the ``uplift:`` settings), the budget still available and, for exploration, two uniform draws. For each eligible
incentive::

    uplift  = P(bought | incentive) - P(bought | none)
    cost    = cost if bought x P(bought | incentive)     (a discount, free shipping, a gift)
              or the cost in full                         (an e-mail: paid whatever happens)
    profit  = uplift x margin x expected order value - cost

It chooses the incentive with the highest profit, or ``none`` when no profit is above ``min_expected_profit``:
never one with a negative expected profit. Incentives without an uplift model (no experiment data) are not
offered by this policy. An offer whose expected cost passes what is left of the daily budget, or of the cap of
one of the cart's segments, is not made. With probability ``exploration_share`` the cart instead gets a uniformly
drawn eligible option (``none`` included), flagged ``explored`` with the probability it had of being chosen, so the
shop keeps logging unbiased experiments. The answer gives the chosen and the runner-up offer with their uplift,
cost and profit.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Protocol

from serving.policy import NONE, CartContext, Catalogue, Incentive, UpliftSettings, interruption_reason

__all__ = ["Budget", "Offer", "UpliftDecision", "decide_uplift", "expected_fee", "exploration_draws", "is_eligible",
           "offer_of"]


@dataclass(frozen=True, slots=True)
class Offer:
    """One eligible incentive with its expected economics for this cart."""

    code: str
    channel: str
    p_bought: float
    uplift: float
    expected_cost: float
    expected_profit: float

    def to_dict(self) -> dict[str, object]:
        return {"code": self.code, "channel": self.channel, "p_bought": self.p_bought, "uplift": self.uplift,
                "expected_cost": self.expected_cost, "expected_profit": self.expected_profit}


@dataclass(frozen=True, slots=True)
class Budget:
    """What is left to spend today: over all carts (None: no limit) and per capped segment."""

    total: float | None = None
    by_segment: tuple[tuple[str, float], ...] = ()

    def allows(self, cost: float, segments: Collection[str]) -> bool:
        if self.total is not None and cost > self.total + 1e-12:
            return False
        return all(cost <= left + 1e-12 for name, left in self.by_segment if name in segments)


@dataclass(frozen=True, slots=True)
class UpliftDecision:
    """The incentive chosen for one cart by expected profit, and why."""

    code: str
    channel: str
    message_key: str
    chosen: Offer | None
    """The chosen offer's economics (None for ``none``)."""
    runner_up: Offer | None
    """The next best offer (``none`` counts, with profit 0), or None when there was no other option."""
    considered: tuple[Offer, ...]
    """Every eligible incentive with a model, best first."""
    explored: bool
    propensity: float
    """Probability that this answer was drawn, given the cart (for off-policy evaluation and retraining)."""
    reason: str
    rule: str
    """``best_profit``, ``nothing_pays``, ``no_eligible``, ``over_budget``, ``explore`` or ``empty_cart``."""

    @property
    def expected_cost(self) -> float:
        return self.chosen.expected_cost if self.chosen is not None else 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "channel": self.channel,
            "message_key": self.message_key,
            "chosen": self.chosen.to_dict() if self.chosen is not None else None,
            "runner_up": self.runner_up.to_dict() if self.runner_up is not None else None,
            "considered": [o.to_dict() for o in self.considered],
            "explored": self.explored,
            "propensity": self.propensity,
            "reason": self.reason,
            "rule": self.rule,
        }


def exploration_draws(session_id: str, salt: str = "cartrisk-explore") -> tuple[float, float]:
    """Two uniform numbers in [0, 1) fixed by the session id: the same cart explores (or not) the same way
    every time it is scored, at every step of its session."""
    digest = hashlib.blake2b(f"{salt}:{session_id}".encode(), digest_size=16).digest()
    return int.from_bytes(digest[:8], "big") / 2**64, int.from_bytes(digest[8:], "big") / 2**64


def expected_fee(cart: CartContext, order_value: float, settings: UpliftSettings) -> float:
    """The shipping fee this cart is expected to pay at checkout: the fee shown (when below the threshold), or,
    before checkout showed one, the shop's standard fee when the expected order is below its threshold."""
    threshold = cart.free_shipping_threshold
    if cart.shipping_fee is not None:
        below = threshold is None or cart.cart_value < threshold
        return cart.shipping_fee if below and cart.shipping_fee > 0 else 0.0
    fee, threshold = settings.shipping_fee, threshold if threshold is not None else settings.free_shipping_threshold
    if fee is None or fee <= 0:
        return 0.0
    return fee if threshold is None or order_value < threshold else 0.0


def cost_amount(inc: Incentive, order_value: float, fee: float) -> float:
    """What one offer of ``inc`` costs when it is paid (before weighting by the purchase probability)."""
    kind, amount = inc.cost.kind, inc.cost.value
    return order_value * amount / 100.0 if kind == "percent_of_cart" else (fee if kind == "shipping_fee" else amount)


def offer_of(inc: Incentive, p_with: float, p_without: float, order_value: float, fee: float,
             margin: float) -> Offer:
    """The expected uplift, cost and profit of offering ``inc`` to a cart (see the module docstring)."""
    pay = cost_amount(inc, order_value, fee)
    cost = pay * p_with if inc.cost.when == "bought" else pay
    uplift = p_with - p_without
    return Offer(inc.code, inc.channel, p_with, uplift, cost, uplift * margin * order_value - cost)


def is_eligible(inc: Incentive, segs: Collection[str], cart: CartContext, value: float, fee: float,
              interrupted: bool, cap_share: float) -> bool:
    e = inc.eligibility
    if (e.known_customer_only or inc.channel == "email") and cart.is_guest:
        return False
    if value < e.min_cart_value or (e.requires_fee and fee <= 0) or (e.requires_interruption and not interrupted):
        return False
    if e.requires_account_step and cart.account_required is not True:
        return False
    if e.segments_any and not any(s in segs for s in e.segments_any):
        return False
    if e.segments_none and any(s in segs for s in e.segments_none):
        return False
    return cost_amount(inc, value, fee) <= cap_share * value + 1e-9


def decide_uplift(
    probabilities: Mapping[str, float],
    order_value: float,
    segments: Collection[str],
    cart: CartContext,
    catalogue: Catalogue,
    budget: Budget | None = None,
    draws: tuple[float, float] | None = None,
) -> UpliftDecision:
    """The incentive with the best expected profit for one cart (see the module docstring).

    ``probabilities`` maps ``none`` and each modelled incentive code to ``P(bought)``; ``order_value`` is the
    expected value of the order if bought (the cart value when nothing better is known); ``draws`` are two
    uniforms for exploration (None: no exploration).
    """
    if NONE not in probabilities:
        raise ValueError("probabilities must include 'none' (the purchase probability without incentive)")
    for code, p in probabilities.items():
        if not (isinstance(p, float | int) and 0.0 <= p <= 1.0):
            raise ValueError(f"probability of {code!r} must be in [0, 1], got {p!r}")
    if not (order_value >= 0.0 and math.isfinite(order_value)):
        raise ValueError(f"order_value must be a finite number >= 0, got {order_value!r}")
    s = catalogue.uplift
    none = catalogue.none
    segs = segments if isinstance(segments, set | frozenset) else frozenset(segments)
    value = max(order_value, cart.cart_value)
    fee = expected_fee(cart, value, s)
    interrupted = interruption_reason(cart, catalogue.settings) is not None
    p0 = float(probabilities[NONE])
    offers = [
        offer_of(inc, float(probabilities[inc.code]), p0, value, fee, s.margin)
        for inc in catalogue.incentives
        if inc.code in probabilities
        and is_eligible(inc, segs, cart, value, fee, interrupted, catalogue.settings.max_cost_share_of_cart)
    ]
    offers.sort(key=lambda o: (-o.expected_profit, o.expected_cost, o.code))
    considered = tuple(offers)
    nothing = Offer(NONE, none.channel, p0, 0.0, 0.0, 0.0)

    def answer(offer: Offer | None, runner: Offer | None, rule: str, reason: str, explored: bool = False,
               propensity: float = 1.0) -> UpliftDecision:
        inc = catalogue.get(offer.code) if offer is not None else none
        return UpliftDecision(inc.code, inc.channel, inc.message_key, offer, runner, considered, explored,
                              propensity, reason, rule)

    if cart.cart_value <= 0.0:
        return answer(None, None, "empty_cart", "The cart is empty: nothing to recover, so no incentive.")
    share = s.exploration_share if draws is not None and offers else 0.0
    greedy = _exploit(offers, nothing, s, budget, segs, answer, value, share)
    if draws is not None and draws[0] < share:
        # exploration: a uniform choice among the eligible options and none
        options: list[Offer] = [nothing, *sorted(offers, key=lambda o: o.code)]
        pick = options[min(int(draws[1] * len(options)), len(options) - 1)]
        return answer(None if pick.code == NONE else pick, None, "explore",
                      f"Exploration: {pick.code} drawn at random among {len(options)} options "
                      f"({share:.0%} of carts are explored, to keep learning).",
                      explored=True, propensity=share / len(options) + (1 - share) * (greedy.code == pick.code))
    return greedy


def _exploit(offers: list[Offer], nothing: Offer, s: UpliftSettings, budget: Budget | None,
             segs: Collection[str], answer: _Answer, value: float, explore_share: float) -> UpliftDecision:
    keep = 1.0 - explore_share
    n_options = len(offers) + 1
    if not offers:
        return answer(None, None, "no_eligible", "No incentive with a measured effect is eligible for this cart.",
                      propensity=1.0)
    best = offers[0]
    if best.expected_profit <= s.min_expected_profit:
        return answer(None, best, "nothing_pays",
                      f"No incentive pays: the best, {best.code}, would lift the purchase probability by "
                      f"{best.uplift:+.3f} for an expected cost of {best.expected_cost:.2f}, an expected profit "
                      f"of {best.expected_profit:+.2f}.", propensity=keep + explore_share / n_options)
    skipped = []
    for o in offers:
        if o.expected_profit <= s.min_expected_profit:
            break
        if budget is not None and not budget.allows(o.expected_cost, segs):
            skipped.append(o.code)
            continue
        rest = [x for x in offers if x is not o and x.expected_profit > 0]
        runner = rest[0] if rest else nothing
        note = f" ({', '.join(skipped)} over today's budget)" if skipped else ""
        return answer(o, runner, "best_profit",
                      f"{o.code} has the best expected profit{note}: uplift {o.uplift:+.3f} x margin "
                      f"{s.margin:.0%} x order {value:.2f} - cost {o.expected_cost:.2f} = "
                      f"{o.expected_profit:+.2f}; runner-up {runner.code} ({runner.expected_profit:+.2f}).",
                      propensity=keep + explore_share / n_options)
    return answer(None, best, "over_budget",
                  f"Every profitable incentive ({', '.join(skipped)}) would pass what is left of today's budget.",
                  propensity=keep + explore_share / n_options)


class _Answer(Protocol):
    def __call__(self, offer: Offer | None, runner: Offer | None, rule: str, reason: str, explored: bool = False,
                 propensity: float = 1.0) -> UpliftDecision: ...
