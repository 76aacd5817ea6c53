"""``cartrisk train`` and ``cartrisk promote``: the data scientists' loop."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from tqdm import tqdm

from cartrisk.commands.common import emit_json, fail, print_promotion, read_snapshots
from cartrisk.settings import get_settings

if TYPE_CHECKING:
    import pandas as pd

DataOpt = Annotated[
    Path | None,
    typer.Option(help="Data folder (events, orders, email_events, customers) (default: $CARTRISK_HOME/data)."),
]
FeaturesOpt = Annotated[
    Path | None,
    typer.Option(help="Reuse a snapshot table written by `cartrisk features` instead of deriving it."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]


def snapshots_and_truth(data: Path | None, features: Path | None) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The snapshot table (derived or read) and, for a generated shop, the truth of its snapshots."""
    import pandas as pd

    folder = data or get_settings().data_dir
    snaps = read_snapshots(folder, features)
    truth_file = folder / "truth" / "snapshots.parquet"
    truth = pd.read_parquet(truth_file) if truth_file.exists() else None
    return snaps, truth


def train(
    data: DataOpt = None,
    features: FeaturesOpt = None,
    register: Annotated[bool, typer.Option("--register", help="Register the model in the MLflow registry.")] = False,
    tune: Annotated[int, typer.Option(help="Optuna trials on the validation window (0 = no search).")] = 0,
    tune_minutes: Annotated[float | None, typer.Option(help="Stop the search after this many minutes.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (default: CARTRISK_SEED).")] = None,
    json: JsonOpt = False,
) -> None:
    """Train the abandonment model on cart snapshots split by time, log the run to MLflow (metrics, plots,
    model, data hash, git commit) and optionally register it. Promotion is a separate step: `cartrisk promote`."""
    from training.train import TrainConfig, train_and_log

    settings = get_settings()
    config = TrainConfig(
        valid_days=settings.valid_days,
        test_days=settings.test_days,
        seed=settings.seed if seed is None else seed,
        tune_trials=tune,
        tune_timeout_s=tune_minutes * 60 if tune_minutes else None,
        register=register,
    )
    with tqdm(total=4, desc="train", unit="step", disable=json, leave=False) as bar:
        bar.set_postfix_str("snapshots")
        snaps, truth = snapshots_and_truth(data, features)
        bar.update()
        try:
            result = train_and_log(snaps, config, truth=truth, source=str(features or data or settings.data_dir),
                                   progress=bar)
        except ValueError as exc:
            fail(str(exc))
    keys = ("test_roc_auc", "test_pr_auc", "test_log_loss", "test_brier", "test_ece", "test_top_decile_lift",
            "bayes_limit_roc_auc", "gap_to_bayes_limit_roc_auc")
    summary: dict[str, Any] = {
        "run_id": result.run_id,
        "model_version": result.model_version,
        "data_hash": result.data_hash,
        "split": result.split.as_dict(),
        "metrics": {k: result.metrics[k] for k in keys if k in result.metrics},
        "slices": {k.removeprefix("test_roc_auc_"): v for k, v in result.metrics.items()
                   if k.startswith("test_roc_auc_")},
        "seconds": round(result.seconds, 1),
    }
    if json:
        emit_json(summary)
        return
    typer.echo(f"run {result.run_id}" + (f", registered as version {result.model_version}"
                                          if result.model_version else ""))
    typer.echo(f"test window {result.split.test_start:%Y-%m-%d %H:%M} .. {result.split.end:%Y-%m-%d %H:%M}, "
               f"{len(result.split.test):,} snapshots")
    for key, value in summary["metrics"].items():
        typer.echo(f"  {key:<28} {value:.4f}")
    typer.echo("  ROC-AUC by slice: " + ", ".join(f"{k} {v:.3f}" for k, v in summary["slices"].items()))
    typer.echo(f"done in {summary['seconds']} s; see it with `mlflow ui --backend-store-uri "
               f"{settings.mlflow_tracking_uri}`")


def promote(
    version: Annotated[str | None, typer.Option(help="Registered version to consider (default: the newest).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Move the alias even if the candidate is not better "
                                        "(recorded as forced).")] = False,
    data: DataOpt = None,
    features: FeaturesOpt = None,
    json: JsonOpt = False,
) -> None:
    """Compare a candidate with the current champion on the same, newest test window; move the `champion`
    alias only when the candidate's ROC-AUC is better by the configured margin and its calibration error is
    within the limit (CARTRISK_PROMOTE_MIN_AUC_GAIN, CARTRISK_PROMOTE_MAX_ECE)."""
    from training.registry import compare_and_promote
    from training.tracking import configure

    settings = get_settings()
    configure()
    snaps, _ = snapshots_and_truth(data, features)
    try:
        result = compare_and_promote(snaps, version=version, force=force,
                                     min_auc_gain=settings.promote_min_auc_gain, max_ece=settings.promote_max_ece,
                                     test_days=settings.test_days, valid_days=settings.valid_days)
    except (LookupError, ValueError) as exc:
        fail(str(exc))
    print_promotion(result, ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "top_decile_lift"),
                    f"{result.window['snapshots']} snapshots", json)


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("promote")(promote)
