"""``cartrisk segments``: how many carts each segment holds and how often they are abandoned."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from cartrisk.commands.common import emit_json, fail, read_snapshots
from cartrisk.settings import get_settings
from features.segments import (
    ALL_CARTS,
    RuleSet,
    SegmentRuleError,
    last_snapshot_per_session,
    load_rules,
    summarize,
)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("segments")(segments)


def segments(
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="Data folder of the shop (events, orders, email_events, customers). Default: <CARTRISK_HOME>/data.",
            file_okay=False,
        ),
    ] = None,
    rules: Annotated[
        Path | None,
        typer.Option(
            "--rules",
            help="Segment rules (YAML). Default: the packaged features/segments.yaml; copy and "
            "edit it to define your own segments.",
            dir_okay=False,
        ),
    ] = None,
    features: Annotated[
        Path | None,
        typer.Option(
            "--features",
            help="Snapshot table (Parquet) written by `cartrisk features`; skips deriving snapshots from --data.",
            dir_okay=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
) -> None:
    """Count carts per segment (last snapshot of each session) with their abandonment rate."""
    try:
        ruleset = load_rules(rules)
    except SegmentRuleError as exc:
        fail(str(exc))
    snapshots = read_snapshots(data or get_settings().data_dir, features, quiet=as_json)
    try:
        carts = last_snapshot_per_session(snapshots)
        table = summarize(carts, ruleset)
    except ValueError as exc:
        fail(str(exc))
    if as_json:
        emit_json(_as_json(table, ruleset))
    else:
        typer.echo(_as_text(table, ruleset))


def _num(x: Any) -> float | None:
    """A float for JSON; NaN becomes null."""
    value = float(x)
    return None if math.isnan(value) else value


def _as_json(table: pd.DataFrame, ruleset: RuleSet) -> dict[str, Any]:
    total = table.iloc[0]
    return {
        "carts": int(total["carts"]),
        "abandonment_rate": _num(total["abandonment_rate"]),
        "rules": ruleset.source,
        "segments": [
            {
                "name": str(r["segment"]),
                "carts": int(r["carts"]),
                "share": _num(r["share"]),
                "abandonment_rate": _num(r["abandonment_rate"]),
                "description": str(r["description"]),
            }
            for _, r in table.iloc[1:].iterrows()
        ],
    }


def _pct(x: Any) -> str:
    value = float(x)
    return "-" if math.isnan(value) else f"{100 * value:.1f}%"


def _as_text(table: pd.DataFrame, ruleset: RuleSet) -> str:
    header = ("segment", "carts", "share", "abandoned", "description")
    rows = [
        (
            str(r["segment"]),
            f"{int(r['carts']):,}",
            _pct(r["share"]),
            _pct(r["abandonment_rate"]),
            str(r["description"]),
        )
        for _, r in table.iterrows()
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header[:4])]

    def line(cells: tuple[str, ...]) -> str:
        name, *nums = cells[:4]
        parts = [name.ljust(widths[0])] + [c.rjust(w) for c, w in zip(nums, widths[1:], strict=True)]
        return "  ".join([*parts, cells[4]]).rstrip()

    out = [
        f"Segments from {ruleset.source}; one cart = the last snapshot of a session. "
        "'abandoned' = abandonment rate among carts with a known outcome.",
        "",
        line(header),
        line(tuple("-" * len(h) if i == 4 else "-" * widths[i] for i, h in enumerate(header))),
    ]
    for row in rows:
        out.append(line(row))
        if row[0] == ALL_CARTS:
            out.append("")
    return "\n".join(out)
