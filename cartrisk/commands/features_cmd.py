"""``cartrisk features``: derive the point-in-time cart snapshot table from a data folder."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from tqdm import tqdm

from cartrisk.commands.common import emit_json, load_data, quarantine_summary
from cartrisk.settings import get_settings


def features(
    data: Annotated[Path, typer.Option(help="Data folder with events, orders, email_events and "
                                       "customers (.parquet or .csv).")],
    out: Annotated[Path, typer.Option(help="Parquet file to write the snapshot table to.")],
    label_window_hours: Annotated[
        float | None,
        typer.Option(help="A cart is recovered if its customer orders within this many hours "
                     "after the session (default: CARTRISK_LABEL_WINDOW_HOURS, else 24)."),
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
) -> None:
    """Write one row per cart snapshot: ids, time, the features known at that moment, and the
    label `abandoned` (1 = no purchase in the session nor within the label window; empty when the
    data ends before the window closes)."""
    from features.io import write_atomic_parquet
    from features.profiles import prepare_shop
    from features.snapshots import snapshots_from_shop

    window = label_window_hours or get_settings().label_window_hours
    started = time.perf_counter()
    with tqdm(total=4, desc="features", unit="step", disable=json, leave=False) as bar:
        bar.set_postfix_str("loading")
        ds = load_data(data)
        bar.update()
        bar.set_postfix_str("sessions and profiles")
        shop = prepare_shop(ds, window)
        bar.update()
        bar.set_postfix_str("snapshots")
        snaps = snapshots_from_shop(shop)
        bar.update()
        bar.set_postfix_str("writing")
        write_atomic_parquet(snaps, out)
        bar.update()
    label = snaps["abandoned"]
    carts = snaps.drop_duplicates("session_id", keep="last")
    summary = {
        "out": str(out),
        "events": len(ds.events),
        "snapshots": len(snaps),
        "carts": len(carts),
        "labelled_carts": int(carts["abandoned"].notna().sum()),
        "cart_abandonment_rate": float(carts["abandoned"].mean()) if len(carts) else None,
        "snapshot_abandonment_rate": float(label.mean()) if len(snaps) else None,
        "quarantined_rows": quarantine_summary(ds),
        "seconds": round(time.perf_counter() - started, 2),
    }
    if json:
        emit_json(summary)
        return
    typer.echo(f"wrote {summary['snapshots']:,} snapshots of {summary['carts']:,} carts to {out}")
    rate = summary["cart_abandonment_rate"]
    typer.echo(f"carts with a known outcome: {summary['labelled_carts']:,}; abandoned: "
               + (f"{rate:.1%}" if rate is not None else "n/a"))
    typer.echo(f"from {summary['events']:,} events in {summary['seconds']} s")


def register(app: typer.Typer) -> None:
    app.command("features")(features)
