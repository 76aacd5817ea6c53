"""Build small, hand-written shops for exact-output tests (validated like a loaded file)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from features.io import Dataset
from features.schema import TABLES
from features.validate import validate


def table(name: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Validate hand-written rows against the table's schema; fail loudly on a bad row."""
    schema = TABLES[name]
    cols = [c.name for c in schema.columns if any(c.name in r for r in rows) or not c.optional]
    raw = pd.DataFrame([{c: r.get(c) for c in cols} for r in rows], columns=cols)
    raw = raw.astype("string")
    result = validate(raw, schema, source=f"<test {name}>")
    assert result.report.rows_bad == 0, result.bad.to_dict("records")
    return result.good


def dataset(
    events: list[dict[str, Any]],
    orders: list[dict[str, Any]] | None = None,
    email_events: list[dict[str, Any]] | None = None,
    customers: list[dict[str, Any]] | None = None,
) -> Dataset:
    return Dataset(
        events=table("events", events),
        orders=table("orders", orders or []),
        email_events=table("email_events", email_events or []),
        customers=table("customers", customers or []),
    )
