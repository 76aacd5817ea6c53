"""``cartrisk score``: every cart of a data set scored with the service's model and policy, and the lists marketers
import into their e-mail and ad tools.

The models are the ones the service runs: the latest ``cartrisk-risk`` (and ``cartrisk-uplift``, when imported) of
the BentoML model store, put there by ``cartrisk import-model``. With an uplift model the incentives follow the
profit policy, otherwise the rule-based policy, exactly as ``/score`` answers.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from tqdm import tqdm

from cartrisk.commands.common import emit_json, fail, load_data, read_snapshots
from cartrisk.commands.train_cmd import DataOpt, FeaturesOpt, JsonOpt
from cartrisk.settings import get_settings

if TYPE_CHECKING:
    import pandas as pd

LastDaysOpt = Annotated[float | None, typer.Option(
    min=0.0, help="Only the carts whose latest snapshot is in the last DAYS days of the data.")]


@dataclass(frozen=True)
class StoredModels:
    """Where the latest models of the BentoML store are, found without loading them."""

    risk: Path
    uplift: Path | None
    labels: dict[str, str]

    def load(self) -> tuple[Any, Any]:
        """(risk model, uplift model or None)."""
        from training.model import RiskModel
        from training.uplift_model import UpliftModel

        return RiskModel.load(self.risk), UpliftModel.load(self.uplift) if self.uplift is not None else None


def stored_models() -> StoredModels:
    """The latest risk (and uplift, when imported) models of the BentoML store; fails clearly without a risk
    model."""
    from serving.model_import import (
        BENTO_MODEL_NAME,
        BENTO_UPLIFT_NAME,
        bentoml_home_default,
    )

    bentoml_home_default()
    import bentoml

    try:
        risk = bentoml.models.get(f"{BENTO_MODEL_NAME}:latest")
    except bentoml.exceptions.NotFound:
        fail("no risk model in the BentoML store; run `cartrisk import-model` (after `cartrisk train --register` "
             "and `cartrisk promote`)")
    labels = {"risk_version": str(dict(risk.info.labels).get("mlflow_version", risk.tag.version))}
    uplift = None
    try:
        found = bentoml.models.get(f"{BENTO_UPLIFT_NAME}:latest")
        uplift = Path(found.path)
        labels["uplift_version"] = str(dict(found.info.labels).get("mlflow_version", found.tag.version))
    except bentoml.exceptions.NotFound:
        pass
    return StoredModels(Path(risk.path), uplift, labels)


def bento_models() -> tuple[Any, Any, dict[str, str]]:
    """(risk model, uplift model or None, labels) from the BentoML store."""
    stored = stored_models()
    return (*stored.load(), stored.labels)


@dataclass
class BatchRun:
    scored: pd.DataFrame
    dataset: Any
    snapshots: pd.DataFrame
    uplift: Any
    labels: dict[str, str]
    timings: dict[str, float]
    bought: int
    """Carts left out because they were bought by the end of the data (:func:`serving.batch.already_bought`)."""
    last_days: float | None


def run_batch(data: Path | None, features: Path | None, last_days: float | None, bar: Any) -> BatchRun:
    """Load the models and the data, pick the carts, score them (the common part of ``score`` and ``report``)."""

    from serving.batch import BatchScorer, carts_to_score
    from serving.policy import default_catalogue

    settings = get_settings()
    folder = data or settings.data_dir
    bar.set_postfix_str("models")
    stored = stored_models()  # a missing model is reported now, before the data are read
    bar.update()
    bar.set_postfix_str("data + snapshots")

    def ready_scorer() -> BatchScorer:
        risk_model, uplift = stored.load()
        scorer = BatchScorer(risk_model, catalogue=default_catalogue(), uplift=uplift)
        scorer.warm_up()
        return scorer

    with ThreadPoolExecutor(max_workers=1) as pool:
        # the models (and LightGBM) are loaded, and the scorer made ready, while the data are read
        preparing = pool.submit(ready_scorer)
        dataset = load_data(folder)  # quarantined rows are reported on stderr
        snaps = read_snapshots(folder, features, dataset, latest_only=True)
        carts, bought = carts_to_score(snaps, dataset.events, dataset.orders, last_days)
        scorer = preparing.result()
    uplift, labels = scorer.uplift, stored.labels
    if carts.empty:
        fail(f"{folder}: no cart to score" + (f" in the last {last_days} days" if last_days else "")
             + (f" ({bought:,} carts were bought)" if bought else ""))
    bar.update()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()

    def progress(stage: str, n: int) -> None:
        timings[stage] = round(time.perf_counter() - t0, 2)
        bar.set_postfix_str(f"model and {stage}: {n:,} of {len(carts):,} carts")

    scored = scorer.score(carts, progress=progress)
    bar.update()
    return BatchRun(scored, dataset, snaps, uplift, labels, timings, bought, last_days)


def latest_report_path() -> Path:
    """Where the latest report is kept for the service's ``/report`` page."""
    return get_settings().home / "report" / "latest.html"


def render_report(run: BatchRun) -> tuple[Any, str]:
    """The report's figures and its HTML page."""
    from serving.report import build_report, experiment_outcomes, render_html

    experiments = None
    if run.dataset.experiments is not None and len(run.dataset.experiments):
        experiments = experiment_outcomes(run.snapshots, run.dataset.experiments)
    scope = (f"the carts of the last {run.last_days:g} days of the data" if run.last_days is not None
             else "every cart of the data")
    scope += f", {run.bought:,} carts already bought by the end of the data left out"
    data = build_report(run.scored, run.snapshots, experiments, scope=scope)
    return data, render_html(data)


def save_report(page: str, out: Path) -> None:
    """Write the page (atomically) and keep a copy for the service's ``/report``."""
    from serving.exports import write_text_atomic

    write_text_atomic(out, page)
    write_text_atomic(latest_report_path(), page)


def write_report(run: BatchRun, out: Path) -> Any:
    """Build and write the HTML report of a batch run; return its figures."""
    data, page = render_report(run)
    save_report(page, out)
    return data


def score(
    out: Annotated[Path, typer.Option(help="Folder for carts.csv, the per-incentive lists, report.html and "
                                      "manifest.json.")],
    data: DataOpt = None,
    features: FeaturesOpt = None,
    last_days: LastDaysOpt = None,
    json: JsonOpt = False,
) -> None:
    """Score every cart (each session's latest snapshot with a non-empty cart; carts already bought by the end of
    the data are left out) with the service's model and policy and write one row per cart (cart, customer,
    segments, risk, risk band, incentive, channel, expected cost, expected recovered revenue, top reasons, why)
    plus the e-mail, discount and retargeting lists and the HTML report, all written atomically."""
    from serving.concurrent import in_child
    from serving.exports import cart_products, write_exports
    from serving.policy import default_catalogue

    started = time.perf_counter()
    with tqdm(total=5, desc="score", unit="step", disable=json, leave=False) as bar:
        run = run_batch(data, features, last_days, bar)
        bar.set_postfix_str("exports")
        # the report is rendered in a forked child while the lists are written here (both mostly Python: on
        # threads they would take turns); it is saved once the lists are in place
        page = in_child(lambda: render_report(run)[1])
        try:
            products = cart_products(run.dataset.events, sessions=run.scored["cart_id"])
            written = write_exports(run.scored, products, out, default_catalogue())
            save_report(page(), out / "report.html")
        except OSError as exc:
            fail(f"{out}: could not write the exports ({exc}); nothing was replaced")
        bar.update()
    seconds = time.perf_counter() - started
    scored, timings = run.scored, run.timings
    mix = scored["incentive"].value_counts()
    summary: dict[str, Any] = {
        "out": str(out),
        "carts": len(scored),
        "carts_already_bought_left_out": run.bought,
        "rows_quarantined": {r.table: r.rows_bad for r in run.dataset.reports if r.rows_bad},
        "policy": "profit" if run.uplift is not None else "rules",
        "models": run.labels,
        "files": {**written, "report.html": 1},
        "incentives": {str(k): int(v) for k, v in mix.items()},
        "expected_cost": round(float(scored["expected_cost"].sum()), 2),
        "expected_recovered_revenue": round(float(scored["expected_recovered_revenue"].sum()), 2)
        if scored["expected_recovered_revenue"].notna().any() else None,
        "seconds": round(seconds, 2),
        "seconds_model_and_policy": timings.get("policy"),
        "carts_per_second_model_and_policy": round(len(scored) / timings["policy"]) if timings.get("policy") else None,
    }
    if json:
        emit_json(summary)
        return
    typer.echo(f"scored {len(scored):,} carts with the {summary['policy']} policy ({run.labels}) in {seconds:.1f} s "
               f"(model and policy {timings.get('policy')} s); {run.bought:,} carts already bought were left out")
    typer.echo("incentives: " + ", ".join(f"{k} {v:,}" for k, v in summary["incentives"].items()))
    typer.echo(f"expected cost {summary['expected_cost']:,.2f}"
               + (f", expected recovered revenue {summary['expected_recovered_revenue']:,.2f}"
                  if summary["expected_recovered_revenue"] is not None else ""))
    for name, rows in written.items():
        typer.echo(f"  {out / name}  ({rows:,} rows)")
    typer.echo(f"  {out / 'report.html'}  (open it in a browser; also served at /report)")


def report(
    out: Annotated[Path, typer.Option(help="The HTML file to write.")],
    data: DataOpt = None,
    features: FeaturesOpt = None,
    last_days: LastDaysOpt = None,
    json: JsonOpt = False,
) -> None:
    """Write a self-contained HTML report (opens from disk, offline): abandonment over time, risk distribution,
    segments, the incentive mix per segment with expected cost and recovered revenue, top reasons for risk and,
    when the data holds experiments, measured uplift per incentive and segment. Scores the carts as `cartrisk
    score` does; the service shows the latest report at /report."""
    with tqdm(total=4, desc="report", unit="step", disable=json, leave=False) as bar:
        run = run_batch(data, features, last_days, bar)
        bar.set_postfix_str("report")
        try:
            summary = write_report(run, out)
        except OSError as exc:
            fail(f"{out}: could not write the report ({exc})")
        bar.update()
    if json:
        emit_json({"out": str(out), "carts": summary.carts, "policy": summary.policy,
                   "segments": len(summary.segments), "days": len(summary.daily),
                   "uplift_rows": 0 if summary.uplift is None else len(summary.uplift)})
        return
    typer.echo(f"wrote {out} ({summary.carts:,} carts, {len(summary.segments)} segments); open it in a browser")


def register(app: typer.Typer) -> None:
    app.command("score")(score)
    app.command("report")(report)
