"""A small random shop with awkward cases (ties, removes, missing prices, guests), for property tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.io import Dataset
from features.schema import DEVICES, EVENT_TYPES, TABLES, TRAFFIC_SOURCES
from features.validate import validate


def _valid(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    result = validate(frame, TABLES[name], source=f"<random {name}>")
    assert result.report.rows_bad == 0, result.bad.head().to_dict("records")
    return result.good


def random_shop(seed: int = 0, sessions: int = 600, customers: int = 80) -> Dataset:
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2026-03-01", tz="UTC")
    rows = []
    for s in range(sessions):
        cust = None if rng.random() < 0.25 else f"c{rng.integers(customers)}"
        t = start + pd.Timedelta(seconds=int(rng.integers(0, 40 * 86400)))
        device = str(rng.choice(DEVICES))
        source = str(rng.choice(TRAFFIC_SOURCES))
        for _ in range(int(rng.integers(1, 14))):
            kind = str(rng.choice(EVENT_TYPES, p=[.1, .3, .2, .06, .08, .08, .06, .06, .06]))
            # some events share a timestamp with the previous one
            t = t + pd.Timedelta(seconds=int(rng.choice([0, 1, 5, 30, 300])))
            item = kind in ("view_item", "add_to_cart", "remove_from_cart", "purchase")
            rows.append(
                {
                    "event_time": t,
                    "session_id": f"s{s}",
                    "customer_id": cust,
                    "event_type": kind,
                    "product_id": f"p{rng.integers(12)}" if item else None,
                    "category": "cat" if item else None,
                    "price": (None if rng.random() < 0.05 else round(float(rng.uniform(1, 90)), 2))
                    if item else None,
                    "quantity": int(rng.integers(1, 4)) if item else None,
                    "device": device,
                    "traffic_source": source,
                    "shipping_fee": float(rng.choice([0.0, 4.9]))
                    if kind in ("add_shipping_info", "add_payment_info") else None,
                    "free_shipping_threshold": 60.0
                    if kind in ("add_shipping_info", "add_payment_info") else None,
                    "account_required": bool(rng.random() < 0.4) if kind == "begin_checkout" else None,
                }
            )
    events = pd.DataFrame(rows).sample(frac=1.0, random_state=seed)  # file order is not time order
    n_orders = 150
    orders = pd.DataFrame(
        {
            "order_id": [f"o{i}" for i in range(n_orders)],
            "customer_id": [None if rng.random() < 0.1 else f"c{rng.integers(customers)}"
                            for _ in range(n_orders)],
            "order_time": start + pd.to_timedelta(rng.integers(-60 * 86400, 45 * 86400, n_orders),
                                                  unit="s"),
            "total_value": rng.uniform(5, 300, n_orders).round(2),
        }
    )
    n_mail = 400
    emails = pd.DataFrame(
        {
            "customer_id": [f"c{rng.integers(customers)}" for _ in range(n_mail)],
            "event_time": start + pd.to_timedelta(rng.integers(-90 * 86400, 40 * 86400, n_mail),
                                                  unit="s"),
            "type": rng.choice(["sent", "open", "click"], n_mail),
        }
    )
    known = [f"c{i}" for i in range(customers) if rng.random() < 0.9]
    custs = pd.DataFrame(
        {
            "customer_id": known,
            "created_at": start - pd.to_timedelta(rng.integers(1, 400, len(known)), unit="D"),
            "city": rng.choice(np.array(["Berlin", "Hamburg", None], dtype=object), len(known)),
            "newsletter_subscriber": rng.random(len(known)) < 0.6,
        }
    )
    return Dataset(
        events=_valid("events", events),
        orders=_valid("orders", orders),
        email_events=_valid("email_events", emails),
        customers=_valid("customers", custs),
    )
