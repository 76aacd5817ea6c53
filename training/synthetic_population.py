"""The synthetic shop's people: customers, their past orders and the campaign e-mails they get.

All times are int64 seconds since the Unix epoch (UTC); money is in the shop currency. Every function takes its own
random generator, so changing one part of the world does not reshuffle the others.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training import synthetic_params as P

DAY = 86_400
HOUR = 3_600


@dataclass(frozen=True)
class Customers:
    """Known customers, one entry per customer index (arrays of equal length)."""

    kind: np.ndarray
    """Latent kind, an index into :data:`synthetic_params.KINDS`."""
    n_prior: np.ndarray
    """Orders placed before the event window starts."""
    created_s: np.ndarray
    """When the customer record was created."""
    active_from_s: np.ndarray
    """First moment a session of the customer may start (midnight after the record exists)."""
    city: np.ndarray
    """Index into :data:`synthetic_params.CITIES`, -1 when unknown."""
    subscriber: np.ndarray
    engagement: np.ndarray
    """Engagement level at the window start, index into ENGAGEMENT_LEVELS (non-subscribers: unengaged)."""
    lapse_s: np.ndarray
    """Opens stop after this time (float; +inf never lapses, -inf never opened)."""
    aov: np.ndarray
    """Typical value of the customer's orders (latent; the shop sees the orders' values)."""

    def __len__(self) -> int:
        return len(self.kind)


@dataclass(frozen=True)
class Orders:
    """Orders as arrays; ``customer`` is -1 for a guest and ``session`` -1 for a past order."""

    customer: np.ndarray
    time_s: np.ndarray
    value: np.ndarray
    session: np.ndarray


@dataclass(frozen=True)
class Emails:
    """E-mail events as arrays; ``kind`` indexes :data:`features.schema.EMAIL_EVENT_TYPES`."""

    customer: np.ndarray
    time_s: np.ndarray
    kind: np.ndarray


SENT, OPEN, CLICK = 0, 1, 2


def categorical(rng: np.random.Generator, probs: np.ndarray, rows: np.ndarray | None = None,
                size: int | None = None) -> np.ndarray:
    """Draw category indices: from ``probs`` (1-D) or, per element, from the row ``rows[i]`` of a 2-D ``probs``."""
    if probs.ndim == 1:
        n = int(size if size is not None else 0)
        cum = np.cumsum(probs / probs.sum())
        return np.minimum(np.searchsorted(cum, rng.random(n), side="right"), len(probs) - 1)
    assert rows is not None
    cum = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)[rows]
    u = rng.random(len(rows))
    return np.minimum((u[:, None] >= cum).sum(axis=1), probs.shape[1] - 1)


def _prior_orders(rng: np.random.Generator, kind: np.ndarray) -> np.ndarray:
    """Number of orders before the window, by kind: VIP 10+, recurring 3-9, one-time 1, never 0, ..."""
    n = len(kind)
    counts = np.zeros(n, dtype=np.int64)
    counts[kind == P.VIP] = 10 + rng.poisson(8.0, n)[kind == P.VIP]
    counts[kind == P.RECURRING] = 3 + np.minimum(rng.poisson(2.5, n), 6)[kind == P.RECURRING]
    counts[kind == P.ONE_TIME] = 1
    frequent = categorical(rng, np.array([0.6, 0.3, 0.1]), size=n)
    counts[kind == P.FREQUENT_VISITOR] = frequent[kind == P.FREQUENT_VISITOR]
    counts[kind == P.BIG_SPENDER] = 1 + rng.poisson(2.0, n)[kind == P.BIG_SPENDER]
    return counts


def _lapse_times(rng: np.random.Generator, level: np.ndarray, start_s: int) -> np.ndarray:
    """When each subscriber stops opening e-mails, consistent with their engagement level at ``start_s``."""
    n = len(level)
    lapse = np.full(n, np.inf)
    semi = level == 1
    lapse[semi] = start_s - rng.uniform(45, 75, n)[semi] * DAY
    un = level == 2
    never = un & (rng.random(n) < P.NEVER_OPENED_SHARE)
    lapse[un] = start_s - rng.uniform(120, 400, n)[un] * DAY
    lapse[never] = -np.inf
    return lapse


def draw_customers(rng: np.random.Generator, n: int, start_s: int, days: int) -> Customers:
    """Draw ``n`` known customers for an event window of ``days`` days starting at ``start_s``."""
    kind = categorical(rng, P.KIND_SHARE, size=n)
    n_prior = _prior_orders(rng, kind)
    lo_days = np.where(n_prior > 0, 30.0, 1.0)
    created = start_s - np.round(rng.uniform(lo_days, P.ORDER_HISTORY_DAYS) * DAY).astype(np.int64)
    new_in_window = (kind == P.NEVER_PURCHASED) & (rng.random(n) < P.NEW_IN_WINDOW_SHARE)
    in_window = start_s + np.round(rng.uniform(0, max(days - 1, 0), n) * DAY).astype(np.int64)
    created = np.where(new_in_window, in_window, created)
    active_from = np.maximum(start_s, (created // DAY + 1) * DAY)
    city = categorical(rng, P.CITY_SHARE, size=n)
    city[rng.random(n) < P.CITY_MISSING_SHARE] = -1
    subscriber = rng.random(n) < P.SUBSCRIBER_SHARE[kind]
    level = categorical(rng, P.ENGAGEMENT_SHARE, rows=kind)
    level[~subscriber] = 2
    lapse = _lapse_times(rng, level, start_s)
    lapse[~subscriber] = -np.inf
    return Customers(
        kind=kind.astype(np.int8),
        n_prior=n_prior,
        created_s=created,
        active_from_s=active_from,
        city=city.astype(np.int8),
        subscriber=subscriber,
        engagement=level.astype(np.int8),
        lapse_s=lapse,
        aov=P.AOV_MEDIAN[kind] * rng.lognormal(0.0, 0.3, n),
    )


def draw_history_orders(rng: np.random.Generator, cust: Customers, start_s: int) -> Orders:
    """Orders placed before the window: uniform between a day after the record's creation and an hour before
    ``start_s``; values log-normal around the customer's typical order value."""
    owner = np.repeat(np.arange(len(cust), dtype=np.int64), cust.n_prior)
    lo = cust.created_s[owner] + DAY
    hi = start_s - HOUR
    time_s = lo + np.floor(rng.random(len(owner)) * (hi - lo)).astype(np.int64)
    value = np.maximum(np.round(cust.aov[owner] * rng.lognormal(0.0, 0.5, len(owner)), 2), 5.0)
    return Orders(customer=owner, time_s=time_s, value=value,
                  session=np.full(len(owner), -1, dtype=np.int64))


@dataclass(frozen=True)
class Profiles:
    """What the shop knows about each customer from the orders placed before the event window (arrays over
    customers). Everything a session does depends on the customer only through this, the e-mail engagement score
    and the recent visits, never through the latent kind."""

    n_prior: np.ndarray
    """Orders placed before the event window."""
    aov: np.ndarray
    """Their mean value (NaN without orders)."""
    price_sens: np.ndarray
    """Price sensitivity, a function of ``aov`` (see PRICE_SENSITIVITY_*)."""
    tilt_level: np.ndarray
    """Index into TILT_LEVELS: how much the customer's cart lines lean to dearer products."""


def price_sensitivity(n_prior: np.ndarray, aov: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Price sensitivity from the orders before the window: lower for customers whose orders were dearer."""
    lo, hi = P.PRICE_SENSITIVITY_RANGE
    with np.errstate(invalid="ignore", divide="ignore"):
        from_aov = np.clip((aov / P.PRICE_SENSITIVITY_AOV_REFERENCE) ** -P.PRICE_SENSITIVITY_AOV_EXPONENT, lo, hi)
    return np.where(~known, P.PRICE_SENSITIVITY_GUEST,
                    np.where(n_prior > 0, from_aov, P.PRICE_SENSITIVITY_NO_ORDERS))


def tilt_level(n_prior: np.ndarray, aov: np.ndarray) -> np.ndarray:
    """Index into TILT_LEVELS from the mean past order value (the first level without orders)."""
    level = np.searchsorted(P.TILT_AOV_EDGES, np.where(n_prior > 0, aov, 0.0), side="right")
    return np.asarray(level, dtype=np.int64)


def profiles(cust: Customers, history: Orders) -> Profiles:
    """Each customer's profile from their orders before the window."""
    n = len(cust)
    count = np.bincount(history.customer, minlength=n)
    total = np.bincount(history.customer, weights=history.value, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        aov = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return Profiles(n_prior=count.astype(np.int64), aov=aov,
                    price_sens=price_sensitivity(count, aov, np.ones(n, dtype=bool)),
                    tilt_level=tilt_level(count, aov))


def campaign_times(start_s: int, end_s: int) -> np.ndarray:
    """Campaign send times: 09:00 UTC every CAMPAIGN_EVERY_DAYS days from EMAIL_HISTORY_DAYS before the start."""
    first = start_s - P.EMAIL_HISTORY_DAYS * DAY + 9 * HOUR
    return np.arange(first, end_s, P.CAMPAIGN_EVERY_DAYS * DAY, dtype=np.int64)


def draw_campaign_emails(rng: np.random.Generator, cust: Customers, start_s: int, end_s: int) -> Emails:
    """Campaign e-mails to subscribers (sent, open, click) from a year before the window to its end.

    Each campaign goes to a random share of the subscribers whose record exists by then; a subscriber opens with
    the probability of their engagement level until their lapse time, and almost never after.
    """
    times = campaign_times(start_s, end_s)
    subs = np.flatnonzero(cust.subscriber)
    jitter = rng.integers(0, HOUR, len(subs))
    sent_time = times[None, :] + jitter[:, None]
    targeted = (sent_time > cust.created_s[subs, None] + DAY) & (
        rng.random((len(subs), len(times))) < P.CAMPAIGN_TARGET_SHARE
    )
    row, col = np.nonzero(targeted)
    who = subs[row]
    sent = sent_time[row, col]
    del targeted, sent_time
    lapse = cust.lapse_s[who]
    p_open = np.where(sent < lapse, P.OPEN_PROB[cust.engagement[who]],
                      np.where(np.isfinite(lapse), P.OPEN_PROB_LAPSED, 0.0))
    opened = rng.random(len(who)) < p_open
    open_time = sent + 60 + np.floor(rng.exponential(P.OPEN_DELAY_MEAN, len(who))).astype(np.int64)
    clicked = opened & (rng.random(len(who)) < P.CLICK_PROB)
    click_time = open_time + 5 + np.floor(rng.exponential(120.0, len(who))).astype(np.int64)
    customer = np.concatenate([who, who[opened], who[clicked]])
    time_s = np.concatenate([sent, open_time[opened], click_time[clicked]])
    kind = np.concatenate([
        np.full(len(who), SENT, np.int8),
        np.full(int(opened.sum()), OPEN, np.int8),
        np.full(int(clicked.sum()), CLICK, np.int8),
    ])
    return Emails(customer=customer, time_s=time_s, kind=kind)


def last_engagement_s(emails: Emails, customer: np.ndarray, time_s: np.ndarray) -> np.ndarray:
    """Time of each customer's last open or click strictly before ``time_s`` (float; NaN when none).

    ``customer`` is -1 for guests (always NaN).
    """
    act = emails.kind != SENT
    shift = np.int64(1) << np.int64(34)  # times relative to the origin stay below 2**34 s (540 years)
    origin = min(int(emails.time_s.min()) if len(emails.time_s) else 0, int(time_s.min(initial=0)))
    keys = np.sort(emails.customer[act].astype(np.int64) * shift + (emails.time_s[act] - origin))
    query = np.maximum(customer, 0).astype(np.int64) * shift + (time_s - origin)
    pos = np.searchsorted(keys, query, side="left") - 1
    found = pos >= 0
    prev = keys[np.maximum(pos, 0)]
    found &= (prev // shift == np.maximum(customer, 0)) & (customer >= 0)
    return np.where(found, (prev % shift + origin).astype(np.float64), np.nan)


def engagement_score(days_since: np.ndarray) -> np.ndarray:
    """1 when the last open or click is at most ENGAGED_DAYS old, 0 from UNENGAGED_DAYS on (or never), linear
    in between. ``days_since`` is in days, NaN for never."""
    span = P.UNENGAGED_DAYS - P.ENGAGED_DAYS
    score = np.clip((P.UNENGAGED_DAYS - days_since) / span, 0.0, 1.0)
    return np.where(np.isnan(score), 0.0, score)
