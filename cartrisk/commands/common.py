"""Helpers shared by the commands: JSON output and clear errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from cartrisk.settings import get_settings

if TYPE_CHECKING:
    import pandas as pd

    from features.io import Dataset
    from training.registry import Promotion


def emit_json(obj: Any) -> None:
    """Print one JSON object on stdout (the ``--json`` contract)."""
    sys.stdout.write(json.dumps(obj, default=str, indent=None) + "\n")


def fail(message: str, code: int = 2) -> NoReturn:
    """Print an error to stderr and exit with ``code``."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def load_data(data_dir: Path, quiet: bool = False) -> Dataset:
    """Load a data folder for a command; turn loading problems into clear errors (exit code 2).

    Quarantined rows are reported on stderr, so ``--json`` output on stdout stays one object.
    """
    from features.io import UnreadableFile, load_dataset
    from features.validate import SchemaError, TooManyBadRows

    settings = get_settings()
    try:
        ds = load_dataset(data_dir, max_bad_share=settings.max_bad_row_share)
    except (FileNotFoundError, SchemaError, TooManyBadRows, UnreadableFile) as exc:
        fail(str(exc))
    if not quiet:
        for report in ds.reports:
            if report.rows_bad:
                typer.secho(
                    f"warning: {report.source}: {report.rows_bad} of {report.rows_read} rows "
                    f"quarantined ({', '.join(f'{k}: {v}' for k, v in report.reasons.items())}); "
                    f"see {data_dir / 'quarantine' / (report.table + '.csv')}",
                    fg=typer.colors.YELLOW,
                    err=True,
                )
    return ds


def quarantine_summary(ds: Dataset) -> dict[str, int]:
    """Rows quarantined per table (only tables with bad rows)."""
    return {r.table: r.rows_bad for r in ds.reports if r.rows_bad}


def print_promotion(result: Promotion, keys: tuple[str, ...], window: str, json: bool) -> None:
    """What ``promote`` decided: a loud warning on stderr when forced, then JSON or the metrics side by side."""
    if result.forced:
        typer.secho("!" * 72 + "\n!! FORCED PROMOTION: the candidate did not pass the promotion gate.\n"
                    + "!" * 72, fg=typer.colors.RED, bold=True, err=True)
    if json:
        emit_json(result.as_dict())
        return
    w = result.window
    typer.echo(f"newest test window {w['from']} .. {w['to']} ({window})")
    names = list(result.metrics)
    typer.echo(f"  {'metric':<22}" + "".join(f"{n:>18}" for n in names))
    for key in keys:
        if all(key in result.metrics[n] for n in names):
            typer.echo(f"  {key:<22}" + "".join(f"{result.metrics[n][key]:>18.4f}" for n in names))
    verdict = "PROMOTED to champion" if result.promoted else "not promoted"
    typer.echo(f"version {result.candidate}: {verdict} ({result.reason})")


def write_csv(table: pd.DataFrame, out: Path | None) -> pd.DataFrame:
    """Write ``table`` to ``out`` (folders created) when given; return it."""
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(out, index=False)
    return table


def read_snapshots(folder: Path, features: Path | None, dataset: Dataset | None = None,
                   latest_only: bool = False, quiet: bool = True) -> pd.DataFrame:
    """The snapshot table: read from ``features`` (a table written by ``cartrisk features``) when given, else
    derived from ``dataset`` (loaded from ``folder`` when not given; ``quiet``: without the loading summary);
    derived with ``latest_only``, only each cart's latest snapshot (what batch scoring needs, about a third of the
    rows)."""
    import pandas as pd

    if features is not None:
        if not features.exists():
            fail(f"{features}: no such snapshot table")
        try:
            return pd.read_parquet(features)
        except (OSError, ValueError) as exc:
            fail(f"cannot read the snapshot table {features}: {exc}")
    from features.snapshots import build_snapshots

    return build_snapshots(dataset if dataset is not None else load_data(folder, quiet=quiet),
                           get_settings().label_window_hours, latest_only=latest_only)
