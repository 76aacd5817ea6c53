"""The exact abandonment probability given only what can be observed: the Bayes limit of a risk model.

Standing at a snapshot event, an observer of the tables knows the shopper's covariates
(:class:`training.synthetic_funnel.Covariates`: past orders and their mean value, e-mail engagement score, visits
of the last 30 days, device, traffic source), the product views before the first add, the cart lines added so far,
and from ``view_cart`` on the whole cart; from ``begin_checkout`` on the account step; from ``add_shipping_info`` on
the shipping fee shown. It does not know the session's intent, the incentive arm (the experiment log is a
treatment record, not something a risk model scores with), the account step before checkout nor the lines still to
come. :func:`observable_truth` sums over all of them with the generator's own probabilities:

* intent ``i`` and arm ``a``, by Bayes' rule: the weight of ``(i, a)`` is the intent prior given the covariates
  (:func:`training.synthetic_sessions.intent_prior`) x the chance that intent builds a cart x the Poisson
  probability of the product views seen x the arm's assignment probability x the probability of having passed
  every slot so far without leaving (each slot's ``(1 - q)(1 - s)``) x, once the fee is shown, whether the arm
  agrees with it (free shipping shows no fee);
* the account step before ``begin_checkout``, with its prior ACCOUNT_REQUIRED_PROB (nothing seen depends on it);
* the rest of the plan at an ``add_to_cart``: the number of lines still to come (the truncated Poisson of the plan
  given the lines so far), the removal (one of all lines, or none) and the value of the future lines, independent
  draws from the catalogue with the customer's tilt. The hazards depend on the value only through its price band,
  so the value enters through the probability of each band, read off the exact distribution of the sum of ``m``
  future lines (:class:`LineValues`, a convolution on the cent grid).

Then ``p = sum_{i,a} w(i, a) * (1 - A(i, a) - r(i, a) * B(i, a))`` with the suffix probabilities ``A`` (purchase)
and ``B`` (interrupted later) of :mod:`training.synthetic_funnel`, averaged over the unseen plan and account step.
There is no simulation and no approximation beyond floating-point rounding (the distribution of the future lines'
sum is an FFT convolution, exact to about 1e-13). Product views' products and all event times carry no
information: they are drawn independently of everything that matters.

How the covariates are read off the tables. Each is a function of what the tables held before the session start,
so the truth conditions on nothing hidden; the cart features of :mod:`features.definitions` summarise them closely
but not always to the letter:

* ``n_prior`` and the mean order value: the orders before the event window (``orders`` rows without a
  ``session_id``). The feature ``orders_count`` also counts the customer's orders from earlier carts in the
  window, which ``past_carts - past_carts_abandoned`` gives back.
* ``visits``: the customer's sessions that started in the 30 days before, not counting return sessions (a page view
  then ``view_cart`` without any add: a come-back that buys an earlier cart). ``sessions_30d`` counts those too.
* ``engagement``: from the last campaign open or click before the session start. The open and click of a reminder
  e-mail (60 and 30 seconds before a return session) do not count; ``days_since_last_open`` and
  ``days_since_last_click`` do see them.

These differences touch a few percent of the carts, and on the default shop a model given the generator's
covariates as extra columns does no better than on the cart features alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training import synthetic_params as P
from training.synthetic_funnel import (
    EDGE_CENTS,
    THRESHOLD_BAND,
    Covariates,
    band_of_cents,
    checkout_hazards,
    minor_decision,
    minor_interrupt,
    reluctance,
    return_probability,
    shown_fee,
)
from training.synthetic_sessions import Catalog, intent_prior, views_mean

N_INTENTS = len(P.INTENTS)
N_ARMS = len(P.ARMS)
CHUNK = 4096
"""Carts per block: the arrays over (cart, intent, arm, band) stay below a few hundred MB."""
HAZARD_ARMS: tuple[int, ...] = tuple(a for a in range(len(P.ARMS)) if a != P.REMINDER)
"""Arms with distinct checkout hazards: a reminder e-mail acts after the session (through ``r``) only."""
ARM_HAZARD = np.array([HAZARD_ARMS.index(P.NONE if a == P.REMINDER else a) for a in range(len(P.ARMS))])
"""Index into HAZARD_ARMS of each arm."""


@dataclass(frozen=True)
class LineValues:
    """Exact distribution of the value of future cart lines, per tilt level.

    ``cdf[m][offset[m][t] + c + 1]`` is P(sum of ``m`` independent lines <= ``c`` cents) for a customer of tilt
    level ``t``, for ``c`` from -1 to the largest sum (past it the probability is 1).
    """

    cdf: list[np.ndarray]
    offset: list[np.ndarray]
    length: list[np.ndarray]

    def at(self, tilt: np.ndarray, m: int, cents: np.ndarray) -> np.ndarray:
        """P(sum of ``m`` lines <= ``cents``) per cart (``m`` = 0: the empty sum)."""
        if m == 0:
            return np.where(cents >= 0, 1.0, 0.0)
        index = np.clip(cents + 1, 0, self.length[m][tilt] - 1)
        return np.asarray(self.cdf[m][self.offset[m][tilt] + index])


def line_pmf(catalog: Catalog, tilt: float) -> np.ndarray:
    """Probability of each value (in cents) of one cart line: a product drawn as in
    :func:`training.synthetic_sessions.draw_cart_plans` (rank ``floor(U ** tilt * N)`` by price) times a quantity."""
    n = len(catalog.by_price)
    rank = np.arange(n + 1) / n
    p_rank = np.diff(rank ** (1.0 / tilt))
    unit = np.round(catalog.price[catalog.by_price] * 100).astype(np.int64)
    pmf = np.zeros(len(P.QUANTITY_SHARE) * int(unit.max()) + 1)
    share = P.QUANTITY_SHARE / P.QUANTITY_SHARE.sum()
    for q, w in enumerate(share, start=1):
        np.add.at(pmf, q * unit, w * p_rank)
    return pmf


def line_values(catalog: Catalog) -> LineValues:
    """The CDFs of sums of 1 .. MAX_ITEMS - 1 future lines, per tilt level (FFT convolution on the cent grid)."""
    tables: list[list[np.ndarray]] = [[] for _ in range(P.MAX_ITEMS)]
    for tilt in P.TILT_LEVELS:
        one = line_pmf(catalog, float(tilt))
        size = 1 << int(((P.MAX_ITEMS - 1) * len(one)).bit_length())
        spectrum = np.fft.rfft(one, size)
        for m in range(1, P.MAX_ITEMS):
            pmf = np.fft.irfft(spectrum**m, size)[: m * (len(one) - 1) + 1] if m > 1 else one
            pmf = np.clip(pmf, 0.0, None)
            tables[m].append(np.concatenate([[0.0], np.cumsum(pmf) / pmf.sum(), [1.0]]))
    empty = np.zeros(len(P.TILT_LEVELS), dtype=np.int64)
    cdf, offset, length = [np.zeros(0)], [empty], [empty]
    for m in range(1, P.MAX_ITEMS):
        sizes = np.array([len(t) for t in tables[m]], dtype=np.int64)
        cdf.append(np.concatenate(tables[m]))
        offset.append(np.concatenate([[0], np.cumsum(sizes)[:-1]]))
        length.append(sizes)
    return LineValues(cdf, offset, length)


def _lines_left() -> np.ndarray:
    """[k, n] P(the plan has n lines | it has at least k), k, n in 0 .. MAX_ITEMS."""
    from math import exp, factorial

    lam = P.EXTRA_ITEMS_MEAN
    p = np.array([exp(-lam) * lam**j / factorial(j) for j in range(P.MAX_ITEMS - 1)])
    dist = np.zeros(P.MAX_ITEMS + 1)
    dist[1 : P.MAX_ITEMS] = p
    dist[P.MAX_ITEMS] = 1.0 - p.sum()
    out = np.zeros((P.MAX_ITEMS + 1, P.MAX_ITEMS + 1))
    for k in range(1, P.MAX_ITEMS + 1):
        out[k, k:] = dist[k:] / dist[k:].sum()
    return out


LINES_LEFT = _lines_left()


@dataclass(frozen=True)
class Observed:
    """What the tables show of each cart (arrays over carts); slot ``j`` of :func:`observable_truth` reads only
    the parts visible at that slot's event."""

    cov: Covariates
    tilt_level: np.ndarray
    views: np.ndarray
    """Product views of the session before its first add_to_cart (the view of the first line included)."""
    line_cents: np.ndarray
    """[n, MAX_ITEMS] value of each line (unit price x quantity) in cents, in the order added; 0 past n_lines."""
    n_lines: np.ndarray
    removed: np.ndarray
    """Line removed before view_cart, -1 for none."""
    account: np.ndarray
    fee_shown: np.ndarray
    """Shipping fee shown at add_shipping_info."""

    def __len__(self) -> int:
        return len(self.views)

    def take(self, index: np.ndarray) -> Observed:
        return Observed(cov=self.cov.take(index), tilt_level=self.tilt_level[index], views=self.views[index],
                        line_cents=self.line_cents[index], n_lines=self.n_lines[index],
                        removed=self.removed[index], account=self.account[index],
                        fee_shown=self.fee_shown[index])


def arm_prior(known: np.ndarray, share: float = P.EXPERIMENT_SHARE) -> np.ndarray:
    """[n, N_ARMS] probability of each arm: outside the test 'none', in it uniform over the eligible arms."""
    known_row = np.full(N_ARMS, share / N_ARMS)
    known_row[P.NONE] += 1.0 - share
    guest_row = np.zeros(N_ARMS)
    guest_row[list(P.GUEST_ARMS)] = share / len(P.GUEST_ARMS)
    guest_row[P.NONE] += 1.0 - share
    return np.where(known[:, None], known_row[None, :], guest_row[None, :])


def _pre_cart_log_weight(obs: Observed) -> np.ndarray:
    """[n, 3] log of prior x P(cart | intent) x P(views | intent), up to a constant per cart."""
    cov = obs.cov
    prior = intent_prior(cov.n_prior, cov.known, cov.engagement, cov.visits, cov.source)
    mean = views_mean(cov.visits)
    views = (obs.views - 1)[:, None]  # a cart session's views are 1 + Poisson(mean)
    return np.asarray(np.log(prior) + np.log(P.CART_PROB)[None, :] + views * np.log(mean) - mean)


def _suffix(steps: list[tuple[np.ndarray, np.ndarray]], shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Continuation over consecutive slots given as (q, go) pairs: P(pass them all), P(interrupted in them)."""
    a = np.ones(shape)
    b = np.zeros(shape)
    for q, go in reversed(steps):
        b = q + go * b
        a = go * a
    return a, b


def _band_probs(lines: LineValues, tilt: np.ndarray, base_cents: np.ndarray, m: int) -> np.ndarray:
    """[n, N_BANDS] P(base + sum of m future lines falls in each band)."""
    below = np.stack([lines.at(tilt, m, e - base_cents - 1) for e in EDGE_CENTS], axis=1)
    lower = np.concatenate([np.zeros((len(base_cents), 1)), below], axis=1)
    upper = np.concatenate([below, np.ones((len(base_cents), 1))], axis=1)
    return np.asarray(upper - lower)


def _block(obs: Observed, lines: LineValues, window_s: float, hz: P.Hazards, inc: P.Incentives,
           ret: P.Returns, share: float) -> np.ndarray:
    n = len(obs)
    out = np.full((n, P.N_SLOTS), np.nan)
    if n == 0:
        return out
    cov = obs.cov
    intents = np.arange(N_INTENTS)
    arms = np.arange(N_ARMS)
    bands = np.arange(P.N_BANDS)
    general = reluctance(cov.expand(2), intents[None, :], hz)  # [n, 3]
    # cart-building slots: depend on the intent only
    q_minor = minor_interrupt(cov, hz)[:, None]
    go_minor = {s: (1.0 - q_minor) * (1.0 - minor_decision(general, s, hz)) for s in range(1, P.VIEW_CART)}
    # checkout slots over (cart, intent, hazard arm, band); add_shipping_info also over the account step
    h_arms = np.asarray(HAZARD_ARMS)
    haz = checkout_hazards(cov.expand(5), general[:, :, None, None, None], bands[None, None, None, :, None],
                           h_arms[None, None, :, None, None], np.array([False, True])[None, None, None, None, :],
                           hz, inc)
    go: dict[int, np.ndarray] = {}
    qs: dict[int, np.ndarray] = {}
    for slot, (q, decide) in haz.items():
        np.subtract(1.0, decide, out=decide)
        decide *= 1.0 - q
        go[slot] = decide if slot == P.ADD_SHIPPING else decide[..., 0]
        qs[slot] = q if slot == P.ADD_SHIPPING else q[..., 0]
    pa = P.ACCOUNT_REQUIRED_PROB
    mix = np.array([1.0 - pa, pa])
    # standing before view_cart, the account step not known yet: the suffix is linear in add_shipping_info's
    # (q, go), so averaging those over the step averages the suffix
    go_ship, q_ship = go[P.ADD_SHIPPING] @ mix, qs[P.ADD_SHIPPING] @ mix
    a_pre = go[P.VIEW_CART] * go[P.BEGIN_CHECKOUT] * go_ship * go[P.ADD_PAYMENT] * go[P.PURCHASE]
    b_pre = qs[P.PURCHASE] * go[P.ADD_PAYMENT] + qs[P.ADD_PAYMENT]
    b_pre = b_pre * go_ship + q_ship
    b_pre = b_pre * go[P.BEGIN_CHECKOUT] + qs[P.BEGIN_CHECKOUT]
    b_pre = b_pre * go[P.VIEW_CART] + qs[P.VIEW_CART]
    del go_ship

    r = return_probability(cov.expand(3), intents[None, :, None], arms[None, None, :], window_s, ret, inc)
    prior_arm = arm_prior(cov.known, share)  # [n, A]
    log_pre = _pre_cart_log_weight(obs)  # [n, 3]
    rows = np.arange(n)

    # -- add_to_cart snapshots: intent posterior from the slots passed; arms at their prior; plan marginalised
    log_w = log_pre.copy()
    for k in range(1, P.MAX_ITEMS + 1):
        if k > 1:
            log_w = log_w + np.log(go_minor[P.VIEW_SLOTS[k - 2]]) + np.log(go_minor[P.ADD_SLOTS[k - 1]])
        has = obs.n_lines >= k
        if not has.any():
            continue
        now = obs.line_cents[:, :k].sum(axis=1)
        m_band = np.zeros((n, N_INTENTS, P.N_BANDS))
        b_minor = np.zeros((n, N_INTENTS))
        for total in range(k, P.MAX_ITEMS + 1):
            p_total = LINES_LEFT[k, total]
            if p_total == 0:
                continue
            m = total - k
            future = [P.VIEW_SLOTS[line - 1] for line in range(k, total)]
            future = sorted(future + [P.ADD_SLOTS[line] for line in range(k, total)])
            p_remove = P.REMOVE_PROB if total >= 2 else 0.0
            for removal in (False, True):
                slots = [*future, P.REMOVE_SLOT] if removal else future
                steps = [(np.broadcast_to(q_minor, (n, N_INTENTS)), go_minor[s]) for s in slots]
                a_min, b_min = _suffix(steps, (n, N_INTENTS))
                if not removal:
                    weight = p_total * (1.0 - p_remove)
                    band_p = weight * _band_probs(lines, obs.tilt_level, now, m)
                else:
                    if p_remove == 0:
                        continue
                    weight = p_total * p_remove
                    band_p = np.zeros((n, P.N_BANDS))
                    for line in range(k):  # one of the lines already in the cart
                        band_p += _band_probs(lines, obs.tilt_level, now - obs.line_cents[:, line], m)
                    if m > 0:  # one of the future lines: the cart keeps m - 1 of them
                        band_p += m * _band_probs(lines, obs.tilt_level, now, m - 1)
                    band_p *= weight / total
                m_band += a_min[:, :, None] * band_p[:, None, :]
                b_minor += weight * b_min
        exp_a = np.einsum("nib,nihb->nih", m_band, a_pre)[:, :, ARM_HAZARD]
        exp_b = b_minor[:, :, None] + np.einsum("nib,nihb->nih", m_band, b_pre)[:, :, ARM_HAZARD]
        p_abandon = 1.0 - exp_a - r * exp_b
        w = np.exp(log_w - log_w.max(axis=1, keepdims=True))
        w /= w.sum(axis=1, keepdims=True)
        value = np.einsum("ni,na,nia->n", w, prior_arm, p_abandon)
        out[has, P.ADD_SLOTS[k - 1]] = value[has]

    # -- from view_cart on the whole cart is known: its band, and which cart-building slots were passed
    kept = np.arange(P.MAX_ITEMS)[None, :] != obs.removed[:, None]
    band = band_of_cents((obs.line_cents * kept).sum(axis=1))
    log_w2 = log_pre.copy()
    for line in range(1, P.MAX_ITEMS):
        added = (obs.n_lines > line)[:, None]
        step = np.log(go_minor[P.VIEW_SLOTS[line - 1]]) + np.log(go_minor[P.ADD_SLOTS[line]])
        log_w2 = log_w2 + np.where(added, step, 0.0)
    log_w2 = log_w2 + np.where((obs.removed >= 0)[:, None], np.log(go_minor[P.REMOVE_SLOT]), 0.0)
    log_w3 = log_w2[:, :, None] + np.log(np.maximum(prior_arm, 1e-300))[:, None, :]
    log_w3 = np.where(prior_arm[:, None, :] > 0, log_w3, -np.inf)
    account = obs.account.astype(np.int64)

    def at_cart(x: np.ndarray) -> np.ndarray:
        """Values of an array over (cart, intent, hazard arm, band, ...) at each cart's band, over the arms."""
        full = np.broadcast_to(x, (n, N_INTENTS, len(HAZARD_ARMS), P.N_BANDS, *x.shape[4:]))
        return np.asarray(full[rows, :, :, band][:, :, ARM_HAZARD])

    ship = at_cart(go[P.ADD_SHIPPING])  # [n, 3, A, 2]
    q_ship_all = np.broadcast_to(qs[P.ADD_SHIPPING], (n, 1, 1, 1, 2))[:, 0, 0, 0, :]  # [n, 2]
    go_ship_seen = np.where(account[:, None, None] == 1, ship[..., 1], ship[..., 0])
    q_ship_seen = np.where(account == 1, q_ship_all[:, 1], q_ship_all[:, 0])[:, None, None]
    go_ship_mixed = ship @ mix
    q_ship_mixed = (q_ship_all @ mix)[:, None, None]
    g = {j: at_cart(go[j]) for j in (P.VIEW_CART, P.BEGIN_CHECKOUT, P.ADD_PAYMENT, P.PURCHASE)}
    q_at = {j: np.broadcast_to(qs[j], (n, 1, 1, 1))[:, :, :, 0] for j in g}
    # standing after each slot's event: P(purchase), P(interrupted later)
    a_11, b_11 = g[P.PURCHASE], q_at[P.PURCHASE]
    a_10, b_10 = g[P.ADD_PAYMENT] * a_11, q_at[P.ADD_PAYMENT] + g[P.ADD_PAYMENT] * b_11
    a_9, b_9 = go_ship_seen * a_10, q_ship_seen + go_ship_seen * b_10
    a_8 = g[P.BEGIN_CHECKOUT] * go_ship_mixed * a_10
    b_8 = q_at[P.BEGIN_CHECKOUT] + g[P.BEGIN_CHECKOUT] * (q_ship_mixed + go_ship_mixed * b_10)
    passed = {P.VIEW_CART: g[P.VIEW_CART], P.BEGIN_CHECKOUT: g[P.BEGIN_CHECKOUT], P.ADD_SHIPPING: go_ship_seen,
              P.ADD_PAYMENT: g[P.ADD_PAYMENT]}
    cont = {P.VIEW_CART: (a_8, b_8), P.BEGIN_CHECKOUT: (a_9, b_9), P.ADD_SHIPPING: (a_10, b_10),
            P.ADD_PAYMENT: (a_11, b_11)}
    fee_ok = (shown_fee(band[:, None], arms[None, :]) > 0) == (obs.fee_shown > 0)[:, None]
    for j in range(P.VIEW_CART, P.PURCHASE):
        log_w3 = log_w3 + np.log(passed[j])
        if j == P.ADD_SHIPPING:
            log_w3 = np.where(fee_ok[:, None, :], log_w3, -np.inf)
        a_j, b_j = cont[j]
        with np.errstate(invalid="ignore"):  # a fee no arm can show: an impossible observation gives NaN
            w3 = np.exp(log_w3 - log_w3.max(axis=(1, 2), keepdims=True))
            w3 /= w3.sum(axis=(1, 2), keepdims=True)
        out[:, j] = np.einsum("nia,nia->n", w3, 1.0 - a_j - r * b_j)
    return out


def observable_truth(obs: Observed, lines: LineValues, window_s: float, hz: P.Hazards, inc: P.Incentives,
                     ret: P.Returns, experiment_share: float = P.EXPERIMENT_SHARE) -> np.ndarray:
    """[n, N_SLOTS] P(abandoned | what is observable at each snapshot slot): the add_to_cart slots of the lines
    and view_cart .. add_payment_info (NaN elsewhere, and at add_to_cart slots past the cart's lines)."""
    out = np.full((len(obs), P.N_SLOTS), np.nan)
    for lo in range(0, len(obs), CHUNK):
        idx = np.arange(lo, min(lo + CHUNK, len(obs)))
        out[idx] = _block(obs.take(idx), lines, window_s, hz, inc, ret, experiment_share)
    return out


__all__ = ["THRESHOLD_BAND", "LineValues", "Observed", "arm_prior", "line_values", "observable_truth"]
