"""Build valid ``/score`` request bodies from the real carts of a data set."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from features.profiles import Shop
from features.sessions import session_bounds


def _value(v: Any) -> Any:
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, np.generic):
        return v.item()
    return v


def request_for_snapshot(shop: Shop, session_id: str, n_events: int) -> dict[str, Any]:
    """The body a checkout page would send at the ``n_events``-th event of a session."""
    code = int(np.flatnonzero(np.asarray(shop.ordered.session_ids) == session_id)[0])
    firsts, _ = session_bounds(shop.ordered.session_code)
    lo = int(firsts[code])
    frame = shop.ordered.events.iloc[lo : lo + n_events]
    events = []
    for rec in frame.to_dict("records"):
        event: dict[str, Any] = {
            "event_type": str(rec["event_type"]),
            "event_time": pd.Timestamp(rec["event_time"]).isoformat(),
        }
        for key in ("product_id", "price", "quantity", "shipping_fee", "free_shipping_threshold",
                    "account_required"):
            value = _value(rec.get(key))
            if value is not None:
                event[key] = bool(value) if key == "account_required" else value
        events.append(event)
    first = frame.iloc[0]
    customer = shop.sessions["customer_id"].iloc[code]
    return {
        "session_id": session_id,
        "customer_id": None if pd.isna(customer) else str(customer),
        "events": events,
        "context": {
            "device": str(_value(first.get("device")) or "unknown"),
            "traffic_source": str(_value(first.get("traffic_source")) or "unknown"),
        },
    }


def example_request(shop: Shop, snapshots: pd.DataFrame, step: str = "add_shipping_info") -> dict[str, Any]:
    """A request for a known customer's cart at ``step`` (the latest such snapshot of the data set)."""
    pick = snapshots[(snapshots["event_type"].astype(str) == step) & snapshots["customer_id"].notna()]
    if pick.empty:
        pick = snapshots
    row = pick.iloc[-1]
    return request_for_snapshot(shop, str(row["session_id"]), int(row["n_events"]))
