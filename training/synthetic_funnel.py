"""Exit hazards of the checkout funnel, the exact abandonment probabilities they imply, and the outcomes drawn.

From its first ``add_to_cart`` a cart walks the slots of :data:`synthetic_params.SLOT_EVENTS` that its plan made
active. Before each active slot's event the shopper leaves with probability ``q + (1 - q) * sigmoid(logit)``:
``q`` is an interruption (more on mobile and at a forced account step), the logit is a decision. On the
cart-building slots the decision depends on the latent intent and on what the shop knows of the shopper (past
orders, e-mail engagement, recent visits, device, traffic source); on the checkout slots also on the cart's price
band (times the shopper's price sensitivity), the account step, the shipping fee against the free-shipping
threshold and the incentive. An interrupted known customer comes back and orders the same cart within the label
window with probability ``r`` (raised by a reminder e-mail). Decisions to leave are final.

Every function here broadcasts: the covariates may be shaped ``[n, 1, ...]`` and the intent, the arm, the band
and the account step given as arrays over extra axes, so :mod:`training.synthetic_observable` evaluates exactly
these hazards for every value of what it cannot see.

The oracle truth (:func:`truth`) is computed from the same numbers, with no simulation: standing at slot ``j``,
``A_j`` is the probability of reaching the purchase and ``B_j`` that of leaving by an interruption, both sums over
suffix products of the remaining slots' continuation probabilities, so ``P(abandon) = 1 - A_j - r * B_j``. It
knows the intent, the plan and the arm; before ``begin_checkout`` the account step is not known yet, so it averages
the two cases with ACCOUNT_REQUIRED_PROB.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from training import synthetic_params as P

EDGE_CENTS = np.round(P.VALUE_EDGES[1:-1] * 100).astype(np.int64)
"""Inner band edges in cents: band ``b`` holds values in ``[EDGE[b-1], EDGE[b])``."""
THRESHOLD_BAND = int(np.searchsorted(P.VALUE_EDGES, P.FREE_SHIPPING_THRESHOLD))
"""First band at or above the free-shipping threshold (bands below it pay the fee)."""
LOG_LEVEL = np.log(P.VALUE_LEVEL / P.Hazards.reference_value)
NEAR_LEVEL = np.exp(-np.maximum(P.FREE_SHIPPING_THRESHOLD - P.VALUE_LEVEL, 0.0) / P.Hazards.fee_near_scale)
SIZE_LEVEL = (P.VALUE_LEVEL / P.Hazards.reference_value) ** P.Incentives.discount_value_exponent


def band_of_cents(cents: np.ndarray) -> np.ndarray:
    """Price band (index into VALUE_LEVEL) of cart values given in cents."""
    return np.asarray(np.searchsorted(EDGE_CENTS, cents, side="right"), dtype=np.int64)


def to_cents(value: np.ndarray) -> np.ndarray:
    """Money with two decimals as integer cents."""
    return np.asarray(np.round(np.asarray(value) * 100.0), dtype=np.int64)


@dataclass(frozen=True)
class Covariates:
    """What the shop knows about each cart's shopper when the session starts (arrays over carts).

    All of it is a function of the tables: the orders, e-mail events and sessions before the session start,
    and the session's own first event.
    """

    known: np.ndarray
    n_prior: np.ndarray
    """Orders placed before the event window (0 for guests)."""
    engagement: np.ndarray
    """E-mail engagement score at the session start, 0..1 (0 for guests)."""
    visits: np.ndarray
    """The customer's sessions in the 30 days before this one (0 for guests)."""
    device: np.ndarray
    source: np.ndarray
    price_sens: np.ndarray
    """From the mean value of the orders before the window (see :func:`synthetic_population.price_sensitivity`)."""

    def __len__(self) -> int:
        return len(self.known)

    def take(self, index: np.ndarray) -> Covariates:
        return Covariates(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def expand(self, ndim: int) -> Covariates:
        """The same covariates shaped ``[n, 1, ..., 1]`` (``ndim`` axes) for broadcasting."""
        shape = (-1,) + (1,) * (ndim - 1)
        return Covariates(**{f.name: np.reshape(getattr(self, f.name), shape) for f in fields(self)})

    @property
    def vip(self) -> np.ndarray:
        return np.asarray(self.n_prior >= P.Incentives.vip_orders)


@dataclass(frozen=True)
class CartState:
    """The generator's state of each cart at its first add_to_cart (arrays over carts): the shopper's covariates,
    the latent intent and the plan (fixed from that moment, latent until it unfolds)."""

    cov: Covariates
    intent: np.ndarray
    """Latent intent of the session."""
    value: np.ndarray
    """Planned cart value at checkout (shop currency)."""
    active: np.ndarray
    """[n, N_SLOTS] slots of the plan."""

    def __len__(self) -> int:
        return len(self.intent)

    def take(self, index: np.ndarray) -> CartState:
        return CartState(cov=self.cov.take(index), intent=self.intent[index], value=self.value[index],
                         active=self.active[index])

    @property
    def band(self) -> np.ndarray:
        return band_of_cents(to_cents(self.value))

    @property
    def fee(self) -> np.ndarray:
        """Shipping fee the shopper would pay without an incentive: 0 at or above the threshold."""
        return np.where(self.band >= THRESHOLD_BAND, 0.0, P.SHIPPING_FEE)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


def _sigmoid_in_place(x: np.ndarray) -> np.ndarray:
    """sigmoid(x), overwriting ``x`` (a fresh array of logits)."""
    np.negative(x, out=x)
    np.exp(x, out=x)
    x += 1.0
    return np.asarray(np.reciprocal(x, out=x))


def trait(cov: Covariates, hz: P.Hazards) -> np.ndarray:
    """The shopper's log-odds of leaving from what the shop knows of them (before intent and slot terms)."""
    known_part = (
        hz.loyalty_per_log_order * np.log1p(cov.n_prior)
        + hz.no_orders * (cov.n_prior == 0)
        + hz.per_visit * np.minimum(cov.visits, P.VISITS_CAP)
        + hz.unengaged * (1.0 - cov.engagement)
    )
    return np.asarray(np.where(cov.known, known_part, hz.guest) + np.asarray(hz.device)[cov.device]
                      + np.asarray(hz.source)[cov.source])


def reluctance(cov: Covariates, intent: np.ndarray, hz: P.Hazards) -> np.ndarray:
    """The shopper's general log-odds of leaving, shared by every slot (before slot-specific terms)."""
    return np.asarray(np.asarray(hz.intent)[intent] + trait(cov, hz))


def shown_fee(band: np.ndarray, arm: np.ndarray) -> np.ndarray:
    """Shipping fee shown at checkout for a cart in ``band`` under ``arm``: free shipping removes it."""
    return np.asarray(np.where((arm == P.FREE_SHIPPING) | (band >= THRESHOLD_BAND), 0.0, P.SHIPPING_FEE))


def fee_pain(cov: Covariates, band: np.ndarray, arm: np.ndarray, hz: P.Hazards) -> np.ndarray:
    """Extra log-odds of leaving once the fee is shown; largest for carts just under the threshold."""
    pain = (hz.fee_any + hz.fee_near * NEAR_LEVEL[band]) * (0.6 + 0.4 * cov.price_sens)
    return np.asarray(np.where(shown_fee(band, arm) > 0, pain, 0.0))


def discount_responsiveness(cov: Covariates, band: np.ndarray, inc: P.Incentives) -> np.ndarray:
    """How much a discount moves this shopper: little when engaged, more when unengaged, without orders,
    price-sensitive, on mobile or with a large cart; less for VIPs."""
    floor = inc.discount_engaged_floor
    known_part = (floor + (1 - floor) * (1 - cov.engagement)) \
        * np.where(cov.n_prior == 0, inc.discount_never_purchased, 1.0) \
        * np.where(cov.vip, inc.discount_vip, 1.0)
    segment = np.where(cov.known, known_part, inc.discount_guest_engagement)
    device = np.where(cov.device == 1, inc.discount_mobile, 1.0)
    return np.asarray(np.minimum(segment * device * SIZE_LEVEL[band] * cov.price_sens, inc.discount_max))


def incentive_shift(cov: Covariates, band: np.ndarray, arm: np.ndarray, inc: P.Incentives) -> np.ndarray:
    """Log-odds shift of leaving on the checkout slots under ``arm`` (negative = keeps the shopper)."""
    disc = discount_responsiveness(cov, band, inc)
    k5, k10, k15 = inc.discount
    vip = cov.vip
    return np.asarray(np.select(
        [arm == P.DISCOUNT_5, arm == P.DISCOUNT_10, arm == P.DISCOUNT_15, arm == P.EARLY_ACCESS,
         arm == P.GIFT],
        [-k5 * disc, -k10 * disc, -k15 * disc,
         -np.where(vip, inc.early_access_vip, inc.early_access_other),
         -np.where(vip, inc.gift_vip, inc.gift_other)],
        default=0.0,
    ))


def account_pain(cov: Covariates, hz: P.Hazards) -> np.ndarray:
    return np.asarray(np.where(~cov.known, hz.account_guest,
                               np.where(cov.n_prior == 0, hz.account_new, hz.account_known)))


def minor_interrupt(cov: Covariates, hz: P.Hazards) -> np.ndarray:
    """Interruption probability before a cart-building slot."""
    return np.asarray(np.asarray(hz.interrupt)[cov.device] * hz.interrupt_minor)


def minor_decision(general: np.ndarray, slot: int, hz: P.Hazards) -> np.ndarray:
    """Probability of deciding to leave before cart-building ``slot`` (price does not act there yet)."""
    return sigmoid(hz.base[slot] + hz.weight_minor * general)


def checkout_hazards(cov: Covariates, general: np.ndarray, band: np.ndarray, arm: np.ndarray,
                     account: np.ndarray, hz: P.Hazards, inc: P.Incentives
                     ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per checkout slot (view_cart .. purchase), the interruption and decision probabilities of leaving before
    its event, broadcast over the shapes of the arguments."""
    common = general + hz.price_per_log_value * cov.price_sens * LOG_LEVEL[band] \
        + incentive_shift(cov, band, arm, inc)
    pain = fee_pain(cov, band, arm, hz)
    q_major = np.asarray(hz.interrupt)[cov.device]
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for slot in range(P.VIEW_CART, P.N_SLOTS):
        logit = hz.base[slot] + common
        q = q_major
        if slot == P.ADD_SHIPPING:
            logit = logit + account * account_pain(cov, hz)
            q = q_major + account * hz.interrupt_account
        elif slot == P.ADD_PAYMENT:
            logit = logit + pain
        elif slot == P.PURCHASE:
            logit = logit + hz.fee_at_purchase * pain
        out[slot] = (np.asarray(q), _sigmoid_in_place(np.array(logit, dtype=np.float64)))
    return out


def exit_hazards(st: CartState, arm: np.ndarray, account: np.ndarray, hz: P.Hazards,
                 inc: P.Incentives) -> tuple[np.ndarray, np.ndarray]:
    """[n, N_SLOTS] interruption probabilities ``q`` and decision probabilities ``s`` of leaving before each
    slot's event (slot 0, the first add, has none)."""
    n = len(st)
    general = reluctance(st.cov, st.intent, hz)
    q = np.zeros((n, P.N_SLOTS))
    s = np.zeros((n, P.N_SLOTS))
    q_minor = minor_interrupt(st.cov, hz)
    for slot in range(1, P.VIEW_CART):
        q[:, slot] = q_minor
        s[:, slot] = minor_decision(general, slot, hz)
    for slot, (qs, ss) in checkout_hazards(st.cov, general, st.band, arm, account, hz, inc).items():
        q[:, slot] = qs
        s[:, slot] = ss
    return q, s


def return_probability(cov: Covariates, intent: np.ndarray, arm: np.ndarray, window_s: float, ret: P.Returns,
                       inc: P.Incentives) -> np.ndarray:
    """Probability that an interrupted shopper orders the cart within ``window_s`` seconds after the
    session's last event (0 for guests)."""
    logit = (ret.base + ret.per_log_order * np.log1p(cov.n_prior) + ret.engagement * cov.engagement
             + np.asarray(ret.intent)[intent] + inc.reminder_return_logit * (arm == P.REMINDER))
    in_time = return_in_window_share(window_s, ret)
    return np.asarray(np.where(cov.known, sigmoid(logit) * in_time, 0.0))


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
    """Oracle probabilities standing at each slot under ``arm``, given the intent and the plan; before
    begin_checkout they average over the account step, from it on they use ``account`` (the cart's actual
    step)."""
    r = return_probability(st.cov, st.intent, arm, window_s, ret, inc)[:, None]
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
    r = return_probability(st.cov, st.intent, arm, window_s, ret, inc)
    returned = interrupted & (rng.random(n) < r)
    # delay given a return within the window: min_delay + exponential truncated at the window
    share = return_in_window_share(window_s, ret)
    u = rng.random(n)
    delay = ret.min_delay - ret.delay_mean * np.log1p(-u * share)
    delay_s = np.where(returned, np.minimum(np.ceil(delay), np.floor(window_s)), 0).astype(np.int64)
    return Outcome(exit_slot=exit_slot, interrupted=interrupted, returned=returned, delay_s=delay_s)
