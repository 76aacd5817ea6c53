"""``cartrisk profiles``: the online customer profile store (``sync`` writes a fresh snapshot into it)."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from cartrisk.commands.common import emit_json, fail, load_data
from cartrisk.settings import get_settings

profiles_app = typer.Typer(
    name="profiles",
    help="The online customer profile store read by the scoring service.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add the ``profiles`` command group to ``app``."""
    app.add_typer(profiles_app, name="profiles")


def _progress(message: str) -> None:
    typer.echo(f"profiles: {message}", err=True)


@profiles_app.command("sync")
def sync(
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="Data folder of the shop (events, orders, email_events, customers). Default: <CARTRISK_HOME>/data.",
            file_okay=False,
        ),
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            help="Profile store URL: sqlite:///path/to/profiles.db or redis://host:port/db[?prefix=name]. "
            "Default: sqlite:///<CARTRISK_HOME>/profiles.db.",
        ),
    ] = None,
    as_of: Annotated[
        datetime | None,
        typer.Option(
            "--as-of",
            help="Profiles as of this UTC time (only what happened before it counts). "
            "Default: the end of the data, so every event counts.",
            formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"],
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
) -> None:
    """Compute every known customer's profile and atomically replace the store's snapshot with them."""
    from serving.profile_store import StoreUnavailable, preflight, sync_profiles

    started = time.perf_counter()
    settings = get_settings()
    url = store or settings.profile_store_uri
    try:
        _progress(f"store {preflight(url)}")  # a bad URL or a Redis that is down fails before the data loads
    except (StoreUnavailable, ValueError) as exc:
        fail(str(exc))
    folder = data if data is not None else settings.data_dir
    _progress(f"loading {folder}")
    dataset = load_data(folder)
    try:
        summary = sync_profiles(dataset, url, as_of, label_window_hours=settings.label_window_hours, progress=_progress)
    except (StoreUnavailable, ValueError) as exc:
        fail(str(exc))
    summary["data"] = str(folder)
    summary["seconds"] = round(time.perf_counter() - started, 3)  # loading included
    if as_json:
        emit_json(summary)
        return
    typer.echo(
        f"synced {summary['customers']:,} customer profiles as of {summary['as_of']} "
        f"to {summary['store']} in {summary['seconds']} s"
    )
