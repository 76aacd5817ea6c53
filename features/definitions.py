"""The cart feature set, declared once.

Both the batch path (:mod:`features.snapshots`, every snapshot of a data set) and the single-cart path
(:mod:`features.online`, one live cart at request time) compute exactly these columns, in this order, with the
meaning written here. A model records ``FEATURE_SET`` so that serving can refuse a model trained on another set.

Times. A snapshot is taken at time ``t`` (the time of a cart or checkout event). Session signals use the events
of the session at or before ``t`` (an event at exactly ``t`` that comes later in the file is not seen). Customer
history (frequency, value, engagement) is taken *as of the session start* ``s`` (strictly before ``s``): that is
what a profile store synced before the visit holds. Durations ("days since") are measured from ``t``.
A guest (no customer id) has no history: its history features are missing (NaN), not zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FEATURE_SET = "cart_features_v1"

Group = Literal["session", "frequency", "value", "engagement"]


@dataclass(frozen=True)
class Feature:
    name: str
    group: Group
    description: str
    categorical: bool = False


FEATURES: tuple[Feature, ...] = (
    # -- session: events of this session at or before t
    Feature("funnel_step", "session", "Step of the snapshot event: 1 add_to_cart, 2 view_cart, "
            "3 begin_checkout, 4 add_shipping_info, 5 add_payment_info."),
    Feature("max_funnel_step", "session", "Highest step reached in the session so far (same scale)."),
    Feature("cart_items", "session", "Units in the cart: quantity added minus quantity removed, "
            "floored at 0."),
    Feature("cart_value", "session", "Value of the cart: sum of price x quantity added minus removed, "
            "floored at 0 (shop currency)."),
    Feature("n_adds", "session", "add_to_cart events so far."),
    Feature("n_removes", "session", "remove_from_cart events so far."),
    Feature("n_item_views", "session", "view_item events so far."),
    Feature("n_products_viewed", "session", "Distinct products with a view_item event so far."),
    Feature("n_events", "session", "Events of the session so far, this one included."),
    Feature("session_seconds", "session", "Seconds from the session's first event to t."),
    Feature("seconds_since_prev_event", "session", "Seconds from the previous event of the session to "
            "t (0 for the first event)."),
    Feature("hour", "session", "Hour of t, 0-23 (UTC)."),
    Feature("weekday", "session", "Day of the week of t, 0 = Monday (UTC)."),
    Feature("device", "session", "Device of the session (from its first event).", categorical=True),
    Feature("traffic_source", "session", "Traffic source of the session (from its first event).",
            categorical=True),
    Feature("shipping_fee", "session", "Latest shipping fee shown in the session so far; NaN before "
            "any checkout step showed one."),
    Feature("free_shipping_threshold", "session", "Latest free-shipping threshold shown so far; NaN "
            "before one was shown."),
    Feature("amount_to_free_shipping", "session", "max(free_shipping_threshold - cart_value, 0); NaN "
            "when the threshold is unknown."),
    Feature("fee_share_of_cart", "session", "shipping_fee / cart_value; NaN when the fee is unknown "
            "or the cart is empty."),
    Feature("account_required", "session", "1 if checkout forces account creation, 0 if not, NaN "
            "before it was shown."),
    Feature("is_guest", "session", "1 when the session has no customer id."),
    # -- frequency: history strictly before the session start s
    Feature("sessions_7d", "frequency", "Sessions of the customer that started in [s - 7 days, s)."),
    Feature("sessions_30d", "frequency", "Sessions that started in [s - 30 days, s)."),
    Feature("sessions_90d", "frequency", "Sessions that started in [s - 90 days, s)."),
    Feature("past_carts", "frequency", "Earlier sessions of the customer with an add_to_cart, "
            "started before s."),
    Feature("past_carts_abandoned", "frequency", "Earlier carts known to be abandoned by s: no "
            "purchase and the label window after the session ended before s."),
    Feature("past_abandon_rate", "frequency", "past_carts_abandoned / earlier carts whose outcome "
            "was known by s; NaN when none was known."),
    Feature("days_since_last_visit", "frequency", "Days from the start of the customer's previous "
            "session to t; NaN when there is none."),
    Feature("days_since_first_visit", "frequency", "Days from the customer's first session to t; NaN "
            "when there is none."),
    # -- value (RFM): orders strictly before s
    Feature("orders_count", "value", "Orders placed before s."),
    Feature("days_since_last_order", "value", "Days from the last order before s to t; NaN when "
            "there is none."),
    Feature("lifetime_value", "value", "Sum of order values before s."),
    Feature("avg_order_value", "value", "lifetime_value / orders_count; NaN with no order."),
    Feature("cart_vs_customer_aov", "value", "cart_value / avg_order_value; NaN with no order."),
    Feature("cart_vs_shop_aov", "value", "cart_value / the shop's average order value over all "
            "orders before s; NaN before the shop's first order."),
    # -- engagement: e-mail events strictly before s
    Feature("days_since_last_open", "engagement", "Days from the last e-mail open before s to t; NaN "
            "when none."),
    Feature("days_since_last_click", "engagement", "Days from the last e-mail click before s to t; "
            "NaN when none."),
    Feature("newsletter_subscriber", "engagement", "1 if subscribed, 0 if not (NaN for guests)."),
    Feature("customer_age_days", "engagement", "Days from the customer record's creation to t; NaN "
            "for guests."),
)

FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
CATEGORICAL_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.categorical)
NUMERIC_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if not f.categorical)

SNAPSHOT_ID_COLUMNS: tuple[str, ...] = (
    "snapshot_id",   # "<session_id>#<n>", n = 1-based position of the snapshot event in its session
    "session_id",
    "customer_id",
    "snapshot_time",
    "event_type",
)
"""Identifying columns written before the features in a snapshot table."""

ATTRIBUTE_COLUMNS: tuple[str, ...] = ("city",)
"""Not model inputs, but available to segment rules."""

LABEL = "abandoned"
"""1 = no purchase in the session nor an order by the customer within the label window after it; 0 otherwise;
missing when the data ends before the window closes (for every such cart, bought or not: censoring that depended
on the outcome would bias the label)."""
