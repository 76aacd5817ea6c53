"""The features of one live cart, in plain Python: no DataFrame, no NumPy call per request.

This is the request-time twin of :mod:`features.snapshots` (+ :mod:`features.history`). It receives the
session's events so far (the last one is the moment of scoring), the customer's stored profile (or ``None``
for a guest or an unknown customer) and the shop's average order value, and returns the same feature values as
the batch path. ``tests/test_online_parity.py`` proves the two agree on thousands of snapshots.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from features.definitions import FEATURE_NAMES
from features.schema import FUNNEL_STEP
from features.sessions import US_PER_DAY, US_PER_SECOND

NAN = math.nan
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """One event of a live session. ``time_us``: microseconds since the epoch (UTC)."""

    event_type: str
    time_us: int
    product_id: str | None = None
    price: float | None = None
    quantity: float | None = None
    device: str | None = None
    traffic_source: str | None = None
    shipping_fee: float | None = None
    free_shipping_threshold: float | None = None
    account_required: bool | None = None


def datetime_to_us(when: datetime) -> int:
    """A timezone-aware datetime as integer microseconds since the epoch (naive means UTC)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * US_PER_SECOND + delta.microseconds


def _ratio(num: float, den: float) -> float:
    if den > 0 and math.isfinite(den) and math.isfinite(num):
        return num / den
    return NAN


def _get(profile: Mapping[str, object], name: str) -> float:
    value = profile.get(name)
    return NAN if value is None else float(value)  # type: ignore[arg-type]


def session_features(events: Sequence[LiveEvent]) -> dict[str, float | str]:
    """Session signals at the last event of ``events`` (sorted here by time, stably)."""
    if not events:
        raise ValueError("a cart needs at least one event")
    evs = sorted(events, key=lambda e: e.time_us)
    added_qty = removed_qty = added_value = removed_value = 0.0
    n_adds = n_removes = n_views = 0
    viewed: set[str] = set()
    max_step = 0.0
    fee = threshold = account = NAN
    for e in evs:
        kind = e.event_type
        qty = 1.0 if e.quantity is None else float(e.quantity)
        price = 0.0 if e.price is None else float(e.price)
        if kind == "add_to_cart":
            n_adds += 1
            added_qty += qty
            added_value += price * qty
        elif kind == "remove_from_cart":
            n_removes += 1
            removed_qty += qty
            removed_value += price * qty
        elif kind == "view_item":
            n_views += 1
            if e.product_id is not None:
                viewed.add(e.product_id)
        if kind != "purchase":
            max_step = max(max_step, float(FUNNEL_STEP[kind]))
        if e.shipping_fee is not None:
            fee = float(e.shipping_fee)
        if e.free_shipping_threshold is not None:
            threshold = float(e.free_shipping_threshold)
        if e.account_required is not None:
            account = 1.0 if e.account_required else 0.0
    last = evs[-1]
    t = last.time_us
    cart_value = max(added_value - removed_value, 0.0)
    prev = evs[-2].time_us if len(evs) > 1 else t
    when = datetime.fromtimestamp(t // US_PER_SECOND, tz=UTC)
    first = evs[0]
    return {
        "funnel_step": float(FUNNEL_STEP[last.event_type]),
        "max_funnel_step": max_step,
        "cart_items": max(added_qty - removed_qty, 0.0),
        "cart_value": cart_value,
        "n_adds": float(n_adds),
        "n_removes": float(n_removes),
        "n_item_views": float(n_views),
        "n_products_viewed": float(len(viewed)),
        "n_events": float(len(evs)),
        "session_seconds": (t - first.time_us) / US_PER_SECOND,
        "seconds_since_prev_event": (t - prev) / US_PER_SECOND,
        "hour": float(when.hour),
        "weekday": float(when.weekday()),
        "device": first.device or "unknown",
        "traffic_source": first.traffic_source or "unknown",
        "shipping_fee": fee,
        "free_shipping_threshold": threshold,
        "amount_to_free_shipping": NAN if math.isnan(threshold) else max(threshold - cart_value, 0.0),
        "fee_share_of_cart": NAN if math.isnan(fee) or cart_value <= 0 else fee / cart_value,
        "account_required": account,
    }


def history_features(
    profile: Mapping[str, object] | None, t_us: int, cart_value: float, shop_aov: float
) -> dict[str, float]:
    """Frequency, value and engagement features from a stored profile (None = no history: all NaN)."""
    shop_ratio = _ratio(cart_value, shop_aov)
    if profile is None:
        out = dict.fromkeys(_HISTORY_NAMES, NAN)
        out["cart_vs_shop_aov"] = shop_ratio
        return out
    orders = _get(profile, "orders_count")
    ltv = _get(profile, "lifetime_value")
    aov = _ratio(ltv, orders)
    t = float(t_us)

    def days(name: str) -> float:
        return (t - _get(profile, name)) / US_PER_DAY

    return {
        "sessions_7d": _get(profile, "sessions_7d"),
        "sessions_30d": _get(profile, "sessions_30d"),
        "sessions_90d": _get(profile, "sessions_90d"),
        "past_carts": _get(profile, "past_carts"),
        "past_carts_abandoned": _get(profile, "past_carts_abandoned"),
        "past_abandon_rate": _ratio(
            _get(profile, "past_carts_abandoned"), _get(profile, "past_carts_settled")
        ),
        "days_since_last_visit": days("last_visit_us"),
        "days_since_first_visit": days("first_visit_us"),
        "orders_count": orders,
        "days_since_last_order": days("last_order_us"),
        "lifetime_value": ltv,
        "avg_order_value": aov,
        "cart_vs_customer_aov": _ratio(cart_value, aov),
        "cart_vs_shop_aov": shop_ratio,
        "days_since_last_open": days("last_open_us"),
        "days_since_last_click": days("last_click_us"),
        "newsletter_subscriber": _get(profile, "newsletter_subscriber"),
        "customer_age_days": days("created_at_us"),
    }


_HISTORY_NAMES: tuple[str, ...] = tuple(history_features({}, 0, 0.0, NAN).keys())

NEW_CUSTOMER_PROFILE: dict[str, object] = {
    "sessions_7d": 0.0,
    "sessions_30d": 0.0,
    "sessions_90d": 0.0,
    "past_carts": 0.0,
    "past_carts_abandoned": 0.0,
    "past_carts_settled": 0.0,
    "orders_count": 0.0,
    "lifetime_value": 0.0,
}
"""Profile of a known customer the store has no record of: no visits, carts or orders yet (times unknown)."""


def cart_features(
    events: Sequence[LiveEvent],
    profile: Mapping[str, object] | None,
    is_guest: bool,
    shop_aov: float,
) -> dict[str, float | str]:
    """All features of :data:`features.definitions.FEATURE_NAMES` for one live cart, in that order.

    ``profile`` is the customer's stored profile as of the session start (see :mod:`features.profiles`); pass
    ``None`` for a guest or a customer the store does not know (scored as new).
    """
    session = session_features(events)
    t = max(e.time_us for e in events)
    cart_value = float(session["cart_value"])
    history = history_features(profile, t, cart_value, shop_aov)
    merged: dict[str, float | str] = {**session, "is_guest": 1.0 if is_guest else 0.0, **history}
    return {name: merged[name] for name in FEATURE_NAMES}
