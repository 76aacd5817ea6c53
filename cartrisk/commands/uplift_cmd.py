"""``cartrisk uplift train`` and ``cartrisk uplift promote``: incentives chosen by measured effect and profit.

``train`` learns, from the shop's logged randomised experiments (``experiments.parquet`` of the data folder), what
each incentive does to the purchase probability of each kind of cart, evaluates the profit policy those effects
drive on the newest week of experiments (against the baselines, with the generator's truth when the folder has
``truth/experiments.parquet``), and logs it all to MLflow (experiment ``cartrisk-uplift``). ``promote`` moves the
``champion`` alias of ``cartrisk-uplift`` through the same gate as the risk model. The service and the batch
scorer use the profit policy when an uplift champion exists, the rule-based policy otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from tqdm import tqdm

from cartrisk.commands.common import emit_json, fail, load_data, print_promotion, read_snapshots
from cartrisk.commands.train_cmd import DataOpt, FeaturesOpt, JsonOpt
from cartrisk.settings import get_settings

if TYPE_CHECKING:
    import pandas as pd

    from serving.policy import Catalogue

uplift_app = typer.Typer(
    help="Uplift models: learn what each incentive changes, choose incentives by expected profit.",
    no_args_is_help=True,
)

CatalogueOpt = Annotated[
    Path | None, typer.Option(help="Incentive catalogue YAML (default: the packaged serving/incentives.yaml).")
]


def _inputs(data: Path | None, features: Path | None, catalogue_file: Path | None
            ) -> tuple[pd.DataFrame, pd.DataFrame, Catalogue, pd.DataFrame | None]:
    import pandas as pd

    from serving.policy import PolicyError, default_catalogue, load_catalogue

    settings = get_settings()
    folder = data or settings.data_dir
    try:
        catalogue = load_catalogue(catalogue_file) if catalogue_file is not None else default_catalogue()
    except (PolicyError, FileNotFoundError) as exc:
        fail(str(exc))
    dataset = load_data(folder, quiet=True)
    experiments = dataset.experiments
    if experiments is None or experiments.empty:
        fail(f"{folder}: no experiments table (experiments.parquet or .csv); uplift models learn from logged "
             "randomised incentive tests")
    snaps = read_snapshots(folder, features, dataset)
    truth_file = folder / "truth" / "experiments.parquet"
    truth = pd.read_parquet(truth_file) if truth_file.exists() else None
    return snaps, experiments, catalogue, truth


def train(
    data: DataOpt = None,
    features: FeaturesOpt = None,
    catalogue: CatalogueOpt = None,
    register: Annotated[bool, typer.Option("--register", help="Register the model as cartrisk-uplift.")] = False,
    seed: Annotated[int | None, typer.Option(help="Random seed (default: CARTRISK_SEED).")] = None,
    json: JsonOpt = False,
) -> None:
    """Fit the uplift models on the logged experiments (split by decision time), evaluate the profit policy
    against the baselines on the newest window, log the run to MLflow and optionally register the model."""
    from training.uplift_track import train_uplift_and_log
    from training.uplift_train import UpliftConfig

    settings = get_settings()
    config = UpliftConfig(valid_days=settings.valid_days, test_days=settings.test_days,
                          seed=settings.seed if seed is None else seed)
    with tqdm(total=2, desc="uplift", unit="step", disable=json, leave=False) as bar:
        bar.set_postfix_str("snapshots")
        snaps, experiments, cat, truth = _inputs(data, features, catalogue)
        bar.update()
        bar.set_postfix_str("fit + evaluate + log")
        try:
            run = train_uplift_and_log(snaps, experiments, cat, truth, config, register=register,
                                       source=str(data or settings.data_dir))
        except ValueError as exc:
            fail(str(exc))
        bar.update()
    result = run.result
    m = result.metrics
    summary: dict[str, Any] = {
        "run_id": run.run_id,
        "model_version": run.model_version,
        "data_hash": run.data_hash,
        "experiment_table": result.table.summary(),
        "split": result.split.as_dict(),
        "metrics": m,
        "policies": result.policies,
        "seconds": round(run.seconds, 1),
    }
    if json:
        emit_json(summary)
        return
    typer.echo(f"run {run.run_id}" + (f", registered as cartrisk-uplift version {run.model_version}"
                                      if run.model_version else ""))
    t = result.table.summary()
    typer.echo(f"{t['rows']:,} experiment carts ({t['skipped']:,} skipped: {t['skipped_by_reason']}); "
               f"test window {result.split.test_start:%Y-%m-%d} .. {result.split.end:%Y-%m-%d}, "
               f"{int(m['test_rows']):,} carts")
    typer.echo(f"  {'incentive':<16}{'Qini':>8}{'AUUC':>8}{'upl@30%':>9}{'observed':>10}{'predicted':>10}")
    for arm in result.model.arms[1:]:
        if f"qini_{arm}" in m:
            typer.echo(f"  {arm:<16}{m[f'qini_{arm}']:>8.3f}{m[f'auuc_{arm}']:>8.3f}{m[f'uplift_at_30_{arm}']:>9.3f}"
                       f"{m[f'observed_ate_{arm}']:>10.3f}{m[f'predicted_ate_{arm}']:>10.3f}")
    typer.echo(format_policies(result.policies))
    typer.echo(f"done in {summary['seconds']} s; see it with `mlflow ui --backend-store-uri "
               f"{settings.mlflow_tracking_uri}` (experiment cartrisk-uplift)")


def format_policies(policies: dict[str, dict[str, float]]) -> str:
    """Profit per cart of each policy: true (generated shop) and the DR estimate with its standard error."""
    has_truth = any("profit_per_cart" in v for v in policies.values())
    head = f"  {'policy':<26}" + (f"{'true profit':>12}{'of oracle':>11}" if has_truth else "") + \
        f"{'DR estimate':>20}{'incentives':>12}"
    lines = ["profit per cart over giving nothing (test window):", head]
    order = sorted(policies, key=lambda k: -policies[k].get("profit_per_cart", policies[k].get("dr_profit_per_cart",
                                                                                                0.0)))
    for name in order:
        v = policies[name]
        line = f"  {name:<26}"
        if has_truth:
            line += f"{v.get('profit_per_cart', float('nan')):>12.3f}{v.get('share_of_oracle', float('nan')):>11.1%}"
        if "dr_profit_per_cart" in v:
            line += f"{v['dr_profit_per_cart']:>12.3f} ± {v['dr_se']:<5.3f}"
        else:
            line += f"{'':>20}"
        line += f"{v.get('incentive_share', float('nan')):>12.1%}"
        lines.append(line)
    return "\n".join(lines)


def promote(
    version: Annotated[str | None, typer.Option(help="Registered version to consider (default: the newest).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Move the alias even if the candidate is not better "
                                        "(recorded as forced).")] = False,
    data: DataOpt = None,
    features: FeaturesOpt = None,
    catalogue: CatalogueOpt = None,
    json: JsonOpt = False,
) -> None:
    """Compare a candidate uplift model with the current champion on the newest window of experiment carts; move
    the `champion` alias only when its policy earns more per cart (doubly robust estimate) by
    CARTRISK_PROMOTE_MIN_PROFIT_GAIN and its calibration error is within CARTRISK_PROMOTE_MAX_ECE."""
    from training.tracking import configure
    from training.uplift_track import compare_and_promote_uplift
    from training.uplift_train import UpliftConfig

    settings = get_settings()
    configure()
    snaps, experiments, cat, _ = _inputs(data, features, catalogue)
    config = UpliftConfig(valid_days=settings.valid_days, test_days=settings.test_days, seed=settings.seed)
    try:
        result = compare_and_promote_uplift(snaps, experiments, cat, version=version, force=force,
                                            min_profit_gain=settings.promote_min_profit_gain,
                                            max_ece=settings.promote_max_ece, config=config)
    except (LookupError, ValueError) as exc:
        fail(str(exc))
    print_promotion(result, ("dr_profit_per_cart", "dr_se", "ips_profit_per_cart", "ece", "qini_mean",
                             "incentive_share"), f"{result.window['experiment_carts']} experiment carts", json)


def register(app: typer.Typer) -> None:
    uplift_app.command("train")(train)
    uplift_app.command("promote")(promote)
    app.add_typer(uplift_app, name="uplift")
