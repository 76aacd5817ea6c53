"""Customer profiles: frequency, value and engagement of a customer *as of* a moment.

A profile is what the online profile store holds for a customer and what the batch snapshots use, computed by the
same function: :func:`compute_profiles` for any (customer, moment) pairs. Snapshot features take the profile as of
the session start; ``cartrisk profiles sync`` takes it as of the end of the data. Times are float64 microseconds
since the epoch (NaN when there is none), so a profile can be stored as plain numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.asof import AsOf, as_of, as_of_each
from features.io import Dataset
from features.sessions import (
    US_PER_DAY,
    OrderedEvents,
    cart_labels,
    data_end_us,
    order_events,
    session_table,
    take_texts,
    to_us,
    to_us_nullable,
)
from features.threads import thread_map

PROFILE_FIELDS: tuple[str, ...] = (
    "as_of_us",
    "sessions_7d",
    "sessions_30d",
    "sessions_90d",
    "past_carts",
    "past_carts_abandoned",
    "past_carts_settled",
    "first_visit_us",
    "last_visit_us",
    "orders_count",
    "lifetime_value",
    "last_order_us",
    "last_open_us",
    "last_click_us",
    "newsletter_subscriber",
    "created_at_us",
    "city",
)
"""What a stored profile holds. Counts are as of ``as_of_us``; ``*_us`` fields are absolute times."""


@dataclass(frozen=True)
class Shop:
    """A data set prepared once for feature work: ordered events, sessions, labels and history arrays."""

    ordered: OrderedEvents
    sessions: pd.DataFrame
    """:func:`features.sessions.session_table` plus ``abandoned`` (the label: 0/1/NaN), ``outcome`` (0/1, for
    history once settled) and ``settled_us``."""
    customers: pd.Index
    """Every customer id seen in any table; the position is the customer code."""
    session_customer: np.ndarray
    """Customer code of each session, -1 for guests."""
    order_customer: np.ndarray
    order_us: np.ndarray
    order_value: np.ndarray
    open_customer: np.ndarray
    open_us: np.ndarray
    click_customer: np.ndarray
    click_us: np.ndarray
    subscriber: np.ndarray
    """Per customer code: 1.0 / 0.0, NaN when the customer has no record."""
    created_us: np.ndarray
    city: pd.Series
    """Per customer code: the city (text, missing when unknown)."""
    end_us: int


def _factorize_tables(tables: list[pd.Series]) -> list[tuple[np.ndarray, Any]]:
    """``pd.factorize`` of each table's id column (:func:`features.ids.factorize_ids`; on two threads for large
    ones)."""
    from features.ids import factorize_ids  # compiled code: not loaded by the service

    return thread_map(factorize_ids, tables, parallel=sum(len(t) for t in tables) >= PARALLEL_QUERIES)


def _number_customers(first: pd.Series, found: list[tuple[np.ndarray, Any]]) -> tuple[pd.Index, list[np.ndarray]]:
    """One numbering of the customers of all tables, in order of first appearance: ``first`` (distinct ids,
    which keep their positions as codes), then each table's rows (``found``: each table factorised on its own).
    Returns every id by code, and each table's codes (-1 where the id is missing). Only the distinct ids are
    joined: the same numbering as factorising all rows at once."""
    distinct = [first, *(pd.Series(uniques, dtype="string") for _, uniques in found)]
    from features.ids import factorize_ids  # compiled code: not loaded by the service

    codes_of_distinct, everyone = factorize_ids(pd.concat(distinct, ignore_index=True))
    starts = np.cumsum([0] + [len(d) for d in distinct])
    out = []
    for i, (codes, _) in enumerate(found):
        mapping = np.append(codes_of_distinct[starts[i + 1]: starts[i + 2]], -1).astype(np.int64)
        out.append(mapping[codes])  # code -1 (missing) takes the appended -1
    return pd.Index(everyone, dtype="string"), out


def prepare_shop(ds: Dataset, label_window_hours: float = 24.0) -> Shop:
    """Order the events, build the session table with labels, and code the customers."""
    tables = [ds.orders["customer_id"], ds.email_events["customer_id"], ds.customers["customer_id"]]
    with ThreadPoolExecutor(max_workers=1) as pool:
        # the other tables' customer ids (tens of millions of e-mail events) are factorised while the events
        # are put in order: Arrow's hashing and the compiled sort both run without the GIL
        found = pool.submit(_factorize_tables, tables)
        ordered = order_events(ds.events)
        sessions = session_table(ordered)
    customers, part_codes = _number_customers(pd.Series(ordered.customer_ids, dtype="string"), found.result())
    session_customer = sessions["customer_code"].to_numpy()
    order_customer = part_codes[0]
    end_us = data_end_us(ds.events, ds.orders, ordered.time_us)
    abandoned, outcome, settled = cart_labels(
        sessions, ds.orders, session_customer, order_customer, label_window_hours, end_us
    )
    sessions = sessions.assign(abandoned=abandoned, outcome=outcome, settled_us=settled)
    email_type = ds.email_events["type"]  # compared as it is (categorical after validation): no text per row
    email_customer = part_codes[1]
    email_us = to_us(ds.email_events["event_time"])
    is_open = (email_type == "open").to_numpy(dtype=bool, na_value=False)
    is_click = (email_type == "click").to_numpy(dtype=bool, na_value=False)
    # each customer's last row, found by its code (not by hashing its id again)
    last_rows = pd.Series(part_codes[2]).drop_duplicates(keep="last").index.to_numpy()
    cust = ds.customers.reset_index(drop=True).take(last_rows)
    cust_codes = part_codes[2][last_rows]
    subscriber = np.full(len(customers), np.nan)
    subscriber[cust_codes] = cust["newsletter_subscriber"].astype("float64").to_numpy()
    created = np.full(len(customers), np.nan)
    created[cust_codes] = to_us_nullable(cust["created_at"])
    city_row = np.full(len(customers), -1, dtype=np.int64)  # each customer's row in ``cust``, -1 for none
    city_row[cust_codes] = np.arange(len(cust))
    city = take_texts(cust["city"], city_row)
    return Shop(
        ordered=ordered,
        sessions=sessions,
        customers=customers,
        session_customer=session_customer,
        order_customer=order_customer,
        order_us=to_us(ds.orders["order_time"]),
        order_value=ds.orders["total_value"].to_numpy(dtype=np.float64),
        open_customer=email_customer[is_open],
        open_us=email_us[is_open],
        click_customer=email_customer[is_click],
        click_us=email_us[is_click],
        subscriber=subscriber,
        created_us=created,
        city=city,
        end_us=end_us,
    )


PARALLEL_QUERIES = 10_000
"""From this many profile queries on, the as-of lookups run on two threads."""


def compute_profiles(shop: Shop, customer_code: np.ndarray, as_of_us: np.ndarray) -> pd.DataFrame:
    """Profiles of customers (codes; -1 = guest, whose profile is all NaN) as of the given moments.

    Only what happened strictly before ``as_of_us`` counts. A cart counts as abandoned once its label window
    closed without an order, and as settled once it was bought or its window closed.
    """
    key = np.asarray(customer_code, dtype=np.int64)
    at = np.asarray(as_of_us, dtype=np.int64)
    known = key >= 0
    k, t = key[known], at[known]
    s = shop.sessions
    s_key = shop.session_customer
    s_ok = s_key >= 0
    s_start = s["start_us"].to_numpy()[s_ok]
    s_key = s_key[s_ok]
    out: dict[str, np.ndarray] = {"as_of_us": at.astype(np.float64)}

    def put(name: str, values: np.ndarray) -> None:
        full = np.full(len(key), np.nan)
        full[known] = values
        out[name] = full

    carts = s["has_cart"].to_numpy()[s_ok]
    settled_us = s["settled_us"].to_numpy()[s_ok][carts]
    outcome = s["outcome"].to_numpy()[s_ok][carts]
    o_ok = shop.order_customer >= 0
    # one sort of each kind of item; the sessions answer for four moments, and the past carts are the sessions
    # with a cart
    lookups: list[Callable[[], list[AsOf]]] = [
        lambda: as_of_each(s_key, s_start, k, [t, *(t - days * US_PER_DAY for days in (7, 30, 90))]),
        lambda: [as_of(s_key[carts], settled_us.astype(np.int64), k, t)],
        lambda: [as_of(shop.order_customer[o_ok], shop.order_us[o_ok], k, t)],
        lambda: [as_of(shop.open_customer, shop.open_us, k, t)],
        lambda: [as_of(shop.click_customer, shop.click_us, k, t)],
    ]
    # the sorts and searches are compiled code that releases the GIL: on two threads for many queries
    (visits, *since), (settled,), (orders,), (opens,), (clicks,) = thread_map(
        lambda lookup: lookup(), lookups, parallel=len(k) >= PARALLEL_QUERIES)
    for days, before in zip((7, 30, 90), since, strict=True):
        put(f"sessions_{days}d", (visits.count - before.count).astype(np.float64))
    put("first_visit_us", visits.first_value(s_start))
    put("last_visit_us", visits.last(s_start))
    put("past_carts", visits.total(carts))
    put("past_carts_settled", settled.count.astype(np.float64))
    put("past_carts_abandoned", settled.total(outcome))
    put("orders_count", orders.count.astype(np.float64))
    put("lifetime_value", orders.total(shop.order_value[o_ok]))
    put("last_order_us", orders.last(shop.order_us[o_ok]))
    put("last_open_us", opens.last(shop.open_us))
    put("last_click_us", clicks.last(shop.click_us))
    put("newsletter_subscriber", shop.subscriber[k])
    put("created_at_us", shop.created_us[k])
    frame = pd.DataFrame({name: out[name] for name in PROFILE_FIELDS if name != "city"})
    frame["city"] = take_texts(shop.city, key)  # guests (-1) have none
    return frame


def shop_aov(shop: Shop, as_of_us: np.ndarray) -> np.ndarray:
    """The shop's average order value over all orders (guests included) strictly before each moment."""
    at = np.asarray(as_of_us, dtype=np.int64)
    zeros = np.zeros(len(shop.order_us), dtype=np.int64)
    found = as_of(zeros, shop.order_us, np.zeros(len(at), dtype=np.int64), at)
    total = found.total(shop.order_value)
    count = found.count
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)
