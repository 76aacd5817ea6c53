"""Uplift models in MLflow: one run per training, registered under ``cartrisk-uplift``, promoted by alias.

:func:`train_uplift_and_log` runs :func:`training.uplift_train.fit_and_evaluate` inside an MLflow run of the
experiment ``cartrisk-uplift`` and logs what a data scientist compares runs by:

* parameters (the split, the learner's LightGBM parameters, the offset boosters' cross-validated rounds), the data
  hash of the experiment table, the feature set and the git commit;
* metrics: per incentive the Qini coefficient, AUUC, uplift at 10% and 30%, observed and predicted average effect;
  the calibration error of the purchase probability; the learned policy's profit per cart (doubly robust and
  inverse-propensity estimates with standard errors, and on a generated shop the true profit and its share of the
  oracle's), next to each baseline's;
* artifacts: the model folder (``uplift_model/``), the policy table (``policies.json``), plots (Qini curves,
  uplift by decile, policy profits), and the model as an MLflow pyfunc (input: the cart features; output:
  ``P(bought)`` under every arm) registered when asked.

:func:`compare_and_promote_uplift` puts a registered version through the same gate as the risk model
(:func:`training.registry.promote_version`): both versions are scored on the newest test window of experiment
carts; the alias ``champion`` moves only when the candidate's policy earns more per cart (DR estimate) by the
configured margin and its probabilities' calibration error is within the limit.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from features.definitions import FEATURE_NAMES, FEATURE_SET
from features.snapshots import model_frame
from serving.policy import Catalogue
from training.data import data_hash, time_split
from training.registry import Promotion, decide, promote_version
from training.tracking import configure, git_commit
from training.uplift_data import experiment_table
from training.uplift_model import UpliftModel
from training.uplift_train import UpliftConfig, UpliftResult, comparison_rows, evaluate_uplift, fit_and_evaluate

__all__ = ["UPLIFT_EXPERIMENT", "UPLIFT_MODEL_NAME", "UpliftPyfunc", "UpliftRun", "arm_data",
           "compare_and_promote_uplift", "load_uplift_run_model", "train_uplift_and_log"]

UPLIFT_EXPERIMENT = "cartrisk-uplift"
UPLIFT_MODEL_NAME = "cartrisk-uplift"
GATE_METRIC = "dr_profit_per_cart"


@dataclass
class UpliftRun:
    run_id: str
    model_version: str | None
    data_hash: str
    result: UpliftResult
    seconds: float = 0.0


class UpliftPyfunc(PythonModel):
    """MLflow pyfunc: cart features (the model frame) in, ``P(bought)`` under every arm out."""

    def load_context(self, context: Any) -> None:
        self.model = UpliftModel.load(Path(context.artifacts["uplift_model"]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
                ) -> pd.DataFrame:
        return self.model.purchase_probabilities(model_input)


def arm_data(test: pd.DataFrame, uplift: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per incentive, ``(y, predicted uplift, treatment)`` on its comparison rows (for the plots)."""
    out = {}
    y = test["bought"].to_numpy(dtype=np.float64)
    for code in uplift.columns:
        rows, t = comparison_rows(test, str(code))
        if t.sum() >= 2 and (1 - t).sum() >= 2:
            out[str(code)] = (y[rows], uplift[code].to_numpy()[rows], t)
    return out


def _figures(result: UpliftResult) -> dict[str, Any]:
    from training.uplift_plots import plot_policy_values, plot_qini_curves, plot_uplift_by_decile

    assert result.test_frame is not None and result.test_uplift is not None
    arms = arm_data(result.test_frame, result.test_uplift)
    figs: dict[str, Any] = {}
    if arms:
        figs["qini_curves"] = plot_qini_curves(arms)
        figs["uplift_by_decile"] = plot_uplift_by_decile(arms)
    if any("profit_per_cart" in v for v in result.policies.values()):
        figs["policy_profit_true"] = plot_policy_values(result.policies)
    figs["policy_profit_dr"] = plot_policy_values(
        result.policies, key="dr_profit_per_cart",
        title="Incremental profit per cart, doubly robust estimate from the logged experiments")
    return figs


def _flat_metrics(result: UpliftResult) -> dict[str, float]:
    out = {k: float(v) for k, v in result.metrics.items()}
    for name, values in result.policies.items():
        for key, value in values.items():
            out[f"{name}.{key}"] = float(value)
    return {k: v for k, v in out.items() if np.isfinite(v)}


def train_uplift_and_log(
    snapshots: pd.DataFrame,
    experiments: pd.DataFrame,
    catalogue: Catalogue,
    truth: pd.DataFrame | None = None,
    config: UpliftConfig | None = None,
    register: bool = False,
    source: str = "",
) -> UpliftRun:
    """Fit and evaluate the uplift models (see :mod:`training.uplift_train`) in one MLflow run; register the
    model under :data:`UPLIFT_MODEL_NAME` when ``register`` is set."""
    import mlflow
    from mlflow.models import infer_signature

    config = config or UpliftConfig()
    started = time.perf_counter()
    configure(UPLIFT_EXPERIMENT)
    with mlflow.start_run() as run:
        result = fit_and_evaluate(snapshots, experiments, catalogue, truth, config)
        table_hash = data_hash(result.table.frame)
        mlflow.set_tags({"feature_set": FEATURE_SET, "git_commit": git_commit(), "data_hash": table_hash,
                         "data_source": source, "kind": "uplift"})
        model = result.model
        params: dict[str, Any] = {**config.as_params(), "feature_set": FEATURE_SET, "data_hash": table_hash,
                                  "arms": ",".join(model.arms), **result.split.as_dict()}
        params.update({f"base_{k}": v for k, v in model.params.get("base", {}).items()})
        params.update({f"offset_{k}": v for k, v in model.params.get("offset", {}).items()})
        params.update({f"rounds_{k}": v for k, v in model.params.get("offset_rounds", {}).items()})
        params.update({f"shift_{k}": round(v, 5) for k, v in model.shifts.items()})
        mlflow.log_params(params)
        mlflow.log_metrics(_flat_metrics(result))
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            model.save(folder / "uplift_model")
            mlflow.log_artifacts(str(folder / "uplift_model"), artifact_path="uplift_model")
            (folder / "policies.json").write_text(json.dumps(result.policies, indent=1))
            (folder / "experiment_table.json").write_text(json.dumps(result.table.summary(), indent=1))
            (folder / "features.json").write_text(json.dumps({"feature_set": FEATURE_SET,
                                                              "features": list(FEATURE_NAMES)}, indent=1))
            for name in ("policies.json", "experiment_table.json", "features.json"):
                mlflow.log_artifact(str(folder / name))
            if len(result.table.skipped):
                result.table.skipped.to_csv(folder / "skipped_experiments.csv", index=False)
                mlflow.log_artifact(str(folder / "skipped_experiments.csv"))
            from training.plots import save_figures

            for path in save_figures(_figures(result), folder / "plots"):
                mlflow.log_artifact(str(path), artifact_path="plots")
            assert result.test_frame is not None
            example = model_frame(result.test_frame.head(50))
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=UpliftPyfunc(),
                artifacts={"uplift_model": str(folder / "uplift_model")},
                signature=infer_signature(example, model.purchase_probabilities(example)),
                input_example=example.head(3),
                registered_model_name=UPLIFT_MODEL_NAME if register else None,
                pip_requirements=["lightgbm", "pandas", "numpy", "mlflow"],
            )
        version = str(info.registered_model_version) if register and info.registered_model_version else None
        if version is not None:
            _tag_version(version, run.info.run_id, result, table_hash)
    return UpliftRun(run.info.run_id, version, table_hash, result, time.perf_counter() - started)


def _tag_version(version: str, run_id: str, result: UpliftResult, table_hash: str) -> None:
    from mlflow import MlflowClient

    m = result.metrics
    tags = {"feature_set": FEATURE_SET, "data_hash": table_hash, "run_id": run_id, "arms": ",".join(result.model.arms),
            "test_start": result.split.test_start.isoformat(), "test_end": result.split.end.isoformat(),
            "test_dr_profit_per_cart": f"{m['policy_dr_profit_per_cart']:.5f}", "test_ece": f"{m['ece']:.5f}"}
    if "policy_share_of_oracle" in m:
        tags["test_share_of_oracle"] = f"{m['policy_share_of_oracle']:.4f}"
    client = MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(UPLIFT_MODEL_NAME, version, key, value)


def load_uplift_run_model(run_id: str) -> UpliftModel:
    """The uplift model of a run, from its ``uplift_model`` artifacts."""
    import mlflow

    return UpliftModel.load(Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="uplift_model")))


def newest_experiment_window(snapshots: pd.DataFrame, experiments: pd.DataFrame, catalogue: Catalogue,
                             config: UpliftConfig) -> pd.DataFrame:
    """The experiment carts of the newest test window (the rows a new training run would hold out)."""
    arms = [a for a in catalogue.codes if a in set(experiments["incentive"].astype(str))]
    frame = experiment_table(snapshots, experiments, arms=arms).frame
    split = time_split(frame, valid_days=config.valid_days, test_days=config.test_days)
    return frame.iloc[split.test].reset_index(drop=True)


def compare_and_promote_uplift(
    snapshots: pd.DataFrame,
    experiments: pd.DataFrame,
    catalogue: Catalogue,
    version: str | None = None,
    force: bool = False,
    min_profit_gain: float = 0.0,
    max_ece: float = 0.05,
    config: UpliftConfig | None = None,
) -> Promotion:
    """Compare a registered uplift version (default: the newest) with the champion on the newest window of
    experiment carts; promote when its policy's DR profit per cart is better by ``min_profit_gain`` and its
    calibration error is within ``max_ece``."""
    config = config or UpliftConfig()
    window = newest_experiment_window(snapshots, experiments, catalogue, config)
    if window.empty:
        raise ValueError("the newest test window holds no experiment carts; nothing to compare on")
    times = pd.to_datetime(window["decision_time"], utc=True)
    span = {"from": times.min().isoformat(), "to": times.max().isoformat(), "experiment_carts": str(len(window))}

    def evaluate(run_id: str) -> dict[str, float]:
        model = load_uplift_run_model(run_id)
        missing = [a for a in set(window["incentive"].astype(str)) if a not in model.arms]
        rows = window[~window["incentive"].astype(str).isin(missing)].reset_index(drop=True)
        metrics, _, _ = evaluate_uplift(model, rows, catalogue)
        keep = ("policy_dr_profit_per_cart", "policy_dr_se", "policy_ips_profit_per_cart", "ece", "qini_mean",
                "incentive_share", "test_rows")
        out = {k.removeprefix("policy_"): float(metrics[k]) for k in keep if k in metrics}
        out["arms_not_modelled"] = float(len(missing))
        return out

    return promote_version(
        UPLIFT_MODEL_NAME, version, force, span, evaluate,
        gate=lambda cand, champ: decide(cand, champ, min_profit_gain, max_ece, metric=GATE_METRIC,
                                        label="policy profit per cart (DR)"),
        hint="run `cartrisk uplift train --register` first",
    )

