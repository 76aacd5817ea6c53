"""The synthetic shop's visits: sessions, their browsing before any cart, and the planned carts.

Times are int64 seconds since the Unix epoch (UTC), money is in the shop currency. A session's latent intent comes
from a prior over what the shop knows when it starts (:func:`intent_prior`), never from the customer's kind; the
intent sets whether the session builds a cart and how many products it views first. A cart's *plan* (its lines,
quantities, an optional removal, whether checkout will require an account, and the time of every step) is decided at
its first ``add_to_cart`` independently of the intent; the funnel (:mod:`training.synthetic_funnel`) then decides
how far the shopper gets.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from training import synthetic_params as P
from training.synthetic_population import (
    DAY,
    Customers,
    Emails,
    Profiles,
    categorical,
    engagement_score,
    last_engagement_s,
)

PAGE_VIEW, VIEW_ITEM = 0, 1
"""Event codes of browsing rows (indices into :data:`features.schema.EVENT_TYPES`)."""


@dataclass(frozen=True)
class Catalog:
    """Products: ``price`` (unit price) and ``category`` (index into CATEGORY_MEDIAN_PRICE) per product."""

    price: np.ndarray
    category: np.ndarray
    by_price: np.ndarray
    """Product indices from the cheapest to the dearest."""
    popularity: np.ndarray
    """Probability that a product view is of each product."""


def draw_catalog(rng: np.random.Generator) -> Catalog:
    """N_PRODUCTS products in the categories of CATEGORY_MEDIAN_PRICE, log-normal prices ending in .99."""
    medians = np.array(list(P.CATEGORY_MEDIAN_PRICE.values()))
    category = rng.integers(0, len(medians), P.N_PRODUCTS)
    raw = medians[category] * rng.lognormal(0.0, P.PRICE_SPREAD, P.N_PRODUCTS)
    price = np.maximum(np.round(raw), 2.0) - 0.01
    rank = rng.permutation(P.N_PRODUCTS)
    weight = 1.0 / (rank + 10.0) ** P.POPULARITY_EXPONENT
    return Catalog(price=price, category=category, by_price=np.argsort(price, kind="stable"),
                   popularity=weight / weight.sum())


@dataclass(frozen=True)
class Sessions:
    """Visits, one entry per session (arrays of equal length)."""

    customer: np.ndarray
    """Customer index, -1 for a guest."""
    start_s: np.ndarray
    device: np.ndarray
    """Index into :data:`features.schema.DEVICES`."""
    source: np.ndarray
    """Index into :data:`features.schema.TRAFFIC_SOURCES`."""
    intent: np.ndarray
    """Latent intent, index into INTENTS."""
    engagement: np.ndarray
    """Engagement score in [0, 1] at the session start (0 for guests), see ``engagement_score``."""
    visits: np.ndarray
    """The customer's sessions that started in the 30 days before this one (0 for guests)."""
    has_cart: np.ndarray
    n_views: np.ndarray
    """Product views before the first add (or in the whole visit without a cart)."""

    def __len__(self) -> int:
        return len(self.customer)

    def take(self, index: np.ndarray) -> Sessions:
        """The sessions at ``index`` (an index or boolean mask)."""
        return Sessions(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


def _session_days(rng: np.random.Generator, cust: Customers, start_s: int, days: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Customer index and midnight (s) of each known customer's sessions, Poisson by visit rate."""
    end_s = start_s + days * DAY
    active_days = np.maximum((end_s - cust.active_from_s) // DAY, 0)
    rate = P.VISIT_RATE_PER_DAY[cust.kind] * active_days
    count = rng.poisson(rate)
    owner = np.repeat(np.arange(len(cust), dtype=np.int64), count)
    day = np.floor(rng.random(len(owner)) * active_days[owner]).astype(np.int64)
    return owner, cust.active_from_s[owner] + day * DAY


def recent_visits(customer: np.ndarray, start_s: np.ndarray, days: int = 30) -> np.ndarray:
    """Per session, the sessions of the same customer that started in ``[start - days, start)`` (0 for guests)."""
    known = customer >= 0
    shift = np.int64(1) << np.int64(40)
    origin = int(start_s.min(initial=0)) - days * DAY
    key = np.maximum(customer, 0).astype(np.int64) * shift + (start_s - origin)
    keys = np.sort(key[known])
    count = np.searchsorted(keys, key, side="left") - np.searchsorted(keys, key - days * DAY, side="left")
    return np.where(known, count, 0).astype(np.int64)


def order_group(n_prior: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Index into ORDER_GROUPS: guest, no orders, one, two to nine, ten or more before the window."""
    group = np.select([n_prior == 0, n_prior == 1, n_prior < 10], [1, 2, 3], default=4)
    return np.where(known, group, 0)


def intent_prior(n_prior: np.ndarray, known: np.ndarray, engagement: np.ndarray, visits: np.ndarray,
                 source: np.ndarray) -> np.ndarray:
    """[n, 3] probabilities of each intent of a session, from what the shop knows when it starts."""
    logit = np.log(P.INTENT_SHARE[order_group(n_prior, known)])
    logit += (engagement - 0.5)[:, None] * P.INTENT_ENGAGEMENT[None, :]
    logit += np.minimum(visits, P.VISITS_CAP)[:, None] * P.INTENT_PER_VISIT[None, :]
    logit += P.INTENT_SOURCE[source]
    logit -= logit.max(axis=1, keepdims=True)
    weight = np.exp(logit)
    return np.asarray(weight / weight.sum(axis=1, keepdims=True))


def views_mean(visits: np.ndarray) -> np.ndarray:
    """[n, 3] mean product views before the first add (or in the whole visit), by intent."""
    return np.asarray(P.VIEWS_MEAN[None, :] + P.VIEWS_PER_VISIT * np.minimum(visits, P.VISITS_CAP)[:, None])


def draw_intents(rng: np.random.Generator, n_prior: np.ndarray, known: np.ndarray, engagement: np.ndarray,
                 visits: np.ndarray, source: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each session's latent intent, whether it builds a cart and its product views before the first add."""
    n = len(known)
    cum = np.cumsum(intent_prior(n_prior, known, engagement, visits, source), axis=1)
    intent = np.minimum((rng.random(n)[:, None] >= cum).sum(axis=1), len(P.INTENTS) - 1)
    has_cart = rng.random(n) < P.CART_PROB[intent]
    n_views = rng.poisson(views_mean(visits)[np.arange(n), intent]) + has_cart
    return intent, has_cart, n_views


def draw_sessions(rng: np.random.Generator, cust: Customers, prof: Profiles, emails: Emails, start_s: int,
                  days: int) -> Sessions:
    """Known customers' and guests' sessions in the window ``[start_s, start_s + days)``, ordered by start.

    The latent intent is drawn from :func:`intent_prior`: the orders before the window, the e-mail engagement
    score, the visits of the last 30 days and the traffic source; not from the customer's kind.
    """
    owner, midnight = _session_days(rng, cust, start_s, days)
    n_guest = int(rng.poisson(len(owner) * P.GUEST_SESSION_SHARE / (1 - P.GUEST_SESSION_SHARE)))
    guest_midnight = start_s + rng.integers(0, days, n_guest) * DAY
    customer = np.concatenate([owner, np.full(n_guest, -1, np.int64)])
    midnight = np.concatenate([midnight, guest_midnight])
    n = len(customer)
    hour = categorical(rng, P.HOUR_WEIGHT, size=n)
    start = midnight + hour * 3600 + rng.integers(0, 3600, n)
    order = np.lexsort((customer, start))
    customer, start = customer[order], start[order]
    known = customer >= 0
    last = last_engagement_s(emails, customer, start)
    engagement = engagement_score((start - last) / DAY)
    visits = recent_visits(customer, start)
    source = np.where(
        engagement > 0.5,
        categorical(rng, P.SOURCE_SHARE_ENGAGED, size=n),
        categorical(rng, P.SOURCE_SHARE, size=n),
    )
    n_prior = np.where(known, prof.n_prior[np.maximum(customer, 0)], 0)
    intent, has_cart, n_views = draw_intents(rng, n_prior, known, engagement, visits, source)
    return Sessions(
        customer=customer,
        start_s=start,
        device=categorical(rng, P.DEVICE_SHARE, size=n).astype(np.int8),
        source=source.astype(np.int8),
        intent=intent.astype(np.int8),
        engagement=engagement,
        visits=visits,
        has_cart=has_cart,
        n_views=n_views.astype(np.int64),
    )


@dataclass(frozen=True)
class Browsing:
    """Rows before the first add: a page_view then the product views, per session in session order."""

    session: np.ndarray
    position: np.ndarray
    """0-based position of the row within its session."""
    time_s: np.ndarray
    event: np.ndarray
    """PAGE_VIEW or VIEW_ITEM."""
    product: np.ndarray
    """Product index, -1 on the page_view."""
    last_row: np.ndarray
    """Per session, the index of its last browsing row."""


def draw_browsing(rng: np.random.Generator, sessions: Sessions, catalog: Catalog) -> Browsing:
    """One page_view at the session start, then ``n_views`` product views, 1 s or more apart."""
    count = 1 + sessions.n_views
    first = np.concatenate([[0], np.cumsum(count)[:-1]])
    session = np.repeat(np.arange(len(sessions), dtype=np.int64), count)
    position = np.arange(len(session), dtype=np.int64) - first[session]
    gap = 1 + np.floor(rng.exponential(P.PRE_CART_GAP_MEAN, len(session))).astype(np.int64)
    gap[position == 0] = 0
    elapsed = np.cumsum(gap)
    time_s = sessions.start_s[session] + elapsed - elapsed[first[session]]
    product = rng.choice(len(catalog.price), size=len(session), p=catalog.popularity)
    product[position == 0] = -1
    event = np.where(position == 0, PAGE_VIEW, VIEW_ITEM).astype(np.int8)
    return Browsing(session=session, position=position, time_s=time_s, event=event,
                    product=product.astype(np.int64), last_row=first + count - 1)


@dataclass(frozen=True)
class CartPlan:
    """What each cart will do if the shopper never leaves (arrays over carts; ``[n, ...]`` per line or slot)."""

    session: np.ndarray
    """Index of the cart's session."""
    n_lines: np.ndarray
    product: np.ndarray
    """[n, MAX_ITEMS] product of each line (lines beyond ``n_lines`` unused)."""
    quantity: np.ndarray
    """[n, MAX_ITEMS] units of each line."""
    removed: np.ndarray
    """Line removed before view_cart, -1 for none."""
    active: np.ndarray
    """[n, N_SLOTS] whether each funnel slot is part of the plan."""
    value: np.ndarray
    """Cart value at view_cart: sum of unit price x quantity over the lines kept."""
    account_required: np.ndarray
    time_s: np.ndarray
    """[n, N_SLOTS] planned time of each slot's event (inactive slots repeat the previous time)."""
    end_s: np.ndarray
    """Planned time of the last purchase row (one row per kept line, 1 s apart)."""

    def __len__(self) -> int:
        return len(self.session)

    def take(self, index: np.ndarray) -> CartPlan:
        """The carts at ``index`` (an index or boolean mask)."""
        return CartPlan(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @property
    def kept_lines(self) -> np.ndarray:
        """[n, MAX_ITEMS] lines in the cart at checkout."""
        lines = np.arange(P.MAX_ITEMS)[None, :]
        return (lines < self.n_lines[:, None]) & (lines != self.removed[:, None])


def _active_slots(n_lines: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """[n, N_SLOTS]: first add; a view and an add per further line; the removal; then the checkout path."""
    active = np.zeros((len(n_lines), P.N_SLOTS), dtype=bool)
    active[:, 0] = True
    for line in range(1, P.MAX_ITEMS):
        active[:, P.VIEW_SLOTS[line - 1]] = n_lines > line
        active[:, P.ADD_SLOTS[line]] = n_lines > line
    active[:, P.REMOVE_SLOT] = removed >= 0
    active[:, P.VIEW_CART:] = True
    return active


def cart_tilt_level(sessions: Sessions, prof: Profiles, session: np.ndarray) -> np.ndarray:
    """Index into TILT_LEVELS of each session in ``session`` (guests: the first level)."""
    owner = sessions.customer[session]
    return np.where(owner >= 0, prof.tilt_level[np.maximum(owner, 0)], 0)


def draw_cart_plans(rng: np.random.Generator, sessions: Sessions, prof: Profiles, catalog: Catalog,
                    browsing: Browsing) -> CartPlan:
    """Plan every cart session's lines, removal, account step and step times.

    Lines are independent draws from the catalogue, leaning to dearer products for customers whose past orders
    were dear (TILT_LEVELS); the number of lines, the removal and the account step are independent of everything
    else. See :func:`show_first_line` for the view that precedes the first add.
    """
    session = np.flatnonzero(sessions.has_cart)
    n = len(session)
    tilt = P.TILT_LEVELS[cart_tilt_level(sessions, prof, session)]
    u = rng.random((n, P.MAX_ITEMS)) ** tilt[:, None]
    n_products = len(catalog.by_price)
    product = catalog.by_price[np.minimum((u * n_products).astype(np.int64), n_products - 1)]
    quantity = 1 + categorical(rng, P.QUANTITY_SHARE, size=n * P.MAX_ITEMS).reshape(n, P.MAX_ITEMS)
    n_lines = 1 + np.minimum(rng.poisson(P.EXTRA_ITEMS_MEAN, n), P.MAX_ITEMS - 1)
    removes = (n_lines >= 2) & (rng.random(n) < P.REMOVE_PROB)
    removed = np.where(removes, np.floor(rng.random(n) * n_lines).astype(np.int64), -1)
    active = _active_slots(n_lines, removed)
    account = rng.random(n) < P.ACCOUNT_REQUIRED_PROB
    gap_mean = np.broadcast_to(P.SLOT_GAP_MEAN, (n, P.N_SLOTS)).copy()
    gap_mean[:, P.ADD_SHIPPING] += np.where(account, P.ACCOUNT_EXTRA_SECONDS, 0.0)
    gap = 1 + np.floor(rng.exponential(gap_mean)).astype(np.int64)
    time_s = browsing.time_s[browsing.last_row[session]][:, None] + np.cumsum(gap * active, axis=1)
    plan = CartPlan(
        session=session, n_lines=n_lines, product=product, quantity=quantity, removed=removed,
        active=active, value=np.zeros(n), account_required=account, time_s=time_s,
        end_s=np.zeros(n, np.int64),
    )
    kept = plan.kept_lines
    value = np.round((catalog.price[product] * quantity * kept).sum(axis=1), 2)
    return replace(plan, value=value, end_s=time_s[:, P.PURCHASE] + kept.sum(axis=1) - 1)


def show_first_line(browsing: Browsing, plan: CartPlan) -> Browsing:
    """Browsing rows where each cart session's last product view is the product of its first line."""
    product = browsing.product.copy()
    product[browsing.last_row[plan.session]] = plan.product[:, 0]
    return replace(browsing, product=product)


def separate_carts(sessions: Sessions, plan: CartPlan, window_s: int) -> np.ndarray:
    """Mask of carts (plans) to keep so that each known customer's label windows never overlap.

    A known customer's cart is dropped when its session starts no later than ``window_s`` after the planned end
    of an earlier cart session of the same customer (the session stays, as a visit without a cart). Then every
    order a customer places between a cart session's start and the end of its label window comes from that
    session (its purchase or its return), so the label is decided by that cart's own hazards alone. Whether a
    cart is dropped depends on its session's start and on earlier carts only, never on its own intent or plan.
    """
    keep = np.ones(len(plan), dtype=bool)
    owner = sessions.customer[plan.session]
    known = owner >= 0
    carts = np.flatnonzero(known)
    if len(carts) == 0:
        return keep
    start = sessions.start_s[plan.session[carts]]
    order = np.lexsort((start, owner[carts]))
    carts, start = carts[order], start[order]
    who = owner[carts]
    reach = plan.end_s[carts] + window_s
    # running maximum of earlier carts' reach within a customer: offsetting each customer's block by a span larger
    # than any time difference keeps earlier customers' values below the current customer's
    base = min(int(reach.min()), int(start.min()))
    span = max(int(reach.max()), int(start.max())) - base + 1
    offset = who.astype(np.int64) * span
    running = np.maximum.accumulate(offset + (reach - base))
    earlier = np.concatenate([[np.iinfo(np.int64).min], running[:-1]])
    blocked = offset + (start - base) <= earlier
    keep[carts[blocked]] = False
    return keep


def drop_carts(keep: np.ndarray, sessions: Sessions, plan: CartPlan) -> tuple[Sessions, CartPlan]:
    """Keep only the carts in the mask ``keep``; the sessions of the others stay, as visits without a cart.

    No session is removed, so the visits a customer has made (which the intent and the hazards read) are all in
    the events table.
    """
    has_cart = sessions.has_cart.copy()
    has_cart[plan.session[~keep]] = False
    return replace(sessions, has_cart=has_cart), plan.take(keep)
