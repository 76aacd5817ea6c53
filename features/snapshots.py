"""Point-in-time cart snapshots: one row per cart or checkout step, with the features known at that moment.

A cart is a session with at least one ``add_to_cart``. A snapshot is taken at every snapshot event
(:data:`features.schema.SNAPSHOT_EVENTS`) from the session's first ``add_to_cart`` on. Session signals are running
totals over the session's events up to and including the snapshot event, in canonical order; history comes from
the customer's profile as of the session start. Nothing after the snapshot (the purchase included) is read, except
for the label.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from features.definitions import (
    ATTRIBUTE_COLUMNS,
    CATEGORICAL_FEATURES,
    FEATURE_NAMES,
    LABEL,
    SNAPSHOT_ID_COLUMNS,
)
from features.history import history_features
from features.io import Dataset
from features.profiles import Shop, compute_profiles, prepare_shop, shop_aov
from features.schema import DEVICES, EVENT_TYPES, FUNNEL_STEP, SNAPSHOT_EVENTS, TRAFFIC_SOURCES
from features.sessions import (
    PARALLEL_ROWS,
    US_PER_SECOND,
    OrderedEvents,
    category_codes,
    session_bounds,
)
from features.threads import thread_map

SNAPSHOT_COLUMNS: tuple[str, ...] = (
    *SNAPSHOT_ID_COLUMNS,
    *FEATURE_NAMES,
    *ATTRIBUTE_COLUMNS,
    LABEL,
)
CATEGORIES: dict[str, tuple[str, ...]] = {"device": DEVICES, "traffic_source": TRAFFIC_SOURCES}
"""Fixed category lists of the categorical features, so codes are the same in training and serving."""

_STEP_BY_CODE = np.array([FUNNEL_STEP[e] for e in EVENT_TYPES], dtype=np.float64)
_SNAPSHOT_CODES = np.array([EVENT_TYPES.index(e) for e in SNAPSHOT_EVENTS])
_PURCHASE = EVENT_TYPES.index("purchase")
_ADD, _REMOVE, _VIEW = (EVENT_TYPES.index(e) for e in ("add_to_cart", "remove_from_cart", "view_item"))
_IS_SNAPSHOT = np.isin(np.arange(len(EVENT_TYPES)), _SNAPSHOT_CODES)
_SNAPSHOT_CODE_OF = np.array([SNAPSHOT_EVENTS.index(e) if e in SNAPSHOT_EVENTS else -1 for e in EVENT_TYPES])
"""Position of each event type (by its code) in :data:`SNAPSHOT_EVENTS`, -1 for the others."""


def build_snapshots(ds: Dataset, label_window_hours: float = 24.0, latest_only: bool = False) -> pd.DataFrame:
    """All cart snapshots of a data set with ids, features, attributes and the label ``abandoned``; with
    ``latest_only``, only each session's latest snapshot with something in the cart (what batch scoring needs:
    the same rows, with the same values, as the latest of the full table)."""
    return snapshots_from_shop(prepare_shop(ds, label_window_hours), latest_only=latest_only)


def _floats(ordered: OrderedEvents, name: str) -> np.ndarray:
    """A numeric (or boolean) event column as float64 in the source's order, NaN where empty (a float64 column
    is read in place)."""
    if name not in ordered.source.columns:
        return np.full(len(ordered.time_us), np.nan)
    column = ordered.source[name]
    if column.dtype == np.float64:
        return np.asarray(column.to_numpy())
    return np.asarray(column.to_numpy(dtype=np.float64, na_value=np.nan))


def _masked(ordered: OrderedEvents, name: str, dtype: Literal["Int64", "boolean"]) -> tuple[np.ndarray, np.ndarray]:
    """A whole-number (``dtype`` "Int64") or boolean ("boolean") event column in the source's order as its values
    and a mask of the missing rows, read in place from the masked array validation makes (an absent column:
    every row missing)."""
    if name not in ordered.source.columns:
        n = len(ordered.time_us)
        return np.zeros(n, dtype=np.int64 if dtype == "Int64" else np.bool_), np.ones(n, dtype=np.bool_)
    column: Any = ordered.source[name]
    masked = column.astype(dtype).array  # no copy when it has that type already; values and mask (pandas' own)
    return np.asarray(masked._data), np.asarray(masked._mask)


def _first_category(
    ordered: OrderedEvents, name: str, categories: tuple[str, ...], positions: np.ndarray
) -> pd.Categorical[str]:
    """The category of the events at ``positions`` (a session's first event), 'unknown' when missing."""
    if name not in ordered.source.columns:
        codes = np.full(len(positions), categories.index("unknown"))
    else:
        src = ordered.order[positions] if ordered.order is not None else positions
        codes = category_codes(ordered.source[name].take(src).reset_index(drop=True), categories)
        codes = np.where(codes < 0, categories.index("unknown"), codes)
    return pd.Categorical.from_codes(codes, categories=pd.Index(categories))


def snapshots_from_shop(shop: Shop, latest_only: bool = False) -> pd.DataFrame:
    """Snapshots of a prepared shop (see :func:`build_snapshots`)."""
    from features.ids import factorize_ids  # compiled code: not loaded by the service
    from features.scan import SCAN_COLUMNS, snapshot_scan

    ordered = shop.ordered
    code = ordered.session_code
    t = ordered.time_us
    firsts, _ = session_bounds(code)
    etype = ordered.event_code
    source = ordered.order if ordered.order is not None else np.arange(len(code))
    product, product_ids = factorize_ids(ordered.source["product_id"])  # in the source's order
    quantity, quantity_missing = _masked(ordered, "quantity", "Int64")
    account, account_missing = _masked(ordered, "account_required", "boolean")
    price = _floats(ordered, "price")
    fee, threshold = _floats(ordered, "shipping_fee"), _floats(ordered, "free_shipping_threshold")

    def scan_part(part: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        a, b = part  # whole sessions: the scan of each is independent of the others
        part_rows, part_scan = snapshot_scan(
            code[a:b], etype[a:b], source[a:b], quantity, quantity_missing, price, product, len(product_ids), fee,
            threshold, account, account_missing,
            _STEP_BY_CODE, _IS_SNAPSHOT, _ADD, _REMOVE, _VIEW, _PURCHASE, latest_only)
        return part_rows + a, part_scan

    # two threads, each scanning about half of the events (cut where a session starts)
    middle = min(int(np.searchsorted(firsts, len(code) // 2)), len(firsts) - 1)
    cut = int(firsts[middle]) if len(firsts) else 0
    parts = thread_map(scan_part, [(0, cut), (cut, len(code))], parallel=len(code) >= PARALLEL_ROWS)
    rows = np.concatenate([r for r, _ in parts])
    scan = np.concatenate([m for _, m in parts])
    run = {name: scan[:, j] for j, name in enumerate(SCAN_COLUMNS)}
    sc = code[rows]
    session_first = firsts[sc]
    st = t[rows]
    sessions = shop.sessions
    start = sessions["start_us"].to_numpy()[sc]
    prev_t = np.where(rows > session_first, t[np.maximum(rows - 1, 0)], st)
    cart_value = np.maximum(run["net_value"], 0.0)
    cart_items = np.maximum(run["added_qty"] - run["removed_qty"], 0.0)
    fee_s, thr_s = run["shipping_fee"], run["free_shipping_threshold"]
    with np.errstate(invalid="ignore", divide="ignore"):
        to_free = np.where(np.isnan(thr_s), np.nan, np.maximum(thr_s - cart_value, 0.0))
        fee_share = np.where(np.isnan(fee_s) | (cart_value <= 0), np.nan, fee_s / cart_value)
    when = pd.DatetimeIndex(st.astype("datetime64[us]"))
    cust_code = shop.session_customer[sc]

    profile = compute_profiles(shop, cust_code, start)
    history = history_features(
        {name: profile[name].to_numpy() for name in profile.columns if name != "city"},
        st,
        cart_value,
        shop_aov(shop, start),
    )
    session_ids = pd.Series(ordered.session_ids.take(sc), dtype="string").array
    features: dict[str, object] = {
        "funnel_step": _STEP_BY_CODE[etype[rows]],
        "max_funnel_step": run["max_step"],
        "cart_items": cart_items,
        "cart_value": cart_value,
        "n_adds": run["n_adds"],
        "n_removes": run["n_removes"],
        "n_item_views": run["n_item_views"],
        "n_products_viewed": run["n_products_viewed"],
        "n_events": run["n_events"],
        "session_seconds": (st - start) / US_PER_SECOND,
        "seconds_since_prev_event": (st - prev_t) / US_PER_SECOND,
        "hour": when.hour.to_numpy().astype(np.float64),
        "weekday": when.day_of_week.to_numpy().astype(np.float64),
        "device": _first_category(ordered, "device", DEVICES, session_first),
        "traffic_source": _first_category(ordered, "traffic_source", TRAFFIC_SOURCES, session_first),
        "shipping_fee": fee_s,
        "free_shipping_threshold": thr_s,
        "amount_to_free_shipping": to_free,
        "fee_share_of_cart": fee_share,
        "account_required": run["account_required"],
        "is_guest": (cust_code < 0).astype(np.float64),
        **history,
    }
    out = pd.DataFrame(
        {
            "snapshot_id": session_ids
            + "#"
            + pd.array(run["n_events"].astype(np.int64).astype(str), dtype="string"),
            "session_id": session_ids,
            "customer_id": sessions["customer_id"].astype("string").take(sc).array,  # stays in Arrow
            "snapshot_time": pd.DatetimeIndex(st.astype("datetime64[us]")).tz_localize("UTC"),
            "event_type": pd.Categorical.from_codes(_SNAPSHOT_CODE_OF[etype[rows]],
                                                    categories=pd.Index(SNAPSHOT_EVENTS)),
        }
    )
    for name in FEATURE_NAMES:
        out[name] = features[name]  # type: ignore[call-overload]
    out["city"] = profile["city"].astype("string").array
    out[LABEL] = sessions["abandoned"].to_numpy()[sc]
    return out[list(SNAPSHOT_COLUMNS)]


def last_with_cart(snapshots: pd.DataFrame) -> pd.DataFrame:
    """Each session's latest snapshot (by time, then events seen) with something in the cart. A table that is
    already one snapshot per session (``build_snapshots(latest_only=True)``) is only filtered, not re-sorted."""
    carts = snapshots[snapshots["cart_value"].to_numpy(dtype=np.float64) > 0]
    if carts["session_id"].is_unique:
        return carts
    carts = carts.sort_values(["session_id", "snapshot_time", "n_events"], kind="stable")
    return carts.groupby("session_id", sort=False, observed=True).tail(1)


def category_code(name: str, value: object) -> float:
    """The model's number for a categorical value: its position in the fixed list; 'unknown' when not in it."""
    categories = CATEGORIES[name]
    text = "unknown" if value is None else str(value)
    return float(categories.index(text) if text in categories else categories.index("unknown"))


def model_frame(snapshots: pd.DataFrame) -> pd.DataFrame:
    """The model inputs of a snapshot table: every feature as float64, in order.

    Categorical features become their position in the fixed category list (LightGBM is told they are
    categorical), so the model takes plain numbers everywhere: in training, in MLflow's pyfunc and in serving.
    """
    return pd.DataFrame(model_matrix(snapshots), columns=list(FEATURE_NAMES), index=snapshots.index)


def model_matrix(snapshots: pd.DataFrame) -> np.ndarray:
    """The values of :func:`model_frame` as one float64 matrix (column-major: filled one feature at a time,
    without the frame's intermediate copies)."""
    out = np.empty((len(snapshots), len(FEATURE_NAMES)), dtype=np.float64, order="F")
    for j, name in enumerate(FEATURE_NAMES):
        if name in CATEGORICAL_FEATURES:
            codes = category_codes(snapshots[name], CATEGORIES[name])
            out[:, j] = np.where(codes < 0, CATEGORIES[name].index("unknown"), codes)
        else:
            out[:, j] = snapshots[name].to_numpy(dtype=np.float64, na_value=np.nan)
    return out
