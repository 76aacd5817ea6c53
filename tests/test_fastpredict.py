"""The one-row predictor gives the booster's own scores, and its contributions add up to them."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from serving.fastpredict import FastBooster


@pytest.fixture(scope="module")
def booster() -> lgb.Booster:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 6))
    x[rng.random(x.shape) < 0.05] = np.nan
    x[:, 5] = rng.integers(0, 4, 3000)
    y = ((np.nan_to_num(x[:, 0]) + 0.5 * np.nan_to_num(x[:, 1]) ** 2 + (x[:, 5] == 2)) > 0.8).astype(float)
    data = lgb.Dataset(x[:2000], y[:2000], categorical_feature=[5])
    valid = lgb.Dataset(x[2000:], y[2000:], reference=data)
    return lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 15, "seed": 1}, data, 400,
                     valid_sets=[valid], callbacks=[lgb.early_stopping(20, verbose=False)])


def test_scores_equal_the_boosters_raw_scores_with_missing_and_categorical_values(booster: lgb.Booster) -> None:
    fast = FastBooster(booster)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 6))
    x[rng.random(x.shape) < 0.1] = np.nan
    x[:, 5] = rng.integers(0, 5, 500)  # code 4 was never seen in training
    expected = booster.predict(x, raw_score=True)
    for row, want in zip(x, expected, strict=True):
        score, contrib = fast.explain(row)
        assert score == pytest.approx(want, abs=1e-9)
        assert fast.bias + contrib.sum() == pytest.approx(score, abs=1e-12)


def test_contributions_point_at_the_features_that_matter(booster: lgb.Booster) -> None:
    fast = FastBooster(booster)
    row = np.array([3.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    _, contrib = fast.explain(row)
    assert int(np.argmax(contrib)) == 0  # a large x0 is what makes this row positive
    assert abs(contrib[2]) < abs(contrib[0]) / 5  # x2 is noise


def test_wrong_row_length_is_an_error(booster: lgb.Booster) -> None:
    with pytest.raises(ValueError, match="expected 6 feature values"):
        FastBooster(booster).explain(np.zeros(5))


def test_merged_boosters_give_each_models_own_raw_score_from_one_lookup() -> None:
    import lightgbm as lgb
    import numpy as np

    from serving.fastpredict import FastBooster, merge_boosters

    rng = np.random.default_rng(4)
    x = rng.normal(size=(3000, 5))
    x[:, 4] = rng.integers(0, 6, size=3000)  # a categorical column
    y = ((x[:, 0] + (x[:, 4] == 2) + rng.normal(size=3000)) > 0).astype(float)
    def data(target: np.ndarray) -> lgb.Dataset:
        return lgb.Dataset(x, target, categorical_feature=[4])

    boosters = [
        lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 15}, data(y), 40),
        lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 2}, data(y), 1),
        lgb.train({"objective": "regression", "verbose": -1}, data(x[:, 1] * 3.0), 12),
    ]
    merged, starts = merge_boosters(boosters)
    assert list(starts) == [0, 40, 41] and merged.num_trees() == 53
    fast = FastBooster(merged)
    for row in x[:100]:
        parts = fast.raw_parts(row, starts)
        want = [float(b.predict(row[None], raw_score=True)[0]) for b in boosters]
        np.testing.assert_allclose(parts, want, atol=1e-10)
