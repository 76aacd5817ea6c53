"""The ``cartrisk`` command line. Each command group lives in :mod:`cartrisk.commands`."""

from __future__ import annotations

import typer

from cartrisk.commands import (
    benchmark_cmd,
    data,
    features_cmd,
    ingest,
    policy_cmd,
    profiles_cmd,
    score_cmd,
    segments_cmd,
    serve_cmd,
    train_cmd,
    uplift_cmd,
)

app = typer.Typer(
    name="cartrisk",
    help="Predict cart abandonment and recommend the incentive that recovers a cart at the least cost.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for module in (data, ingest, features_cmd, segments_cmd, train_cmd, uplift_cmd, benchmark_cmd, profiles_cmd,
               serve_cmd, score_cmd, policy_cmd):
    module.register(app)


if __name__ == "__main__":  # pragma: no cover
    app()
