"""Training, MLflow tracking, reproduction and the promotion gate, on a small generated shop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.definitions import FEATURE_NAMES, FEATURE_SET, LABEL
from features.snapshots import model_frame
from training.data import data_hash, labelled, time_split
from training.model import DEFAULT_PARAMS
from training.registry import compare_and_promote, decide
from training.train import (
    COMPLEXITY_PRESETS,
    TrainConfig,
    fit_selected,
    load_run_model,
    prepare,
    reproduce_run,
    train_and_log,
)

FAST = {"learning_rate": 0.1, "num_leaves": 15}


def test_time_split_keeps_sessions_on_one_side_and_windows_in_order(small_snapshots: pd.DataFrame) -> None:
    frame = labelled(small_snapshots)
    split = time_split(frame, valid_days=5, test_days=5)
    sides = [set(frame["session_id"].iloc[rows]) for rows in (split.train, split.valid, split.test)]
    assert not (sides[0] & sides[1]) and not (sides[0] & sides[2]) and not (sides[1] & sides[2])
    assert len(split.train) + len(split.valid) + len(split.test) == len(frame)
    times = pd.to_datetime(frame["snapshot_time"], utc=True)
    first = times.groupby(frame["session_id"].to_numpy()).transform("min")
    assert first.iloc[split.train].max() < split.valid_start <= first.iloc[split.valid].min()
    assert first.iloc[split.valid].max() < split.test_start <= first.iloc[split.test].min()
    with pytest.raises(ValueError, match="window is empty"):
        time_split(frame, valid_days=30, test_days=30)
    with pytest.raises(ValueError, match="labelled"):
        time_split(small_snapshots.assign(**{LABEL: np.nan}))


def test_data_hash_changes_with_content() -> None:
    a = pd.DataFrame({"x": [1.0, 2.0], "y": ["a", "b"]})
    assert data_hash(a) == data_hash(a.copy())
    assert data_hash(a) != data_hash(a.assign(x=[1.0, 2.5]))
    assert data_hash(a) != data_hash(a.rename(columns={"x": "z"}))


def test_promotion_rule() -> None:
    good = {"roc_auc": 0.80, "ece": 0.02}
    assert decide(good, None, 0.002, 0.05) == (True, "there is no champion yet")
    assert decide(good, {"roc_auc": 0.79, "ece": 0.02}, 0.002, 0.05)[0] is True
    assert decide(good, {"roc_auc": 0.799, "ece": 0.02}, 0.002, 0.05)[0] is False
    ok, why = decide({"roc_auc": 0.9, "ece": 0.08}, {"roc_auc": 0.7, "ece": 0.01}, 0.002, 0.05)
    assert not ok and "calibration" in why


@pytest.fixture()
def trained(workspace: Path, small_snapshots: pd.DataFrame, small_shop_dir: Path):  # type: ignore[no-untyped-def]
    truth = pd.read_parquet(small_shop_dir / "truth" / "snapshots.parquet")
    config = TrainConfig(valid_days=5, test_days=5, params=FAST, register=True, contributions_sample=300)
    return train_and_log(small_snapshots, config, truth=truth, source="test")


def test_run_records_everything_needed(trained) -> None:  # type: ignore[no-untyped-def]
    import mlflow
    from mlflow import MlflowClient

    run = MlflowClient().get_run(trained.run_id)
    assert run.data.tags["feature_set"] == FEATURE_SET
    assert run.data.tags["data_hash"] == trained.data_hash
    assert len(run.data.tags["git_commit"].removesuffix("-dirty")) in (40, len("unknown"))
    for key in ("lgb_num_leaves", "lgb_learning_rate", "seed", "valid_days", "test_start", "data_hash"):
        assert key in run.data.params, key
    for key in ("test_roc_auc", "test_pr_auc", "test_log_loss", "test_brier", "test_ece",
                "test_top_decile_lift", "bayes_limit_roc_auc", "latent_oracle_roc_auc"):
        assert key in run.data.metrics, key
    # slice AUCs are logged when the slice is big enough (50 rows, 5 per class); its size always is
    for name in ("at_first_add_to_cart", "at_begin_checkout", "device_mobile", "guest", "known_customer"):
        n = run.data.metrics[f"test_n_{name}"]
        assert (f"test_roc_auc_{name}" in run.data.metrics) == (n >= 50), name
    assert 0.6 < run.data.metrics["test_roc_auc"] <= run.data.metrics["bayes_limit_roc_auc"] + 0.02
    assert run.data.params["complexity_preset"] == "given"  # parameters given: no choosing among presets
    artifacts = {a.path for a in MlflowClient().list_artifacts(trained.run_id, "plots")}
    assert {f"plots/{n}.png" for n in ("roc", "precision_recall", "calibration", "gains_lift",
                                       "feature_importance", "contributions_summary")} <= artifacts
    version = MlflowClient().get_model_version("cartrisk-risk", trained.model_version)
    assert version.tags["data_hash"] == trained.data_hash
    info = mlflow.models.get_model_info(f"models:/cartrisk-risk/{trained.model_version}")
    assert info.signature is not None and list(info.signature.inputs.input_names()) == list(FEATURE_NAMES)


def test_mlflow_model_loads_back_with_the_same_probabilities(trained, small_snapshots: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    import mlflow

    x = model_frame(labelled(small_snapshots).head(500))
    expected = trained.model.predict_proba(x)
    booster = mlflow.lightgbm.load_model(f"models:/cartrisk-risk/{trained.model_version}")
    restored = load_run_model(trained.run_id)
    np.testing.assert_allclose(restored.calibrate(booster.predict(x)), expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(restored.predict_proba(x), expected, rtol=0, atol=1e-12)
    pyfunc = mlflow.pyfunc.load_model(f"models:/cartrisk-risk/{trained.model_version}")
    np.testing.assert_allclose(np.asarray(pyfunc.predict(x)).ravel(), trained.model.raw_scores(x), atol=1e-12)


def test_run_reproduces_from_its_data_hash_and_parameters(trained, small_snapshots: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    again = reproduce_run(trained.run_id, small_snapshots)
    x = model_frame(labelled(small_snapshots).head(300))
    np.testing.assert_array_equal(again.predict_proba(x), trained.model.predict_proba(x))
    changed = small_snapshots.copy()
    changed.loc[changed.index[0], "cart_value"] += 1.0
    with pytest.raises(ValueError, match="same data"):
        reproduce_run(trained.run_id, changed)


def test_worse_model_is_not_promoted_and_force_says_so(trained, small_snapshots: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    from mlflow import MlflowClient

    # the calibration limit is loose here: a 5-day window of this small shop has a few hundred rows
    first = compare_and_promote(small_snapshots, test_days=5, valid_days=5, max_ece=0.2)
    assert first.promoted and first.candidate == trained.model_version
    # a deliberately weak model: three shallow trees
    weak = TrainConfig(valid_days=5, test_days=5, params={"num_leaves": 2, "learning_rate": 0.01},
                       max_rounds=3, register=True, contributions_sample=100)
    worse = train_and_log(small_snapshots, weak)
    result = compare_and_promote(small_snapshots, test_days=5, valid_days=5, max_ece=0.2)
    assert result.candidate == worse.model_version and not result.promoted
    client = MlflowClient()
    assert str(client.get_model_version_by_alias("cartrisk-risk", "champion").version) == trained.model_version
    tags = client.get_model_version("cartrisk-risk", worse.model_version).tags
    assert tags["promotion_decision"] == "kept_champion" and tags["promotion_compared_with"] == "1"
    cand = result.metrics[f"candidate_v{worse.model_version}"]
    champ = result.metrics[f"champion_v{trained.model_version}"]
    assert cand["roc_auc"] < champ["roc_auc"]
    forced = compare_and_promote(small_snapshots, version=worse.model_version, force=True, test_days=5,
                                 valid_days=5)
    assert forced.promoted and forced.forced and forced.reason.startswith("FORCED")
    assert str(client.get_model_version_by_alias("cartrisk-risk", "champion").version) == worse.model_version
    assert client.get_model_version("cartrisk-risk", worse.model_version).tags["promotion_forced"] == "true"


def test_tree_size_is_chosen_by_validation_loss_on_small_data(small_snapshots: pd.DataFrame) -> None:
    prep = prepare(small_snapshots, 5, 5)
    config = TrainConfig(valid_days=5, test_days=5, max_rounds=200)
    model, preset, losses = fit_selected(prep, config, {})
    assert set(losses) == set(COMPLEXITY_PRESETS) and preset == min(losses, key=lambda k: losses[k])
    assert model.params["num_leaves"] == {**DEFAULT_PARAMS, **COMPLEXITY_PRESETS[preset]}["num_leaves"]
    assert model.booster.best_score["valid"]["binary_logloss"] == losses[preset]
    # given parameters, or more rows than the limit: one fit, nothing chosen
    given, name, none = fit_selected(prep, config, {"num_leaves": 5})
    assert (name, none, given.params["num_leaves"]) == ("given", {}, 5)
    big = TrainConfig(valid_days=5, test_days=5, max_rounds=200, select_max_rows=10)
    default, name, none = fit_selected(prep, big, {})
    assert (name, none, default.params["num_leaves"]) == ("default", {}, DEFAULT_PARAMS["num_leaves"])


def test_prepare_orders_by_time(small_snapshots: pd.DataFrame) -> None:
    prep = prepare(small_snapshots, 5, 5)
    assert prep.frame["snapshot_time"].is_monotonic_increasing
    assert prep.frame[LABEL].notna().all()


def test_tuning_searches_within_its_budget(small_snapshots: pd.DataFrame) -> None:
    from training.train import tune_params

    prep = prepare(small_snapshots, 5, 5)
    config = TrainConfig(valid_days=5, test_days=5, tune_trials=3, max_rounds=60, params={"learning_rate": 0.1})
    params = tune_params(prep, config)
    assert {"num_leaves", "min_data_in_leaf", "learning_rate", "feature_fraction", "lambda_l2"} <= set(params)
    assert 15 <= params["num_leaves"] <= 255 and 0.02 <= params["learning_rate"] <= 0.2
