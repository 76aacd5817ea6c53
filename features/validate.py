"""Validate a raw table against its schema, row by row, without losing anything.

A bad row (unknown event type, negative price, unparseable time, missing session, ...) is not dropped: it is
returned in ``bad`` with its original values, its row number in the source and the reason, so the caller can
write it to a quarantine file. Only when the share of bad rows passes a limit does validation raise.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import pandas as pd
import pyarrow as pa

from features.schema import Column, TableSchema
from features.threads import thread_map

_TRUE = {"true", "t", "1", "yes", "y"}
_FALSE = {"false", "f", "0", "no", "n"}


class SchemaError(ValueError):
    """The table as a whole does not fit its schema (for example a required column is missing)."""


class TooManyBadRows(ValueError):
    """More rows were bad than the configured limit allows."""


@dataclass
class ValidationReport:
    """What validation found: how many rows were read, kept and quarantined, and why."""

    table: str
    source: str
    rows_read: int
    rows_ok: int
    rows_bad: int
    reasons: dict[str, int] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def bad_share(self) -> float:
        return self.rows_bad / self.rows_read if self.rows_read else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "table": self.table,
            "source": self.source,
            "rows_read": self.rows_read,
            "rows_ok": self.rows_ok,
            "rows_bad": self.rows_bad,
            "reasons": dict(self.reasons),
            "ignored_columns": list(self.ignored_columns),
        }


@dataclass
class Validated:
    """Typed good rows, untouched bad rows (with ``source_row`` and ``reason``), and the report."""

    good: pd.DataFrame
    bad: pd.DataFrame
    report: ValidationReport


def _stripped_categorical(raw: pd.Series) -> pd.Series | None:
    """A categorical column with its categories stripped and blank ones made missing, working on the few
    categories instead of every row (the column itself when no category changes); None when stripping would
    merge two categories."""
    if not isinstance(raw.dtype, pd.CategoricalDtype):
        return None
    original = pd.Series(raw.cat.categories.astype("string"))
    cats = original.str.strip()
    if cats.duplicated().any():
        return None
    blank = np.r_[(cats == "").fillna(False).to_numpy(dtype=bool), False]
    if not blank.any() and cats.equals(original):  # nothing to strip: the categories only become text
        text_categories = cast(Sequence[str], pd.Index(cats.array, dtype="string"))  # kept as "string" text
        return pd.Series(raw.cat.rename_categories(text_categories), index=raw.index)
    codes = raw.cat.codes.to_numpy().astype(np.int64)
    codes = np.where(blank[codes], -1, codes)
    values = pd.Categorical.from_codes(codes, categories=pd.Index(cats.fillna("")))
    return pd.Series(values, index=raw.index)


def _plain_arrow_text(raw: pd.Series) -> bool:
    """An Arrow-backed text column none of whose values is blank or has whitespace at either end (checked on
    the first and last byte of each value, :func:`features.scan.plain_text`; missing values are fine)."""
    chunked = getattr(raw.array, "_pa_array", None)
    if not isinstance(chunked, pa.ChunkedArray) or not (
            pa.types.is_string(chunked.type) or pa.types.is_large_string(chunked.type)):
        return False
    from features.ids import text_buffers  # compiled code: not loaded by the service
    from features.scan import plain_text

    return all(plain_text(*text_buffers(chunk)) for chunk in chunked.chunks)


def _coerce(col: Column, raw: pd.Series) -> tuple[pd.Series, np.ndarray, str]:
    """Return the typed column, a mask of values that did not parse, and what the parse expected.

    Text is stripped once per column (a categorical column: once per category); blank text counts as missing.
    """
    fast = _stripped_categorical(raw)
    text: pd.Series | None = None
    blank = np.zeros(len(raw), dtype=bool)  # text that is empty once stripped
    if fast is not None:
        missing = fast.isna().to_numpy()
    else:
        missing = raw.isna().to_numpy()
        if col.kind in ("string", "category") and _plain_arrow_text(raw):
            return raw.astype("string"), np.zeros(len(raw), dtype=bool), "text"  # nothing to strip or blank
        if raw.dtype == object or pd.api.types.is_string_dtype(raw.dtype):
            text = raw.astype("string").str.strip()
            blank = (text.str.len() == 0).fillna(False).to_numpy(dtype=bool)
            missing = missing | blank
    if col.kind == "time":
        if raw.dtype == "datetime64[us, UTC]":  # as validation leaves it (Parquet written by this tool)
            return raw, np.zeros(len(raw), dtype=bool), "an ISO 8601 time"
        if isinstance(raw.dtype, pd.DatetimeTZDtype):
            typed = raw.dt.tz_convert("UTC")
        elif pd.api.types.is_datetime64_any_dtype(raw.dtype):
            typed = raw.dt.tz_localize("UTC")
        else:
            stripped = text if text is not None else raw.astype("string").str.strip()
            typed = pd.to_datetime(stripped.str.replace(r"\s*UTC$", "", regex=True), utc=True, errors="coerce",
                                   format="ISO8601")
        typed = typed.astype("datetime64[us, UTC]")
        return typed, (~missing) & typed.isna().to_numpy(), "an ISO 8601 time"
    if col.kind == "int" and pd.api.types.is_integer_dtype(raw.dtype):  # whole numbers already (Parquet)
        return raw.astype("Int64"), np.zeros(len(raw), dtype=bool), "a whole number"
    if col.kind == "float" and raw.dtype == np.float64:  # already numbers (Parquet): only infinities are bad
        values = raw.to_numpy()
        inf = np.isinf(values)
        return (raw if not inf.any() else raw.where(~inf)), inf, "a finite number"
    if col.kind in ("float", "int"):
        typed = pd.to_numeric(raw, errors="coerce").astype("float64")
        bad = (~missing) & typed.isna().to_numpy()
        if col.kind == "int":
            frac = typed.notna().to_numpy() & (np.mod(typed.fillna(0).to_numpy(), 1.0) != 0)
            bad = bad | frac
            return typed, bad, "a whole number"
        inf = np.isinf(typed.to_numpy())
        if not inf.any():  # no copy of the column
            return typed, bad, "a finite number"
        return typed.where(~inf), bad | inf, "a finite number"
    if col.kind == "bool":
        if pd.api.types.is_bool_dtype(raw.dtype):
            return raw.astype("boolean"), np.zeros(len(raw), dtype=bool), "true or false"
        lower = (text if text is not None else raw.astype("string").str.strip()).str.lower()
        typed = pd.Series(pd.NA, index=raw.index, dtype="boolean")
        typed[lower.isin(_TRUE).fillna(False)] = True
        typed[lower.isin(_FALSE).fillna(False)] = False
        return typed, (~missing) & typed.isna().to_numpy(), "true or false"
    # string and category
    if fast is not None:
        return fast, np.zeros(len(raw), dtype=bool), "text"
    typed = text if text is not None else raw.astype("string").str.strip()
    if blank.any():  # blank text becomes missing
        typed = typed.mask(blank)
    return typed, np.zeros(len(raw), dtype=bool), "text"


PARALLEL_ROWS = 100_000
"""Tables with at least this many rows have their columns parsed on two threads."""


def _coerce_all(columns: list[Column], raw: pd.DataFrame) -> list[tuple[pd.Series, np.ndarray, str]]:
    """:func:`_coerce` of every column; on two threads for large tables (the work is in Arrow and numpy: about
    twice as fast on two cores)."""
    return thread_map(lambda col: _coerce(col, raw[col.name]), columns, parallel=len(raw) >= PARALLEL_ROWS)


def _not_allowed(typed: pd.Series, allowed: tuple[str, ...]) -> np.ndarray:
    """Rows whose (present) value is not one of ``allowed``; a categorical column is checked per category."""
    if isinstance(typed.dtype, pd.CategoricalDtype):
        bad_category = np.r_[~typed.cat.categories.isin(allowed), False]  # code -1 (missing) is fine
        if not bad_category.any():
            return np.zeros(len(typed), dtype=bool)
        return np.asarray(bad_category[typed.cat.codes.to_numpy()])
    return np.asarray(typed.notna().to_numpy() & ~typed.isin(allowed).fillna(False).to_numpy())


def _fmt(values: pd.Series) -> pd.Series:
    return "'" + values.astype("string").fillna("").str.slice(0, 60) + "'"


def validate(
    raw: pd.DataFrame, schema: TableSchema, source: str = "<memory>", max_bad_share: float = 1.0
) -> Validated:
    """Check ``raw`` against ``schema``; return typed good rows and the bad rows with reasons.

    Raises :class:`SchemaError` when a required column is missing, and :class:`TooManyBadRows` when the share
    of bad rows is above ``max_bad_share`` (0.05 = 5%).
    """
    raw = raw.reset_index(drop=True)
    missing_cols = [c.name for c in schema.columns if not c.optional and c.name not in raw.columns]
    if missing_cols:
        raise SchemaError(
            f"{source}: table {schema.name!r} lacks required column(s) {missing_cols}; "
            f"expected {schema.names}, found {list(raw.columns)}"
        )
    ignored = [c for c in raw.columns if c not in schema.names]
    n = len(raw)
    reasons: pd.Series | None = None  # made on the first bad row: most tables have none
    counts: Counter[str] = Counter()
    out: dict[str, pd.Series] = {}

    def flag(mask: np.ndarray, label: str, values: pd.Series | None, suffix: str = "") -> None:
        """Add ``label: 'value'suffix`` to the reason of the rows in ``mask`` (values quoted only there)."""
        nonlocal reasons
        if not mask.any():
            return
        if reasons is None:
            reasons = pd.Series("", index=raw.index, dtype="string")
        counts[label] += int(mask.sum())
        text = "empty" if values is None else _fmt(values[mask]) + suffix
        prefix = reasons[mask]
        sep = prefix.where(prefix == "", prefix + "; ")
        reasons[mask] = sep + label + ": " + text

    present = [col for col in schema.columns if col.name in raw.columns]
    coerced = dict(zip([c.name for c in present], _coerce_all(present, raw), strict=True))
    for col in schema.columns:
        if col.name not in raw.columns:
            fill = col.default
            dtype = {"time": "datetime64[us, UTC]", "float": "float64", "int": "float64",
                     "bool": "boolean"}.get(col.kind, "string")
            out[col.name] = pd.Series([fill] * n, index=raw.index, dtype=dtype)
            continue
        values = raw[col.name]
        typed, unparsed, expected = coerced[col.name]
        flag(unparsed, f"{col.name} not {expected}", values)
        if not col.nullable:
            flag(typed.isna().to_numpy() & ~unparsed, f"{col.name} missing", None)
        if col.allowed is not None:
            flag(_not_allowed(typed, col.allowed), f"{col.name} unknown", values,
                 f" (allowed: {', '.join(col.allowed)})")
        if col.min_value is not None:
            below = (typed < col.min_value).fillna(False).to_numpy(dtype=bool)
            flag(below, f"{col.name} below {col.min_value:g}", values)
        out[col.name] = typed

    bad_mask = np.zeros(n, dtype=bool) if reasons is None else (reasons != "").to_numpy()
    # with no bad row the typed columns are taken as they are (no copy of the table)
    good = pd.DataFrame(out, copy=False) if reasons is None else pd.DataFrame(out).loc[~bad_mask]
    good = good.reset_index(drop=True)
    for col in schema.columns:
        if col.kind == "int":
            good[col.name] = good[col.name].astype("Int64" if col.nullable else "int64")
        elif col.kind == "category":
            good[col.name] = good[col.name].astype(pd.CategoricalDtype(list(col.allowed or ())))
        elif col.few_values and not isinstance(good[col.name].dtype, pd.CategoricalDtype):
            good[col.name] = good[col.name].astype("category")  # text categories, whatever the source
    # no bad row: an empty slice (a take with no positions still joins every Arrow chunk of a text column)
    bad_rows: pd.DataFrame = (raw.iloc[:0] if reasons is None else raw.loc[bad_mask]).astype("string")
    bad_rows.insert(0, "source_row", np.flatnonzero(bad_mask) + 1)
    bad_rows["reason"] = reasons[bad_mask] if reasons is not None else pd.Series([], dtype="string")
    report = ValidationReport(
        table=schema.name,
        source=source,
        rows_read=n,
        rows_ok=int((~bad_mask).sum()),
        rows_bad=int(bad_mask.sum()),
        reasons=dict(counts.most_common()),
        ignored_columns=ignored,
    )
    if report.bad_share > max_bad_share:
        top = "; ".join(f"{k} ({v} rows)" for k, v in list(report.reasons.items())[:5])
        raise TooManyBadRows(
            f"{source}: {report.rows_bad} of {n} rows of table {schema.name!r} are bad "
            f"({report.bad_share:.1%} > limit {max_bad_share:.1%}). Most common: {top}"
        )
    return Validated(good=good, bad=bad_rows.reset_index(drop=True), report=report)
