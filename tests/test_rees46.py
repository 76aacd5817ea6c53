"""Tests of the REES46 adapter (features.rees46) and of ``cartrisk ingest rees46``.

The shared REES46 slice is read in place (never copied into the repository); expected numbers are
recomputed here with the plain ``csv`` module so that the adapter is checked against an independent
count, not against itself.
"""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cartrisk.cli import app
from features.io import load_dataset
from features.rees46 import (
    EVENT_TYPE_MAP,
    convert,
    edge_sessions,
    ingest_rees46,
    read_rees46_csv,
)
from features.validate import TooManyBadRows

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "rees46" / "2019-Oct.part1.csv"
HEADER = "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session"

needs_shared = pytest.mark.skipif(not SHARED.is_file(), reason=f"shared data {SHARED} not found")


# ------------------------------------------------------------------------------------ helpers


def plain_rows(path: Path) -> list[list[str]]:
    """Every data row of a CSV as read by the csv module (header dropped, blank lines skipped)."""
    with path.open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.reader(fh) if r]
    return rows[1:]


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S UTC")


def write_csv(tmp_path: Path, lines: list[str], name: str = "src.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def row(time: str, kind: str, session: str, price: str = "10.00", user: str = "u1",
        product: str = "p1", category_id: str = "111", code: str = "electronics.phone") -> str:
    return f"2020-01-01 {time} UTC,{kind},{product},{category_id},{code},acme,{price},{user},{session}"


@pytest.fixture(scope="module")
def shared_out(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    out = tmp_path_factory.mktemp("rees46_shared")
    summary = ingest_rees46(SHARED, out, max_bad_share=0.05)
    return out, summary.as_dict()


# ------------------------------------------------------------------------------------ shared file


@needs_shared
def test_shared_file_counts_match_an_independent_count(
    shared_out: tuple[Path, dict[str, object]],
) -> None:
    out, summary = shared_out
    rows = plain_rows(SHARED)
    whole = [r for r in rows if len(r) == 9]
    cut = [r for r in rows if len(r) != 9]
    raw_types = Counter(r[1] for r in whole)
    # the slice is pinned: if the shared file changes, these numbers tell how
    assert len(rows) == 8721
    assert raw_types == {"view": 8535, "cart": 83, "purchase": 103}

    assert summary["rows_read"] == len(rows)
    assert summary["rows_bad"] == len(cut)
    assert summary["rows_ok"] == len(whole)
    assert summary["events_by_type"] == {EVENT_TYPE_MAP[k]: v for k, v in raw_types.items()}
    assert summary["sessions"] == len({r[8] for r in whole})
    assert summary["sessions_with_cart"] == len({r[8] for r in whole if r[1] == "cart"})
    assert summary["customers"] == len({r[7] for r in whole})

    ds = load_dataset(out)
    assert [r.rows_bad for r in ds.reports] == [0, 0, 0, 0]
    assert len(ds.events) == len(whole)
    assert ds.email_events.empty
    assert list(ds.email_events.columns) == ["customer_id", "event_time", "type"]


@needs_shared
def test_shared_file_has_no_cut_line_so_nothing_is_quarantined(
    shared_out: tuple[Path, dict[str, object]],
) -> None:
    # The brief said the shared file ends mid-row; it does not (every line has 9 fields and the
    # file ends with a newline). Check that fact here so that the day it changes we notice.
    out, summary = shared_out
    assert SHARED.read_bytes().endswith(b"\n")
    assert all(len(r) == 9 for r in plain_rows(SHARED))
    quarantine = pd.read_csv(out / "quarantine" / "rees46.csv", dtype=str)
    assert quarantine.empty
    assert summary["warnings"] == []


@needs_shared
def test_shared_file_purchases_of_one_session_are_one_order(
    shared_out: tuple[Path, dict[str, object]],
) -> None:
    out, summary = shared_out
    totals: dict[str, float] = defaultdict(float)
    first: dict[str, datetime] = {}
    lines: Counter[str] = Counter()
    for r in plain_rows(SHARED):
        if len(r) == 9 and r[1] == "purchase":
            totals[r[8]] += float(r[6])
            lines[r[8]] += 1
            t = parse_time(r[0])
            first[r[8]] = min(first.get(r[8], t), t)
    assert sum(lines.values()) == 103
    assert max(lines.values()) == 3  # some sessions really have several purchase rows
    orders = pd.read_parquet(out / "orders.parquet")
    assert summary["orders"] == len(orders) == len(totals) == 96
    assert orders["order_id"].is_unique
    got = orders.set_index("session_id")
    for session, total in totals.items():
        assert got.loc[session, "total_value"] == pytest.approx(total)
        assert got.loc[session, "order_time"] == pd.Timestamp(first[session], tz="UTC")


@needs_shared
def test_shared_file_edge_sessions(shared_out: tuple[Path, dict[str, object]]) -> None:
    out, summary = shared_out
    span: dict[str, list[datetime]] = {}
    for r in plain_rows(SHARED):
        if len(r) == 9:
            t = parse_time(r[0])
            lo, hi = span.get(r[8], [t, t])
            span[r[8]] = [min(lo, t), max(hi, t)]
    t0 = min(lo for lo, _ in span.values())
    t1 = max(hi for _, hi in span.values())
    margin = timedelta(minutes=30)
    expected = {}
    for session, (lo, hi) in span.items():
        start, end = lo <= t0 + margin, hi >= t1 - margin
        if start or end:
            expected[session] = "both" if start and end else ("start" if start else "end")
    edges = pd.read_csv(out / "edge_sessions.csv", dtype=str)
    assert dict(zip(edges["session_id"], edges["edge"], strict=True)) == expected
    counts = Counter(expected.values())
    assert summary["edge_sessions"] == {
        "total": len(expected), "start": counts["start"], "end": counts["end"],
        "both": counts["both"],
    }
    assert 0 < len(expected) < len(span)  # some but not all sessions are cut
    # edge sessions keep their events
    events = pd.read_parquet(out / "events.parquet")
    assert set(expected) <= set(events["session_id"])


@needs_shared
def test_truncated_last_line_is_quarantined_not_dropped(tmp_path: Path) -> None:
    data = SHARED.read_bytes()
    last_start = data.rstrip(b"\n").rfind(b"\n") + 1
    last_line = data[last_start:].rstrip(b"\n").decode()
    cut_text = last_line[: len(last_line) // 2]  # a file cut mid-row, no trailing newline
    src = tmp_path / "cut.csv"
    src.write_bytes(data[:last_start] + cut_text.encode())
    n_fields = len(next(csv.reader([cut_text])))
    assert 1 < n_fields < 9
    n_rows = len(plain_rows(SHARED))
    last_type = next(csv.reader([last_line]))[1]
    assert last_type == "view"

    out = tmp_path / "out"
    summary = ingest_rees46(src, out, max_bad_share=0.05)
    assert summary.rows_read == n_rows
    assert summary.rows_bad == 1
    assert summary.bad_reasons == {"truncated or malformed line": 1}
    assert summary.events_by_type["view_item"] == 8535 - 1
    assert summary.warnings == []  # the cut line is quarantined, no need to warn about it

    quarantine = pd.read_csv(out / "quarantine" / "rees46.csv", dtype=str, keep_default_na=False)
    assert len(quarantine) == 1
    bad = quarantine.iloc[0]
    assert int(bad["source_row"]) == n_rows
    assert bad["reason"] == f"truncated or malformed line: {n_fields} fields, expected 9"
    assert bad["raw_line"] == cut_text
    assert bad["event_time"] == last_line.split(",")[0]
    assert bad["event_type"] == "view"
    assert [r.rows_bad for r in load_dataset(out).reports] == [0, 0, 0, 0]


# ------------------------------------------------------------------------------------ small files


def test_each_bad_row_is_quarantined_with_its_reason(tmp_path: Path) -> None:
    src = write_csv(tmp_path, [
        row("10:00:00", "view", "s1"),                      # 1 ok
        row("10:00:01", "wishlist", "s1"),                  # 2 unknown event type
        row("10:00:02", "cart", "s1", price="-5.00"),       # 3 negative price
        row("not a time", "view", "s2"),                    # 4 garbage time
        row("10:00:04", "view", ""),                        # 5 missing session
        row("10:00:05", "purchase", "s1", price="7.50"),    # 6 ok
    ])
    out = tmp_path / "out"
    summary = ingest_rees46(src, out, max_bad_share=1.0)
    assert (summary.rows_read, summary.rows_ok, summary.rows_bad) == (6, 2, 4)
    assert summary.bad_reasons == {
        "event_type unknown": 1, "price below 0": 1, "event_time not an ISO 8601 time": 1,
        "user_session missing": 1,
    }
    q = pd.read_csv(out / "quarantine" / "rees46.csv", dtype=str, keep_default_na=False)
    reasons = dict(zip(q["source_row"].astype(int), q["reason"], strict=True))
    assert sorted(reasons) == [2, 3, 4, 5]
    assert reasons[2].startswith("event_type unknown: 'wishlist'")
    assert reasons[3].startswith("price below 0")
    assert reasons[4].startswith("event_time not an ISO 8601 time")
    assert reasons[5].startswith("user_session missing")
    # original values are kept as text
    assert q.set_index("source_row").loc["3", "price"] == "-5.00"
    assert q.set_index("source_row").loc["4", "event_time"] == "2020-01-01 not a time UTC"

    ds = load_dataset(out)
    assert [r.rows_bad for r in ds.reports] == [0, 0, 0, 0]
    assert ds.events["event_type"].astype(str).tolist() == ["view_item", "purchase"]


def test_malformed_line_in_the_middle_keeps_row_numbers_and_quoted_commas_load(
    tmp_path: Path,
) -> None:
    src = write_csv(tmp_path, [
        row("10:00:00", "view", "s1", code='"kids,toys"'),  # 1 ok: quoted comma
        row("10:00:01", "view", "s1", code="kids,toys"),    # 2 ten fields
        "2020-01-01 10:00:02 UTC,view",                     # 3 two fields
        row("10:00:03", "view", "s1", price="abc"),         # 4 bad price
        row("10:00:04", "cart", "s1"),                      # 5 ok
    ])
    raw = read_rees46_csv(src)
    assert [m.source_row for m in raw.malformed] == [2, 3]
    result = convert(raw, source=str(src))
    q = result.quarantine
    assert q["source_row"].tolist() == [2, 3, 4]
    assert q["reason"].tolist()[:2] == [
        "truncated or malformed line: 10 fields, expected 9",
        "truncated or malformed line: 2 fields, expected 9",
    ]
    assert q["reason"].iloc[2].startswith("price not a finite number: 'abc'")
    events = result.dataset.events
    assert events["category"].tolist() == ["kids,toys", "electronics.phone"]
    assert result.summary.rows_read == 5


def test_a_last_line_without_newline_is_loaded_with_a_warning(tmp_path: Path) -> None:
    src = tmp_path / "src.csv"
    src.write_text("\n".join([HEADER, row("10:00:00", "view", "s1"), row("10:00:01", "view", "s1")]))
    summary = convert(read_rees46_csv(src)).summary
    assert (summary.rows_ok, summary.rows_bad) == (2, 0)
    assert len(summary.warnings) == 1
    assert "last line (row 2) may be cut short" in summary.warnings[0]


def test_purchase_rows_of_one_session_are_one_order(tmp_path: Path) -> None:
    src = write_csv(tmp_path, [
        row("10:00:00", "view", "s1", user="u1"),
        row("10:00:05", "cart", "s1", user="u1"),
        row("10:01:00", "purchase", "s1", price="10.00", user="u1"),
        row("10:01:02", "purchase", "s1", price="20.50", user="u1", product="p2"),
        row("10:01:09", "purchase", "s1", price="1.25", user="u1", product="p3"),
        row("10:02:00", "purchase", "s2", price="3.00", user="u2"),
        row("10:03:00", "view", "s3", user="u3"),
    ])
    result = convert(read_rees46_csv(src))
    orders = result.dataset.orders.set_index("session_id")
    assert len(orders) == 2
    assert orders.loc["s1", "total_value"] == pytest.approx(31.75)
    assert orders.loc["s1", "order_time"] == pd.Timestamp("2020-01-01 10:01:00", tz="UTC")
    assert orders.loc["s1", "customer_id"] == "u1"
    assert orders.loc["s1", "order_id"] == "rees46-s1"
    assert orders.loc["s2", "total_value"] == pytest.approx(3.0)
    customers = result.dataset.customers.set_index("customer_id")
    assert sorted(customers.index) == ["u1", "u2", "u3"]
    assert customers.loc["u1", "created_at"] == pd.Timestamp("2020-01-01 10:00:00", tz="UTC")
    assert not customers["newsletter_subscriber"].any()
    assert customers["city"].isna().all()
    assert result.summary.sessions_with_cart == 1


def test_event_types_and_columns_are_mapped(tmp_path: Path) -> None:
    src = write_csv(tmp_path, [
        row("10:00:00", "view", "s1", user="42", code=""),
        row("10:00:01", "cart", "s1", user="42"),
        row("10:00:02", "remove_from_cart", "s1", user="42"),
        row("10:00:03", "purchase", "s1", user="42"),
    ])
    events = convert(read_rees46_csv(src)).dataset.events
    assert events["event_type"].astype(str).tolist() == [
        "view_item", "add_to_cart", "remove_from_cart", "purchase",
    ]
    assert events["category"].tolist() == ["111", *["electronics.phone"] * 3]
    assert events["customer_id"].tolist() == ["42"] * 4
    assert events["session_id"].tolist() == ["s1"] * 4
    assert events["quantity"].tolist() == [1] * 4
    assert set(events["device"].astype(str)) == {"unknown"}
    assert set(events["traffic_source"].astype(str)) == {"unknown"}
    assert events[["shipping_fee", "free_shipping_threshold", "account_required"]].isna().all().all()
    assert str(events["event_time"].dtype) == "datetime64[us, UTC]"


def test_edge_sessions_rule() -> None:
    t = pd.Timestamp("2020-01-01 10:00", tz="UTC")
    spans = {
        "early": (t, t + pd.Timedelta(minutes=40)),            # starts at the file's start
        "middle": (t + pd.Timedelta(minutes=50), t + pd.Timedelta(minutes=60)),
        "late": (t + pd.Timedelta(minutes=70), t + pd.Timedelta(minutes=95)),
        "long": (t + pd.Timedelta(minutes=29), t + pd.Timedelta(minutes=100)),
        "edge_of_margin": (t + pd.Timedelta(minutes=31), t + pd.Timedelta(minutes=69)),
    }
    events = pd.DataFrame(
        [(s, x) for s, pair in spans.items() for x in pair], columns=["session_id", "event_time"]
    )
    got = edge_sessions(events, minutes=30)
    assert dict(zip(got["session_id"], got["edge"], strict=True)) == {
        "early": "start", "late": "end", "long": "both",
    }
    none = edge_sessions(events, minutes=0)
    assert dict(zip(none["session_id"], none["edge"], strict=True)) == {
        "early": "start", "long": "end",
    }


def test_too_many_bad_rows_raises_with_a_clear_message(tmp_path: Path) -> None:
    src = write_csv(tmp_path, [
        row("10:00:00", "view", "s1"),
        row("10:00:01", "wishlist", "s1"),
        "2020-01-01 10:00:02 UTC,view,1",
    ])
    out = tmp_path / "out"
    with pytest.raises(TooManyBadRows, match=r"2 of 3 REES46 rows are bad \(66\.67% > limit 10\.00%\)"):
        ingest_rees46(src, out, max_bad_share=0.10)
    assert not (out / "events.parquet").exists()
    assert len(pd.read_csv(out / "quarantine" / "rees46.csv")) == 2
    # at the limit it loads
    assert ingest_rees46(src, out, max_bad_share=2 / 3).rows_ok == 1


# ------------------------------------------------------------------------------------ CLI


def test_cli_fails_over_the_limit_with_the_message_on_stderr(tmp_path: Path) -> None:
    src = write_csv(tmp_path, [row("10:00:00", "view", "s1"), row("10:00:01", "oops", "s1")])
    result = CliRunner().invoke(
        app, ["ingest", "rees46", str(src), "--out", str(tmp_path / "out"), "--max-bad-share", "0.2"]
    )
    assert result.exit_code != 0
    assert "1 of 2 REES46 rows are bad" in result.stderr
    assert "event_type unknown (1 rows)" in result.stderr
    assert result.stdout == ""


def test_cli_default_limit_comes_from_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = write_csv(tmp_path, [row("10:00:00", "view", "s1"), row("10:00:01", "oops", "s1")])
    args = ["ingest", "rees46", str(src), "--out", str(tmp_path / "out")]
    monkeypatch.setenv("CARTRISK_MAX_BAD_ROW_SHARE", "0.6")
    assert CliRunner().invoke(app, args).exit_code == 0
    monkeypatch.setenv("CARTRISK_MAX_BAD_ROW_SHARE", "0.4")
    assert CliRunner().invoke(app, args).exit_code != 0


def test_cli_json_and_text_output(tmp_path: Path) -> None:
    src = write_csv(tmp_path, [
        row("10:00:00", "view", "s1"), row("10:00:01", "cart", "s1"),
        row("10:00:02", "purchase", "s1", price="4.00"), row("10:00:03", "purchase", "s1"),
    ])
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["ingest", "rees46", str(src), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["rows_read"] == 4
    assert summary["orders"] == 1
    assert summary["events_by_type"] == {"view_item": 1, "add_to_cart": 1, "purchase": 2}
    assert summary["paths"]["events"] == str(out / "events.parquet")
    assert Path(summary["paths"]["edge_sessions"]).is_file()

    text = CliRunner().invoke(app, ["ingest", "rees46", str(src), "--out", str(out)])
    assert text.exit_code == 0
    assert "rows read            4" in text.stdout
    assert "orders               1" in text.stdout
    assert str(out / "orders.parquet") in text.stdout


def test_cli_reports_a_missing_file_and_a_wrong_header(tmp_path: Path) -> None:
    missing = CliRunner().invoke(
        app, ["ingest", "rees46", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o")]
    )
    assert missing.exit_code != 0
    assert "does not exist" in missing.stderr
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("time,type\n2020-01-01 10:00:00 UTC,view\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["ingest", "rees46", str(wrong), "--out", str(tmp_path / "o")])
    assert result.exit_code != 0
    assert "lacks required column(s)" in result.stderr
