"""Dynamic cart segments: rules that marketers edit in YAML, evaluated on one cart or a whole table.

A rules file (the packaged default is ``features/segments.yaml``; its comments document the format)
lists segments. Each segment has a ``name``, a ``description`` and a ``rule``: ``all:`` (AND) or
``any:`` (OR) of conditions, nestable. A condition is ``{field: <col>, op: <op>, value: <value>}``.

Loading validates everything up front and raises :class:`SegmentRuleError` naming the file, the
segment and the place in the rule (``rule.all[1].any[0]``, counting from 0) of every problem found.

The rules are compiled once into a :class:`RuleSet`. Each condition is compiled, from the same
(field, op, value), into two evaluators that mean exactly the same thing:

* a vectorised mask over a DataFrame (:func:`assign_segments`, :func:`summarize`), and
* a plain-Python test on one mapping (:func:`segments_of`, used per request by the web service).

Missing values (NaN, None, ``pd.NA``, an absent key in a single-row mapping) never match a
comparison, not even ``!=`` or ``not_in``; only ``is_null`` matches them. Guests have no history
(NaN), so they fall out of every history-based segment.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.config_file import ConfigError, Problem, Problems, describe, read_yaml, suggest
from features.definitions import (
    ATTRIBUTE_COLUMNS,
    CATEGORICAL_FEATURES,
    FEATURE_NAMES,
    LABEL,
    NUMERIC_FEATURES,
)

__all__ = [
    "ALL_CARTS",
    "DERIVED_FIELDS",
    "FIELDS",
    "OPS",
    "RuleProblem",
    "RuleSet",
    "Segment",
    "SegmentRuleError",
    "assign_segments",
    "default_rules",
    "last_snapshot_per_session",
    "load_rules",
    "parse_rules",
    "segments_of",
    "summarize",
]

Row = Mapping[str, object]
BoolArray = npt.NDArray[np.bool_]
RowTest = Callable[[Row], bool]
Op = Literal[">=", ">", "<=", "<", "==", "!=", "in", "not_in", "between", "is_null", "not_null"]

ALL_CARTS = "all carts"
"""Label of the summary row that covers every cart."""

DEFAULT_RULES_RESOURCE = "segments.yaml"
_NA: Any = pd.NA


# ------------------------------------------------------------------------------------------ fields


@dataclass(frozen=True)
class DerivedField:
    """A numeric field computed from feature columns, usable in rules like any feature."""

    name: str
    description: str
    inputs: tuple[str, ...]
    batch: Callable[[Sequence[npt.NDArray[np.float64]]], npt.NDArray[np.float64]]
    row: Callable[[Row], object]


def _row_min_open_click(row: Row) -> object:
    """The smaller of the two engagement recencies, ignoring a missing one (None when both are)."""
    a = row.get("days_since_last_open")
    b = row.get("days_since_last_click")
    if _missing(a):
        return None if _missing(b) else b
    if _missing(b):
        return a
    return b if b < a else a  # type: ignore[operator]


DERIVED_FIELDS: dict[str, DerivedField] = {
    d.name: d
    for d in (
        DerivedField(
            name="days_since_last_engagement",
            description="Days since the more recent of the last e-mail open and the last e-mail "
            "click "
            "(min of days_since_last_open and days_since_last_click, a missing one ignored); "
            "missing when the customer never opened nor clicked.",
            inputs=("days_since_last_open", "days_since_last_click"),
            batch=lambda cols: np.fmin(cols[0], cols[1]),
            row=_row_min_open_click,
        ),
    )
}
"""Fields computed here from the feature columns (not stored in snapshot tables)."""

TEXT_FIELDS: tuple[str, ...] = (*CATEGORICAL_FEATURES, *ATTRIBUTE_COLUMNS)
NUMERIC_FIELDS: tuple[str, ...] = (*NUMERIC_FEATURES, *DERIVED_FIELDS)
FIELDS: tuple[str, ...] = (*FEATURE_NAMES, *ATTRIBUTE_COLUMNS, *DERIVED_FIELDS)
"""Every field a rule may use."""

ORDER_OPS: dict[str, Callable[[Any, Any], Any]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}
OPS: tuple[str, ...] = (*ORDER_OPS, "==", "!=", "in", "not_in", "between", "is_null", "not_null")
"""Every operator a condition may use."""
_TEXT_OPS = ("==", "!=", "in", "not_in", "is_null", "not_null")
_OP_ALIASES = {
    "=>": ">=", "gte": ">=", "ge": ">=", "gt": ">", "=<": "<=", "lte": "<=", "le": "<=", "lt": "<",
    "=": "==", "eq": "==", "is": "==", "<>": "!=", "ne": "!=", "neq": "!=", "not": "!=",
    "not in": "not_in", "nin": "not_in", "notin": "not_in", "range": "between",
    "isnull": "is_null", "is null": "is_null", "missing": "is_null", "is_none": "is_null",
    "notnull": "not_null", "not null": "not_null", "exists": "not_null", "present": "not_null",
}  # fmt: skip
"""Spellings marketers may try, mapped to the op they probably mean (used for suggestions only)."""
_NO_VALUE_OPS = ("is_null", "not_null")

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


def _missing(v: object) -> bool:
    """True for None, ``pd.NA`` and NaN (any float type, NaT)."""
    return v is None or v is _NA or v != v


# ------------------------------------------------------------------------------------------ errors


RuleProblem = Problem
"""One thing wrong in a rules file: ``item`` is the segment (``segment 'x'``), ``field`` the place in it."""


class SegmentRuleError(ConfigError):
    """The rules are invalid; ``problems`` lists every problem (file, segment, place, message)."""

    kind = "segment rules"


# ---------------------------------------------------------------------------------- compiled rules


class _FrameColumns:
    """Columns of one frame as numpy arrays, fetched once per evaluation (and derived fields)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self._numeric: dict[str, npt.NDArray[np.float64]] = {}

    def numeric(self, name: str) -> npt.NDArray[np.float64]:
        cached = self._numeric.get(name)
        if cached is not None:
            return cached
        derived = DERIVED_FIELDS.get(name)
        if derived is not None:
            arr = derived.batch([self.numeric(i) for i in derived.inputs])
        else:
            try:
                arr = self.frame[name].to_numpy(dtype=np.float64, na_value=np.nan)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"column {name!r} must be numeric for segment rules: {exc}") from exc
        self._numeric[name] = arr
        return arr

    def text(self, name: str) -> pd.Series:
        return self.frame[name]


def _bool(values: Any) -> BoolArray:
    """A boolean numpy array from a boolean Series/array that may hold NA (NA -> False)."""
    if isinstance(values, pd.Series):
        return values.to_numpy(dtype=bool, na_value=False)
    return np.asarray(values, dtype=bool)


@dataclass(frozen=True)
class Condition:
    """``field op value``, validated and normalised; ``test`` and ``mask`` are compiled from it."""

    field: str
    op: str
    value: Any  # float | str | frozenset | tuple[float, float] | None, normalised by the parser
    test: RowTest = dc_field(repr=False, compare=False)
    mask: Callable[[_FrameColumns], BoolArray] = dc_field(repr=False, compare=False)

    def fields(self) -> set[str]:
        return {self.field}


@dataclass(frozen=True)
class Group:
    """``all`` (AND) or ``any`` (OR) of conditions and groups."""

    mode: Literal["all", "any"]
    items: tuple[Node, ...]
    test: RowTest = dc_field(repr=False, compare=False)

    def mask(self, cols: _FrameColumns) -> BoolArray:
        masks = [item.mask(cols) for item in self.items]
        reduce = np.logical_and.reduce if self.mode == "all" else np.logical_or.reduce
        return np.asarray(reduce(masks), dtype=bool)

    def fields(self) -> set[str]:
        out: set[str] = set()
        for item in self.items:
            out |= item.fields()
        return out


Node = Condition | Group


@dataclass(frozen=True)
class Segment:
    """One named segment with its compiled rule."""

    name: str
    description: str
    rule: Node

    def test(self, row: Row) -> bool:
        """Is this one cart (a mapping of field -> value) in the segment?"""
        return bool(self.rule.test(row))


@dataclass(frozen=True)
class RuleSet:
    """The compiled segments of one rules file, in file order."""

    segments: tuple[Segment, ...]
    source: str = "<rules>"
    _tests: tuple[tuple[str, RowTest], ...] = dc_field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_tests", tuple((s.name, s.rule.test) for s in self.segments))

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.segments]

    def get(self, name: str) -> Segment:
        for s in self.segments:
            if s.name == name:
                return s
        raise KeyError(f"no segment {name!r} in {self.source}; segments: {', '.join(self.names)}")

    def columns_needed(self) -> list[str]:
        """The frame columns the rules read (derived fields replaced by their inputs), sorted."""
        out: set[str] = set()
        for s in self.segments:
            for f in s.rule.fields():
                d = DERIVED_FIELDS.get(f)
                out |= set(d.inputs) if d is not None else {f}
        return sorted(out)


def _row_getter(name: str) -> Callable[[Row], object]:
    derived = DERIVED_FIELDS.get(name)
    if derived is not None:
        return derived.row
    return lambda row: row.get(name)


def _compile_numeric(name: str, op: str, value: Any) -> tuple[RowTest, Callable[[_FrameColumns], BoolArray]]:
    get = _row_getter(name)
    na = _NA

    def arr(cols: _FrameColumns) -> npt.NDArray[np.float64]:
        return cols.numeric(name)

    if op in ORDER_OPS:
        cmp = ORDER_OPS[op]
        t = float(value)

        def test(row: Row) -> bool:
            v = get(row)
            return v is not None and v is not na and cmp(v, t)  # NaN compares False

        def mask(cols: _FrameColumns) -> BoolArray:
            return np.asarray(cmp(arr(cols), t), dtype=bool)

    elif op == "==":
        t = float(value)

        def test(row: Row) -> bool:
            v = get(row)
            return v is not None and v is not na and v == t

        def mask(cols: _FrameColumns) -> BoolArray:
            return arr(cols) == t

    elif op == "!=":
        t = float(value)

        def test(row: Row) -> bool:
            v = get(row)
            return not _missing(v) and v != t

        def mask(cols: _FrameColumns) -> BoolArray:
            a = arr(cols)
            return ~np.isnan(a) & (a != t)

    elif op in ("in", "not_in"):
        members: frozenset[float] = value
        listed = np.array(sorted(members), dtype=np.float64)
        if op == "in":

            def test(row: Row) -> bool:
                v = get(row)
                return v is not None and v is not na and v in members

            def mask(cols: _FrameColumns) -> BoolArray:
                return np.isin(arr(cols), listed)

        else:

            def test(row: Row) -> bool:
                v = get(row)
                return not _missing(v) and v not in members

            def mask(cols: _FrameColumns) -> BoolArray:
                a = arr(cols)
                return ~np.isnan(a) & ~np.isin(a, listed)

    elif op == "between":
        lo, hi = value

        def test(row: Row) -> bool:
            v = get(row)
            return v is not None and v is not na and lo <= v <= hi

        def mask(cols: _FrameColumns) -> BoolArray:
            a = arr(cols)
            return (a >= lo) & (a <= hi)

    elif op == "is_null":

        def test(row: Row) -> bool:
            return _missing(get(row))

        def mask(cols: _FrameColumns) -> BoolArray:
            return np.isnan(arr(cols))

    elif op == "not_null":

        def test(row: Row) -> bool:
            return not _missing(get(row))

        def mask(cols: _FrameColumns) -> BoolArray:
            return ~np.isnan(arr(cols))

    else:  # pragma: no cover - the parser only lets known ops through
        raise AssertionError(op)
    return test, mask


def _compile_text(name: str, op: str, value: Any) -> tuple[RowTest, Callable[[_FrameColumns], BoolArray]]:
    get = _row_getter(name)

    def col(cols: _FrameColumns) -> pd.Series:
        return cols.text(name)

    def present(cols: _FrameColumns) -> BoolArray:
        return col(cols).notna().to_numpy(dtype=bool)

    if op == "==":
        t: str = value

        def test(row: Row) -> bool:
            v = get(row)
            return not _missing(v) and v == t

        def mask(cols: _FrameColumns) -> BoolArray:
            return present(cols) & _bool(col(cols) == t)

    elif op == "!=":
        t = value

        def test(row: Row) -> bool:
            v = get(row)
            return not _missing(v) and v != t

        def mask(cols: _FrameColumns) -> BoolArray:
            return present(cols) & _bool(col(cols) != t)

    elif op in ("in", "not_in"):
        members: frozenset[str] = value
        listed = sorted(members)
        if op == "in":

            def test(row: Row) -> bool:
                v = get(row)
                return not _missing(v) and v in members

            def mask(cols: _FrameColumns) -> BoolArray:
                return present(cols) & _bool(col(cols).isin(listed))

        else:

            def test(row: Row) -> bool:
                v = get(row)
                return not _missing(v) and v not in members

            def mask(cols: _FrameColumns) -> BoolArray:
                return present(cols) & ~_bool(col(cols).isin(listed))

    elif op == "is_null":

        def test(row: Row) -> bool:
            return _missing(get(row))

        def mask(cols: _FrameColumns) -> BoolArray:
            return ~present(cols)

    elif op == "not_null":

        def test(row: Row) -> bool:
            return not _missing(get(row))

        def mask(cols: _FrameColumns) -> BoolArray:
            return present(cols)

    else:  # pragma: no cover - the parser only lets text ops through
        raise AssertionError(op)
    return test, mask


def _make_condition(name: str, op: str, value: Any) -> Condition:
    compile_ = _compile_text if name in TEXT_FIELDS else _compile_numeric
    test, mask = compile_(name, op, value)
    return Condition(field=name, op=op, value=value, test=test, mask=mask)


def _make_group(mode: Literal["all", "any"], items: tuple[Node, ...]) -> Group:
    tests = tuple(item.test for item in items)
    test: RowTest
    if len(tests) == 1:
        test = tests[0]
    elif mode == "all":
        if len(tests) == 2:
            a, b = tests

            def test(row: Row) -> bool:
                return a(row) and b(row)

        else:

            def test(row: Row) -> bool:
                return all(t(row) for t in tests)

    elif len(tests) == 2:
        a, b = tests

        def test(row: Row) -> bool:
            return a(row) or b(row)

    else:

        def test(row: Row) -> bool:
            return any(t(row) for t in tests)

    return Group(mode=mode, items=items, test=test)


# ----------------------------------------------------------------------------------------- parsing


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and not (isinstance(v, float) and math.isnan(v))


def _check_value(name: str, op: str, value: object, report: Callable[[str], None]) -> object:
    """Validate ``value`` for ``op`` on ``name``; return it normalised (None after a report)."""
    text = name in TEXT_FIELDS
    kind = "text field" if text else "numeric field"
    if op in _NO_VALUE_OPS:
        if value is not None:
            report(f"op {op!r} takes no value, got {describe(value)}; remove 'value'")
        return None
    if text and op not in _TEXT_OPS:
        report(f"op {op!r} does not apply to text field {name!r}; use one of {', '.join(_TEXT_OPS)}")
        return None

    def scalar(v: object) -> float | str | None:
        if text:
            if isinstance(v, str):
                return v
            hint = (
                " (put it in quotes: YAML reads yes/no/on/off as true/false)"
                if isinstance(v, bool)
                else " (put it in quotes)"
            )
            report(f"value for {op!r} on text field {name!r} must be text, got {describe(v)}{hint}")
            return None
        if _is_number(v):
            return float(v)  # type: ignore[arg-type]
        hint = " (use 1 for yes and 0 for no)" if isinstance(v, bool) else ""
        report(f"value for {op!r} on {kind} {name!r} must be a number, got {describe(v)}{hint}")
        return None

    if op in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            report(f"value for {op!r} must be a non-empty list like [a, b], got {describe(value)}")
            return None
        items = [scalar(v) for v in value]
        if any(i is None for i in items):
            return None
        return frozenset(items)
    if op == "between":
        if not (isinstance(value, list) and len(value) == 2 and all(_is_number(v) for v in value)):
            report(f"value for 'between' must be a list of two numbers [low, high], got {describe(value)}")
            return None
        lo, hi = float(value[0]), float(value[1])
        if lo > hi:
            report(f"value for 'between' must be [low, high] with low <= high, got [{value[0]}, {value[1]}]")
            return None
        return (lo, hi)
    if isinstance(value, list):
        report(f"value for {op!r} must be a single value, got {describe(value)}; use 'in' to test against a list")
        return None
    if value is None:
        report(f"op {op!r} needs a value")
        return None
    return scalar(value)


def _parse_node(raw: object, where: str, seg: str, out: Problems) -> Node | None:
    """Parse a rule node (a group or a condition) at ``where``; report problems, None if invalid."""
    if not isinstance(raw, dict):
        out.add(
            seg,
            where,
            f"expected an 'all:' or 'any:' block or a condition {{field, op, value}}, got {describe(raw)}",
        )
        return None
    keys = set(raw)
    if keys & {"all", "any"}:
        if len(keys) != 1:
            extra = sorted(str(k) for k in keys - {"all"} - {"any"}) or ["both 'all' and 'any'"]
            out.add(
                seg,
                where,
                "a block holds exactly one of 'all' or 'any' and nothing else; found "
                f"{', '.join(extra)} (nest a block inside the other to combine them)",
            )
            return None
        mode: Literal["all", "any"] = "all" if "all" in raw else "any"
        items_raw = raw[mode]
        if not isinstance(items_raw, list) or not items_raw:
            out.add(
                seg,
                f"{where}.{mode}",
                f"'{mode}' needs a non-empty list of conditions, got {describe(items_raw)}",
            )
            return None
        items = [_parse_node(item, f"{where}.{mode}[{i}]", seg, out) for i, item in enumerate(items_raw)]
        if any(i is None for i in items):
            return None
        return _make_group(mode, tuple(i for i in items if i is not None))
    return _parse_condition(raw, where, seg, out)


def _parse_condition(raw: dict[Any, Any], where: str, seg: str, out: Problems) -> Condition | None:
    ok = True

    def report(message: str) -> None:
        nonlocal ok
        ok = False
        out.add(seg, where, message)

    unknown = sorted(str(k) for k in raw if k not in ("field", "op", "value"))
    if unknown:
        report(
            f"unknown key(s) {', '.join(repr(k) for k in unknown)} in condition; a condition has "
            f"'field', 'op' and 'value'"
            f"{suggest(unknown[0], ['field', 'op', 'value', 'all', 'any'])}"
        )
    name = raw.get("field")
    op = raw.get("op")
    if not isinstance(name, str) or not name:
        report(f"condition needs 'field' (a column name), got {describe(name)}")
    elif name not in FIELDS:
        report(
            f"unknown field {name!r}{suggest(name, FIELDS)} (fields: see the comments at the "
            "top of the default segments.yaml or features/definitions.py)"
        )
    if not isinstance(op, str) or not op:
        hint = ' (quote it: op: ">=")' if op is None and "op" in raw else ""
        report(f"condition needs 'op', one of {', '.join(OPS)}; got {describe(op)}{hint}")
    elif op not in OPS:
        alias = _OP_ALIASES.get(op.strip().lower())
        hint = f"; did you mean {alias!r}?" if alias else suggest(op, OPS)
        report(f"unknown op {op!r}{hint} (ops: {', '.join(OPS)})")
    if not ok:
        return None
    assert isinstance(name, str) and isinstance(op, str)
    if op not in _NO_VALUE_OPS and "value" not in raw:
        report(f"op {op!r} needs a 'value'")
        return None
    value = _check_value(name, op, raw.get("value"), report)
    if not ok:
        return None
    return _make_condition(name, op, value)


def parse_rules(data: object, source: str = "<rules>") -> RuleSet:
    """Validate and compile rules already read from YAML (``{"segments": [...]}``).

    Raises :class:`SegmentRuleError` listing every problem with its segment and place in the rule.
    """
    out = Problems(source)
    if not isinstance(data, dict):
        out.add(None, "", f"expected a mapping with a 'segments' list at the top, got {describe(data)}")
        raise SegmentRuleError(out.problems)
    unknown_top = sorted(str(k) for k in data if k not in ("version", "segments"))
    if unknown_top:
        out.add(
            None,
            "",
            f"unknown top-level key(s) {', '.join(repr(k) for k in unknown_top)}; "
            f"expected 'version' and 'segments'{suggest(unknown_top[0], ['segments', 'version'])}",
        )
    if data.get("version", 1) != 1:
        out.add(
            None,
            "version",
            f"unsupported version {data.get('version')!r}; this code reads version 1",
        )
    raw_segments = data.get("segments")
    if not isinstance(raw_segments, list) or not raw_segments:
        out.add(None, "segments", f"'segments' must be a non-empty list, got {describe(raw_segments)}")
        raise SegmentRuleError(out.problems)

    segments: list[Segment] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(raw_segments):
        label = f"segment #{i + 1}"
        if not isinstance(raw, dict):
            out.add(
                label,
                "",
                f"expected a mapping with name, description and rule, got {describe(raw)}",
            )
            continue
        name = raw.get("name")
        if isinstance(name, str) and name:
            label = f"segment {name!r}"
        unknown = sorted(str(k) for k in raw if k not in ("name", "description", "rule"))
        if unknown:
            out.add(
                label,
                "",
                f"unknown key(s) {', '.join(repr(k) for k in unknown)}; a segment has "
                f"'name', 'description' and 'rule'"
                f"{suggest(unknown[0], ['name', 'description', 'rule'])}",
            )
        if not isinstance(name, str) or not _NAME_RE.match(name):
            out.add(
                label,
                "name",
                f"name must be snake_case (lower-case letters, digits and _, "
                f"starting with a letter), got {describe(name)}",
            )
        elif name in seen:
            out.add(label, "name", f"duplicate segment name {name!r} (also segment #{seen[name]})")
        else:
            seen[name] = i + 1
        description = raw.get("description")
        if not isinstance(description, str) or not description.strip():
            out.add(
                label,
                "description",
                f"description must be a non-empty text, got {describe(description)}",
            )
        rule = raw.get("rule")
        if rule is None or rule == {} or rule == []:
            out.add(label, "rule", "empty rule: give 'all:' or 'any:' with at least one condition")
            continue
        node = _parse_node(rule, "rule", label, out)
        if node is not None and isinstance(name, str) and isinstance(description, str):
            segments.append(Segment(name=name, description=" ".join(description.split()), rule=node))
    if out.problems:
        raise SegmentRuleError(out.problems)
    return RuleSet(segments=tuple(segments), source=source)


def load_rules(path: Path | None = None) -> RuleSet:
    """Load and compile a rules file; ``None`` loads the packaged ``features/segments.yaml``.

    Raises :class:`SegmentRuleError` for invalid rules, unreadable YAML or a missing file.
    """
    data, source = read_yaml(path, "features", DEFAULT_RULES_RESOURCE, SegmentRuleError)
    return parse_rules(data, source=source)


@lru_cache(maxsize=1)
def default_rules() -> RuleSet:
    """The packaged default rules, loaded once."""
    return load_rules(None)


# -------------------------------------------------------------------------------------- evaluation


def segments_of(row: Row, rules: RuleSet | None = None) -> list[str]:
    """Names of the segments one cart belongs to, in rules order.

    ``row`` maps field names to values (plain Python or numpy scalars); an absent key counts as
    missing.
    Plain Python, no pandas: this runs per request in the web service.
    """
    tests = (rules if rules is not None else default_rules())._tests
    return [name for name, test in tests if test(row)]


def assign_segments(frame: pd.DataFrame, rules: RuleSet | None = None) -> pd.DataFrame:
    """One boolean column per segment (rules order), same index as ``frame``.

    Raises ValueError naming the columns the rules need that ``frame`` lacks.
    """
    rules = rules if rules is not None else default_rules()
    missing = [c for c in rules.columns_needed() if c not in frame.columns]
    if missing:
        raise ValueError(
            f"the cart table lacks column(s) used by the segment rules ({rules.source}): {', '.join(missing)}"
        )
    cols = _FrameColumns(frame)
    return pd.DataFrame(
        {s.name: s.rule.mask(cols) for s in rules.segments}, index=frame.index, columns=rules.names
    ).astype(bool)


def summarize(frame: pd.DataFrame, rules: RuleSet | None = None, label: str = LABEL) -> pd.DataFrame:
    """Per segment: carts, share of all carts, and abandonment rate; first row ``"all carts"``.

    Columns: ``segment``, ``carts``, ``share``, ``labelled`` (carts with a known label),
    ``abandonment_rate`` (mean of ``label`` over carts with a known label; NaN when none) and
    ``description``.
    """
    rules = rules if rules is not None else default_rules()
    if label not in frame.columns:
        raise ValueError(f"the cart table has no {label!r} column to compute abandonment rates")
    members = assign_segments(frame, rules)
    y = frame[label].to_numpy(dtype=np.float64, na_value=np.nan)
    known = ~np.isnan(y)
    total = len(frame)
    rows: list[dict[str, object]] = []

    def add(name: str, description: str, mask: BoolArray) -> None:
        n = int(mask.sum())
        k = mask & known
        n_known = int(k.sum())
        rows.append(
            {
                "segment": name,
                "carts": n,
                "share": n / total if total else float("nan"),
                "labelled": n_known,
                "abandonment_rate": float(y[k].mean()) if n_known else float("nan"),
                "description": description,
            }
        )

    add(ALL_CARTS, "Every cart: one row per cart.", np.ones(total, dtype=bool))
    for s in rules.segments:
        add(s.name, s.description, members[s.name].to_numpy(dtype=bool))
    return pd.DataFrame(rows, columns=["segment", "carts", "share", "labelled", "abandonment_rate", "description"])


def last_snapshot_per_session(snapshots: pd.DataFrame) -> pd.DataFrame:
    """One row per cart: the snapshot of each session with the highest ``snapshot_time``.

    On a tie the row that comes last in ``snapshots`` wins; a missing time sorts first (never wins
    over a known time). The result keeps the original index, ordered by time.
    """
    for c in ("session_id", "snapshot_time"):
        if c not in snapshots.columns:
            raise ValueError(f"the snapshot table has no {c!r} column")
    ordered = snapshots.sort_values("snapshot_time", kind="stable", na_position="first")
    return ordered.drop_duplicates("session_id", keep="last")
