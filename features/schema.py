"""The input tables of cartrisk: their columns, types and rules.

Five tables describe a shop. ``events`` is the clickstream (GA4 e-commerce event names), ``orders`` the completed
orders, ``email_events`` the marketing e-mails sent, opened and clicked, ``customers`` the known people, and
``experiments`` (optional) the log of randomised incentive tests. Every time is UTC. The schema is data, not code,
so the validator (:mod:`features.validate`), the docs and the REES46 adapter all read the same definition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

EVENT_TYPES: tuple[str, ...] = (
    "page_view",
    "view_item",
    "add_to_cart",
    "remove_from_cart",
    "view_cart",
    "begin_checkout",
    "add_shipping_info",
    "add_payment_info",
    "purchase",
)
"""GA4 e-commerce event names, in funnel order."""

SNAPSHOT_EVENTS: tuple[str, ...] = (
    "add_to_cart",
    "view_cart",
    "begin_checkout",
    "add_shipping_info",
    "add_payment_info",
)
"""Events at which a cart is scored (a snapshot is taken)."""

FUNNEL_STEP: dict[str, int] = {
    "page_view": 0,
    "view_item": 0,
    "remove_from_cart": 1,
    "add_to_cart": 1,
    "view_cart": 2,
    "begin_checkout": 3,
    "add_shipping_info": 4,
    "add_payment_info": 5,
    "purchase": 6,
}
"""How far down the funnel an event is: 1 = cart built, 3 = checkout begun, 5 = payment entered."""

CHECKOUT_EVENTS: tuple[str, ...] = ("begin_checkout", "add_shipping_info", "add_payment_info")

EMAIL_EVENT_TYPES: tuple[str, ...] = ("sent", "open", "click")

DEVICES: tuple[str, ...] = ("desktop", "mobile", "tablet", "unknown")
TRAFFIC_SOURCES: tuple[str, ...] = ("direct", "organic", "paid", "email", "social", "referral", "unknown")

INCENTIVES: tuple[str, ...] = (
    "reminder_email",
    "free_shipping",
    "discount_5",
    "discount_10",
    "discount_15",
    "early_access",
    "gift",
)
"""The incentive catalogue the experiments draw from; ``none`` is the control arm."""

Kind = Literal["time", "string", "float", "int", "bool", "category"]


@dataclass(frozen=True)
class Column:
    """One column of an input table."""

    name: str
    kind: Kind
    nullable: bool
    description: str
    allowed: tuple[str, ...] | None = None
    min_value: float | None = None
    default: object | None = None
    """Value used when the column is absent from the file (only for optional columns)."""
    optional: bool = False
    """An optional column may be missing from the file; it is then filled with ``default``."""
    few_values: bool = False
    """Text with few distinct values repeated over many rows (products, categories): read from Parquet as
    categories, each distinct text held once (:func:`features.io.read_raw`)."""


@dataclass(frozen=True)
class TableSchema:
    """An input table: its name, meaning, columns and the key used to report a bad row."""

    name: str
    description: str
    columns: tuple[Column, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.name!r} has no column {name!r}")


EVENTS = TableSchema(
    name="events",
    description="One row per clickstream event of a session, GA4 e-commerce names.",
    columns=(
        Column("event_time", "time", False, "When the event happened (UTC)."),
        Column("session_id", "string", False, "Visit identifier; one session = one visit."),
        Column("customer_id", "string", True, "Known customer, or null for a guest."),
        Column("event_type", "category", False, "GA4 event name.", allowed=EVENT_TYPES),
        Column("product_id", "string", True, "Product of item events; null otherwise.", few_values=True),
        Column("category", "string", True, "Product category, e.g. 'electronics.smartphone'.", few_values=True),
        Column("price", "float", True, "Unit price of the product (shop currency).", min_value=0.0),
        Column(
            "quantity", "int", True, "Units added, removed or bought.", min_value=0,
            optional=True, default=1,
        ),
        Column(
            "device", "category", True, "desktop, mobile, tablet or unknown.", allowed=DEVICES,
            optional=True, default="unknown",
        ),
        Column(
            "traffic_source", "category", True, "Where the visit came from.",
            allowed=TRAFFIC_SOURCES, optional=True, default="unknown",
        ),
        Column(
            "shipping_fee", "float", True, "Shipping fee shown at this checkout step (null elsewhere).",
            min_value=0.0, optional=True,
        ),
        Column(
            "free_shipping_threshold", "float", True,
            "Cart value above which shipping is free, shown at checkout (null elsewhere).",
            min_value=0.0, optional=True,
        ),
        Column(
            "account_required", "bool", True,
            "Whether checkout forces the shopper to create an account (known from begin_checkout).",
            optional=True,
        ),
    ),
)

ORDERS = TableSchema(
    name="orders",
    description="Completed orders, including those placed before the event log starts.",
    columns=(
        Column("order_id", "string", False, "Order identifier."),
        Column("customer_id", "string", True, "Customer who ordered; null for a guest order."),
        Column("order_time", "time", False, "When the order was placed (UTC)."),
        Column("total_value", "float", False, "Order value (shop currency).", min_value=0.0),
        Column(
            "session_id", "string", True, "Session that placed the order, when known.", optional=True
        ),
    ),
)

EMAIL_EVENTS = TableSchema(
    name="email_events",
    description="Marketing e-mails sent to customers, and their opens and clicks.",
    columns=(
        Column("customer_id", "string", False, "Recipient."),
        Column("event_time", "time", False, "When it was sent, opened or clicked (UTC)."),
        Column("type", "category", False, "sent, open or click.", allowed=EMAIL_EVENT_TYPES),
    ),
)

CUSTOMERS = TableSchema(
    name="customers",
    description="Known customers (an account or a newsletter subscription).",
    columns=(
        Column("customer_id", "string", False, "Customer identifier."),
        Column("created_at", "time", False, "When the account or subscription was created (UTC)."),
        Column("city", "string", True, "City or region, for local segments."),
        Column("newsletter_subscriber", "bool", False, "Subscribed to marketing e-mail."),
    ),
)

EXPERIMENTS = TableSchema(
    name="experiments",
    description="Log of randomised incentive tests: which arm a cart was given, with what probability.",
    columns=(
        Column("session_id", "string", False, "The cart's session."),
        Column("customer_id", "string", True, "Customer, or null for a guest."),
        Column("decision_time", "time", False, "When the incentive was decided (UTC)."),
        Column(
            "incentive", "category", False, "Arm given; 'none' is the control.",
            allowed=("none", *INCENTIVES),
        ),
        Column("propensity", "float", False, "Probability that this arm was drawn.", min_value=0.0),
    ),
)

TABLES: dict[str, TableSchema] = {
    t.name: t for t in (EVENTS, ORDERS, EMAIL_EVENTS, CUSTOMERS, EXPERIMENTS)
}
REQUIRED_TABLES: tuple[str, ...] = ("events", "orders", "email_events", "customers")
