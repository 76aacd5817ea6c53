"""Segment rules: default membership, missing values, validation, batch/single-row parity, summary, CLI."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from cartrisk.cli import app
from features.definitions import ATTRIBUTE_COLUMNS, FEATURE_NAMES
from features.segments import (
    ALL_CARTS,
    FIELDS,
    RuleSet,
    SegmentRuleError,
    assign_segments,
    default_rules,
    last_snapshot_per_session,
    load_rules,
    parse_rules,
    segments_of,
    summarize,
)

NAN = float("nan")
DEFAULT_NAMES = [
    "vip",
    "recurring",
    "one_time",
    "never_purchased",
    "guest",
    "big_cart",
    "engaged",
    "semi_engaged",
    "unengaged",
    "frequent_non_buyer",
    "cart_abandoner",
    "local",
]


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load_rules()


def known(**overrides: object) -> dict[str, object]:
    """A known customer in no default segment (2 orders, not subscribed, nothing special)."""
    row: dict[str, object] = {
        "is_guest": 0,
        "orders_count": 2,
        "newsletter_subscriber": 0,
        "days_since_last_open": NAN,
        "days_since_last_click": NAN,
        "sessions_30d": 1,
        "past_carts_abandoned": 0,
        "cart_vs_shop_aov": 1.0,
        "city": "Hamburg",
    }
    row.update(overrides)
    return row


def guest(**overrides: object) -> dict[str, object]:
    """A guest: no history at all (NaN), unknown city."""
    row: dict[str, object] = {
        "is_guest": 1,
        "orders_count": NAN,
        "newsletter_subscriber": NAN,
        "days_since_last_open": NAN,
        "days_since_last_click": NAN,
        "sessions_30d": NAN,
        "past_carts_abandoned": NAN,
        "cart_vs_shop_aov": 1.0,
        "city": None,
    }
    row.update(overrides)
    return row


def members(row: Mapping[str, object], rules: RuleSet) -> list[str]:
    """Segments of one row, checked to be the same on the single-row and the batch path."""
    single = segments_of(row, rules)
    frame = pd.DataFrame([dict(row)], index=[42])
    batch = assign_segments(frame, rules)
    assert list(batch.index) == [42]
    assert [name for name in rules.names if batch.loc[42, name]] == single
    return single


# ----------------------------------------------------------------------------- default segments


def test_default_rules_are_packaged_in_order(rules: RuleSet) -> None:
    assert rules.names == DEFAULT_NAMES
    assert default_rules().names == DEFAULT_NAMES
    assert all(s.description for s in rules.segments)


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (known(), []),
        (known(orders_count=0), ["never_purchased"]),
        (known(orders_count=1), ["one_time"]),
        (known(orders_count=2), []),  # "more than 2" orders: 2 is not recurring
        (known(orders_count=3), ["recurring"]),
        (known(orders_count=9), ["recurring"]),
        (known(orders_count=10), ["vip", "recurring"]),
        (known(orders_count=25.0), ["vip", "recurring"]),
        (guest(), ["guest"]),
        (guest(city="Berlin"), ["guest", "local"]),
        (guest(orders_count=0), ["guest"]),  # is_guest == 1 is never "never purchased"
        (known(cart_vs_shop_aov=2.0), ["big_cart"]),
        (known(cart_vs_shop_aov=1.99), []),
        (known(cart_vs_shop_aov=NAN), []),
        (known(past_carts_abandoned=1), ["cart_abandoner"]),
        (known(city="Berlin"), ["local"]),
        (known(city="berlin"), []),  # exact text match
        (known(sessions_30d=5, orders_count=1), ["one_time", "frequent_non_buyer"]),
        (known(sessions_30d=5, orders_count=0), ["never_purchased", "frequent_non_buyer"]),
        (known(sessions_30d=4, orders_count=1), ["one_time"]),
        (known(sessions_30d=9, orders_count=2), []),
    ],
)
def test_default_membership(rules: RuleSet, row: dict[str, object], expected: list[str]) -> None:
    assert members(row, rules) == expected


@pytest.mark.parametrize(
    ("open_days", "click_days", "expected"),
    [
        (5, NAN, "engaged"),
        (30, NAN, "engaged"),
        (NAN, 30, "engaged"),
        (200, 10, "engaged"),  # the more recent of open and click counts
        (30.01, NAN, "semi_engaged"),
        (60, 90, "semi_engaged"),
        (119.9, 500, "semi_engaged"),
        (120, NAN, "unengaged"),
        (400, 130, "unengaged"),
        (NAN, NAN, "unengaged"),  # subscribed, never opened nor clicked
    ],
)
def test_engagement_segments_split_subscribers(
    rules: RuleSet, open_days: float, click_days: float, expected: str
) -> None:
    row = known(newsletter_subscriber=1, days_since_last_open=open_days, days_since_last_click=click_days)
    assert members(row, rules) == [expected]
    # non-subscribers and guests are in none of the three
    assert members({**row, "newsletter_subscriber": 0}, rules) == []
    assert members(guest(days_since_last_open=open_days, days_since_last_click=click_days), rules) == ["guest"]


def test_every_subscriber_is_in_exactly_one_engagement_segment(rules: RuleSet) -> None:
    rng = np.random.default_rng(3)
    n = 3000
    opens = rng.choice([NAN, 0.0, 15.0, 30.0, 45.0, 90.0, 120.0, 400.0], n) + rng.choice([0, 0.5], n)
    clicks = np.where(rng.random(n) < 0.5, NAN, rng.uniform(0, 300, n))
    frame = pd.DataFrame(
        {
            **{k: [v] * n for k, v in known(newsletter_subscriber=1).items()},
            "days_since_last_open": opens,
            "days_since_last_click": clicks,
        }
    )
    seg = assign_segments(frame, rules)
    assert (seg[["engaged", "semi_engaged", "unengaged"]].sum(axis=1) == 1).all()


def test_multi_membership(rules: RuleSet) -> None:
    row = known(
        orders_count=12,
        newsletter_subscriber=1,
        days_since_last_click=3,
        cart_vs_shop_aov=4.0,
        past_carts_abandoned=2,
        city="Berlin",
    )
    assert members(row, rules) == ["vip", "recurring", "big_cart", "engaged", "cart_abandoner", "local"]


@pytest.mark.parametrize("missing", [None, NAN, np.float64("nan"), pd.NA])
def test_missing_values_never_match_a_comparison(missing: object) -> None:
    ruleset = parse_rules(
        {
            "segments": [
                {
                    "name": "ne",
                    "description": "d",
                    "rule": {"all": [{"field": "orders_count", "op": "!=", "value": 3}]},
                },
                {
                    "name": "nin",
                    "description": "d",
                    "rule": {"all": [{"field": "orders_count", "op": "not_in", "value": [3]}]},
                },
                {
                    "name": "city_ne",
                    "description": "d",
                    "rule": {"all": [{"field": "city", "op": "!=", "value": "Berlin"}]},
                },
                {
                    "name": "city_nin",
                    "description": "d",
                    "rule": {"all": [{"field": "city", "op": "not_in", "value": ["Berlin"]}]},
                },
                {
                    "name": "low",
                    "description": "d",
                    "rule": {"all": [{"field": "orders_count", "op": "<", "value": 1e9}]},
                },
                {
                    "name": "null",
                    "description": "d",
                    "rule": {"all": [{"field": "orders_count", "op": "is_null"}, {"field": "city", "op": "is_null"}]},
                },
                {
                    "name": "present",
                    "description": "d",
                    "rule": {"any": [{"field": "orders_count", "op": "not_null"}, {"field": "city", "op": "not_null"}]},
                },
            ]
        }
    )
    row = {"orders_count": missing, "city": missing}
    assert segments_of(row, ruleset) == ["null"]
    assert segments_of({}, ruleset) == ["null"]  # absent keys count as missing
    assert segments_of({"orders_count": 4, "city": "Bonn"}, ruleset) == [
        "ne",
        "nin",
        "city_ne",
        "city_nin",
        "low",
        "present",
    ]
    frame = pd.DataFrame(
        {"orders_count": pd.array([4, None], dtype="Int64"), "city": pd.array(["Bonn", None], dtype="string")}
    )
    batch = assign_segments(frame, ruleset)
    assert [n for n in ruleset.names if batch.iloc[1][n]] == ["null"]
    assert [n for n in ruleset.names if batch.iloc[0][n]] == ["ne", "nin", "city_ne", "city_nin", "low", "present"]


# ----------------------------------------------------------------------------- validation


def one_segment(rule: object, name: object = "s1", **extra: object) -> dict[str, Any]:
    return {"segments": [{"name": name, "description": "A segment.", "rule": rule, **extra}]}


def cond(field: str = "orders_count", op: str = ">=", value: object = 1) -> dict[str, object]:
    return {"field": field, "op": op, "value": value}


def error_of(data: object) -> str:
    with pytest.raises(SegmentRuleError) as info:
        parse_rules(data, source="my.yaml")
    return str(info.value)


def test_unknown_field_suggests_close_names() -> None:
    msg = error_of(one_segment({"all": [cond(), {"any": [cond(), cond(field="orders_cnt")]}]}))
    assert "my.yaml" in msg
    assert "segment 's1'" in msg
    assert "rule.all[1].any[1]" in msg
    assert "unknown field 'orders_cnt'" in msg
    assert "did you mean 'orders_count'" in msg


def test_unknown_op_suggests_close_ops() -> None:
    msg = error_of(one_segment({"all": [cond(op="=>")]}))
    assert "rule.all[0]" in msg and "unknown op '=>'" in msg and "'>='" in msg
    assert "unknown op 'betwen'" in error_of(one_segment({"all": [cond(op="betwen", value=[1, 2])]}))
    assert "did you mean 'between'" in error_of(one_segment({"all": [cond(op="betwen")]}))


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (cond(op=">=", value="10"), "value for '>=' on numeric field 'orders_count' must be a number, got text '10'"),
        (cond(op="==", value=True), "use 1 for yes and 0 for no"),
        (cond(op=">", value=[1, 2]), "must be a single value"),
        (cond(op="between", value=[1]), "'between' must be a list of two numbers [low, high]"),
        (cond(op="between", value=[1, "x"]), "'between' must be a list of two numbers"),
        (cond(op="between", value=5), "'between' must be a list of two numbers"),
        (cond(op="between", value=[10, 2]), "low <= high, got [10, 2]"),
        (cond(op="in", value=3), "value for 'in' must be a non-empty list"),
        (cond(op="not_in", value=[]), "value for 'not_in' must be a non-empty list"),
        (cond(op="in", value=[1, "two"]), "must be a number, got text 'two'"),
        (cond(field="city", op=">=", value="A"), "op '>=' does not apply to text field 'city'"),
        (cond(field="city", op="==", value=3), "on text field 'city' must be text, got number 3"),
        (cond(field="city", op="==", value=False), "put it in quotes"),
        (cond(field="city", op="in", value="Berlin"), "must be a non-empty list"),
        (cond(op="is_null", value=0), "op 'is_null' takes no value"),
        ({"field": "orders_count", "op": ">="}, "op '>=' needs a 'value'"),
        (cond(op=">=", value=None), "op '>=' needs a value"),
        (cond(op=">=", value=NAN), "must be a number, got number nan"),
        ({"field": "orders_count", "op": None}, "quote it"),
        ({"field": "orders_count", "value": 1}, "condition needs 'op'"),
        ({"fild": "orders_count", "op": ">=", "value": 1}, "unknown key(s) 'fild'"),
        ({"all": [cond()], "any": [cond()]}, "exactly one of 'all' or 'any'"),
        ({"any": []}, "'any' needs a non-empty list"),
        ("orders_count >= 3", "expected an 'all:' or 'any:' block"),
    ],
)
def test_bad_conditions_are_reported(condition: object, expected: str) -> None:
    msg = error_of(one_segment({"all": [cond(), condition]}))
    assert "segment 's1'" in msg
    assert expected in msg


@pytest.mark.parametrize("rule", [None, {}, []])
def test_empty_rule(rule: object) -> None:
    assert "segment 's1', rule: empty rule" in error_of(one_segment(rule))


def test_empty_group_rule() -> None:
    assert "rule.all: 'all' needs a non-empty list of conditions" in error_of(one_segment({"all": []}))


def test_duplicate_names() -> None:
    seg = {"name": "vip", "description": "d", "rule": {"all": [cond()]}}
    msg = error_of({"segments": [seg, {**seg, "description": "e"}]})
    assert "duplicate segment name 'vip' (also segment #1)" in msg


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (one_segment({"all": [cond()]}, name="Big Cart"), "name must be snake_case"),
        (one_segment({"all": [cond()]}, name=None), "segment #1, name: name must be snake_case"),
        (one_segment({"all": [cond()]}, rules="x"), "unknown key(s) 'rules'"),
        ({"segments": [{"name": "a", "rule": {"all": [cond()]}}]}, "description must be a non-empty"),
        ({"segments": []}, "'segments' must be a non-empty list"),
        ({"segment": []}, "did you mean 'segments'"),
        (["x"], "expected a mapping with a 'segments' list"),
        (
            {"version": 2, "segments": [{"name": "a", "description": "d", "rule": {"all": [cond()]}}]},
            "unsupported version 2",
        ),
    ],
)
def test_bad_file_structure(data: object, expected: str) -> None:
    assert expected in error_of(data)


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(SegmentRuleError) as info:
        parse_rules(
            {
                "segments": [
                    {"name": "a", "description": "d", "rule": {"all": [cond(field="nope")]}},
                    {"name": "b", "description": "d", "rule": {"all": [cond(op="~")]}},
                ]
            },
            source="x.yaml",
        )
    problems = info.value.problems
    assert [(p.item, p.field) for p in problems] == [
        ("segment 'a'", "rule.all[0]"),
        ("segment 'b'", "rule.all[0]"),
    ]
    assert "2 problems" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_load_rules_reports_the_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "segments:\n  - name: a\n    description: d\n    rule:\n      all:\n"
        '        - {field: orders_count, op: ">=", value: ten}\n'
    )
    with pytest.raises(SegmentRuleError, match=r"rules\.yaml, segment 'a', rule\.all\[0\]: value"):
        load_rules(path)
    path.write_text("segments: [\n")
    with pytest.raises(SegmentRuleError, match="not valid YAML"):
        load_rules(path)
    path.write_text("segments:\n  - {name: a, description: d, rule: {all: [{field: x, op: >=, value: 1}]}}\n")
    with pytest.raises(SegmentRuleError):
        load_rules(path)
    with pytest.raises(SegmentRuleError, match="cannot read the file"):
        load_rules(tmp_path / "missing.yaml")


def test_yaml_bare_no_on_a_text_field_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "segments:\n  - name: norway\n    description: d\n    rule:\n      all:\n"
        '        - {field: city, op: "==", value: no}\n'
    )
    with pytest.raises(SegmentRuleError, match="YAML reads yes/no/on/off"):
        load_rules(path)


def test_every_field_and_op_is_accepted() -> None:
    segs = []
    for i, f in enumerate(FIELDS):
        value: object = "x" if f in ("device", "traffic_source", "city") else 1
        segs.append(
            {
                "name": f"s{i}",
                "description": "d",
                "rule": {"any": [cond(field=f, op="==", value=value), {"field": f, "op": "is_null"}]},
            }
        )
    assert len(parse_rules({"segments": segs}).segments) == len(FIELDS)
    assert set(FEATURE_NAMES) | set(ATTRIBUTE_COLUMNS) <= set(FIELDS)


# ----------------------------------------------------------------------------- parity


PARITY_RULES = {
    "segments": [
        {"name": f"op_{i}", "description": "d", "rule": {"all": [c]}}
        for i, c in enumerate(
            [
                cond("orders_count", ">=", 3),
                cond("orders_count", ">", 3),
                cond("orders_count", "<=", 3),
                cond("orders_count", "<", 3),
                cond("orders_count", "==", 3),
                cond("orders_count", "!=", 3),
                cond("orders_count", "in", [0, 1, 5]),
                cond("orders_count", "not_in", [0, 1, 5]),
                cond("cart_value", "between", [10.5, 80]),
                cond("cart_value", "is_null", None),
                cond("cart_value", "not_null", None),
                cond("city", "==", "Berlin"),
                cond("city", "!=", "Berlin"),
                cond("city", "in", ["Berlin", "Bonn"]),
                cond("city", "not_in", ["Berlin", "Bonn"]),
                cond("city", "is_null", None),
                cond("city", "not_null", None),
                cond("device", "in", ["mobile"]),
                cond("days_since_last_engagement", "between", [10, 50]),
                cond("days_since_last_engagement", "is_null", None),
            ]
        )
    ]
    + [
        {
            "name": "nested",
            "description": "d",
            "rule": {
                "any": [
                    {"all": [cond("orders_count", ">=", 1), cond("city", "==", "Bonn"), cond("cart_value", ">", 20)]},
                    {
                        "any": [
                            cond("is_guest", "==", 1),
                            cond("sessions_30d", ">=", 4),
                            cond("past_carts_abandoned", ">", 2),
                        ]
                    },
                ]
            },
        },
    ]
}


def random_carts(n: int, seed: int) -> pd.DataFrame:
    """Carts with values on the rule boundaries and about 20% missing in every column."""
    rng = np.random.default_rng(seed)

    def num(values: list[float]) -> np.ndarray:
        out = rng.choice(np.array(values, dtype=float), n)
        out[rng.random(n) < 0.2] = np.nan
        return out

    def text(values: list[str]) -> list[object]:
        picks = rng.choice(np.array(values, dtype=object), n)
        return [None if rng.random() < 0.2 else v for v in picks]

    return pd.DataFrame(
        {
            "orders_count": num([0, 1, 2, 3, 5, 9, 10, 11]),
            "is_guest": num([0, 1]),
            "newsletter_subscriber": num([0, 1]),
            "days_since_last_open": num([0, 10, 29.9, 30, 30.1, 60, 119.99, 120, 121, 900]),
            "days_since_last_click": num([0, 10, 29.9, 30, 30.1, 60, 119.99, 120, 121, 900]),
            "sessions_30d": num([0, 1, 4, 5, 6]),
            "past_carts_abandoned": num([0, 1, 3]),
            "cart_vs_shop_aov": num([0.5, 1.99, 2.0, 3.0]),
            "cart_value": num([0, 10.5, 20, 50, 80, 80.01]),
            "city": text(["Berlin", "Bonn", "berlin", "Hamburg"]),
            "device": text(["mobile", "desktop"]),
        }
    )


def names_per_row(batch: pd.DataFrame) -> list[list[str]]:
    names = list(batch.columns)
    return [[n for n, hit in zip(names, t, strict=True) if hit] for t in batch.itertuples(index=False)]


@pytest.mark.parametrize("which", ["default", "all_ops"])
def test_batch_and_single_row_agree(rules: RuleSet, which: str) -> None:
    ruleset = rules if which == "default" else parse_rules(PARITY_RULES)
    frame = random_carts(4000, seed=11)
    frame.index = pd.RangeIndex(1000, 5000)
    batch = assign_segments(frame, ruleset)
    assert batch.index.equals(frame.index)
    assert list(batch.columns) == ruleset.names
    assert all(pd.api.types.is_bool_dtype(d) for d in batch.dtypes)
    expected = names_per_row(batch)
    single = [segments_of(cast(dict[str, object], r), ruleset) for r in frame.to_dict("records")]
    assert single == expected
    # every segment is hit and missed somewhere, so the comparison means something
    assert batch.any().all() and (~batch).any().all()


def test_parity_with_nullable_and_string_dtypes(rules: RuleSet) -> None:
    frame = random_carts(2000, seed=5)
    typed = frame.astype({"orders_count": "Float64", "is_guest": "Float64", "city": "string"})
    batch = assign_segments(typed, rules)
    pd.testing.assert_frame_equal(batch, assign_segments(frame, rules))
    single = [segments_of(cast(dict[str, object], r), rules) for r in typed.to_dict("records")]
    assert single == names_per_row(batch)


def test_assign_segments_names_missing_columns(rules: RuleSet) -> None:
    with pytest.raises(ValueError, match=r"lacks column.*city"):
        assign_segments(random_carts(3, seed=1).drop(columns="city"), rules)


# ----------------------------------------------------------------------------- summary, one row per cart


def test_summarize_counts_shares_and_rates(rules: RuleSet) -> None:
    frame = pd.DataFrame(
        [
            {**known(orders_count=10), "abandoned": 1},
            {**known(orders_count=3), "abandoned": 0},
            {**known(orders_count=4), "abandoned": NAN},
            {**guest(), "abandoned": 1},
            {**guest(city="Berlin"), "abandoned": 1},
        ]
    )
    table = summarize(frame, rules).set_index("segment")
    assert list(table.index) == [ALL_CARTS, *DEFAULT_NAMES]
    assert table.loc[ALL_CARTS, "carts"] == 5
    assert table.loc[ALL_CARTS, "share"] == 1.0
    assert table.loc[ALL_CARTS, "labelled"] == 4
    assert table.loc[ALL_CARTS, "abandonment_rate"] == pytest.approx(3 / 4)
    assert table.loc["recurring", "carts"] == 3
    assert table.loc["recurring", "share"] == pytest.approx(3 / 5)
    assert table.loc["recurring", "abandonment_rate"] == pytest.approx(1 / 2)  # NaN label ignored
    assert table.loc["vip", "abandonment_rate"] == 1.0
    assert table.loc["guest", "carts"] == 2
    assert table.loc["local", "abandonment_rate"] == 1.0
    assert table.loc["one_time", "carts"] == 0
    assert math.isnan(cast(float, table.loc["one_time", "abandonment_rate"]))
    assert str(table.loc["guest", "description"]).startswith("Guest")


def test_last_snapshot_per_session_keeps_latest_and_last_on_ties() -> None:
    t = pd.Timestamp("2024-05-01 10:00", tz="UTC")
    snaps = pd.DataFrame(
        {
            "session_id": ["a", "a", "b", "b", "b", "c"],
            "snapshot_time": [
                t + pd.Timedelta(minutes=5),
                t,
                t,
                t + pd.Timedelta(minutes=1),
                t + pd.Timedelta(minutes=1),
                pd.NaT,
            ],
            "tag": ["a-late", "a-early", "b1", "b2", "b3-tie-last", "c"],
        }
    )
    out = last_snapshot_per_session(snaps)
    assert sorted(out["tag"]) == ["a-late", "b3-tie-last", "c"]


# ----------------------------------------------------------------------------- command


def write_snapshots(path: Path) -> None:
    """Three sessions (the last snapshot decides): a VIP, a guest in Berlin, a one-time buyer."""
    t = pd.Timestamp("2024-05-01 10:00", tz="UTC")
    rows = [
        {**known(orders_count=1), "session_id": "s1", "snapshot_time": t, "abandoned": 1.0},
        {**known(orders_count=12), "session_id": "s1", "snapshot_time": t + pd.Timedelta(minutes=2), "abandoned": 0.0},
        {**guest(city="Berlin"), "session_id": "s2", "snapshot_time": t, "abandoned": 1.0},
        {**known(orders_count=1), "session_id": "s3", "snapshot_time": t, "abandoned": NAN},
    ]
    pd.DataFrame(rows).to_parquet(path)


def test_command_json(tmp_path: Path) -> None:
    path = tmp_path / "snapshots.parquet"
    write_snapshots(path)
    result = CliRunner().invoke(app, ["segments", "--features", str(path), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["carts"] == 3
    assert out["abandonment_rate"] == pytest.approx(0.5)
    by_name = {s["name"]: s for s in out["segments"]}
    assert list(by_name) == DEFAULT_NAMES
    assert by_name["vip"] == {**by_name["vip"], "carts": 1, "share": pytest.approx(1 / 3), "abandonment_rate": 0.0}
    assert by_name["one_time"]["carts"] == 1  # s3 only: s1's first snapshot is not its last
    assert by_name["one_time"]["abandonment_rate"] is None
    assert by_name["local"]["carts"] == 1 and by_name["guest"]["abandonment_rate"] == 1.0


def test_command_table_and_custom_rules(tmp_path: Path) -> None:
    path = tmp_path / "snapshots.parquet"
    write_snapshots(path)
    rules = tmp_path / "mine.yaml"
    rules.write_text(
        yaml.safe_dump(
            {
                "segments": [
                    {
                        "name": "hamburg",
                        "description": "Carts in Hamburg.",
                        "rule": {"all": [{"field": "city", "op": "==", "value": "Hamburg"}]},
                    }
                ]
            }
        )
    )
    result = CliRunner().invoke(app, ["segments", "--features", str(path), "--rules", str(rules)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any(line.startswith(ALL_CARTS) and " 3 " in line for line in lines)
    hamburg = next(line for line in lines if line.startswith("hamburg"))
    assert "66.7%" in hamburg and "0.0%" in hamburg and "Carts in Hamburg." in hamburg


def test_command_bad_rules_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "snapshots.parquet"
    write_snapshots(path)
    rules = tmp_path / "bad.yaml"
    rules.write_text(
        "segments:\n  - name: vip\n    description: d\n    rule:\n      all:\n"
        '        - {field: order_count, op: ">=", value: 10}\n'
    )
    result = CliRunner().invoke(app, ["segments", "--features", str(path), "--rules", str(rules), "--json"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "bad.yaml, segment 'vip', rule.all[0]: unknown field 'order_count'" in result.stderr
    assert "did you mean 'orders_count'" in result.stderr


def test_command_snapshot_table_without_rule_columns_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "snapshots.parquet"
    t = pd.Timestamp("2024-05-01 10:00", tz="UTC")
    pd.DataFrame({"session_id": ["s"], "snapshot_time": [t], "abandoned": [1.0]}).to_parquet(path)
    result = CliRunner().invoke(app, ["segments", "--features", str(path)])
    assert result.exit_code == 2
    assert "lacks column(s)" in result.stderr and "orders_count" in result.stderr
    missing = CliRunner().invoke(app, ["segments", "--features", str(tmp_path / "nope.parquet")])
    assert missing.exit_code == 2 and "no such snapshot table" in missing.stderr
    garbled = tmp_path / "garbled.parquet"
    garbled.write_text("not parquet at all")
    broken = CliRunner().invoke(app, ["segments", "--features", str(garbled)])
    assert broken.exit_code == 2 and "cannot read the snapshot table" in broken.stderr
