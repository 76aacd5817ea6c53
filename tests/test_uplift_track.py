"""Uplift models in MLflow and the registry, from the command line, and in the scorer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import QuickModel, UpliftShop
from typer.testing import CliRunner

from cartrisk.cli import app
from features.definitions import FEATURE_NAMES
from features.snapshots import model_frame
from serving.examples import example_request, request_for_snapshot
from serving.policy import default_catalogue
from serving.schemas import ScoreRequest
from serving.scorer import Scorer
from serving.uplift_scorer import DailyBudget, FastUplift
from training.registry import decide
from training.uplift_train import UpliftConfig

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tracked(uplift_shop: UpliftShop, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One registered uplift run in a throwaway embedded MLflow store."""
    from training.uplift_track import train_uplift_and_log

    home = tmp_path_factory.mktemp("uplift_home")
    mp = pytest.MonkeyPatch()
    mp.setenv("CARTRISK_HOME", str(home))
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    mp.chdir(home)
    run = train_uplift_and_log(uplift_shop.snaps, uplift_shop.experiments, default_catalogue(), uplift_shop.truth,
                               UpliftConfig(), register=True, source="test")
    yield {"run": run, "home": home}
    mp.undo()


def test_run_logs_uplift_metrics_plots_and_a_loadable_model(tracked: dict[str, Any], uplift_shop: UpliftShop
                                                            ) -> None:
    import mlflow
    from mlflow import MlflowClient

    run = tracked["run"]
    client = MlflowClient()
    data = client.get_run(run.run_id).data
    for arm in ("reminder_email", "discount_10", "early_access"):
        for metric in ("qini", "auuc", "uplift_at_10", "uplift_at_30"):
            assert f"{metric}_{arm}" in data.metrics
    assert data.metrics["policy_share_of_oracle"] == pytest.approx(run.result.metrics["policy_share_of_oracle"])
    assert "learned.dr_profit_per_cart" in data.metrics and "rule_based.profit_per_cart" in data.metrics
    assert data.tags["data_hash"] == run.data_hash and data.params["arms"].startswith("none,")
    plots = {Path(a.path).name for a in client.list_artifacts(run.run_id, "plots")}
    assert plots >= {"qini_curves.png", "uplift_by_decile.png", "policy_profit_true.png", "policy_profit_dr.png"}
    # the registered pyfunc gives the model's probabilities under every arm
    pyfunc = mlflow.pyfunc.load_model(f"models:/cartrisk-uplift/{run.model_version}")
    x = model_frame(uplift_shop.result.test_frame.head(50))
    got = pyfunc.predict(x)
    pd.testing.assert_frame_equal(pd.DataFrame(got).reset_index(drop=True),
                                  run.result.model.purchase_probabilities(x).reset_index(drop=True))


def test_gate_rule_for_uplift_models_uses_policy_profit_and_calibration() -> None:
    champ = {"dr_profit_per_cart": 0.30, "ece": 0.02}
    assert decide({"dr_profit_per_cart": 0.35, "ece": 0.02}, champ, 0.0, 0.05, metric="dr_profit_per_cart")[0]
    assert not decide({"dr_profit_per_cart": 0.25, "ece": 0.02}, champ, 0.0, 0.05, metric="dr_profit_per_cart")[0]
    ok, why = decide({"dr_profit_per_cart": 0.9, "ece": 0.09}, champ, 0.0, 0.05, metric="dr_profit_per_cart")
    assert not ok and "calibration" in why


def test_uplift_promotion_keeps_the_champion_unless_better_and_force_says_so(tracked: dict[str, Any],
                                                                            uplift_shop: UpliftShop) -> None:
    from mlflow import MlflowClient

    from training.uplift_track import compare_and_promote_uplift, train_uplift_and_log

    cat = default_catalogue()
    first = compare_and_promote_uplift(uplift_shop.snaps, uplift_shop.experiments, cat, max_ece=0.2)
    assert first.promoted and first.reason == "there is no champion yet"
    # a deliberately bad candidate: trained on experiments whose arms were shuffled (no effect left to learn)
    shuffled = uplift_shop.experiments.copy()
    known = shuffled["customer_id"].notna().to_numpy()
    rng = np.random.default_rng(0)
    arms = shuffled["incentive"].astype(str).to_numpy()
    arms[known] = rng.permutation(arms[known])
    shuffled["incentive"] = arms
    bad = train_uplift_and_log(uplift_shop.snaps, shuffled, cat, None, UpliftConfig(), register=True)
    result = compare_and_promote_uplift(uplift_shop.snaps, uplift_shop.experiments, cat, max_ece=0.2,
                                        min_profit_gain=0.05)
    assert result.candidate == bad.model_version and not result.promoted, result.reason
    client = MlflowClient()
    champion = tracked["run"].model_version
    assert str(client.get_model_version_by_alias("cartrisk-uplift", "champion").version) == champion
    tags = client.get_model_version("cartrisk-uplift", bad.model_version).tags
    assert tags["promotion_decision"] == "kept_champion" and tags["promotion_compared_with"] == champion
    both = result.metrics
    assert set(both) == {f"candidate_v{bad.model_version}", f"champion_v{champion}"}
    forced = compare_and_promote_uplift(uplift_shop.snaps, uplift_shop.experiments, cat, version=bad.model_version,
                                        force=True, min_profit_gain=0.05, max_ece=0.2)
    assert forced.promoted and forced.forced and forced.reason.startswith("FORCED")
    assert str(client.get_model_version_by_alias("cartrisk-uplift", "champion").version) == bad.model_version
    # put the good one back for the tests that follow
    compare_and_promote_uplift(uplift_shop.snaps, uplift_shop.experiments, cat, version=champion, force=True,
                               max_ece=0.2)


def test_cli_uplift_train_prints_json_and_refuses_a_folder_without_experiments(
    uplift_shop: UpliftShop, small_shop_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARTRISK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    out = runner.invoke(app, ["uplift", "train", "--data", str(uplift_shop.folder), "--json"])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout)
    assert summary["model_version"] is None and summary["experiment_table"]["rows"] > 5000
    assert summary["metrics"]["policy_share_of_oracle"] > 0 and "rule_based" in summary["policies"]
    # a shop folder without its experiments table
    bare = tmp_path / "bare"
    bare.mkdir()
    for path in small_shop_dir.iterdir():
        if path.is_file() and not path.name.startswith("experiments"):
            (bare / path.name).write_bytes(path.read_bytes())
    out = runner.invoke(app, ["uplift", "train", "--data", str(bare)])
    assert out.exit_code == 2 and "no experiments table" in out.output


def test_scorer_with_uplift_models_answers_with_the_profit_policy(quick_model: QuickModel, uplift_shop: UpliftShop
                                                                  ) -> None:
    cat = default_catalogue()
    fast = FastUplift(uplift_shop.result.model, FEATURE_NAMES)
    budget = DailyBudget(None, {}, share=1.0)
    scorer = Scorer(quick_model.model, "7", catalogue=cat, uplift=fast, budget=budget, explore=False)
    rules = Scorer(quick_model.model, "7", catalogue=cat)
    body = example_request(quick_model.shop, quick_model.snaps)
    req = ScoreRequest.model_validate(body)
    answer = scorer.score(req).incentive
    assert answer.policy == "profit" and answer.propensity == 1.0 and not answer.explored
    assert answer.runner_up is not None or answer.code == "none"
    assert (answer.expected_profit or 0.0) >= 0.0
    assert rules.score(req).incentive.policy == "rules"
    # a daily budget of zero leaves no room for any paid offer
    broke = Scorer(quick_model.model, "7", catalogue=cat, uplift=fast, budget=DailyBudget(0.0), explore=False)
    snaps = quick_model.snaps
    paid = 0
    for _, snap in snaps[snaps["customer_id"].notna()].head(60).iterrows():
        r = ScoreRequest.model_validate(request_for_snapshot(quick_model.shop, snap["session_id"],
                                                             int(snap["n_events"])))
        paid += scorer.score(r).incentive.expected_cost > 0
        out = broke.score(r).incentive
        assert out.expected_cost == 0.0, out
    assert paid > 0  # without the budget limit some of these carts do get a paid offer
