"""Evaluation metrics, tables and plots of the risk model, on hand-built cases with known answers."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, brier_score_loss, f1_score, log_loss, roc_auc_score

from training.evaluate import (
    best_f1_threshold,
    calibration_table,
    classification_metrics,
    decile_table,
    expected_calibration_error,
    slice_metrics,
    standard_slices,
    top_decile_lift,
)
from training.plots import (
    plot_calibration,
    plot_contributions_summary,
    plot_feature_importance,
    plot_gains_lift,
    plot_pr,
    plot_roc,
    save_figures,
)


@pytest.fixture(scope="module")
def scored() -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from known probabilities, and a noisy score of them (rounded so there are ties)."""
    rng = np.random.default_rng(7)
    truth = rng.beta(2, 3, size=3000)
    y = (rng.random(3000) < truth).astype(np.int64)
    p = np.clip(np.round(truth + rng.normal(0, 0.08, size=3000), 2), 0, 1)
    return y, p


# --------------------------------------------------------------------------------------------------------------
# headline metrics


def test_metrics_agree_with_scikit_learn(scored: tuple[np.ndarray, np.ndarray]) -> None:
    y, p = scored
    m = classification_metrics(y, p, threshold=0.5)
    assert m["n"] == 3000
    assert m["base_rate"] == pytest.approx(y.mean())
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert m["pr_auc"] == pytest.approx(average_precision_score(y, p), abs=1e-12)
    assert m["log_loss"] == pytest.approx(log_loss(y, p), abs=1e-12)
    assert m["brier"] == pytest.approx(brier_score_loss(y, p), abs=1e-12)
    assert m["f1"] == pytest.approx(f1_score(y, p >= 0.5), abs=1e-12)
    assert m["f1_threshold"] == 0.5
    assert m["flagged_share"] == pytest.approx((p >= 0.5).mean())
    assert m["ece"] == pytest.approx(expected_calibration_error(y, p, bins=15, strategy="uniform"))
    assert all(isinstance(v, float) for v in m.values())


def test_chosen_threshold_maximises_f1_over_all_scores(scored: tuple[np.ndarray, np.ndarray]) -> None:
    y, p = scored
    m = classification_metrics(y, p)
    every = {t: f1_score(y, p >= t) for t in np.unique(p)}
    best = max(every.values())
    assert m["f1"] == pytest.approx(best, abs=1e-12)
    assert m["f1_threshold"] == max(t for t, f in every.items() if f == pytest.approx(best, abs=1e-12))
    assert m["f1_threshold"] == best_f1_threshold(y, p)


def test_best_f1_threshold_by_hand() -> None:
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    y = np.array([1, 1, 0, 1, 0, 0])
    # F1 of p >= t for t = 0.9 .. 0.4: 2/4, 4/5, 4/6, 6/7, 6/8, 6/9 -> best at 0.6
    assert best_f1_threshold(y, p) == 0.6
    m = classification_metrics(y, p)
    assert m["f1_threshold"] == 0.6
    assert m["f1"] == pytest.approx(6 / 7)
    assert m["precision"] == pytest.approx(3 / 4)
    assert m["recall"] == pytest.approx(1.0)
    # a threshold chosen elsewhere (validation data) is applied as given
    fixed = classification_metrics(y, p, threshold=0.8)
    assert fixed["f1_threshold"] == 0.8
    assert fixed["f1"] == pytest.approx(4 / 5)


def test_best_f1_threshold_prefers_fewer_flags_on_equal_f1_and_handles_ties() -> None:
    # p >= 0.8 gives tp=1, flagged=1, P=2 -> 2/3;  p >= 0.3 gives tp=2, flagged=4 -> 4/6 = 2/3 as well
    y = np.array([1, 0, 0, 1, 0])
    p = np.array([0.8, 0.5, 0.5, 0.3, 0.1])
    assert best_f1_threshold(y, p) == 0.8
    # tied scores are flagged together, so the best F1 is 2/3 (flag both 0.7 rows), not 1 (flag only the first)
    y2 = np.array([1, 0, 0, 0])
    p2 = np.array([0.7, 0.7, 0.2, 0.2])
    for order in ([0, 1, 2, 3], [1, 0, 3, 2]):
        m = classification_metrics(y2[order], p2[order])
        assert m["f1_threshold"] == 0.7
        assert m["f1"] == pytest.approx(2 / 3)
    # flagging the three tied 0.8 rows gives F1 2/5; going down to 0.3 gives 4/6 (flagging one 0.8 row alone
    # would give 2/3 at 0.8, a threshold no rule "p >= t" can realise)
    assert best_f1_threshold([1, 0, 0, 1], [0.8, 0.8, 0.8, 0.3]) == 0.3
    with pytest.raises(ValueError, match="at least one positive"):
        best_f1_threshold([0, 0, 0], [0.1, 0.2, 0.3])


def test_ece_zero_for_calibrated_bins_and_known_value_when_miscalibrated() -> None:
    # bin of 0.25 with 1/4 abandoned and bin of 0.75 with 3/4 abandoned: perfectly calibrated
    p = np.array([0.25] * 4 + [0.75] * 4)
    y = np.array([1, 0, 0, 0, 1, 1, 1, 0])
    assert expected_calibration_error(y, p) == pytest.approx(0.0, abs=1e-15)
    assert expected_calibration_error(y, p, bins=10, strategy="quantile") == pytest.approx(0.0, abs=1e-15)
    # 10 rows predicted 0.2 of which 5 abandon (gap 0.3); 30 rows predicted 0.9 of which 27 abandon (gap 0)
    p = np.array([0.2] * 10 + [0.9] * 30)
    y = np.array([1] * 5 + [0] * 5 + [1] * 27 + [0] * 3)
    assert expected_calibration_error(y, p) == pytest.approx(0.3 * 10 / 40)
    # one uniform bin pools everything: |mean p - mean y| = |(2 + 27) / 40 - 32 / 40|
    assert expected_calibration_error(y, p, bins=1) == pytest.approx(3 / 40)
    assert classification_metrics(y, p)["ece"] == pytest.approx(0.075)


def test_ece_bins_are_weighted_by_size_not_averaged() -> None:
    # gaps 0.1 (90 rows) and 0.5 (10 rows): weighted 0.14, an unweighted mean would give 0.3
    p = np.array([0.1] * 90 + [0.5] * 10)
    y = np.array([1] * 18 + [0] * 72 + [0] * 10)
    assert expected_calibration_error(y, p) == pytest.approx(0.9 * 0.1 + 0.1 * 0.5)


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_calibration_table_matches_scikit_learn(scored: tuple[np.ndarray, np.ndarray], strategy: str) -> None:
    y, p = scored
    table = calibration_table(y, p, bins=8, strategy=strategy)  # type: ignore[arg-type]
    prob_true, prob_pred = calibration_curve(y, p, n_bins=8, strategy=strategy)
    np.testing.assert_allclose(table["observed_rate"], prob_true, atol=1e-12)
    np.testing.assert_allclose(table["mean_predicted"], prob_pred, atol=1e-12)
    assert table["n"].sum() == len(y)
    assert (table["p_min"].to_numpy()[1:] >= table["p_max"].to_numpy()[:-1]).all()


def test_top_decile_lift_by_hand() -> None:
    # 20 rows, 4 abandoned (base rate 0.2); the two highest scores are both abandoned -> 1.0 / 0.2 = 5
    p = np.linspace(0.05, 1.0, 20)
    y = np.zeros(20)
    y[[19, 18, 3, 0]] = 1
    assert top_decile_lift(y, p) == pytest.approx(5.0)
    # only one of the top two abandoned -> 0.5 / 0.2
    y[18] = 0
    y[5] = 1
    assert top_decile_lift(y, p) == pytest.approx(2.5)
    # 15 rows: the top decile is ceil(1.5) = 2 rows, holding the only positive -> 0.5 / (1 / 15)
    assert top_decile_lift(np.r_[0, 1, np.zeros(13)], np.linspace(1, 0, 15)) == pytest.approx(7.5)


def test_top_decile_lift_counts_tied_scores_at_their_mean() -> None:
    # 10 rows, top decile = 1 row, but the two highest scores tie and only one of them abandoned:
    # expected top rate 0.5 whatever the row order; base rate 0.2 -> 2.5
    y = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 0])
    p = np.array([0.9, 0.9, 0.5, 0.4, 0.3, 0.3, 0.2, 0.2, 0.1, 0.1])
    assert top_decile_lift(y, p) == pytest.approx(2.5)
    assert top_decile_lift(y[[1, 0, *range(2, 10)]], p) == pytest.approx(2.5)


# --------------------------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize(
    ("y", "p", "message"),
    [
        ([0, 1, 1], [0.1, 0.2], "same length; got 3 labels and 2 scores"),
        ([0, 1, 1], [0.1, np.nan, 0.3], "p contains 1 NaN"),
        ([0, 1, 1], [0.1, 1.2, 0.3], r"probabilities in \[0, 1\]; found values from 0.1 to 1.2"),
        ([0, 1, 1], [-0.5, 0.2, 0.3], r"probabilities in \[0, 1\]"),
        ([0, 2, 1], [0.1, 0.2, 0.3], "only 0 and 1"),
        ([0, np.nan, 1], [0.1, 0.2, 0.3], "only 0 and 1"),
        ([], [], "empty"),
        ([[0, 1]], [[0.1, 0.2]], "1-D"),
    ],
)
def test_bad_input_raises_clear_errors(y: list[float], p: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        classification_metrics(y, p)
    with pytest.raises(ValueError, match=message):
        decile_table(y, p)


def test_pandas_input_and_bad_thresholds() -> None:
    y = pd.Series([0, 1, 1, 0], dtype="Int64")
    p = pd.Series([0.1, 0.8, 0.6, 0.3], dtype="Float64")
    assert classification_metrics(y, p)["roc_auc"] == 1.0
    with pytest.raises(ValueError, match="p contains 1 NaN"):
        classification_metrics(y, pd.Series([0.1, pd.NA, 0.6, 0.3], dtype="Float64"))
    with pytest.raises(ValueError, match="only 0 and 1"):
        classification_metrics(pd.Series([0, pd.NA, 1, 0], dtype="Int64"), p)
    with pytest.raises(ValueError, match="threshold must be a finite number"):
        classification_metrics(y, p, threshold=float("nan"))


def test_one_class_gives_nan_ranking_metrics_without_crashing_or_warning() -> None:
    p = np.linspace(0.1, 0.9, 20)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        none = classification_metrics(np.zeros(20), p)
        every = classification_metrics(np.ones(20), p)
    for m in (none, every):
        assert math.isnan(m["roc_auc"])
        assert math.isnan(m["pr_auc"])
        assert math.isfinite(m["log_loss"])
        assert math.isfinite(m["brier"])
    assert none["base_rate"] == 0.0
    assert math.isnan(none["top_decile_lift"])
    assert math.isnan(none["f1_threshold"])
    assert math.isnan(none["f1"])
    assert none["log_loss"] == pytest.approx(log_loss(np.zeros(20), p, labels=[0, 1]))
    assert every["top_decile_lift"] == 1.0
    assert every["f1"] == 1.0


# --------------------------------------------------------------------------------------------------------------
# slices


def test_slice_metrics_exact_small_and_one_class() -> None:
    n = 200
    rng = np.random.default_rng(3)
    p = rng.random(n)
    y = (rng.random(n) < p).astype(int)
    known = np.zeros(n, dtype=bool)
    known[:6] = True  # 6 rows: scores 0.9 .. 0.4 with labels 1 1 0 1 0 0 -> 8 of 9 pairs ordered: AUC = 8/9
    p[:6] = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    y[:6] = [1, 1, 0, 1, 0, 0]
    one_class = (y == 1) & ~known
    res = slice_metrics(
        y, p,
        {"known": known, "everything": np.ones(n, dtype=bool), "tiny": np.arange(n) < 10, "one_class": one_class,
         "empty": np.zeros(n, dtype=bool)},
        min_size=5, min_per_class=2,
    )
    assert res["known"] == {"n": 6.0, "positives": 3.0, "base_rate": 0.5, "roc_auc": pytest.approx(8 / 9)}
    assert res["everything"]["roc_auc"] == pytest.approx(roc_auc_score(y, p))
    assert res["one_class"]["n"] == one_class.sum()
    assert math.isnan(res["one_class"]["roc_auc"])
    assert res["empty"]["n"] == 0.0 and math.isnan(res["empty"]["roc_auc"]) and math.isnan(res["empty"]["base_rate"])
    # with the default minimum size (50 rows) the 6-row and 10-row slices are too small
    default = slice_metrics(y, p, {"known": known, "tiny": np.arange(n) < 10})
    assert math.isnan(default["known"]["roc_auc"]) and math.isnan(default["tiny"]["roc_auc"])
    assert default["known"]["positives"] == 3.0
    # enough rows but fewer than min_per_class negatives
    mostly_pos = (y == 1) | (np.arange(n) == np.flatnonzero(y == 0)[0])
    assert math.isnan(slice_metrics(y, p, {"s": mostly_pos}, min_size=5, min_per_class=2)["s"]["roc_auc"])
    assert math.isfinite(slice_metrics(y, p, {"s": mostly_pos}, min_size=5, min_per_class=1)["s"]["roc_auc"])


def test_slice_metrics_rejects_bad_masks() -> None:
    y, p = [0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4]
    with pytest.raises(ValueError, match="'ab' must be a boolean mask"):
        slice_metrics(y, p, {"ab": np.array([0, 1, 1, 0])})
    with pytest.raises(ValueError, match="'ab' has 3 entries but there are 4 rows"):
        slice_metrics(y, p, {"ab": np.array([True, False, True])})


def test_standard_slices_on_a_hand_built_snapshot_frame() -> None:
    events = ["add_to_cart", "view_cart", "begin_checkout", "add_to_cart", "add_payment_info", "add_to_cart", None]
    frame = pd.DataFrame(
        {
            "event_type": pd.Categorical(
                events,
                categories=["add_to_cart", "view_cart", "begin_checkout", "add_shipping_info", "add_payment_info"],
            ),
            "n_adds": [1.0, 1.0, 1.0, 2.0, 2.0, 1.0, np.nan],
            "device": pd.Categorical(
                ["mobile", "mobile", "mobile", "desktop", "desktop", "tablet", None],
                categories=["desktop", "mobile", "tablet", "unknown"],
            ),
            "is_guest": [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, np.nan],
        }
    )
    s = standard_slices(frame)
    assert list(s) == ["at_first_add_to_cart", "at_begin_checkout", "device=desktop", "device=mobile",
                       "device=tablet", "device=unknown", "guest", "known_customer"]
    expected = {
        "at_first_add_to_cart": [1, 0, 0, 0, 0, 1, 0],
        "at_begin_checkout": [0, 0, 1, 0, 0, 0, 0],
        "device=desktop": [0, 0, 0, 1, 1, 0, 0],
        "device=mobile": [1, 1, 1, 0, 0, 0, 0],
        "device=tablet": [0, 0, 0, 0, 0, 1, 0],
        "device=unknown": [0] * 7,
        "guest": [1, 1, 1, 0, 0, 0, 0],
        "known_customer": [0, 0, 0, 1, 1, 1, 0],
    }
    for name, flags in expected.items():
        assert s[name].dtype == np.bool_
        assert s[name].tolist() == [bool(v) for v in flags], name
    # plain string columns work the same
    plain = frame.assign(event_type=frame["event_type"].astype("string"), device=frame["device"].astype(object))
    for name, mask in standard_slices(plain).items():
        assert mask.tolist() == s[name].tolist(), name
    with pytest.raises(ValueError, match=r"missing \['device'\]"):
        standard_slices(frame.drop(columns="device"))


# --------------------------------------------------------------------------------------------------------------
# deciles


def test_decile_table_by_hand() -> None:
    # 20 rows in descending score order; positives at ranks 0, 1, 2, 5, 19 (base rate 0.25)
    p = np.linspace(1.0, 0.05, 20)
    y = np.zeros(20)
    y[[0, 1, 2, 5, 19]] = 1
    t = decile_table(y[::-1], p[::-1])  # row order must not matter
    assert t["decile"].tolist() == list(range(1, 11))
    assert t["n"].tolist() == [2] * 10
    assert t["positives"].tolist() == [2, 1, 1, 0, 0, 0, 0, 0, 0, 1]
    np.testing.assert_allclose(t["rate"], [1, 0.5, 0.5, 0, 0, 0, 0, 0, 0, 0.5])
    np.testing.assert_allclose(t["lift"], [4, 2, 2, 0, 0, 0, 0, 0, 0, 2])
    np.testing.assert_allclose(t["cum_positives_share"], [0.4, 0.6, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 1.0])
    np.testing.assert_allclose(t["cum_share_targeted"], np.arange(1, 11) / 10)
    assert t.loc[0, "p_max"] == 1.0 and t.loc[9, "p_min"] == pytest.approx(0.05)
    assert t.loc[0, "lift"] == pytest.approx(top_decile_lift(y, p))


def test_decile_table_sums_and_monotone(scored: tuple[np.ndarray, np.ndarray]) -> None:
    y, p = scored
    t = decile_table(y, p)
    assert t["n"].sum() == len(y)
    assert t["n"].max() - t["n"].min() <= 1
    assert t["positives"].sum() == pytest.approx(y.sum())
    gains = t["cum_positives_share"].to_numpy()
    assert gains[-1] == pytest.approx(1.0)
    assert (np.diff(gains) >= -1e-12).all()
    assert (np.diff(t["mean_predicted"].to_numpy()) <= 0).all()
    assert (t["p_min"].to_numpy()[:-1] >= t["p_max"].to_numpy()[1:]).all()
    assert t.loc[0, "lift"] == pytest.approx(top_decile_lift(y, p))
    # this score is informative: risk falls from the top decile to the bottom one
    rate = t["rate"].to_numpy()
    assert rate[0] > rate[4] > rate[9]
    # uneven sizes: 23 rows -> three deciles of 3 then seven of 2
    assert decile_table(np.r_[1, np.zeros(22)], np.linspace(1, 0, 23))["n"].tolist() == [3] * 3 + [2] * 7
    with pytest.raises(ValueError, match="at least 10 rows"):
        decile_table([0, 1] * 4, np.linspace(0, 1, 8))


def test_decile_table_splits_tied_positives_evenly() -> None:
    # all scores equal: every decile gets the average rate whatever the row order
    y = np.r_[np.ones(5), np.zeros(15)]
    t = decile_table(y, np.full(20, 0.3))
    np.testing.assert_allclose(t["positives"], 0.5)
    np.testing.assert_allclose(t["lift"], 1.0)


# --------------------------------------------------------------------------------------------------------------
# plots


def _lines(fig: Figure, axes: int = 0) -> int:
    return len(fig.axes[axes].get_lines())


def test_ranking_plots(scored: tuple[np.ndarray, np.ndarray]) -> None:
    y, p = scored
    roc = plot_roc(y, p)
    assert isinstance(roc, Figure) and len(roc.axes) == 1 and _lines(roc) == 2
    roc_ref = plot_roc(y, p, reference=(y, np.clip(p * 0.5 + 0.25, 0, 1), "Bayes limit"))
    assert _lines(roc_ref) == 3
    legend = roc_ref.axes[0].get_legend()
    assert legend is not None
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels[1].startswith("Bayes limit (AUC = ")
    assert roc_ref.axes[0].get_xlabel().startswith("False positive rate")
    pr = plot_pr(y, p, reference=(y, p, "Same scores"))
    assert isinstance(pr, Figure) and len(pr.axes) == 1 and _lines(pr) == 3
    assert _lines(plot_pr(y, p)) == 2
    with pytest.raises(ValueError, match="only one class"):
        plot_roc(np.zeros(10), np.linspace(0, 1, 10))


def test_calibration_and_gains_plots(scored: tuple[np.ndarray, np.ndarray]) -> None:
    y, p = scored
    cal = plot_calibration(y, p, bins=10)
    assert isinstance(cal, Figure) and len(cal.axes) == 2
    assert _lines(cal, 0) == 2
    assert np.size(cal.axes[0].get_lines()[0].get_xdata()) == len(calibration_table(y, p, bins=10))
    assert cal.axes[0].get_ylabel() == "Observed abandonment rate"
    assert cal.axes[1].get_xlabel() == "Predicted abandonment probability"
    assert len(cal.axes[1].patches) == 50
    gl = plot_gains_lift(y, p)
    assert isinstance(gl, Figure) and len(gl.axes) == 2
    assert _lines(gl, 0) == 3
    assert np.size(gl.axes[0].get_lines()[0].get_xdata()) == 11  # origin + 10 deciles
    assert len(gl.axes[1].patches) == 10


def test_feature_importance_plot() -> None:
    names = [f"f{i}" for i in range(30)]
    gains = np.arange(30, dtype=float)
    fig = plot_feature_importance(names, gains, top=25)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    assert len(ax.patches) == 25
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert ticks[0] == "f29" and "f4" not in ticks  # largest at the top, five smallest left out
    bars = [patch for patch in ax.patches if isinstance(patch, Rectangle)]
    assert max(bar.get_width() for bar in bars) == pytest.approx(100 * 29 / gains.sum())
    with pytest.raises(ValueError, match="same length"):
        plot_feature_importance(names[:3], gains)


def test_contributions_summary_plot() -> None:
    rng = np.random.default_rng(0)
    n = 400
    X = pd.DataFrame(
        {
            "cart_value": rng.lognormal(3, 1, n),
            "n_adds": rng.integers(1, 5, n).astype(float),
            "device": pd.Categorical(rng.choice(["desktop", "mobile"], n)),
            "minutes_since_add": np.where(rng.random(n) < 0.2, np.nan, rng.exponential(3, n)),
        }
    )
    contrib = np.column_stack([rng.normal(0, s, n) for s in (0.1, 2.0, 0.5, 1.0)])
    fig = plot_contributions_summary(contrib, X, top=3)
    assert isinstance(fig, Figure) and len(fig.axes) == 2  # swarm + colour bar
    ax = fig.axes[0]
    assert len(ax.collections) == 3
    assert [t.get_text() for t in ax.get_yticklabels()] == ["n_adds", "minutes_since_add", "device"]
    for c in ax.collections:  # every row is drawn, missing feature values too (in grey)
        offsets: np.ma.MaskedArray = np.ma.asarray(c.get_offsets())
        assert np.shape(offsets)[0] == n and not np.ma.getmaskarray(offsets).any()
    # points stay within their feature's row and x is the contribution itself
    first = np.asarray(ax.collections[0].get_offsets())
    np.testing.assert_allclose(np.sort(first[:, 0]), np.sort(contrib[:, 1]))
    assert np.abs(first[:, 1] - 2).max() < 0.5
    sampled = plot_contributions_summary(contrib, X, max_points=100).axes[0].collections[0]
    assert np.shape(sampled.get_offsets())[0] == 100
    with pytest.raises(ValueError, match="drop the last column"):
        plot_contributions_summary(np.c_[contrib, np.zeros(n)], X)
    with pytest.raises(ValueError, match="shape"):
        plot_contributions_summary(contrib[:10], X)


def test_save_figures_writes_png_files(tmp_path: Path, scored: tuple[np.ndarray, np.ndarray]) -> None:
    y, p = scored
    figs = {"roc": plot_roc(y, p), "calibration.png": plot_calibration(y, p)}
    paths = save_figures(figs, tmp_path / "figures")
    assert paths == [tmp_path / "figures" / "roc.png", tmp_path / "figures" / "calibration.png"]
    for path in paths:
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert len(data) > 5000
    with pytest.raises(ValueError, match="plain file name"):
        save_figures({"../escape": plot_roc(y, p)}, tmp_path)
