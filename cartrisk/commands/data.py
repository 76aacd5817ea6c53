"""``cartrisk generate``: write a synthetic shop whose abandonment causes and incentive effects are known.

``cartrisk generate --out DIR [--customers N] [--days D] [--seed S] [--json]`` writes ``events``, ``orders``,
``email_events``, ``customers`` and ``experiments`` as Parquet in DIR, and the truth (exact abandonment
probability per snapshot, per-arm purchase probabilities of the experiment carts, cart outcomes, customer
segments) under ``DIR/truth/``. The same seed writes the same bytes. See :mod:`training.synthetic_shop`.
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from cartrisk.commands.common import emit_json, fail
from cartrisk.settings import get_settings

DEFAULT_CUSTOMERS = 20_000
DEFAULT_DAYS = 60


def format_summary(summary: dict[str, Any]) -> str:
    """The human-readable summary of one generated shop."""
    rows = summary["rows"]
    lines = [
        f"synthetic shop: {summary['customers']:,} customers, {summary['days']} days from "
        f"{summary['start']}, seed {summary['seed']}",
        "  " + ", ".join(f"{name} {count:,}" for name, count in rows.items()),
        f"  sessions {summary['sessions']:,}, carts {summary['carts']:,} "
        f"(abandoned {summary['abandonment_rate']:.1%}), experiment carts {summary['experiment_carts']:,}",
        f"  written to {summary['out']} (truth in {summary['out']}/truth) in {summary['seconds']} s",
    ]
    return "\n".join(lines)


def generate(
    out: Annotated[
        Path | None,
        typer.Option(help="Folder to write the tables to (default: the data folder of CARTRISK_HOME)."),
    ] = None,
    customers: Annotated[
        int, typer.Option(min=1, help="Known customers (guests come on top, about 35% of sessions).")
    ] = DEFAULT_CUSTOMERS,
    days: Annotated[int, typer.Option(min=1, help="Days of sessions; history reaches back before them.")]
    = DEFAULT_DAYS,
    seed: Annotated[
        int | None, typer.Option(help="Random seed (default: the seed setting, CARTRISK_SEED).")
    ] = None,
    start: Annotated[str, typer.Option(help="First day of sessions, a UTC date (YYYY-MM-DD).")]
    = "2026-01-05",
    experiment_share: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="Share of carts in the randomised incentive test (an arm drawn at the first add).")
    ] = 0.3,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
) -> None:
    """Generate a synthetic shop with known truth: tables as Parquet, the truth under truth/."""
    from training.synthetic_shop import generate_shop, write_shop

    settings = get_settings()
    folder = out if out is not None else settings.data_dir
    chosen_seed = settings.seed if seed is None else seed
    try:
        date.fromisoformat(start)
    except ValueError:
        fail(f"--start {start!r} is not a date like 2026-01-05")
    started = time.perf_counter()
    try:
        shop = generate_shop(customers, days, chosen_seed, start,
                             label_window_hours=settings.label_window_hours, progress=True,
                             experiment_share=experiment_share)
        paths = write_shop(shop, folder, progress=True)
    except (ValueError, OSError) as exc:
        fail(str(exc))
    summary: dict[str, Any] = {
        "out": str(folder),
        "customers": customers,
        "days": days,
        "seed": chosen_seed,
        "start": start,
        **shop.summary(),
        "seconds": round(time.perf_counter() - started, 2),
        "files": [str(p) for p in paths],
    }
    if json_out:
        emit_json(summary)
    else:
        typer.echo(format_summary(summary))


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("generate")(generate)
