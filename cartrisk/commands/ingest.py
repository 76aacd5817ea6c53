"""``cartrisk ingest``: turn public event logs into the project's tables.

``cartrisk ingest rees46 SRC.csv --out DIR [--json]`` converts a REES46 / Open CDP file (see
:mod:`features.rees46`) into ``events``, ``orders``, ``email_events`` and ``customers`` Parquet
files, quarantines its bad rows with their reasons and lists the sessions cut by the file's edges.
"""

from __future__ import annotations

from pathlib import Path

import typer

from cartrisk.commands.common import emit_json, fail
from cartrisk.settings import get_settings
from features.rees46 import DEFAULT_EDGE_MINUTES, IngestSummary, ingest_rees46
from features.validate import SchemaError, TooManyBadRows

ingest_app = typer.Typer(
    help="Convert public e-commerce logs into the cartrisk tables.",
    no_args_is_help=True,
)


def format_summary(summary: IngestSummary) -> str:
    """The human-readable summary of one REES46 load."""

    def counts(d: dict[str, int], sep: str = " ") -> str:
        return ", ".join(f"{k}{sep}{v:,}" for k, v in d.items()) or "none"

    edges = summary.edge_sessions
    lines = [
        f"REES46 {summary.source}",
        f"  rows read            {summary.rows_read:,}",
        f"  rows ok              {summary.rows_ok:,}",
        f"  rows bad             {summary.rows_bad:,}"
        + (f" ({counts(summary.bad_reasons, ': ')})" if summary.rows_bad else ""),
        f"  events by type       {counts(summary.events_by_type)}",
        f"  time span            {summary.first_event_time} .. {summary.last_event_time}",
        f"  sessions             {summary.sessions:,}",
        f"  sessions with a cart {summary.sessions_with_cart:,}",
        f"  orders               {summary.orders:,}",
        f"  customers            {summary.customers:,}",
        f"  edge sessions        {edges['total']:,} (start {edges['start']:,}, end "
        f"{edges['end']:,}, both {edges['both']:,}; "
        f"within {summary.edge_minutes:g} min of the file's first/last event)",
        f"  sessions, >1 user    {summary.sessions_with_several_users:,}",
    ]
    lines += [f"  warning: {w}" for w in summary.warnings]
    lines.append("written:")
    lines += [f"  {name:<14} {path}" for name, path in summary.paths.items()]
    return "\n".join(lines)


@ingest_app.command("rees46")
def rees46(
    src: Path = typer.Argument(..., help="REES46 / Open CDP CSV file, e.g. 2019-Oct.csv."),
    out: Path = typer.Option(..., "--out", help="Folder to write the tables to."),
    max_bad_share: float | None = typer.Option(
        None, "--max-bad-share", min=0.0, max=1.0,
        help="Fail when more than this share of rows is bad (default: the max_bad_row_share "
        "setting, CARTRISK_MAX_BAD_ROW_SHARE).",
    ),
    edge_minutes: float = typer.Option(
        DEFAULT_EDGE_MINUTES, "--edge-minutes", min=0.0,
        help="A session starting (ending) this close to the file's first (last) event is listed "
        "as cut by the edge.",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
) -> None:
    """Convert a REES46 event file into events, orders, email_events and customers."""
    limit = get_settings().max_bad_row_share if max_bad_share is None else max_bad_share
    try:
        summary = ingest_rees46(src, out, max_bad_share=limit, edge_minutes=edge_minutes)
    except (FileNotFoundError, SchemaError, TooManyBadRows, ValueError) as exc:
        fail(str(exc))
    if json_out:
        emit_json(summary.as_dict())
    else:
        typer.echo(format_summary(summary))


def register(app: typer.Typer) -> None:
    """Add the ``ingest`` command group to ``app``."""
    app.add_typer(ingest_app, name="ingest")
