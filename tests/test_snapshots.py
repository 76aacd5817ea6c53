"""Exact snapshot features on hand-built sessions, labels, and leakage tests."""

from __future__ import annotations

import math
from typing import Any, cast

import numpy as np
import pandas as pd
import pytest
from randomshop import random_shop
from shopbuilder import dataset

from features.definitions import FEATURE_NAMES, LABEL
from features.io import Dataset
from features.snapshots import SNAPSHOT_COLUMNS, build_snapshots


def E(t: str, s: str, c: str | None, e: str, **kw: Any) -> dict[str, Any]:
    return dict(event_time=t, session_id=s, customer_id=c or "", event_type=e, **kw)


EVENTS = [
    E("2026-01-01T10:00:00Z", "a", "c1", "page_view", device="mobile", traffic_source="email"),
    E("2026-01-01T10:00:10Z", "a", "c1", "view_item", product_id="p1", price="10"),
    E("2026-01-01T10:00:12Z", "a", "c1", "view_item", product_id="p1", price="10"),
    E("2026-01-01T10:00:20Z", "a", "c1", "add_to_cart", product_id="p1", price="10", quantity="2"),
    E("2026-01-01T10:00:40Z", "a", "c1", "add_to_cart", product_id="p3", price="25"),
    E("2026-01-01T10:00:50Z", "a", "c1", "remove_from_cart", product_id="p3", price="25"),
    E("2026-01-01T10:01:00Z", "a", "c1", "begin_checkout", account_required="true"),
    E("2026-01-01T10:02:00Z", "a", "c1", "add_shipping_info", shipping_fee="4.9",
      free_shipping_threshold="50"),
    E("2026-01-05T09:00:00Z", "b", "c1", "page_view"),
    E("2026-01-05T09:00:30Z", "b", "c1", "add_to_cart", product_id="p2", price="30"),
    E("2026-01-05T09:01:30Z", "b", "c1", "purchase", product_id="p2", price="30"),
    E("2026-01-05T09:00:00Z", "g", None, "view_cart"),  # before the first add: not a snapshot
    E("2026-01-05T09:00:05Z", "g", None, "add_to_cart", product_id="p2", price="30"),
    E("2026-01-08T12:00:00Z", "z", "c2", "page_view"),  # keeps the data running past windows
]
ORDERS = [
    dict(order_id="o0", customer_id="c1", order_time="2025-12-01T00:00:00Z", total_value="100"),
    dict(order_id="o9", customer_id="", order_time="2025-12-02T00:00:00Z", total_value="50"),
    dict(order_id="o1", customer_id="c1", order_time="2026-01-05T09:01:30Z", total_value="30"),
]
EMAILS = [
    dict(customer_id="c1", event_time="2025-12-20T00:00:00Z", type="open"),
    dict(customer_id="c1", event_time="2026-01-03T00:00:00Z", type="click"),
]
CUSTOMERS = [
    dict(customer_id="c1", created_at="2025-11-01T00:00:00Z", city="Berlin",
         newsletter_subscriber="true"),
]


@pytest.fixture(scope="module")
def snaps() -> pd.DataFrame:
    return build_snapshots(dataset(EVENTS, ORDERS, EMAILS, CUSTOMERS)).set_index("snapshot_id")


def test_columns_and_ids(snaps: pd.DataFrame) -> None:
    assert list(snaps.reset_index().columns) == list(SNAPSHOT_COLUMNS)
    assert list(snaps.index) == ["a#4", "a#5", "a#7", "a#8", "b#2", "g#2"]
    assert list(snaps["event_type"].astype(str)) == [
        "add_to_cart", "add_to_cart", "begin_checkout", "add_shipping_info", "add_to_cart",
        "add_to_cart"]


def test_session_signals_exact(snaps: pd.DataFrame) -> None:
    s = snaps.loc["a#8"]
    assert s["funnel_step"] == 4 and s["max_funnel_step"] == 4
    assert s["cart_items"] == 2 and s["cart_value"] == 20.0  # 2 x 10 kept, 25 added and removed
    assert (s["n_adds"], s["n_removes"], s["n_item_views"], s["n_products_viewed"]) == (2, 1, 2, 1)
    assert s["n_events"] == 8 and s["session_seconds"] == 120 and s["seconds_since_prev_event"] == 60
    assert (s["hour"], s["weekday"]) == (10, 3)  # 2026-01-01 is a Thursday
    assert (s["device"], s["traffic_source"]) == ("mobile", "email")
    assert s["shipping_fee"] == 4.9 and s["free_shipping_threshold"] == 50
    assert s["amount_to_free_shipping"] == 30 and s["fee_share_of_cart"] == pytest.approx(0.245)
    assert s["account_required"] == 1 and s["is_guest"] == 0
    early = snaps.loc["a#5"]
    assert early["cart_value"] == 45.0 and math.isnan(cast(float, early["shipping_fee"]))
    assert math.isnan(cast(float, early["account_required"]))
    assert snaps.loc["a#7"]["account_required"] == 1


def test_history_as_of_session_start(snaps: pd.DataFrame) -> None:
    first = snaps.loc["a#4"]
    assert first["orders_count"] == 1 and first["lifetime_value"] == 100
    assert first["sessions_30d"] == 0 and math.isnan(cast(float, first["days_since_last_visit"]))
    assert first["days_since_last_order"] == pytest.approx(31 + (10 * 3600 + 20) / 86400)
    assert first["days_since_last_open"] == pytest.approx(12 + (10 * 3600 + 20) / 86400)
    assert math.isnan(cast(float, first["days_since_last_click"]))  # the click came after this session
    assert first["cart_vs_shop_aov"] == pytest.approx(20 / 75)  # shop AOV (100 + 50) / 2
    later = snaps.loc["b#2"]
    # session a (abandoned, window closed on 01-02) is known by 01-05; its order o1 is not history yet
    assert (later["past_carts"], later["past_carts_abandoned"], later["past_abandon_rate"]) == (1, 1, 1)
    assert later["sessions_7d"] == 1 and later["orders_count"] == 1
    assert later["days_since_last_visit"] == pytest.approx(4 - 1 / 24 + 30 / 86400)
    assert later["days_since_last_click"] == pytest.approx(2 + (9 * 3600 + 30) / 86400)
    assert later["customer_age_days"] == pytest.approx(65 + (9 * 3600 + 30) / 86400)
    assert later["city"] == "Berlin" and later["newsletter_subscriber"] == 1


def test_guest_has_no_history(snaps: pd.DataFrame) -> None:
    g = snaps.loc["g#2"]
    assert g["is_guest"] == 1 and pd.isna(g["customer_id"])
    for name in ("orders_count", "sessions_7d", "past_carts", "days_since_last_open",
                 "newsletter_subscriber", "customer_age_days"):
        assert math.isnan(g[name]), name
    assert g["cart_vs_shop_aov"] == pytest.approx(30 / 75)  # o1 comes after the start


def test_labels(snaps: pd.DataFrame) -> None:
    assert snaps.loc["a#8", LABEL] == 1  # no purchase, no order within 24 h
    assert snaps.loc["b#2", LABEL] == 0  # bought in the session
    assert snaps.loc["g#2", LABEL] == 1  # guest, window closed before the data ends


def test_order_within_window_recovers_the_cart() -> None:
    orders = [*ORDERS, dict(order_id="o2", customer_id="c1", order_time="2026-01-02T09:00:00Z",
                            total_value="20")]
    snaps = build_snapshots(dataset(EVENTS, orders, EMAILS, CUSTOMERS)).set_index("snapshot_id")
    assert snaps.loc["a#8", LABEL] == 0
    late = [*ORDERS, dict(order_id="o2", customer_id="c1", order_time="2026-01-02T10:03:00Z",
                          total_value="20")]
    snaps = build_snapshots(dataset(EVENTS, late, EMAILS, CUSTOMERS)).set_index("snapshot_id")
    assert snaps.loc["a#8", LABEL] == 1
    short = build_snapshots(dataset(EVENTS, orders, EMAILS, CUSTOMERS), label_window_hours=12)
    assert short.set_index("snapshot_id").loc["a#8", LABEL] == 1


def test_unknown_outcome_at_the_end_of_the_data_is_missing() -> None:
    events = [e for e in EVENTS if e["session_id"] != "z"]
    snaps = build_snapshots(dataset(events, ORDERS, EMAILS, CUSTOMERS)).set_index("snapshot_id")
    assert math.isnan(cast(float, snaps.loc["g#2", LABEL]))
    # b was bought, but its window is open too: censoring does not look at the outcome
    assert math.isnan(cast(float, snaps.loc["b#2", LABEL]))
    assert snaps.loc["a#8", LABEL] == 1


def _features(snaps: pd.DataFrame) -> pd.DataFrame:
    return snaps.set_index("snapshot_id")[list(FEATURE_NAMES)]


def test_events_after_the_snapshot_and_the_purchase_do_not_change_features() -> None:
    base = build_snapshots(dataset(EVENTS, ORDERS, EMAILS, CUSTOMERS))
    more = [
        *EVENTS,
        E("2026-01-01T10:03:00Z", "a", "c1", "add_payment_info", shipping_fee="0",
          free_shipping_threshold="50"),
        E("2026-01-01T10:04:00Z", "a", "c1", "purchase", product_id="p1", price="10", quantity="2"),
        E("2026-01-01T10:05:00Z", "a", "c1", "add_to_cart", product_id="p9", price="999"),
    ]
    after = build_snapshots(dataset(more, ORDERS, EMAILS, CUSTOMERS))
    # the snapshots of session a (later sessions rightly see that a was bought)
    common = base.loc[base["session_id"] == "a", "snapshot_id"]
    assert len(common) == 4
    pd.testing.assert_frame_equal(_features(base).loc[common], _features(after).loc[common])
    assert after.set_index("snapshot_id").loc["a#8", LABEL] == 0  # the label does see the purchase


def _cut(ds: Dataset, at: pd.Timestamp) -> Dataset:
    return Dataset(
        events=ds.events[ds.events["event_time"] <= at].reset_index(drop=True),
        orders=ds.orders[ds.orders["order_time"] <= at].reset_index(drop=True),
        email_events=ds.email_events[ds.email_events["event_time"] <= at].reset_index(drop=True),
        customers=ds.customers,
    )


@pytest.mark.parametrize("day", [10, 25])
def test_no_leakage_features_equal_when_everything_later_is_removed(day: int) -> None:
    """Features of a snapshot at time t are the same whether or not the data goes on after t."""
    ds = random_shop(seed=3, sessions=700)
    cut = pd.Timestamp("2026-03-01", tz="UTC") + pd.Timedelta(days=day, hours=7)
    full = build_snapshots(ds)
    part = build_snapshots(_cut(ds, cut))
    assert len(part) > 100
    assert (part["snapshot_time"] <= cut).all()
    left = _features(full).loc[part["snapshot_id"]]
    right = _features(part)
    pd.testing.assert_frame_equal(left, right)
    # the labels of carts that could still be recovered after the cut are unknown, not guessed
    open_carts = part[LABEL].isna()
    assert open_carts.any()
    assert np.isfinite(full.set_index("snapshot_id").loc[part["snapshot_id"][open_carts], LABEL]).any()


def test_events_already_in_order_take_the_shortcut_with_the_same_arrays_and_snapshots() -> None:
    """A log already grouped by session and in time order is not sorted; what it gives must not differ."""
    from dataclasses import replace

    from features.sessions import order_events

    shop = random_shop(seed=4)
    shuffled = order_events(shop.events)
    assert shuffled.order is not None
    in_order = shop.events.iloc[shuffled.order].reset_index(drop=True)
    shortcut = order_events(in_order)
    assert shortcut.order is None
    for name in ("session_code", "time_us", "event_code", "customer_code"):
        a, b = getattr(shortcut, name), getattr(shuffled, name)
        assert a.dtype == b.dtype, name
        assert np.array_equal(a, b), name
    pd.testing.assert_frame_equal(build_snapshots(replace(shop, events=in_order)), build_snapshots(shop))
