"""The scoring API's request and response bodies, with limits on everything a client can send.

A bad request is rejected by these models with the field and the reason (a 4xx), never a 500.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from features.schema import DEVICES, EVENT_TYPES, TRAFFIC_SOURCES

EventType = Literal[
    "page_view", "view_item", "add_to_cart", "remove_from_cart", "view_cart", "begin_checkout",
    "add_shipping_info", "add_payment_info", "purchase",
]
Device = Literal["desktop", "mobile", "tablet", "unknown"]
TrafficSource = Literal["direct", "organic", "paid", "email", "social", "referral", "unknown"]
assert set(EventType.__args__) == set(EVENT_TYPES)  # type: ignore[attr-defined]
assert set(Device.__args__) == set(DEVICES)  # type: ignore[attr-defined]
assert set(TrafficSource.__args__) == set(TRAFFIC_SOURCES)  # type: ignore[attr-defined]

MAX_EVENTS = 500
CLOCK_SKEW = timedelta(minutes=5)
Id = Field(min_length=1, max_length=128)
Money = Field(default=None, ge=0, le=1_000_000)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class EventIn(Strict):
    """One event of the session so far."""

    event_type: EventType
    event_time: AwareDatetime = Field(description="When it happened, with a time zone (ISO 8601).")
    product_id: str | None = Field(default=None, max_length=128)
    price: float | None = Money
    quantity: int | None = Field(default=None, ge=0, le=10_000)
    shipping_fee: float | None = Money
    free_shipping_threshold: float | None = Money
    account_required: bool | None = None


class CheckoutContext(Strict):
    """What the checkout page shows now; applied at the moment of scoring (the last event)."""

    shipping_fee: float | None = Money
    free_shipping_threshold: float | None = Money
    account_required: bool | None = None
    device: Device = "unknown"
    traffic_source: TrafficSource = "unknown"


class ScoreRequest(Strict):
    """One cart: its session, its customer (if known), its events so far and the checkout context."""

    session_id: str = Id
    customer_id: str | None = Field(default=None, min_length=1, max_length=128)
    events: list[EventIn] = Field(min_length=1, max_length=MAX_EVENTS)
    context: CheckoutContext = Field(default_factory=CheckoutContext)

    @model_validator(mode="after")
    def _not_in_the_future(self) -> ScoreRequest:
        limit = datetime.now(UTC) + CLOCK_SKEW
        for i, event in enumerate(self.events):
            if event.event_time > limit:
                raise ValueError(
                    f"events[{i}].event_time {event.event_time.isoformat()} is in the future "
                    f"(more than {int(CLOCK_SKEW.total_seconds() // 60)} minutes ahead of the server clock)"
                )
        return self


class BatchRequest(Strict):
    carts: list[ScoreRequest] = Field(min_length=1, max_length=1000)


class OfferOut(BaseModel):
    """One incentive's expected economics for this cart (profit policy)."""

    code: str
    expected_uplift: float = Field(description="P(bought | incentive) - P(bought | none).")
    expected_cost: float
    expected_profit: float = Field(description="uplift x margin x expected order value - expected cost.")


class IncentiveOut(BaseModel):
    code: str
    channel: str
    message_key: str
    expected_cost: float
    why: str
    policy: str = Field(default="rules", description="'profit' (uplift models) or 'rules' (risk-based rules).")
    expected_uplift: float | None = Field(default=None, description="Profit policy: the chosen incentive's uplift.")
    expected_profit: float | None = Field(default=None, description="Profit policy: its expected profit.")
    runner_up: OfferOut | None = Field(default=None, description="Profit policy: the next best option.")
    explored: bool = Field(default=False, description="Drawn at random to keep learning (log it as an experiment).")
    propensity: float | None = Field(default=None, description="Probability this incentive was chosen, given "
                                     "the cart (profit policy; for the experiment log).")


class Reason(BaseModel):
    feature: str
    value: float | str | None
    contribution: float = Field(description="Contribution to the log-odds of abandonment (LightGBM's own).")


class ScoreResponse(BaseModel):
    session_id: str
    risk: float = Field(description="Calibrated probability that the cart is abandoned.")
    risk_band: str
    segments: list[str]
    incentive: IncentiveOut
    reasons: list[Reason]
    model_version: str
    feature_set: str
    degraded: bool = Field(description="True when the customer profile could not be read: session signals only.")


class BatchResponse(BaseModel):
    results: list[ScoreResponse]
