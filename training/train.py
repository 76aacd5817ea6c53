"""Train the risk model on cart snapshots and track everything in MLflow.

One run = one time split (train / validation / test windows, sessions never on two sides), an optional Optuna
search on the validation window, a LightGBM booster with early stopping, an isotonic calibrator fitted on data the
booster never saw, test metrics (overall and on slices), plots, and the model in MLflow's LightGBM flavour with a
signature and an input example. The run records the data hash, the feature set, the git commit and every parameter,
so it can be reproduced (:func:`reproduce_run`).
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.definitions import FEATURE_NAMES, FEATURE_SET, LABEL
from features.snapshots import model_frame
from training.data import TimeSplit, data_hash, labelled, time_split
from training.evaluate import best_f1_threshold, classification_metrics, slice_metrics, standard_slices
from training.model import RiskModel, fit_risk_model
from training.tracking import RISK_MODEL_NAME, configure, git_commit


@dataclass
class TrainConfig:
    """What a training run may vary. Everything here is logged."""

    valid_days: float = 7.0
    test_days: float = 7.0
    seed: int = 7
    params: dict[str, Any] = field(default_factory=dict)
    max_rounds: int = 1000
    early_stopping_rounds: int = 50
    tune_trials: int = 0
    tune_timeout_s: float | None = None
    register: bool = False
    contributions_sample: int = 2000
    select_max_rows: int = 300_000
    """Up to this many training rows (and with no ``params`` and no tuning), the tree size is chosen among
    :data:`COMPLEXITY_PRESETS` by validation log loss; above it the default is trained once (0: never choose)."""

    def as_params(self) -> dict[str, Any]:
        return {
            "valid_days": self.valid_days,
            "test_days": self.test_days,
            "seed": self.seed,
            "max_rounds": self.max_rounds,
            "early_stopping_rounds": self.early_stopping_rounds,
            "tune_trials": self.tune_trials,
            "select_max_rows": self.select_max_rows,
        }


@dataclass
class TrainResult:
    run_id: str
    model: RiskModel
    metrics: dict[str, float]
    split: TimeSplit
    data_hash: str
    model_version: str | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class Prepared:
    """Labelled snapshots in time order and their split."""

    frame: pd.DataFrame
    split: TimeSplit

    def part(self, rows: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
        part = self.frame.iloc[rows]
        return part, part[LABEL].to_numpy(dtype=np.float64)


def prepare(snapshots: pd.DataFrame, valid_days: float, test_days: float) -> Prepared:
    """Keep labelled snapshots, sort them by time (then id, for a stable order) and split them."""
    frame = labelled(snapshots)
    frame = frame.sort_values(["snapshot_time", "snapshot_id"], kind="stable").reset_index(drop=True)
    return Prepared(frame, time_split(frame, valid_days=valid_days, test_days=test_days))


COMPLEXITY_PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "medium": {"num_leaves": 15, "lambda_l2": 5.0},
    "small": {"num_leaves": 7, "learning_rate": 0.03, "lambda_l2": 10.0},
}
"""Tree sizes tried on smaller training sets, over :data:`training.model.DEFAULT_PARAMS` (63 leaves).

The defaults are sized for hundreds of thousands of snapshots; on a few tens of thousands they overfit a little:
on generated shops of 20,000 customers (about 38,000 training snapshots) the default's ROC-AUC was 0.009-0.015
below the Bayes limit, the one these presets pick by validation loss 0.007-0.010 (seeds 7, 8, 9); at 60,000
customers 0.003-0.004 instead of 0.006-0.009 (``docs/benchmarks.md``). Fitting three models triples the training
time, so above :attr:`TrainConfig.select_max_rows` the default is trained once."""


def fit_selected(prep: Prepared, config: TrainConfig, params: dict[str, Any]
                 ) -> tuple[RiskModel, str, dict[str, float]]:
    """The model of the run: with ``params`` given (or tuned), or more training rows than
    ``config.select_max_rows``, one fit with them; otherwise one fit per :data:`COMPLEXITY_PRESETS` entry, keeping
    the lowest validation log loss (the early-stopping half; the calibration half and the test window are not
    used). Returns the model, the preset's name (``"given"`` for ``params``) and every candidate's loss."""
    train_x, train_y = prep.part(prep.split.train)
    valid_x, valid_y = prep.part(prep.split.valid)

    def fit(p: dict[str, Any]) -> RiskModel:
        return fit_risk_model(train_x, train_y, valid_x, valid_y, p, seed=config.seed,
                              max_rounds=config.max_rounds, early_stopping_rounds=config.early_stopping_rounds)

    if params or len(train_x) > config.select_max_rows:
        return fit(params), "given" if params else "default", {}
    losses: dict[str, float] = {}
    best: tuple[float, str, RiskModel] | None = None
    for name, preset in COMPLEXITY_PRESETS.items():
        model = fit(dict(preset))
        losses[name] = float(model.booster.best_score["valid"]["binary_logloss"])
        if best is None or losses[name] < best[0]:
            best = (losses[name], name, model)
    assert best is not None
    return best[2], best[1], losses


def tune_params(prep: Prepared, config: TrainConfig) -> dict[str, Any]:
    """Optuna search on the validation window (log loss), within ``tune_trials`` and ``tune_timeout_s``."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    train_x, train_y = prep.part(prep.split.train)
    valid_x, valid_y = prep.part(prep.split.valid)

    def objective(trial: optuna.Trial) -> float:
        params = {
            "num_leaves": trial.suggest_int("num_leaves", 15, 255, log=True),
            "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 20, 500, log=True),
            "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
            "feature_fraction": trial.suggest_float("feature_fraction", 0.5, 1.0),
            "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 10.0, log=True),
        }
        model = fit_risk_model(train_x, train_y, valid_x, valid_y, {**config.params, **params},
                               seed=config.seed, max_rounds=config.max_rounds,
                               early_stopping_rounds=config.early_stopping_rounds, calibrate=False)
        best = model.booster.best_score["valid"]["binary_logloss"]
        return float(best)

    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=config.seed))
    study.optimize(objective, n_trials=config.tune_trials, timeout=config.tune_timeout_s)
    return {**config.params, **study.best_params}


def evaluate(
    model: RiskModel, test: pd.DataFrame, y: np.ndarray, threshold: float, truth: pd.DataFrame | None
) -> tuple[dict[str, float], np.ndarray, np.ndarray | None]:
    """Test metrics (calibrated probabilities), slice AUCs, raw-score ECE and, with truth, the Bayes limit."""
    raw = model.raw_scores(test)
    p = model.calibrate(raw)
    metrics = {f"test_{k}": v for k, v in classification_metrics(y, p, threshold=threshold).items()}
    metrics["test_ece_uncalibrated"] = classification_metrics(y, raw, threshold=threshold)["ece"]
    for raw_name, values in slice_metrics(y, p, standard_slices(test)).items():
        name = raw_name.replace("=", "_")
        metrics[f"test_roc_auc_{name}"] = values["roc_auc"]
        metrics[f"test_n_{name}"] = values["n"]
    bayes: np.ndarray | None = None
    if truth is not None:
        # The Bayes limit: the generator's exact probability given only what the tables show. The latent-state
        # oracle (p_abandon) is logged too, as an upper bound no model on these tables can reach.
        column = "p_abandon_observable" if "p_abandon_observable" in truth.columns else "p_abandon"
        cols = ["snapshot_id", column] + (["p_abandon"] if column != "p_abandon" else [])
        joined = test[["snapshot_id"]].merge(truth[cols], on="snapshot_id", how="left")
        bayes = joined[column].to_numpy(dtype=np.float64)
        if not np.isnan(bayes).any():
            limit = classification_metrics(y, bayes, threshold=threshold)
            metrics["bayes_limit_roc_auc"] = limit["roc_auc"]
            metrics["bayes_limit_log_loss"] = limit["log_loss"]
            metrics["gap_to_bayes_limit_roc_auc"] = limit["roc_auc"] - metrics["test_roc_auc"]
            if column != "p_abandon":
                oracle = joined["p_abandon"].to_numpy(dtype=np.float64)
                metrics["latent_oracle_roc_auc"] = classification_metrics(y, oracle, threshold=threshold)["roc_auc"]
        else:
            bayes = None
    return metrics, p, bayes


def _figures(model: RiskModel, test: pd.DataFrame, y: np.ndarray, p: np.ndarray, bayes: np.ndarray | None,
             sample: int, seed: int) -> dict[str, Any]:
    from training.plots import (
        plot_calibration,
        plot_contributions_summary,
        plot_feature_importance,
        plot_gains_lift,
        plot_pr,
        plot_roc,
    )

    reference = (y, bayes, "Bayes limit (generator's true p)") if bayes is not None else None
    figs: dict[str, Any] = {
        "roc": plot_roc(y, p, reference=reference),
        "precision_recall": plot_pr(y, p, reference=reference),
        "calibration": plot_calibration(y, p),
        "gains_lift": plot_gains_lift(y, p),
        "feature_importance": plot_feature_importance(
            list(model.booster.feature_name()), model.booster.feature_importance(importance_type="gain")
        ),
    }
    rows = np.random.default_rng(seed).choice(len(test), size=min(sample, len(test)), replace=False)
    x = model_frame(test.iloc[np.sort(rows)])
    contrib = np.asarray(model.booster.predict(x, pred_contrib=True))[:, :-1]
    figs["contributions_summary"] = plot_contributions_summary(contrib, x)
    return figs


def _log_model(model: RiskModel, example: pd.DataFrame, register: bool) -> tuple[str, str | None]:
    """Log the booster in MLflow's LightGBM flavour plus the calibrator; return (model uri, version)."""
    import mlflow
    from mlflow.models import infer_signature

    x = model_frame(example)
    signature = infer_signature(x, model.raw_scores(x))
    info = mlflow.lightgbm.log_model(
        model.booster,
        name="model",
        signature=signature,
        input_example=x.head(3),
        registered_model_name=RISK_MODEL_NAME if register else None,
        metadata={"feature_set": model.feature_set, "calibrated": bool(len(model.calib_x))},
    )
    version = str(info.registered_model_version) if register and info.registered_model_version else None
    return info.model_uri, version


def train_and_log(
    snapshots: pd.DataFrame,
    config: TrainConfig | None = None,
    truth: pd.DataFrame | None = None,
    source: str = "",
    progress: Any = None,
) -> TrainResult:
    """Split, (tune,) train, calibrate, evaluate and log one run; register the model if asked."""
    import mlflow

    config = config or TrainConfig()
    started = time.perf_counter()

    def step(name: str) -> None:
        if progress is not None:
            progress.set_postfix_str(name)
            progress.update()

    prep = prepare(snapshots, config.valid_days, config.test_days)
    table_hash = data_hash(prep.frame)
    configure()
    with mlflow.start_run() as run:
        mlflow.set_tags({"feature_set": FEATURE_SET, "git_commit": git_commit(), "data_hash": table_hash,
                         "data_source": source})
        params = dict(config.params)
        step("tuning" if config.tune_trials else "training")
        if config.tune_trials:
            params = tune_params(prep, config)
        valid_x, valid_y = prep.part(prep.split.valid)
        test_x, test_y = prep.part(prep.split.test)
        model, preset, losses = fit_selected(prep, config, params)
        step("evaluating")
        threshold = best_f1_threshold(valid_y, model.predict_proba(valid_x))
        metrics, p, bayes = evaluate(model, test_x, test_y, threshold, truth)
        metrics["best_iteration"] = float(model.booster.best_iteration)
        metrics.update({f"valid_logloss_preset_{name}": loss for name, loss in losses.items()})
        metrics["train_rows"] = float(len(prep.split.train))
        mlflow.log_params({
            **config.as_params(),
            **{f"lgb_{k}": v for k, v in model.params.items()},
            "feature_set": FEATURE_SET,
            "data_hash": table_hash,
            "complexity_preset": preset,
            "f1_threshold_from_validation": threshold,
            **{k: v for k, v in prep.split.as_dict().items()},
        })
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None and np.isfinite(v)})
        step("logging")
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            model.save(folder / "risk_model")
            (folder / "features.json").write_text(json.dumps({"feature_set": FEATURE_SET,
                                                              "features": list(FEATURE_NAMES)}, indent=1))
            (folder / "train_params.json").write_text(json.dumps(
                {"config": config.as_params(), "lgb_params": model.params, "data_hash": table_hash}, indent=1))
            mlflow.log_artifacts(str(folder / "risk_model"), artifact_path="risk_model")
            mlflow.log_artifact(str(folder / "features.json"))
            mlflow.log_artifact(str(folder / "train_params.json"))
            from training.plots import save_figures

            figs = _figures(model, test_x, test_y, p, bayes, config.contributions_sample, config.seed)
            for path in save_figures(figs, folder / "plots"):
                mlflow.log_artifact(str(path), artifact_path="plots")
        _, version = _log_model(model, test_x.head(200), config.register)
        if version is not None:
            _tag_version(version, run.info.run_id, metrics, prep.split, table_hash)
        result = TrainResult(run.info.run_id, model, metrics, prep.split, table_hash, version)
    result.seconds = time.perf_counter() - started
    return result


def _tag_version(version: str, run_id: str, metrics: dict[str, float], split: TimeSplit, table_hash: str) -> None:
    from mlflow import MlflowClient

    client = MlflowClient()
    tags = {
        "feature_set": FEATURE_SET,
        "data_hash": table_hash,
        "run_id": run_id,
        "test_start": split.test_start.isoformat(),
        "test_end": split.end.isoformat(),
        "test_roc_auc": f"{metrics['test_roc_auc']:.5f}",
        "test_ece": f"{metrics['test_ece']:.5f}",
    }
    for key, value in tags.items():
        client.set_model_version_tag(RISK_MODEL_NAME, version, key, value)


def load_run_model(run_id: str) -> RiskModel:
    """The risk model (booster + calibrator) of a run, from its ``risk_model`` artifacts."""
    import mlflow

    folder = Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="risk_model"))
    return RiskModel.load(folder)


def reproduce_run(run_id: str, snapshots: pd.DataFrame) -> RiskModel:
    """Retrain a run from its logged parameters on ``snapshots``; refuse if the data hash differs."""
    import mlflow

    configure()
    folder = Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="train_params.json"))
    logged = json.loads(folder.read_text())
    config = logged["config"]
    prep = prepare(snapshots, config["valid_days"], config["test_days"])
    found = data_hash(prep.frame)
    if found != logged["data_hash"]:
        raise ValueError(f"run {run_id} was trained on data with hash {logged['data_hash'][:12]}..., "
                         f"these snapshots hash to {found[:12]}...; reproduce needs the same data")
    params = {k: v for k, v in logged["lgb_params"].items() if k not in ("seed",)}
    train_x, train_y = prep.part(prep.split.train)
    valid_x, valid_y = prep.part(prep.split.valid)
    return fit_risk_model(train_x, train_y, valid_x, valid_y, params, seed=config["seed"],
                          max_rounds=config["max_rounds"], early_stopping_rounds=config["early_stopping_rounds"])
