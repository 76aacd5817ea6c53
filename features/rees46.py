"""Adapter for REES46 / Open CDP event logs ("eCommerce behavior data from multi category store").

A REES46 file is one CSV with the columns ``event_time, event_type, product_id, category_id,
category_code, brand, price, user_id, user_session`` and the event types ``view``, ``cart``,
``remove_from_cart`` and ``purchase``. This module turns such a file into the project's four tables
(``events``, ``orders``, ``email_events``, ``customers``; see :mod:`features.schema`) without losing
a row:

* every line is either loaded or quarantined with its original values, its source row and the
  reason. A line with the wrong number of fields (typically the last line of a file cut mid-row) is
  caught while reading and reported as ``truncated or malformed line: N fields, expected 9``; the
  other rows are checked by :func:`features.validate.validate` against :data:`REES46_RAW`;
* several ``purchase`` rows of one session are ONE order, placed at the session's first purchase;
* a file is a contiguous slice of a longer log, so the sessions at its edges are cut: they are kept,
  but listed (see :func:`edge_sessions`) so that later steps can treat them with care.

The core is pure functions on DataFrames (:func:`convert` and the ``to_*`` helpers); reading and
writing live at the edges (:func:`read_rees46_csv`, :func:`ingest_rees46`). Source rows are numbered
as :func:`features.validate.validate` numbers them: 1 is the first data row after the header (blank
lines are not rows).
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from pandas.api.extensions import ExtensionArray

from features.io import Dataset, empty_table, write_atomic_csv, write_dataset
from features.schema import (
    CUSTOMERS,
    DEVICES,
    EMAIL_EVENTS,
    EVENT_TYPES,
    ORDERS,
    TRAFFIC_SOURCES,
    Column,
    TableSchema,
)
from features.validate import TooManyBadRows, validate

RAW_COLUMNS: tuple[str, ...] = (
    "event_time",
    "event_type",
    "product_id",
    "category_id",
    "category_code",
    "brand",
    "price",
    "user_id",
    "user_session",
)
"""The columns of a REES46 file, in file order."""

REES46_EVENT_TYPES: tuple[str, ...] = ("view", "cart", "remove_from_cart", "purchase")

EVENT_TYPE_MAP: dict[str, str] = {
    "view": "view_item",
    "cart": "add_to_cart",
    "remove_from_cart": "remove_from_cart",
    "purchase": "purchase",
}
"""REES46 event type -> GA4 event name used by the ``events`` table."""

DEFAULT_EDGE_MINUTES = 30.0
"""A session is cut at an edge when it starts (ends) this close to the file's first (last) event."""

MALFORMED_REASON = "truncated or malformed line"
"""Label (and reason prefix) of a line whose field count differs from the header's."""

QUARANTINE_NAME = "rees46.csv"
EDGE_SESSIONS_NAME = "edge_sessions.csv"

REES46_RAW = TableSchema(
    name="rees46",
    description="Raw REES46 / Open CDP event rows, one product event per row.",
    columns=(
        Column("event_time", "time", False,
               "When the event happened, e.g. '2019-10-01 00:00:00 UTC'."),
        Column("event_type", "category", False, "view, cart, remove_from_cart or purchase.",
               allowed=REES46_EVENT_TYPES),
        Column("product_id", "string", False, "Product of the event."),
        Column("category_id", "string", True, "Numeric category identifier (kept as text)."),
        Column("category_code", "string", True, "Category path, e.g. 'electronics.smartphone'."),
        Column("brand", "string", True, "Brand, lower case."),
        Column("price", "float", False, "Unit price.", min_value=0.0),
        Column("user_id", "string", False, "Permanent user identifier."),
        Column("user_session", "string", False, "Session identifier (a UUID)."),
    ),
)
"""Schema of a raw REES46 row; rows breaking it are quarantined."""


# ----------------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class MalformedLine:
    """A line that could not be split into the header's number of fields."""

    source_row: int
    text: str
    n_fields: int
    expected: int

    @property
    def reason(self) -> str:
        return f"{MALFORMED_REASON}: {self.n_fields} fields, expected {self.expected}"


@dataclass
class RawFile:
    """The rows of a REES46 file as text, the source row of each, and the lines that did not parse.
    """

    rows: pd.DataFrame
    """Every well-formed row, all values as text (empty string = missing)."""
    source_rows: np.ndarray
    """Source row number (1 = first data row) of each entry of ``rows``."""
    malformed: list[MalformedLine] = field(default_factory=list)
    ends_with_newline: bool = True


def split_line(text: str) -> list[str]:
    """Split one CSV line into fields with CSV quoting rules (a quoted field may hold commas)."""
    return next(csv.reader([text]), [])


def _header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        first = fh.readline()
    if not first.strip():
        raise ValueError(f"{path}: empty file; expected a header {','.join(RAW_COLUMNS)}")
    return [name.strip() for name in split_line(first)]


def _read_arrow(
    path: Path, names: list[str], use_threads: bool
) -> tuple[pa.Table, list[pacsv.InvalidRow]]:
    invalid: list[pacsv.InvalidRow] = []

    def keep_aside(row: pacsv.InvalidRow) -> str:
        invalid.append(row)
        return "skip"

    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=use_threads),
            parse_options=pacsv.ParseOptions(invalid_row_handler=keep_aside),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in names}, strings_can_be_null=False
            ),
        )
    except pa.ArrowInvalid as exc:
        raise ValueError(f"{path}: cannot read as CSV: {exc}") from exc
    return table, invalid


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as fh:
        fh.seek(0, 2)
        if fh.tell() == 0:
            return True
        fh.seek(-1, 2)
        return fh.read(1) in (b"\n", b"\r")


def read_rees46_csv(path: Path) -> RawFile:
    """Read a REES46 CSV, every value as text, setting aside (not dropping) malformed lines.

    A malformed line is one whose number of fields differs from the header's. The file is parsed by
    Arrow's C++ reader (fast, multi-threaded). Only when some line is malformed is it read a second
    time on one thread, because only then does Arrow know each bad line's row number.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"REES46 file {path} does not exist")
    names = _header(path)
    table, invalid = _read_arrow(path, names, use_threads=True)
    if invalid and any(row.number is None for row in invalid):
        table, invalid = _read_arrow(path, names, use_threads=False)
    malformed = [
        MalformedLine(
            source_row=int(row.number) - 1,  # Arrow counts the header as row 1
            text=row.text,
            n_fields=len(split_line(row.text)),
            expected=int(row.expected_columns),
        )
        for row in invalid
    ]
    rows = table.to_pandas()
    total = len(rows) + len(malformed)
    bad_numbers = np.array([m.source_row for m in malformed], dtype=np.int64)
    source_rows = np.setdiff1d(np.arange(1, total + 1, dtype=np.int64), bad_numbers)
    return RawFile(rows=rows, source_rows=source_rows, malformed=malformed,
                   ends_with_newline=_ends_with_newline(path))


# --------------------------------------------------------------------------------- pure core


def malformed_frame(malformed: list[MalformedLine], columns: list[str]) -> pd.DataFrame:
    """Quarantine rows for malformed lines: the fields that are there, in order, and the line."""
    records = []
    for line in malformed:
        fields = split_line(line.text)
        record: dict[str, object] = {"source_row": line.source_row}
        record.update(dict(zip(columns, fields, strict=False)))
        record["reason"] = line.reason
        record["raw_line"] = line.text
        records.append(record)
    out_cols = ["source_row", *columns, "reason", "raw_line"]
    return pd.DataFrame.from_records(records, columns=out_cols)


def quarantine_frame(
    bad: pd.DataFrame, source_rows: np.ndarray, malformed: list[MalformedLine], columns: list[str]
) -> pd.DataFrame:
    """All bad rows in source order: the rows rejected by validation (``source_row`` mapped back to
    the file's numbering) and the malformed lines.

    Columns: ``source_row``, the file's columns (original text), ``reason`` and ``raw_line`` (the
    line as read, for malformed lines only).
    """
    out_cols = ["source_row", *columns, "reason", "raw_line"]
    validated = bad.copy()
    if len(validated):
        validated["source_row"] = source_rows[validated["source_row"].to_numpy(dtype=np.int64) - 1]
    validated["raw_line"] = pd.Series(pd.NA, index=validated.index, dtype="string")
    parts = [p.reindex(columns=out_cols) for p in (validated, malformed_frame(malformed, columns))
             if len(p)]
    if not parts:
        return pd.DataFrame({c: pd.Series([], dtype="string") for c in out_cols})
    both = pd.concat(parts, ignore_index=True)
    both["source_row"] = both["source_row"].astype("int64")
    return both.sort_values("source_row", kind="stable").reset_index(drop=True)


def to_events(good: pd.DataFrame) -> pd.DataFrame:
    """The ``events`` table from validated REES46 rows (file order kept).

    ``category`` is the category path when there is one, else the numeric ``category_id``; each row
    is one unit (``quantity`` 1); device and traffic source are unknown; checkout columns are null.
    """
    n = len(good)
    event_type = (
        good["event_type"]
        .astype(pd.CategoricalDtype(list(REES46_EVENT_TYPES)))
        .cat.rename_categories(EVENT_TYPE_MAP)
        .cat.set_categories(list(EVENT_TYPES))
    )
    category = good["category_code"].astype("string")
    category = category.fillna(good["category_id"].astype("string"))

    def constant(value: str, categories: tuple[str, ...]) -> ExtensionArray:
        codes = np.full(n, categories.index(value), dtype=np.int8)
        return pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(list(categories)))

    columns: dict[str, object] = {
        "event_time": good["event_time"].astype("datetime64[us, UTC]").array,
        "session_id": good["user_session"].astype("string").array,
        "customer_id": good["user_id"].astype("string").array,
        "event_type": event_type.array,
        "product_id": good["product_id"].astype("string").array,
        "category": category.array,
        "price": good["price"].to_numpy(dtype=np.float64),
        "quantity": pd.array(np.ones(n, dtype=np.int64), dtype="Int64"),
        "device": constant("unknown", DEVICES),
        "traffic_source": constant("unknown", TRAFFIC_SOURCES),
        "shipping_fee": np.full(n, np.nan),
        "free_shipping_threshold": np.full(n, np.nan),
        "account_required": pd.arrays.BooleanArray(
            np.zeros(n, dtype=bool), np.ones(n, dtype=bool)
        ),
    }
    return pd.DataFrame(columns)


def order_id_for(session_id: pd.Series) -> pd.Series:
    """The order identifier of a session's purchases: ``rees46-`` + the session id."""
    return "rees46-" + session_id.astype("string")


def to_orders(events: pd.DataFrame) -> pd.DataFrame:
    """The ``orders`` table: all purchase events of one session are ONE order.

    ``order_time`` is the session's FIRST purchase time: REES46 logs one purchase row per product of
    a checkout, seconds to minutes apart, and the order is placed with its first line (a later time
    would let the order look as if it came after the cart was already abandoned). ``total_value`` is
    the sum of price x quantity of the purchase rows; ``customer_id`` is the user of the first
    purchase row (a session very rarely shows two users).
    """
    bought = events.loc[events["event_type"] == "purchase"]
    if bought.empty:
        return empty_table(ORDERS)
    bought = bought.assign(value=bought["price"] * bought["quantity"].astype("float64"))
    bought = bought.sort_values(["session_id", "event_time"], kind="stable")
    grouped = bought.groupby("session_id", sort=False, observed=True)
    orders = pd.DataFrame(
        {
            "customer_id": grouped["customer_id"].first(),
            "order_time": grouped["event_time"].min(),
            "total_value": grouped["value"].sum(),
        }
    ).reset_index()
    orders.insert(0, "order_id", order_id_for(orders["session_id"]))
    orders = orders[["order_id", "customer_id", "order_time", "total_value", "session_id"]]
    orders = orders.sort_values(["order_time", "order_id"], kind="stable").reset_index(drop=True)
    return orders.astype(
        {"order_id": "string", "customer_id": "string", "session_id": "string",
         "order_time": "datetime64[us, UTC]", "total_value": "float64"}
    )


def to_customers(events: pd.DataFrame) -> pd.DataFrame:
    """The ``customers`` table: one row per user, ``created_at`` = first time seen in the file.

    A REES46 file says nothing about accounts, so ``created_at`` is only an upper bound (the account
    may be older), ``city`` is null and ``newsletter_subscriber`` is false.
    """
    known = events.loc[events["customer_id"].notna()]
    if known.empty:
        return empty_table(CUSTOMERS)
    first = known.groupby("customer_id", sort=False)["event_time"].min()
    customers = pd.DataFrame(
        {
            "customer_id": first.index.astype("string"),
            "created_at": first.to_numpy(),
        }
    )
    customers["created_at"] = customers["created_at"].astype("datetime64[us, UTC]")
    customers["city"] = pd.Series(pd.NA, index=customers.index, dtype="string")
    customers["newsletter_subscriber"] = pd.array([False] * len(customers), dtype="boolean")
    customers = customers.sort_values(["created_at", "customer_id"], kind="stable")
    return customers.reset_index(drop=True)


def edge_sessions(events: pd.DataFrame, minutes: float = DEFAULT_EDGE_MINUTES) -> pd.DataFrame:
    """Sessions the file's edges may cut: columns ``session_id`` and ``edge`` (start, end or both).

    The file is a contiguous slice of a longer log. A session is cut at the ``start`` when its
    first event is within ``minutes`` of the file's first event (it may have begun before the
    file), at the ``end`` when its last event is within ``minutes`` of the file's last event (it
    may go on after the file), and ``both`` when both hold. Other sessions are not listed.
    """
    if minutes < 0:
        raise ValueError(f"edge minutes must be >= 0, got {minutes}")
    if events.empty:
        return pd.DataFrame({"session_id": pd.Series([], dtype="string"),
                             "edge": pd.Series([], dtype="string")})
    margin = pd.Timedelta(minutes=minutes)
    span = events.groupby("session_id", sort=False)["event_time"].agg(["min", "max"])
    at_start = (span["min"] <= events["event_time"].min() + margin).to_numpy()
    at_end = (span["max"] >= events["event_time"].max() - margin).to_numpy()
    edge = np.select([at_start & at_end, at_start, at_end], ["both", "start", "end"], default="")
    out = pd.DataFrame({"session_id": span.index.astype("string"), "edge": edge})
    out = out.loc[out["edge"] != ""]
    out["edge"] = out["edge"].astype("string")
    return out.sort_values(["edge", "session_id"], kind="stable").reset_index(drop=True)


@dataclass
class IngestSummary:
    """What one REES46 load found and made; :meth:`as_dict` is the ``--json`` output."""

    source: str
    rows_read: int
    rows_ok: int
    rows_bad: int
    bad_reasons: dict[str, int]
    events_by_type: dict[str, int]
    sessions: int
    sessions_with_cart: int
    sessions_with_several_users: int
    orders: int
    customers: int
    edge_sessions: dict[str, int]
    edge_minutes: float
    first_event_time: str | None
    last_event_time: str | None
    warnings: list[str] = field(default_factory=list)
    paths: dict[str, str] = field(default_factory=dict)

    @property
    def bad_share(self) -> float:
        return self.rows_bad / self.rows_read if self.rows_read else 0.0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class Conversion:
    """The result of converting one REES46 file, before anything is written."""

    dataset: Dataset
    quarantine: pd.DataFrame
    edges: pd.DataFrame
    summary: IngestSummary


def summarise(
    source: str, raw: RawFile, rows_ok: int, reasons: Counter[str], events: pd.DataFrame,
    orders: pd.DataFrame, customers: pd.DataFrame, edges: pd.DataFrame, edge_minutes: float,
) -> IngestSummary:
    """Count what was read, kept, quarantined and built."""
    rows_read = len(raw.rows) + len(raw.malformed)
    by_type = events["event_type"].value_counts(sort=False)
    warnings = []
    last_line_malformed = any(m.source_row == rows_read for m in raw.malformed)
    if not raw.ends_with_newline and not last_line_malformed:
        warnings.append(
            f"the file does not end with a newline: its last line (row {rows_read}) may be cut "
            "short even though it has every field"
        )
    edge_counts = edges["edge"].value_counts()
    users_per_session = events.groupby("session_id", sort=False)["customer_id"].nunique()
    return IngestSummary(
        source=source,
        rows_read=rows_read,
        rows_ok=rows_ok,
        rows_bad=rows_read - rows_ok,
        bad_reasons=dict(reasons.most_common()),
        events_by_type={str(k): int(v) for k, v in by_type.items() if v},
        sessions=int(events["session_id"].nunique()),
        sessions_with_cart=int(
            events.loc[events["event_type"] == "add_to_cart", "session_id"].nunique()
        ),
        sessions_with_several_users=int((users_per_session > 1).sum()),
        orders=len(orders),
        customers=len(customers),
        edge_sessions={
            "total": len(edges),
            **{k: int(edge_counts.get(k, 0)) for k in ("start", "end", "both")},
        },
        edge_minutes=edge_minutes,
        first_event_time=None if events.empty else str(events["event_time"].min()),
        last_event_time=None if events.empty else str(events["event_time"].max()),
        warnings=warnings,
    )


def convert(raw: RawFile, source: str = "<memory>",
            edge_minutes: float = DEFAULT_EDGE_MINUTES) -> Conversion:
    """Validate the raw rows; build the four tables, the quarantine and the edge sessions (pure)."""
    checked = validate(raw.rows, REES46_RAW, source=source, max_bad_share=1.0)
    reasons: Counter[str] = Counter(checked.report.reasons)
    if raw.malformed:
        reasons[MALFORMED_REASON] += len(raw.malformed)
    columns = [str(c) for c in raw.rows.columns]
    quarantine = quarantine_frame(checked.bad, raw.source_rows, raw.malformed, columns)
    events = to_events(checked.good)
    orders = to_orders(events)
    customers = to_customers(events)
    edges = edge_sessions(events, edge_minutes)
    dataset = Dataset(events=events, orders=orders, email_events=empty_table(EMAIL_EVENTS),
                      customers=customers, reports=[checked.report])
    summary = summarise(source, raw, checked.report.rows_ok, reasons, events, orders, customers,
                        edges, edge_minutes)
    return Conversion(dataset=dataset, quarantine=quarantine, edges=edges, summary=summary)


def check_bad_share(summary: IngestSummary, limit: float, quarantine: Path) -> None:
    """Raise :class:`TooManyBadRows` when the share of bad rows (malformed lines included) passes
    ``limit``."""
    if summary.bad_share <= limit:
        return
    top = "; ".join(f"{k} ({v} rows)" for k, v in list(summary.bad_reasons.items())[:5])
    raise TooManyBadRows(
        f"{summary.source}: {summary.rows_bad} of {summary.rows_read} REES46 rows are bad "
        f"({summary.bad_share:.2%} > limit {limit:.2%}); no table was written. Most common: {top}. "
        f"The bad rows are in {quarantine}"
    )


# ---------------------------------------------------------------------------------- I/O edge


def ingest_rees46(
    src: Path, out_dir: Path, max_bad_share: float, edge_minutes: float = DEFAULT_EDGE_MINUTES
) -> IngestSummary:
    """Convert the REES46 file ``src`` into the four tables in ``out_dir``; return the summary.

    Writes ``events``, ``orders``, ``email_events`` (empty) and ``customers`` as Parquet, the bad
    rows to ``out_dir/quarantine/rees46.csv`` (always written; only a header when there are none)
    and the cut sessions to ``out_dir/edge_sessions.csv``. When the share of bad rows passes
    ``max_bad_share`` only the quarantine is written and :class:`TooManyBadRows` is raised.
    """
    src, out_dir = Path(src), Path(out_dir)
    raw = read_rees46_csv(src)
    result = convert(raw, source=str(src), edge_minutes=edge_minutes)
    quarantine_path = out_dir / "quarantine" / QUARANTINE_NAME
    write_atomic_csv(result.quarantine, quarantine_path)
    check_bad_share(result.summary, max_bad_share, quarantine_path)
    written = write_dataset(result.dataset, out_dir)
    edges_path = out_dir / EDGE_SESSIONS_NAME
    write_atomic_csv(result.edges, edges_path)
    summary = result.summary
    summary.paths = {
        **{p.stem: str(p) for p in written},
        "edge_sessions": str(edges_path),
        "quarantine": str(quarantine_path),
    }
    return summary
