"""Sessions and cart outcomes, derived from the event log.

Everything here is batch and vectorised. Events are put in a canonical order (session, time, position in the file):
every other module relies on that order, and the single-cart path reproduces it by sorting a session's events by
time with a stable sort.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from features.asof import as_of_each
from features.schema import EVENT_TYPES
from features.threads import thread_map

US_PER_SECOND = 1_000_000
US_PER_DAY = 86_400 * US_PER_SECOND


def to_us(times: pd.Series) -> np.ndarray:
    """UTC times as int64 microseconds since the epoch (NaT is not allowed). A validated column (already
    ``datetime64[us, UTC]``) is read in place, without a copy: do not write to the result."""
    dtype = times.dtype
    if isinstance(dtype, pd.DatetimeTZDtype) and dtype.unit == "us" and not times.hasnans:
        return np.asarray(times.array.asi8)
    values = pd.to_datetime(times, utc=True).dt.tz_convert(None).astype("datetime64[us]")
    return values.to_numpy().astype(np.int64)


def take_texts(texts: pd.Series | pd.Index, rows: np.ndarray) -> pd.Series:
    """``texts`` at ``rows`` (missing where the row is -1) as a "string" column, taken by Arrow from one joined
    chunk: no Python string per row, and a take across many chunks costs far more than joining them first."""
    arrow = pa.array(texts.astype("string").array, pa.large_string())
    if isinstance(arrow, pa.ChunkedArray):
        arrow = arrow.combine_chunks()
    taken = arrow.take(pa.array(rows, mask=rows < 0))
    return pd.Series(pd.array(pa.chunked_array([taken]), dtype="string"))


def to_us_nullable(times: pd.Series) -> np.ndarray:
    """UTC times as float64 microseconds since the epoch, NaN where the time is missing.

    float64 holds microsecond timestamps exactly (they stay below 2**53 until the year 2255).
    """
    values = pd.to_datetime(times, utc=True).dt.tz_convert(None).astype("datetime64[us]")
    out = values.to_numpy().astype(np.int64).astype(np.float64)
    out[values.isna().to_numpy()] = np.nan
    return out


def category_codes(values: pd.Series, categories: tuple[str, ...], dtype: type = np.int64) -> np.ndarray:
    """Codes of ``values`` in the fixed list ``categories`` (-1 for missing or unknown), without a string copy, as
    ``dtype`` (a narrower one writes less memory for a long column)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        cats = list(values.cat.categories)
        codes = values.cat.codes.to_numpy()
        if cats == list(categories):
            return codes.astype(dtype)
        lookup: np.ndarray = np.array([categories.index(c) if c in categories else -1 for c in cats] + [-1],
                                      dtype=dtype)
        return lookup[codes]
    return pd.Categorical(values.astype("string"), categories=categories).codes.astype(dtype)


@dataclass(frozen=True)
class OrderedEvents:
    """The event table in canonical order: (session, time, file position).

    Columns are taken in that order only when asked for (:meth:`column`), so a large table is not copied whole.
    """

    source: pd.DataFrame
    order: np.ndarray | None
    """Positions of ``source`` in canonical order; None when the source is already in it."""
    session_code: np.ndarray
    """Dense session number of each event, 0, 0, 1, 2, 2, ... along the canonical order (int32 below 2**31 events,
    as are ``order`` and ``customer_code`` below 2**31 positions / customers; ``event_code`` is int8)."""
    time_us: np.ndarray
    event_code: np.ndarray
    """Position of each event's type in :data:`features.schema.EVENT_TYPES`."""
    session_ids: pd.Index
    """``session_ids[code]`` is the session id of code ``code``."""
    customer_code: np.ndarray
    """Number of each event's customer in ``customer_ids``, -1 for a guest."""
    customer_ids: pd.Index

    def column(self, name: str) -> pd.Series:
        """One column of the events in canonical order."""
        col = self.source[name]
        if self.order is not None:
            col = col.take(self.order)
        return col.reset_index(drop=True)

    @property
    def events(self) -> pd.DataFrame:
        """The whole event table in canonical order (copies it; for tests and small data)."""
        frame = self.source if self.order is None else self.source.take(self.order)
        return frame.reset_index(drop=True)


PARALLEL_ROWS = 100_000
"""Event tables with at least this many rows have their two id columns factorised on two threads."""


def _factorize_both(a: pd.Series, b: pd.Series) -> list[tuple[np.ndarray, Any]]:
    """``pd.factorize`` of two columns (first-appearance order; :func:`features.ids.factorize_ids`), on two
    threads for large tables (the compiled loops and Arrow's hashing release the GIL)."""
    from features.ids import factorize_ids  # compiled code: not loaded by the service

    return thread_map(factorize_ids, [a, b], parallel=len(a) >= PARALLEL_ROWS)


def _in_time_order(codes: np.ndarray, time_us: np.ndarray) -> bool:
    """Events grouped by session code: each session's times never go back."""
    same = codes[1:] == codes[:-1]
    return bool((time_us[1:][same] >= time_us[:-1][same]).all())


def order_events(events: pd.DataFrame) -> OrderedEvents:
    """Put events in canonical order (session, time, file position) and number sessions and customers."""
    (codes, uniques), (cust_codes, cust_ids) = _factorize_both(events["session_id"], events["customer_id"])
    time_us = to_us(events["event_time"])
    etype = category_codes(events["event_type"], EVENT_TYPES, dtype=np.int8)
    n = len(codes)
    index = np.int32 if n < 2**31 else np.int64  # narrow arrays: less memory to write
    customer_index = np.int32 if len(cust_ids) < 2**31 else np.int64
    if n and (codes[1:] >= codes[:-1]).all() and _in_time_order(codes, time_us):
        # already grouped by session (codes follow first appearance) and in time order: nothing to sort
        return OrderedEvents(events, None, codes.astype(index, copy=False), time_us, etype,
                             pd.Index(uniques), cust_codes.astype(customer_index, copy=False), pd.Index(cust_ids))
    from features.scan import bucket_starts, canonical_events  # compiled code: not loaded by the service

    # = lexsort((arange, time, codes)); codes number sessions by first appearance, so they stay 0, 1, 2, ...
    # along the sorted events and keep their session ids
    order, session_code = np.empty(n, dtype=index), np.empty(n, dtype=index)
    sorted_time, sorted_type = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int8)
    customer_code = np.empty(n, dtype=customer_index)
    start = bucket_starts(codes, len(uniques))
    # two threads, each placing the events of half of the sessions (by event count) into its part of the outputs
    middle = int(np.searchsorted(start, n // 2))
    halves = [(0, middle), (middle, len(uniques))]
    thread_map(lambda half: canonical_events(codes, time_us, etype, cust_codes, start, half[0], half[1], order,
                                             session_code, sorted_time, sorted_type, customer_code),
               halves, parallel=n >= PARALLEL_ROWS)
    return OrderedEvents(source=events, order=order, session_code=session_code, time_us=sorted_time,
                         event_code=sorted_type, session_ids=pd.Index(uniques), customer_code=customer_code,
                         customer_ids=pd.Index(cust_ids))


def session_bounds(code: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the first and last event of each session, for codes sorted 0, 0, 1, 2, 2, ..."""
    if len(code) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    firsts = np.flatnonzero(np.r_[True, code[1:] != code[:-1]])
    lasts = np.r_[firsts[1:] - 1, len(code) - 1]
    return firsts, lasts


def session_table(ordered: OrderedEvents) -> pd.DataFrame:
    """One row per session (in code order): customer, start, end, cart and purchase facts.

    Columns: session_id, customer_id (of the first event that has one; null for guests), customer_code (its
    position in ``ordered.customer_ids``, -1 for guests), start_us, end_us,
    has_cart (any add_to_cart), purchased (any purchase event), purchase_us (first purchase, NaN if none),
    first_cart_us (first add_to_cart, NaN if none).
    """
    code = ordered.session_code
    n = len(ordered.session_ids)
    t = ordered.time_us
    from features.scan import session_facts  # compiled code: not loaded by the service

    start, end, purchase, first_cart, customer = session_facts(
        code, t, ordered.event_code, ordered.customer_code, n, EVENT_TYPES.index("add_to_cart"),
        EVENT_TYPES.index("purchase"))
    customer_id = take_texts(ordered.customer_ids, customer)  # -1 (a guest) takes a missing value
    return pd.DataFrame(
        {
            "session_id": pd.array(ordered.session_ids.array, dtype="string"),  # kept in Arrow
            "customer_id": customer_id,
            "customer_code": customer,
            "start_us": start,
            "end_us": end,
            "has_cart": np.isfinite(first_cart),
            "purchased": np.isfinite(purchase),
            "purchase_us": np.where(np.isfinite(purchase), purchase, np.nan),
            "first_cart_us": np.where(np.isfinite(first_cart), first_cart, np.nan),
        }
    )


def data_end_us(events: pd.DataFrame, orders: pd.DataFrame, event_us: np.ndarray | None = None) -> int:
    """The last moment the data set has seen: the latest event or order time (``event_us``: the events' times
    in microseconds, when already converted)."""
    if event_us is None and len(events):
        event_us = to_us(events["event_time"])
    candidates = [int(event_us.max())] if event_us is not None and len(event_us) else []
    if len(orders):
        candidates.append(to_us(orders["order_time"]).max())
    return int(max(candidates)) if candidates else 0


def cart_labels(
    sessions: pd.DataFrame,
    orders: pd.DataFrame,
    customer_code: np.ndarray,
    order_customer_code: np.ndarray,
    window_hours: float,
    end_us: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Label every session and say when its outcome was settled: ``(abandoned, outcome, settled_us)``.

    ``abandoned`` is 0 when the session has a purchase, or when its customer placed an order after the session
    started and no later than ``window_hours`` after it ended; 1 otherwise; NaN whenever the window reaches past
    the end of the data (the outcome is not settled yet; bought carts included, so censoring is label-blind).
    Guests can only be recovered in the session. ``outcome`` is the same without the censoring, for customer
    history: it may only be read once ``settled_us`` has passed (the purchase time, or the window's end).

    ``customer_code`` is the customer number of each session (-1 for guests) and ``order_customer_code`` that
    of each order (-1 for guest orders).
    """
    window_us = round(window_hours * 3600 * US_PER_SECOND)
    start = sessions["start_us"].to_numpy()
    end = sessions["end_us"].to_numpy()
    purchased = sessions["purchased"].to_numpy()
    known = customer_code >= 0
    known_orders = order_customer_code >= 0
    order_time = to_us(orders["order_time"])[known_orders] if len(orders) else np.empty(0, np.int64)
    order_key = order_customer_code[known_orders]
    upto, before = as_of_each(order_key, order_time, customer_code[known], [end[known] + window_us, start[known]],
                              inclusive=True)
    recovered = np.zeros(len(sessions), dtype=bool)
    recovered[known] = (upto.count - before.count) > 0
    settled_us = np.where(purchased, sessions["purchase_us"].to_numpy(), (end + window_us))
    outcome = np.where(purchased | recovered, 0.0, 1.0)
    abandoned = outcome.copy()
    # Censoring must not depend on the outcome: when the window is still open at the end of the data, the label
    # is unknown even for a cart bought in the session (keeping only those would make late carts look safe).
    unknown = end + window_us > end_us
    abandoned[unknown] = np.nan
    return abandoned, outcome, settled_us.astype(np.float64)
