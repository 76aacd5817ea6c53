"""The batch tree evaluator gives LightGBM's own raw scores bit for bit, and the service's reasons."""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pytest

from serving.fastpredict import FastBooster
from serving.forest import Forest


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Numbers with NaNs and exact zeros, a category code column (0..11) and a target depending on all."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6))
    x[:, 5] = rng.integers(0, 12, size=n)
    x[rng.random(n) < 0.15, 0] = np.nan
    x[rng.random(n) < 0.2, 1] = 0.0
    x[rng.random(n) < 0.1, 2] = np.nan
    x[rng.random(n) < 0.05, 5] = np.nan
    logit = x[:, 1] - np.nan_to_num(x[:, 0], nan=1.5) + np.isin(x[:, 5], [2, 3, 7]) * 1.5 + 0.3 * x[:, 3] ** 2
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    return x, y, logit


def _fit(x: np.ndarray, y: np.ndarray, **params: object) -> lgb.Booster:
    base = {"objective": "binary", "num_leaves": 31, "min_data_in_leaf": 20, "verbose": -1, "seed": 3,
            "max_cat_to_onehot": 4, "cat_smooth": 1.0, "min_data_per_group": 5}
    data = lgb.Dataset(x, label=y, categorical_feature=[5], params={"verbose": -1})
    return lgb.train({**base, **params}, data, num_boost_round=40)


@pytest.fixture(scope="module")
def boosters() -> list[lgb.Booster]:
    x, y, logit = _data(4000, 1)
    return [
        _fit(x, y),
        _fit(x, y, zero_as_missing=True),
        _fit(x, y, use_missing=False),
        _fit(x, logit, objective="regression", num_leaves=7),
        _fit(x, y, min_data_in_leaf=100_000),  # too few rows to split: one-leaf trees
    ]


def _hard_rows(n: int) -> np.ndarray:
    """Fresh rows plus the values that decide edge cases: negative, fractional, huge and missing categories,
    zeros, infinities."""
    x, _, _ = _data(n, 2)
    x[:20, 5] = [-1, -0.5, 0.5, 2.9, 3, 7.2, 11, 12, 63, 64, 65, 1e12, -1e12, np.nan, np.inf, -np.inf, 0, 1, 2, 7]
    x[20:30, 1] = [0.0, -0.0, 1e-36, -1e-36, 1e-30, np.nan, np.inf, -np.inf, 1e300, -1e300]
    x[30:40, 0] = np.nan
    return x


def test_raw_scores_are_lightgbms_bit_for_bit(boosters: list[lgb.Booster]) -> None:
    x = _hard_rows(1001)  # not a multiple of the block size
    forest = Forest(boosters, x.shape[1])
    want = np.column_stack([b.predict(x, raw_score=True) for b in boosters])
    np.testing.assert_array_equal(forest.raw(x), want)
    np.testing.assert_array_equal(forest.raw(x[:5]), want[:5])
    np.testing.assert_array_equal(forest.raw(np.asfortranarray(x)), want)  # a DataFrame's matrix is column-major
    assert forest.raw(x[:0]).shape == (0, len(boosters))


def test_best_iteration_is_used_as_predict_uses_it() -> None:
    x, y, _ = _data(3000, 4)
    data = lgb.Dataset(x[:2000], label=y[:2000])
    valid = lgb.Dataset(x[2000:], label=y[2000:], reference=data)
    booster = lgb.train({"objective": "binary", "verbose": -1, "learning_rate": 0.3}, data, num_boost_round=200,
                        valid_sets=[valid], callbacks=[lgb.early_stopping(5, verbose=False)],
                        keep_training_booster=True)
    assert 0 < booster.best_iteration < booster.num_trees()
    np.testing.assert_array_equal(Forest([booster], 6).raw(x)[:, 0], booster.predict(x, raw_score=True))


@pytest.mark.parametrize("explained", range(5))
def test_reasons_are_the_services_path_contributions(boosters: list[lgb.Booster], explained: int) -> None:
    """Any booster of the forest can be the explained one: missing values, zeros, categories, a regression with
    few leaves (paths shorter than others in the same tree) and one-leaf trees (nothing to credit)."""
    x = _hard_rows(300)
    found = Forest(boosters, x.shape[1], explained=explained).explain(x, 3)
    fast = FastBooster(boosters[explained])
    want = np.column_stack([b.predict(x, raw_score=True) for b in boosters])
    np.testing.assert_array_equal(found.raw, want)  # explaining changes no score
    for k in range(len(x)):
        score, contrib = fast.explain(x[k])
        order = np.argsort(-contrib, kind="stable")[:3]
        assert found.top[k].tolist() == order.tolist(), k
        np.testing.assert_allclose(found.top_values[k], contrib[order], atol=1e-12)
        assert found.raw[k, explained] == pytest.approx(score, abs=1e-9)


def test_bad_input_is_refused_with_what_is_wrong(boosters: list[lgb.Booster]) -> None:
    forest = Forest(boosters[:1], 6)
    with pytest.raises(ValueError, match="rows of 6 features"):
        forest.raw(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="reads feature 5, but the rows have 4"):
        Forest(boosters[:1], 4)
    with pytest.raises(ValueError, match="explains no booster"):
        forest.explain(np.zeros((3, 6)), 3)
    with pytest.raises(ValueError, match="no boosters"):
        Forest([], 6)
    x, y, _ = _data(500, 5)
    linear = lgb.train({"objective": "binary", "linear_tree": True, "verbose": -1},
                       lgb.Dataset(x[:, :5], label=y), num_boost_round=3)
    with pytest.raises(ValueError, match="linear trees"):
        Forest([linear], 5)


def test_compiled_functions_work_where_nothing_can_be_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    """A read-only install with no writable home: numba refuses ``cache=True`` at import; compile in memory."""
    import numba

    from features import compiled as module

    real = numba.njit

    def refusing(*args: Any, **options: Any) -> Any:
        if options.get("cache"):
            raise RuntimeError("cannot cache function 'f': no locator available for file 'f.py'")
        return real(*args, **options)

    monkeypatch.setattr(module.numba, "njit", refusing)

    @module.compiled(nogil=True)
    def twice(x: float) -> float:
        return 2 * x

    assert twice(2.5) == 5.0
