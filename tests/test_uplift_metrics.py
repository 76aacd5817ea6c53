"""Uplift metrics: hand-computed cases and the properties that define them."""

from __future__ import annotations

import numpy as np
import pytest

from training.uplift_metrics import qini_auc_score, qini_curve, uplift_at_k, uplift_auc_score, uplift_by_decile


def test_qini_curve_by_hand() -> None:
    # rows by predicted uplift: T1 (y=1), C (y=0), T (y=0), C (y=1)
    y = np.array([1, 0, 0, 1])
    t = np.array([1, 0, 1, 0])
    u = np.array([0.9, 0.5, 0.3, 0.1])
    x, q = qini_curve(y, u, t)
    assert x.tolist() == [0, 1, 2, 3, 4]
    # n=1: Y_t=1, no control -> 0 by convention; n=2: 1 - 0*1/1 = 1; n=3: 1 - 0*2/1 = 1; n=4: 1 - 1*2/2 = 0
    assert q.tolist() == [0.0, 0.0, 1.0, 1.0, 0.0]


def test_uplift_at_k_by_hand() -> None:
    y = np.array([1, 1, 0, 0, 1, 0, 0, 0, 1, 0])
    t = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0])
    u = np.array([0.9, 0.8, 0.7, 0.2, 0.1, 0.95, 0.6, 0.5, 0.4, 0.3])
    # by group, k = 0.4: top 2 treated (0.9, 0.8) -> 1.0; top 2 controls (0.95, 0.6) -> 0.0
    assert uplift_at_k(y, u, t, k=0.4) == pytest.approx(1.0)
    # overall, k = 0.4: top 4 of all = 0.95 (C, 0), 0.9 (T, 1), 0.8 (T, 1), 0.7 (T, 0) -> 2/3 - 0
    assert uplift_at_k(y, u, t, k=0.4, strategy="overall") == pytest.approx(2 / 3)


def test_perfect_and_reversed_rankings() -> None:
    rng = np.random.default_rng(0)
    n = 4000
    t = rng.integers(0, 2, n).astype(float)
    effect = rng.uniform(-0.2, 0.4, n)
    y = (rng.uniform(size=n) < 0.3 + t * effect).astype(float)
    good = qini_auc_score(y, effect, t)
    bad = qini_auc_score(y, -effect, t)
    noise = qini_auc_score(y, rng.normal(size=n), t)
    assert good > 0.1 > abs(noise)
    assert bad < -0.1
    assert uplift_auc_score(y, effect, t) > uplift_auc_score(y, -effect, t)
    perfect = y * t - y * (1 - t)
    assert qini_auc_score(y, perfect, t) == pytest.approx(1.0)
    deciles = uplift_by_decile(y, effect, t)
    assert deciles["observed"][0] > deciles["observed"][-1]
    assert np.all(np.diff(deciles["predicted"]) <= 0)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="treatment must be 0"):
        qini_auc_score([1, 0], [0.1, 0.2], [1, 2])
    with pytest.raises(ValueError, match="both treated and control"):
        qini_auc_score([1, 0], [0.1, 0.2], [1, 1])
    with pytest.raises(ValueError, match="equal length"):
        uplift_at_k([1, 0, 1], [0.1, 0.2], [1, 0])
    with pytest.raises(ValueError, match="k must be"):
        uplift_at_k([1, 0], [0.1, 0.2], [1, 0], k=0)
