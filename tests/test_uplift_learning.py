"""The uplift learner and the profit policy it drives: effects recovered, one-row serving identical, budget kept,
and on generated shops the learned policy ahead of every baseline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import UpliftShop

from features.definitions import FEATURE_NAMES
from features.snapshots import model_frame
from serving.policy import NONE, CartContext, default_catalogue
from serving.uplift_policy import decide_uplift
from serving.uplift_scorer import DailyBudget, FastUplift
from training.uplift_model import constant_shift, fit_uplift_model


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(1 / (1 + np.exp(-z)))


def test_constant_shift_recovers_the_log_odds_offset() -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(-0.5, 1.0, 40_000)
    y = (rng.random(len(z)) < _sigmoid(z + 0.7)).astype(float)
    assert constant_shift(y, z) == pytest.approx(0.7, abs=0.05)
    assert constant_shift(y, z + 0.7) == pytest.approx(0.0, abs=0.05)


def _simulated(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Arm 'treat' adds +1.0 log-odds when x0 > 0 and nothing otherwise; 'dud' never does anything."""
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"x0": rng.normal(size=n), "x1": rng.normal(size=n), "x2": rng.normal(size=n)})
    arm = rng.choice(["none", "treat", "dud"], size=n)
    logit = -0.3 + 0.8 * x["x1"].to_numpy() + np.where((arm == "treat") & (x["x0"].to_numpy() > 0), 1.0, 0.0)
    y = (rng.random(n) < _sigmoid(logit)).astype(float)
    return x, arm, y


@pytest.fixture(scope="module")
def simulated_model() -> tuple[object, pd.DataFrame]:
    x, arm, y = _simulated(30_000, 1)
    xv, armv, yv = _simulated(6_000, 2)
    model = fit_uplift_model(x, arm, y, xv, armv, yv, ["none", "treat", "dud"], folds=3, refit_base=False, seed=3)
    xt, _, _ = _simulated(4_000, 3)
    return model, xt


def test_the_learner_finds_where_an_incentive_works_and_where_it_does_not(simulated_model: tuple) -> None:
    model, xt = simulated_model
    u = model.uplift(xt)
    works = xt["x0"].to_numpy() > 0
    # true uplift where it works: sigmoid(l + 1) - sigmoid(l), about 0.2 on average here; 0 elsewhere
    assert u.loc[works, "treat"].mean() > 0.12
    assert abs(u.loc[~works, "treat"].mean()) < 0.06
    assert u.loc[works, "treat"].mean() - u.loc[~works, "treat"].mean() > 0.08
    assert abs(u["dud"].mean()) < 0.03


def test_a_refitted_base_finds_the_same_effects_with_one_base_model(simulated_model: tuple, tmp_path: Path
                                                                     ) -> None:
    folds_model, xt = simulated_model
    x, arm, y = _simulated(30_000, 1)
    xv, armv, yv = _simulated(6_000, 2)
    model = fit_uplift_model(x, arm, y, xv, armv, yv, ["none", "treat", "dud"], folds=3, seed=3)  # refit: default
    assert len(model.base) == 1 and model.params["refit_base"] is True and len(folds_model.base) == 3
    # the offsets are fitted on the same cross-fitted scores: only how new carts get their base score differs
    assert model.shifts == folds_model.shifts
    u, u_folds = model.uplift(xt), folds_model.uplift(xt)
    works = xt["x0"].to_numpy() > 0
    assert u.loc[works, "treat"].mean() > 0.12 and abs(u.loc[~works, "treat"].mean()) < 0.06
    assert np.corrcoef(u["treat"], u_folds["treat"])[0, 1] > 0.9
    model.save(tmp_path / "m")
    pd.testing.assert_frame_equal(type(model).load(tmp_path / "m").purchase_probabilities(xt),
                                  model.purchase_probabilities(xt))
    # a model saved before refits named its base models' count "folds"
    folds_model.save(tmp_path / "old")
    meta = json.loads((tmp_path / "old" / "uplift.json").read_text())
    meta["folds"] = meta.pop("base_models")
    (tmp_path / "old" / "uplift.json").write_text(json.dumps(meta))
    pd.testing.assert_frame_equal(type(model).load(tmp_path / "old").purchase_probabilities(xt),
                                  folds_model.purchase_probabilities(xt))


def test_saved_model_and_one_row_serving_give_the_same_probabilities(simulated_model: tuple, tmp_path: Path
                                                                     ) -> None:
    model, xt = simulated_model
    model.save(tmp_path / "m")
    loaded = type(model).load(tmp_path / "m")
    expected = model.purchase_probabilities(xt)
    pd.testing.assert_frame_equal(loaded.purchase_probabilities(xt), expected)
    # the service's row order differs from the model's: FastUplift reorders
    order = ["x2", "x0", "x1"]
    fast = FastUplift(loaded, order)
    rows = xt[order].to_numpy(dtype=np.float64)
    for k in range(0, 200, 7):
        got = fast.probabilities(rows[k])
        for arm in model.arms:
            assert got[arm] == pytest.approx(float(expected.iloc[k][arm]), abs=1e-9)
    with pytest.raises(ValueError, match="needs features"):
        FastUplift(loaded, ["x0", "x1"])


def test_daily_budget_is_shared_between_workers_spent_per_segment_and_renewed_at_midnight() -> None:
    now = [86_400.0 * 100 + 3_600]
    budget = DailyBudget(100.0, {"unengaged": 10.0}, share=0.5, clock=lambda: now[0])
    assert budget.remaining().total == 50.0 and dict(budget.remaining().by_segment) == {"unengaged": 5.0}
    budget.spend(4.0, ["unengaged", "mobile"])
    budget.spend(6.0, ["vip"])
    left = budget.remaining()
    assert left.total == pytest.approx(40.0) and dict(left.by_segment)["unengaged"] == pytest.approx(1.0)
    assert not left.allows(1.5, ["unengaged"]) and left.allows(1.5, ["vip"])
    now[0] += 86_400  # the next day
    assert budget.remaining().total == 50.0 and budget.spent == 0.0
    with pytest.raises(ValueError, match="share"):
        DailyBudget(1.0, share=0.0)


def test_learned_policy_never_offers_a_negative_profit_and_respects_eligibility(uplift_shop: UpliftShop) -> None:
    result = uplift_shop.result
    assert result.test_frame is not None
    cat = default_catalogue()
    probs = result.model.purchase_probabilities(model_frame(result.test_frame))
    values = result.model.expected_order_value(model_frame(result.test_frame))
    records = result.test_frame.to_dict("records")
    offered = 0
    for rec, p, v in zip(records, probs.to_dict("records"), values, strict=True):
        cart = CartContext.from_features(rec)
        segs = ["guest"] if rec["is_guest"] == 1 else []
        d = decide_uplift(p, float(v), segs, cart, cat)
        if d.chosen is not None:
            offered += 1
            assert d.chosen.expected_profit > 0
            if cart.is_guest:
                assert d.channel != "email"
        assert all(o.expected_profit <= (d.chosen.expected_profit if d.chosen else 0) for o in d.considered
                   if d.rule == "best_profit")
    assert offered > 0.1 * len(records)


def test_learned_policy_beats_every_baseline_on_a_small_generated_shop(uplift_shop: UpliftShop) -> None:
    """20,000 customers, 30 days, every cart in the experiment: true profit of each policy on the last week."""
    policies = uplift_shop.result.policies
    learned = policies["learned"]["profit_per_cart"]
    baselines = {k: v["profit_per_cart"] for k, v in policies.items() if k not in ("learned", "oracle")}
    assert set(baselines) >= {"no_incentive", "everyone_reminder_email", "everyone_discount_10",
                              "high_risk_discount_10", "rule_based"}
    best = max(baselines, key=lambda k: baselines[k])
    assert learned > baselines[best], f"learned {learned:.3f} per cart, {best} {baselines[best]:.3f}"
    assert policies["learned"]["share_of_oracle"] > 0.6
    # the off-policy estimate exists for a shop without truth, with its standard error
    assert policies["learned"]["dr_se"] > 0


@pytest.mark.slow
def test_learned_policy_beats_every_baseline_on_a_larger_shop(tmp_path: Path) -> None:
    """100,000 customers, 60 days, every cart in the experiment (about 79,000 experiment carts)."""
    from features.snapshots import build_snapshots
    from training.synthetic_shop import generate_shop
    from training.uplift_train import UpliftConfig, fit_and_evaluate

    shop = generate_shop(customers=100_000, days=60, seed=31, experiment_share=1.0)
    snaps = build_snapshots(shop.dataset)
    assert shop.dataset.experiments is not None
    result = fit_and_evaluate(snaps, shop.dataset.experiments, default_catalogue(), shop.experiments,
                              UpliftConfig())
    learned = result.policies["learned"]["profit_per_cart"]
    rivals = {k: v["profit_per_cart"] for k, v in result.policies.items() if k not in ("learned", "oracle")}
    assert learned > max(rivals.values()) + 0.01, (learned, rivals)
    assert result.metrics["policy_share_of_oracle"] > 0.7


def test_experiment_arms_match_the_service_feature_order(uplift_shop: UpliftShop) -> None:
    model = uplift_shop.result.model
    assert list(model.feature_names) == list(FEATURE_NAMES)
    assert model.arms[0] == NONE and len(model.arms) == 8


def test_batch_probabilities_equal_the_models(uplift_shop: UpliftShop) -> None:
    model = uplift_shop.result.model
    x = model_frame(uplift_shop.result.test_frame.head(500))
    matrix = x[list(FEATURE_NAMES)].to_numpy(dtype=np.float64)
    batch_only = FastUplift(model, FEATURE_NAMES, one_row=False)
    probs, values = batch_only.batch(matrix)
    np.testing.assert_allclose(probs.to_numpy(), model.purchase_probabilities(x).to_numpy(), atol=1e-10)
    np.testing.assert_allclose(values, model.expected_order_value(x), atol=1e-8)
    # the one-row path, prepared on first use, answers the same
    for k in (0, 17, 499):
        row_probs, row_value = batch_only.answer(matrix[k])
        assert list(row_probs) == list(probs.columns)
        np.testing.assert_allclose(list(row_probs.values()), probs.iloc[k].to_numpy(), atol=1e-10)
        assert row_value == pytest.approx(values[k], abs=1e-8)
