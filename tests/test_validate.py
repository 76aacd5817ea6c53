"""Loading validates every table; bad rows are quarantined with their reason, never dropped silently."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.io import load_dataset
from features.schema import EVENTS
from features.validate import SchemaError, TooManyBadRows, validate

HEADER = "event_time,session_id,customer_id,event_type,product_id,category,price\n"
GOOD = "2026-01-01T10:00:00Z,s1,c1,view_item,p1,shoes,10.5\n"


def _write_shop(folder: Path, event_lines: list[str], fmt: str = "csv") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "events.csv").write_text(HEADER + "".join(event_lines))
    (folder / "orders.csv").write_text(
        "order_id,customer_id,order_time,total_value\no1,c1,2025-12-01 10:00:00 UTC,20\n")
    (folder / "email_events.csv").write_text("customer_id,event_time,type\nc1,2025-12-02,open\n")
    (folder / "customers.csv").write_text(
        "customer_id,created_at,city,newsletter_subscriber\nc1,2025-01-01,Berlin,yes\n")
    if fmt == "parquet":
        for name in ("events", "orders", "email_events", "customers"):
            frame = pd.read_csv(folder / f"{name}.csv", dtype=str)
            frame.to_parquet(folder / f"{name}.parquet")
            (folder / f"{name}.csv").unlink()


BAD_ROWS = {
    "2026-01-01T10:00:01Z,s1,c1,teleport,p1,shoes,1\n": "event_type unknown: 'teleport'",
    "2026-01-01T10:00:02Z,s1,c1,view_item,p1,shoes,-3\n": "price below 0: '-3'",
    "yesterday,s1,c1,view_item,p1,shoes,1\n": "event_time not an ISO 8601 time: 'yesterday'",
    "2026-01-01T10:00:03Z,,c1,view_item,p1,shoes,1\n": "session_id missing",
    "2026-01-01T10:00:04Z,s1,c1,view_item,p1,shoes,cheap\n": "price not a finite number: 'cheap'",
}


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_each_bad_row_is_quarantined_with_its_reason(tmp_path: Path, fmt: str) -> None:
    lines = [GOOD] * 100 + list(BAD_ROWS)
    _write_shop(tmp_path, lines, fmt)
    ds = load_dataset(tmp_path, max_bad_share=0.10)
    assert len(ds.events) == 100
    report = {r.table: r for r in ds.reports}["events"]
    assert (report.rows_read, report.rows_ok, report.rows_bad) == (105, 100, 5)
    quarantined = pd.read_csv(tmp_path / "quarantine" / "events.csv", dtype=str)
    assert list(quarantined["source_row"].astype(int)) == [101, 102, 103, 104, 105]
    for (_, row), expected in zip(quarantined.iterrows(), BAD_ROWS.values(), strict=True):
        assert expected in row["reason"]
    # the original values are kept as written
    assert quarantined.loc[1, "price"] == "-3" and quarantined.loc[2, "event_time"] == "yesterday"


def test_columns_parsed_on_threads_give_the_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from features import validate as validate_module

    text = HEADER + "".join([GOOD] * 50 + list(BAD_ROWS) + [GOOD.replace("10.5", "7")] * 50)
    raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""])
    serial = validate(raw, EVENTS)
    monkeypatch.setattr(validate_module, "PARALLEL_ROWS", 1)
    threaded = validate(raw, EVENTS)
    pd.testing.assert_frame_equal(serial.good, threaded.good)
    pd.testing.assert_frame_equal(serial.bad, threaded.bad)
    assert serial.report == threaded.report and serial.report.rows_bad == len(BAD_ROWS)


def test_several_problems_in_one_row_are_all_named() -> None:
    raw = pd.DataFrame([{"event_time": "x", "session_id": "", "customer_id": None,
                         "event_type": "jump", "product_id": None, "category": None, "price": "-1"}])
    bad = validate(raw, EVENTS).bad
    reason = bad.loc[0, "reason"]
    for part in ("event_time not", "session_id missing", "event_type unknown", "price below 0"):
        assert part in str(reason)


def test_too_many_bad_rows_fails_with_a_clear_message(tmp_path: Path) -> None:
    _write_shop(tmp_path, [GOOD] * 10 + list(BAD_ROWS))
    with pytest.raises(TooManyBadRows, match=r"5 of 15 rows of table 'events' are bad"):
        load_dataset(tmp_path, max_bad_share=0.05)


def test_missing_required_column_is_a_schema_error(tmp_path: Path) -> None:
    _write_shop(tmp_path, [GOOD])
    (tmp_path / "events.csv").write_text("event_time,customer_id\n2026-01-01,c1\n")
    with pytest.raises(SchemaError, match=r"lacks required column\(s\) \['session_id'"):
        load_dataset(tmp_path)


def test_missing_table_is_named(tmp_path: Path) -> None:
    _write_shop(tmp_path, [GOOD])
    (tmp_path / "orders.csv").unlink()
    with pytest.raises(FileNotFoundError, match="table 'orders' not found"):
        load_dataset(tmp_path)


def test_types_after_loading(tmp_path: Path) -> None:
    _write_shop(tmp_path, [GOOD])
    ds = load_dataset(tmp_path)
    assert str(ds.events["event_time"].dtype) == "datetime64[us, UTC]"
    assert ds.events["device"].iloc[0] == "unknown"  # optional column filled with its default
    assert bool(ds.customers["newsletter_subscriber"].iloc[0]) is True
    assert ds.orders["order_time"].iloc[0] == pd.Timestamp("2025-12-01 10:00", tz="UTC")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_products_and_categories_load_as_text_categories_from_either_format(tmp_path: Path, fmt: str,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [GOOD, "2026-01-01T10:00:01Z,s1,c1,view_item, p2 ,shoes,3\n", "2026-01-01T10:00:02Z,s1,c1,page_view,,,\n",
             "2026-01-01T10:00:03Z,s1,c1,view_item,p1,bags,4\n"]
    _write_shop(tmp_path, lines, fmt)
    import pyarrow.parquet as pq

    asked: list[object] = []
    real = pq.read_table

    def read_and_note(*args: object, **kwargs: object) -> object:
        asked.append(kwargs.get("read_dictionary"))
        return real(*args, **kwargs)

    monkeypatch.setattr(pq, "read_table", read_and_note)
    events = load_dataset(tmp_path).events
    for name, want in (("product_id", ["p1", "p2", None, "p1"]), ("category", ["shoes", "shoes", None, "bags"])):
        column = events[name]
        assert isinstance(column.dtype, pd.CategoricalDtype), (name, column.dtype)
        assert str(column.cat.categories.dtype) == "string"
        assert [None if pd.isna(v) else v for v in column] == want  # stripped; the missing one kept missing
    # the events table asks Arrow for categories (no other table has such a column); CSV has no Parquet read
    assert asked == ([["product_id", "category"], [], [], []] if fmt == "parquet" else [])


def test_features_command_reports_quarantine_and_writes_json(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from cartrisk.cli import app

    lines = [
        "2026-01-01T10:00:00Z,s1,c1,view_item,p1,shoes,10\n",
        "2026-01-01T10:00:05Z,s1,c1,add_to_cart,p1,shoes,10\n",
        "2026-01-01T10:00:09Z,s1,c1,begin_checkout,,,\n",
        "2026-01-03T10:00:00Z,s2,,add_to_cart,p2,bags,40\n",
    ] * 10 + ["2026-01-01T10:00:01Z,s1,c1,teleport,p1,shoes,1\n"]
    _write_shop(tmp_path / "d", lines)
    out = tmp_path / "snaps.parquet"
    result = CliRunner().invoke(app, ["features", "--data", str(tmp_path / "d"), "--out", str(out),
                                      "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["quarantined_rows"] == {"events": 1}
    assert summary["carts"] == 2 and summary["snapshots"] == len(pd.read_parquet(out))


def test_typed_columns_are_checked_like_text() -> None:
    """Parquet gives categories, whole numbers and text as typed columns; they are checked per category and
    without parsing, and flag the same rows as the text would."""
    rows = [
        ("view_item", 1, "p1", "good"),
        ("teleport", 1, "p1", "event_type unknown: 'teleport'"),
        ("add_to_cart", -2, "p1", "quantity below 0: '-2'"),
        ("add_to_cart", None, "   ", "good"),  # blank text is missing, and product_id may be missing
        ("view_item", 3, " p2 ", "good"),
    ]
    raw = pd.DataFrame({
        "event_time": pd.to_datetime(["2026-01-01T10:00:00Z"] * len(rows), utc=True),
        "session_id": pd.array(["s1"] * len(rows), dtype="string"),
        "customer_id": pd.array(["c1"] * len(rows), dtype="string"),
        "event_type": pd.Categorical([r[0] for r in rows]),
        "quantity": pd.array([r[1] for r in rows], dtype="Int64"),
        "product_id": pd.array([r[2] for r in rows], dtype="string"),
        "category": pd.array(["shoes"] * len(rows), dtype="string"),
        "price": [9.5] * len(rows),
    })
    found = validate(raw, EVENTS)
    reasons = list(found.bad["reason"])
    assert [r.split(" (allowed")[0] for r in reasons] == [r[3] for r in rows if r[3] != "good"]
    assert list(found.bad["source_row"]) == [2, 3]
    assert found.good["product_id"].isna().tolist() == [False, True, False]
    assert found.good["product_id"].iloc[2] == "p2"
    assert found.good["quantity"].tolist()[0] == 1 and str(found.good["quantity"].dtype) == "Int64"
    assert list(found.good["event_type"].astype(str)) == ["view_item", "add_to_cart", "view_item"]


@pytest.mark.parametrize("values", [
    ["s1", "s2", None, "s3"],  # plain: taken as it is
    ["s1", " s2", None],  # leading space
    ["s1", "s2\t"],  # trailing tab
    ["s1", ""],  # blank
    ["s1", "s2\u00a0"],  # ends in Unicode whitespace (non-breaking space)
    ["s1", "\u00e9t\u00e9"],  # starts and ends in multi-byte letters: stripped the slow way, unchanged
    [None, None],  # nothing but missing values
    ["", ""],  # nothing but blanks
])
def test_text_is_stripped_exactly_as_before_whatever_the_shortcut(values: list[str | None]) -> None:
    from features.validate import _coerce

    column = EVENTS.columns[[c.name for c in EVENTS.columns].index("session_id")]
    for series in (pd.Series(values, dtype="string"), pd.Series(values, dtype="string").iloc[1:]):
        typed, bad, _ = _coerce(column, series)
        expected = series.str.strip().mask(series.str.strip() == "")
        assert typed.tolist() == expected.tolist() and not bad.any()
        assert str(typed.dtype) == "string"


def test_plain_text_check_reads_first_and_last_bytes() -> None:
    import numpy as np

    from features.scan import plain_text

    def check(*texts: str, valid: list[bool] | None = None) -> bool:
        data = "".join(texts).encode()
        offsets = np.cumsum([0] + [len(t.encode()) for t in texts])
        present = np.array(valid if valid is not None else [True] * len(texts), dtype=bool)
        return bool(plain_text(offsets.astype(np.int64), np.frombuffer(data, dtype=np.uint8), present))

    assert check("abc", "x", "a b")
    assert not check("abc", "x ")
    assert not check(" abc")
    assert not check("abc", "")
    assert not check("\u00e9")
    # missing values (their bytes, if any, are not read) are fine; present ones are still checked
    assert check("abc", "", "x", valid=[True, False, True])
    assert check("abc", " junk ", valid=[True, False])
    assert not check("abc", "", "x ", valid=[True, False, True])


def test_text_columns_with_missing_values_are_checked_in_place_and_stripped_when_needed() -> None:
    import pyarrow as pa

    from features.validate import _plain_arrow_text

    def column(*chunks: list[str | None]) -> pd.Series:
        arrays = [pa.array(c, pa.large_string()) for c in chunks]
        return pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array(arrays, pa.large_string())))

    assert _plain_arrow_text(column(["a", None, "b"], [None, None], ["c"]))
    assert not _plain_arrow_text(column(["a", None], [None, " b"]))
    assert not _plain_arrow_text(column(["a", None], ["", None]))
    sliced = pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([pa.array([" x", "a", None, "b"]).slice(1)])))
    assert _plain_arrow_text(sliced)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_an_unreadable_table_file_is_a_clear_error_not_a_traceback(tmp_path: Path, fmt: str) -> None:
    from typer.testing import CliRunner

    from cartrisk.cli import app
    from features.io import UnreadableFile

    _write_shop(tmp_path / "d", [GOOD], fmt)
    broken = tmp_path / "d" / f"events.{fmt}"
    broken.write_bytes(broken.read_bytes()[:40] if fmt == "parquet" else b"\xff\xfe\x00bad\n\xff")
    with pytest.raises(UnreadableFile, match=f"events.{fmt}: cannot be read"):
        load_dataset(tmp_path / "d", quarantine_dir=None)
    result = CliRunner().invoke(app, ["features", "--data", str(tmp_path / "d"), "--out", str(tmp_path / "s.pq")])
    assert result.exit_code == 2 and f"events.{fmt}: cannot be read" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_columns_that_already_have_their_type_are_still_checked() -> None:
    """The shortcuts for typed columns (Parquet) keep every check: infinities are bad, times stay UTC
    microseconds, and categorical text becomes text categories (stripped where needed)."""
    import numpy as np

    from features.schema import TABLES
    from features.validate import _coerce

    columns = {c.name: c for c in TABLES["events"].columns}
    price = pd.Series([1.5, np.inf, np.nan, -np.inf])
    typed, bad, _ = _coerce(columns["price"], price)
    assert bad.tolist() == [False, True, False, True]
    assert typed.isna().tolist() == [False, True, True, True]
    fine, none_bad, _ = _coerce(columns["price"], pd.Series([1.5, 2.0]))
    assert not none_bad.any() and fine.tolist() == [1.5, 2.0]

    times = pd.Series(pd.to_datetime(["2026-01-01 10:00", "2026-01-02 00:00"], utc=True)).astype("datetime64[us, UTC]")
    typed, bad, _ = _coerce(columns["event_time"], times)
    assert str(typed.dtype) == "datetime64[us, UTC]" and not bad.any() and typed.equals(times)

    numbers = pd.Series(pd.Categorical([1, 2, None, 1]))
    typed, bad, _ = _coerce(columns["session_id"], numbers)
    assert typed.cat.categories.dtype == "string" and typed.astype("string").tolist() == ["1", "2", pd.NA, "1"]
    padded = pd.Series(pd.Categorical([" a", "b ", "b"]))
    typed, _, _ = _coerce(columns["session_id"], padded)
    assert typed.astype("string").tolist() == ["a", "b", "b"]


def test_tables_are_read_with_jemalloc_and_the_default_pool_is_restored(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import pyarrow as pa

    from features.io import read_raw, reading_pool

    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    before = pa.default_memory_pool().backend_name
    pd.DataFrame({"a": ["x", "y"]}).to_parquet(tmp_path / "t.parquet")
    seen: list[str] = []
    real = pd.read_parquet

    def read_and_note(*args: object, **kwargs: object) -> pd.DataFrame:
        seen.append(pa.default_memory_pool().backend_name)
        return real(*args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(pd, "read_parquet", read_and_note)
    assert read_raw(tmp_path / "t.parquet")["a"].tolist() == ["x", "y"]
    assert seen == ["jemalloc"]  # this machine's pyarrow has jemalloc: CI reads as the benchmark does
    assert pa.default_memory_pool().backend_name == before
    with pytest.raises(RuntimeError), reading_pool():
        raise RuntimeError("a failed read")
    assert pa.default_memory_pool().backend_name == before  # restored after a failure too
    monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", "system")  # the user's choice is left alone
    with reading_pool() as backend:
        assert backend == before == pa.default_memory_pool().backend_name
