"""Exit hazards of the checkout funnel, the exact abandonment probabilities they imply, and the outcomes drawn.

From its first ``add_to_cart`` a cart walks the slots of :data:`synthetic_params.SLOT_EVENTS` that its plan made
active. Before each active slot's event the shopper leaves with probability ``q + (1 - q) * sigmoid(logit)``:
``q`` is an interruption (more on mobile and at a forced account step), the logit is a decision that depends on
the latent intent, the customer's past orders and e-mail engagement, device, traffic source, cart value, the
account step, the shipping fee against the free-shipping threshold, a per-session noise term and the incentive.
An interrupted known customer comes back and orders the same cart within the label window with probability ``r``
(raised by a reminder e-mail). Decisions to leave are final.

The truth is computed from the same numbers, with no simulation: standing at slot ``j``, ``A_j`` is the
probability of reaching the purchase and ``B_j`` that of leaving by an interruption, both sums over suffix products
of the remaining slots' continuation probabilities, so ``P(abandon) = 1 - A_j - r * B_j``. Before
``begin_checkout`` the account step is not known yet, so the probability averages the two cases with
ACCOUNT_REQUIRED_PROB; from ``begin_checkout`` on the actual case is used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training import synthetic_params as P


@dataclass(frozen=True)
class CartState:
    """What the generator knows about each cart at its first add_to_cart (arrays over carts).

    Everything here is fixed from that moment: the plan (``active``, ``value``) is latent but decided.
    """

    known: np.ndarray
    n_prior: np.ndarray
    """Orders placed before the event window (0 for guests)."""
    kind: np.ndarray
    """Latent customer kind, -1 for guests."""
    engagement: np.ndarray
    """E-mail engagement score at the session start, 0..1 (0 for guests)."""
    device: np.ndarray
    source: np.ndarray
    intent: np.ndarray
    noise: np.ndarray
    """Per-session logit noise (latent)."""
    price_sens: np.ndarray
    responsiveness: np.ndarray
    """Per-session multiplier of incentive effects (latent)."""
    value: np.ndarray
    """Planned cart value at checkout (shop currency)."""
    fee: np.ndarray
    """Shipping fee the shopper would pay without an incentive: 0 at or above the threshold."""
    active: np.ndarray
    """[n, N_SLOTS] slots of the plan."""

    def __len__(self) -> int:
        return len(self.known)

    @property
    def vip(self) -> np.ndarray:
        return self.n_prior >= P.Incentives.vip_orders


def sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


def reluctance(st: CartState, hz: P.Hazards) -> np.ndarray:
    """The shopper's general log-odds of leaving, shared by every slot (before slot-specific terms)."""
    known = st.known
    trait = np.where(
        known,
        hz.loyalty_per_log_order * np.log1p(st.n_prior)
        + hz.no_orders * (st.n_prior == 0)
        + hz.frequent_visitor * (st.kind == P.FREQUENT_VISITOR)
        + hz.big_spender * (st.kind == P.BIG_SPENDER)
        + hz.unengaged * (1.0 - st.engagement),
        hz.guest,
    )
    price = hz.price_per_log_value * st.price_sens * np.log(np.maximum(st.value, 1.0) / hz.reference_value)
    return np.asarray(
        np.asarray(hz.intent)[st.intent] + trait + np.asarray(hz.device)[st.device]
        + np.asarray(hz.source)[st.source] + price + st.noise
    )


def shown_fee(st: CartState, arm: np.ndarray) -> np.ndarray:
    """Shipping fee shown at checkout under ``arm``: free shipping removes it."""
    return np.where(arm == P.FREE_SHIPPING, 0.0, st.fee)


def fee_pain(st: CartState, arm: np.ndarray, hz: P.Hazards) -> np.ndarray:
    """Extra log-odds of leaving once the fee is shown; largest for carts just under the threshold."""
    missing = np.maximum(P.FREE_SHIPPING_THRESHOLD - st.value, 0.0)
    pain = hz.fee_any + hz.fee_near * np.exp(-missing / hz.fee_near_scale)
    return np.where(shown_fee(st, arm) > 0, pain * (0.6 + 0.4 * st.price_sens), 0.0)


def discount_responsiveness(st: CartState, inc: P.Incentives) -> np.ndarray:
    """How much a discount moves this shopper: little when engaged, more when unengaged, never-purchased,
    price-sensitive, on mobile or with a large cart; less for VIPs."""
    floor = inc.discount_engaged_floor
    known_part = (floor + (1 - floor) * (1 - st.engagement)) \
        * np.where(st.n_prior == 0, inc.discount_never_purchased, 1.0) \
        * np.where(st.vip, inc.discount_vip, 1.0)
    segment = np.where(st.known, known_part, inc.discount_guest_engagement)
    device = np.where(st.device == 1, inc.discount_mobile, 1.0)
    size = (np.maximum(st.value, 1.0) / P.Hazards.reference_value) ** inc.discount_value_exponent
    return np.minimum(segment * device * size * st.price_sens * st.responsiveness, inc.discount_max)


def incentive_shift(st: CartState, arm: np.ndarray, inc: P.Incentives) -> np.ndarray:
    """Log-odds shift of leaving on the checkout slots under ``arm`` (negative = keeps the shopper)."""
    disc = discount_responsiveness(st, inc)
    k5, k10, k15 = inc.discount
    vip_score = st.vip * st.responsiveness
    other = st.responsiveness
    return np.asarray(np.select(
        [arm == P.DISCOUNT_5, arm == P.DISCOUNT_10, arm == P.DISCOUNT_15, arm == P.EARLY_ACCESS,
         arm == P.GIFT],
        [-k5 * disc, -k10 * disc, -k15 * disc,
         -(inc.early_access_vip * vip_score + inc.early_access_other * other * ~st.vip),
         -(inc.gift_vip * vip_score + inc.gift_other * other * ~st.vip)],
        default=0.0,
    ))


def exit_hazards(st: CartState, arm: np.ndarray, account: np.ndarray, hz: P.Hazards,
                 inc: P.Incentives) -> tuple[np.ndarray, np.ndarray]:
    """[n, N_SLOTS] interruption probabilities ``q`` and decision probabilities ``s`` of leaving before each
    slot's event (slot 0, the first add, has none)."""
    general = reluctance(st, hz)
    weight = np.where(P.MAJOR, 1.0, hz.weight_minor)
    logit = np.asarray(hz.base)[None, :] + weight[None, :] * general[:, None]
    logit[:, P.MAJOR] += incentive_shift(st, arm, inc)[:, None]
    account_pain = np.where(
        ~st.known, hz.account_guest, np.where(st.n_prior == 0, hz.account_new, hz.account_known)
    )
    logit[:, P.ADD_SHIPPING] += account * account_pain
    pain = fee_pain(st, arm, hz)
    logit[:, P.ADD_PAYMENT] += pain
    logit[:, P.PURCHASE] += hz.fee_at_purchase * pain
    q_device = np.asarray(hz.interrupt)[st.device]
    q = q_device[:, None] * np.where(P.MAJOR, 1.0, hz.interrupt_minor)[None, :]
    q[:, P.ADD_SHIPPING] += account * hz.interrupt_account
    s = sigmoid(logit)
    q[:, 0] = 0.0
    s[:, 0] = 0.0
    return q, s


def return_probability(st: CartState, arm: np.ndarray, window_s: float, ret: P.Returns,
                       inc: P.Incentives) -> np.ndarray:
    """Probability that an interrupted shopper orders the cart within ``window_s`` seconds after the
    session's last event (0 for guests)."""
    logit = (ret.base + ret.per_log_order * np.log1p(st.n_prior) + ret.engagement * st.engagement
             + np.asarray(ret.intent)[st.intent] + inc.reminder_return_logit * (arm == P.REMINDER))
    in_time = return_in_window_share(window_s, ret)
    return np.where(st.known, sigmoid(logit) * in_time, 0.0)


def return_in_window_share(window_s: float, ret: P.Returns) -> float:
    """Share of returns whose delay (min_delay + exponential) is at most ``window_s`` seconds."""
    return float(1.0 - np.exp(-max(window_s - ret.min_delay, 0.0) / ret.delay_mean))


def continuation(q: np.ndarray, s: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Standing at each slot (after its event), the probability of reaching the purchase (``A``) and of leaving
    later by an interruption (``B``), from suffix products over the remaining active slots."""
    n, n_slots = active.shape
    a = np.ones(n)
    b = np.zeros(n)
    a_at = np.empty((n, n_slots))
    b_at = np.empty((n, n_slots))
    for j in range(n_slots - 1, -1, -1):
        a_at[:, j] = a
        b_at[:, j] = b
        go_on = (1.0 - q[:, j]) * (1.0 - s[:, j])
        on = active[:, j]
        a = np.where(on, go_on * a, a)
        b = np.where(on, q[:, j] + go_on * b, b)
    return a_at, b_at


@dataclass(frozen=True)
class Truth:
    """Exact probabilities per cart and slot under one arm."""

    p_purchase: np.ndarray
    """[n, N_SLOTS] probability of not abandoning, standing at each slot."""
    p_session_purchase: np.ndarray
    """[n, N_SLOTS] probability of purchasing in the session."""


def truth(st: CartState, arm: np.ndarray, account: np.ndarray, window_s: float, hz: P.Hazards,
          inc: P.Incentives, ret: P.Returns) -> Truth:
    """Probabilities standing at each slot under ``arm``; before begin_checkout they average over the account
    step, from it on they use ``account`` (the cart's actual step)."""
    r = return_probability(st, arm, window_s, ret, inc)[:, None]
    parts = []
    for value in (False, True):
        q, s = exit_hazards(st, arm, np.full(len(st), value), hz, inc)
        parts.append(continuation(q, s, st.active))
    (a0, b0), (a1, b1) = parts
    pa = P.ACCOUNT_REQUIRED_PROB
    known_step = np.arange(P.N_SLOTS)[None, :] >= P.BEGIN_CHECKOUT
    acc = account[:, None]
    a = np.where(known_step, np.where(acc, a1, a0), pa * a1 + (1 - pa) * a0)
    b = np.where(known_step, np.where(acc, b1, b0), pa * b1 + (1 - pa) * b0)
    return Truth(p_purchase=a + r * b, p_session_purchase=a)


@dataclass(frozen=True)
class Outcome:
    """What each cart did."""

    exit_slot: np.ndarray
    """Slot whose event the shopper did not reach; N_SLOTS when the cart was bought in the session."""
    interrupted: np.ndarray
    returned: np.ndarray
    """Came back and ordered within the label window."""
    delay_s: np.ndarray
    """Seconds from the session's last event to the return order (0 when not returned)."""

    @property
    def purchased(self) -> np.ndarray:
        return np.asarray(self.exit_slot == P.N_SLOTS)

    @property
    def abandoned(self) -> np.ndarray:
        return np.asarray(~self.purchased & ~self.returned)


def draw_outcome(rng: np.random.Generator, st: CartState, arm: np.ndarray, account: np.ndarray,
                 window_s: float, hz: P.Hazards, inc: P.Incentives, ret: P.Returns) -> Outcome:
    """Walk every cart through its slots with exactly the hazards of :func:`truth`."""
    n = len(st)
    q, s = exit_hazards(st, arm, account, hz, inc)
    u_interrupt = rng.random((n, P.N_SLOTS))
    u_decide = rng.random((n, P.N_SLOTS))
    interrupt = u_interrupt < q
    leave = st.active & (interrupt | (u_decide < s))
    leave[:, 0] = False
    any_leave = leave.any(axis=1)
    exit_slot = np.where(any_leave, leave.argmax(axis=1), P.N_SLOTS)
    interrupted = any_leave & interrupt[np.arange(n), np.minimum(exit_slot, P.N_SLOTS - 1)]
    r = return_probability(st, arm, window_s, ret, inc)
    returned = interrupted & (rng.random(n) < r)
    # delay given a return within the window: min_delay + exponential truncated at the window
    share = return_in_window_share(window_s, ret)
    u = rng.random(n)
    delay = ret.min_delay - ret.delay_mean * np.log1p(-u * share)
    delay_s = np.where(returned, np.minimum(np.ceil(delay), np.floor(window_s)), 0).astype(np.int64)
    return Outcome(exit_slot=exit_slot, interrupted=interrupted, returned=returned, delay_s=delay_s)
