"""Evaluation plots of the cart-abandonment risk model (pure functions returning matplotlib Figures).

Every function builds a fresh :class:`matplotlib.figure.Figure` attached to its own Agg (off-screen) canvas. The
module never imports ``matplotlib.pyplot`` to draw, never calls ``show()``, and does not change the global backend,
so it works the same on a headless training machine, in tests and in a notebook (where a returned Figure is still
displayed). Write figures to disk with :func:`save_figures` or log them with ``mlflow.log_figure``.

Conventions are those of :mod:`training.evaluate`: ``y`` is 1 for an abandoned cart, ``p`` the predicted
abandonment probability.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

from training.evaluate import (
    BinStrategy,
    calibration_table,
    check_scores,
    decile_table,
    expected_calibration_error,
)

__all__ = [
    "plot_calibration",
    "plot_contributions_summary",
    "plot_feature_importance",
    "plot_gains_lift",
    "plot_pr",
    "plot_roc",
    "save_figures",
]

DPI = 110
MODEL_COLOUR = "tab:blue"
REFERENCE_COLOUR = "tab:orange"
BASELINE_COLOUR = "0.55"
CATEGORICAL_COLOUR = "0.6"

Reference = tuple[npt.ArrayLike, npt.ArrayLike, str]


def _figure(width: float = 6.0, height: float = 5.0) -> Figure:
    """A new Figure on its own Agg canvas (independent of pyplot and of the session's backend)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _require_both_classes(y: np.ndarray, what: str) -> None:
    positives = float(y.sum())
    if positives == 0 or positives == len(y):
        raise ValueError(f"{what} needs both abandoned (1) and completed (0) rows; y has only one class")


def _check_reference(reference: Reference | None, what: str) -> tuple[np.ndarray, np.ndarray, str] | None:
    if reference is None:
        return None
    y_ref, p_ref, label = reference
    yr, pr = check_scores(y_ref, p_ref)
    _require_both_classes(yr, what)
    return yr, pr, label


# --------------------------------------------------------------------------------------------------------------
# ranking curves


def plot_roc(y: npt.ArrayLike, p: npt.ArrayLike, reference: Reference | None = None) -> Figure:
    """ROC curve of the model, with the chance diagonal and optionally a labelled reference curve.

    ``reference`` is ``(y_ref, p_ref, label)``, e.g. ``(y, bayes_probabilities, "Bayes limit (true
    probabilities)")`` to show how far the model is from the best achievable ranking. One axes; its lines are the
    model, the optional reference, then the chance diagonal. The legend shows each curve's AUC.
    """
    yy, pp = check_scores(y, p)
    _require_both_classes(yy, "plot_roc")
    ref = _check_reference(reference, "plot_roc reference")
    fig = _figure()
    ax = fig.add_subplot()
    fpr, tpr, _ = roc_curve(yy, pp)
    ax.plot(fpr, tpr, color=MODEL_COLOUR, lw=2, label=f"Model (AUC = {roc_auc_score(yy, pp):.3f})")
    if ref is not None:
        yr, pr, label = ref
        fpr_r, tpr_r, _ = roc_curve(yr, pr)
        ax.plot(fpr_r, tpr_r, color=REFERENCE_COLOUR, lw=1.5, ls="--",
                label=f"{label} (AUC = {roc_auc_score(yr, pr):.3f})")
    ax.plot([0, 1], [0, 1], color=BASELINE_COLOUR, lw=1, ls=":", label="Random ranking (AUC = 0.5)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel("False positive rate (share of completed carts flagged)")
    ax.set_ylabel("True positive rate (share of abandoned carts flagged)")
    ax.set_title("ROC curve: ranking of abandoned vs completed carts")
    ax.legend(loc="lower right", fontsize="small")
    ax.grid(alpha=0.3)
    return fig


def plot_pr(y: npt.ArrayLike, p: npt.ArrayLike, reference: Reference | None = None) -> Figure:
    """Precision-recall curve of the model, with the base-rate line and optionally a labelled reference curve.

    ``reference`` is ``(y_ref, p_ref, label)`` as in :func:`plot_roc`. One axes; its lines are the model, the
    optional reference, then the horizontal base rate (the precision of a random score). The legend shows each
    curve's average precision (AP).
    """
    yy, pp = check_scores(y, p)
    _require_both_classes(yy, "plot_pr")
    ref = _check_reference(reference, "plot_pr reference")
    fig = _figure()
    ax = fig.add_subplot()
    precision, recall, _ = precision_recall_curve(yy, pp)
    ax.plot(recall, precision, color=MODEL_COLOUR, lw=2, drawstyle="steps-post",
            label=f"Model (AP = {average_precision_score(yy, pp):.3f})")
    if ref is not None:
        yr, pr, label = ref
        precision_r, recall_r, _ = precision_recall_curve(yr, pr)
        ax.plot(recall_r, precision_r, color=REFERENCE_COLOUR, lw=1.5, ls="--", drawstyle="steps-post",
                label=f"{label} (AP = {average_precision_score(yr, pr):.3f})")
    base = float(yy.mean())
    ax.plot([0, 1], [base, base], color=BASELINE_COLOUR, lw=1, ls=":", label=f"Abandonment base rate ({base:.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("Recall (share of abandoned carts flagged)")
    ax.set_ylabel("Precision (share of flagged carts that were abandoned)")
    ax.set_title("Precision-recall curve")
    ax.legend(loc="upper right", fontsize="small")
    ax.grid(alpha=0.3)
    return fig


# --------------------------------------------------------------------------------------------------------------
# calibration


def plot_calibration(
    y: npt.ArrayLike, p: npt.ArrayLike, bins: int = 10, strategy: BinStrategy = "quantile"
) -> Figure:
    """Reliability diagram with a histogram of the predictions below it (two axes, shared x).

    Top axes: mean predicted probability against observed abandonment rate per bin (see
    :func:`training.evaluate.calibration_table`), plus the diagonal of perfect calibration; points under the
    diagonal mean the model over-predicts abandonment there. Its lines are the model, then the diagonal. The title
    gives the expected calibration error with the same bins. Bottom axes: how many carts get each predicted
    probability (50 equal-width bars on [0, 1]).
    """
    yy, pp = check_scores(y, p)
    table = calibration_table(yy, pp, bins=bins, strategy=strategy)
    ece = expected_calibration_error(yy, pp, bins=bins, strategy=strategy)
    fig = _figure(6.0, 6.5)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    top.plot(table["mean_predicted"], table["observed_rate"], marker="o", color=MODEL_COLOUR, lw=1.5,
             label="Model")
    top.plot([0, 1], [0, 1], color=BASELINE_COLOUR, lw=1, ls=":", label="Perfectly calibrated")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.set_ylabel("Observed abandonment rate")
    top.set_title(f"Calibration ({len(table)} {strategy} bins, ECE = {ece:.3f})")
    top.legend(loc="upper left", fontsize="small")
    top.grid(alpha=0.3)
    bottom.hist(pp, bins=50, range=(0.0, 1.0), color=MODEL_COLOUR, alpha=0.7)
    bottom.set_xlabel("Predicted abandonment probability")
    bottom.set_ylabel("Carts")
    bottom.grid(alpha=0.3)
    return fig


# --------------------------------------------------------------------------------------------------------------
# gains and lift


def plot_gains_lift(y: npt.ArrayLike, p: npt.ArrayLike) -> Figure:
    """Cumulative gains curve and lift by decile, side by side (two axes), from
    :func:`training.evaluate.decile_table`.

    Left: share of all abandoned carts captured when targeting the riskiest 10%, 20%, ... of carts; its lines are
    the model, the best possible ranking, then random targeting. Right: lift of each score decile (bars, 1 =
    highest risk) with a line at 1 (no better than random).
    """
    yy, pp = check_scores(y, p)
    if yy.sum() == 0:
        raise ValueError("plot_gains_lift needs at least one abandoned (1) row; y is all 0")
    table = decile_table(yy, pp)
    base = float(yy.mean())
    fig = _figure(11.0, 4.8)
    left, right = fig.subplots(1, 2)
    share = np.r_[0.0, table["cum_share_targeted"].to_numpy(dtype=float)]
    gains = np.r_[0.0, table["cum_positives_share"].to_numpy(dtype=float)]
    left.plot(share, gains, marker="o", color=MODEL_COLOUR, lw=2, label="Model")
    left.plot([0, base, 1], [0, 1, 1], color=REFERENCE_COLOUR, lw=1, ls="--", label="Perfect ranking")
    left.plot([0, 1], [0, 1], color=BASELINE_COLOUR, lw=1, ls=":", label="Random targeting")
    left.set_xlim(0, 1)
    left.set_ylim(0, 1.01)
    left.set_xlabel("Share of carts targeted (highest predicted risk first)")
    left.set_ylabel("Share of abandoned carts captured")
    left.set_title("Cumulative gains")
    left.legend(loc="lower right", fontsize="small")
    left.grid(alpha=0.3)
    deciles = table["decile"].to_numpy()
    right.bar(deciles, table["lift"].to_numpy(dtype=float), color=MODEL_COLOUR, alpha=0.8)
    right.axhline(1.0, color=BASELINE_COLOUR, lw=1, ls=":")
    right.set_xticks(deciles)
    right.set_xlabel("Score decile (1 = highest predicted risk)")
    right.set_ylabel("Lift (decile abandonment rate / overall rate)")
    right.set_title("Lift by decile")
    right.grid(alpha=0.3, axis="y")
    return fig


# --------------------------------------------------------------------------------------------------------------
# explanations


def plot_feature_importance(names: Sequence[str], gains: npt.ArrayLike, top: int = 25) -> Figure:
    """Horizontal bars of gain importance for the ``top`` most important features (largest at the top).

    ``gains`` is LightGBM's ``booster.feature_importance(importance_type="gain")`` (total loss reduction of the
    splits on each feature), aligned with ``names``. Bars show each feature's share of the total gain of all
    features, in percent. One axes with one bar per feature shown.
    """
    values = np.asarray(gains, dtype=np.float64)
    if values.ndim != 1 or len(values) != len(names):
        raise ValueError(f"names and gains must have the same length; got {len(names)} names and "
                         f"{values.size} gains")
    if len(values) == 0:
        raise ValueError("plot_feature_importance got no features")
    if np.isnan(values).any() or (values < 0).any():
        raise ValueError("gains must be non-negative numbers without NaN")
    if top < 1:
        raise ValueError(f"top must be at least 1; got {top}")
    total = float(values.sum())
    share = 100.0 * values / total if total > 0 else np.zeros_like(values)
    order = np.argsort(-values, kind="stable")[:top]
    fig = _figure(7.0, max(2.5, 0.28 * len(order) + 1.2))
    ax = fig.add_subplot()
    positions = np.arange(len(order))[::-1]
    ax.barh(positions, share[order], color=MODEL_COLOUR, alpha=0.85)
    ax.set_yticks(positions, [str(names[i]) for i in order])
    ax.set_xlabel("Share of total split gain (%)")
    ax.set_title(f"Feature importance (gain), top {len(order)} of {len(values)} features")
    ax.grid(alpha=0.3, axis="x")
    return fig


def _is_categorical(column: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column))


def _value_rank(column: pd.Series) -> npt.NDArray[np.float64]:
    """Feature values as percentile ranks in [0, 1] (NaN stays NaN); constant columns map to 0.5."""
    values = pd.to_numeric(column, errors="coerce").astype("float64")
    ranks = values.rank(method="average").to_numpy(dtype=np.float64, na_value=np.nan)
    count = np.isfinite(ranks).sum()
    if count <= 1:
        return np.where(np.isnan(ranks), np.nan, 0.5)
    return (ranks - 1.0) / (count - 1.0)


def _beeswarm_offsets(x: npt.NDArray[np.float64], rng: np.random.Generator, width: float) -> npt.NDArray[np.float64]:
    """Vertical jitter whose spread follows the local density of ``x`` (wide where many points pile up)."""
    if len(x) == 0:
        return np.zeros(0)
    lo, hi = float(x.min()), float(x.max())
    if hi <= lo:
        density = np.ones_like(x)
    else:
        counts, edges = np.histogram(x, bins=min(60, max(5, len(x) // 10)), range=(lo, hi))
        which = np.clip(np.searchsorted(edges[1:-1], x, side="right"), 0, len(counts) - 1)
        density = np.sqrt(counts[which] / counts.max())
    return rng.uniform(-1.0, 1.0, size=len(x)) * width * density


def plot_contributions_summary(
    contrib: npt.ArrayLike,
    X: pd.DataFrame,
    top: int = 20,
    max_points: int = 5000,
    seed: int = 0,
) -> Figure:
    """SHAP-style beeswarm summary built from LightGBM's own per-row feature contributions (no ``shap`` needed).

    ``contrib`` is ``booster.predict(X, pred_contrib=True)`` *without* its last (bias) column: one row per row of
    ``X``, one column per column of ``X``, in log-odds units of abandonment. Each of the ``top`` features with the
    largest mean absolute contribution gets one row of points (most important at the top): x is how much the
    feature moved that cart's predicted log-odds (right = towards abandonment), the vertical spread is jitter that
    widens where points pile up, and the colour is the feature value's rank among the rows (blue = low, red =
    high). Categorical features and missing values are grey. At most ``max_points`` rows (sampled with ``seed``)
    are drawn. Two axes: the swarm, then the colour bar. The swarm axes has one point collection per feature shown.
    """
    values = np.asarray(contrib, dtype=np.float64)
    n_rows, n_features = X.shape
    if values.ndim != 2:
        raise ValueError(f"contrib must be a 2-D array (rows x features); got shape {values.shape}")
    if values.shape == (n_rows, n_features + 1):
        raise ValueError(f"contrib has {n_features + 1} columns for {n_features} features; drop the last column "
                         "(the bias / expected value) of LightGBM's pred_contrib output")
    if values.shape != (n_rows, n_features):
        raise ValueError(f"contrib must have shape {(n_rows, n_features)} to match X; got {values.shape}")
    if n_rows == 0 or n_features == 0:
        raise ValueError("plot_contributions_summary got no rows or no features")
    if np.isnan(values).any():
        raise ValueError("contrib contains NaN")
    if top < 1:
        raise ValueError(f"top must be at least 1; got {top}")

    rng = np.random.default_rng(seed)
    rows = np.arange(n_rows)
    if n_rows > max_points:
        rows = np.sort(rng.choice(n_rows, size=max_points, replace=False))
    importance = np.abs(values).mean(axis=0)
    order = np.argsort(-importance, kind="stable")[:top]

    fig = _figure(8.0, max(3.0, 0.38 * len(order) + 1.5))
    ax = fig.add_subplot()
    cmap = colormaps["coolwarm"].with_extremes(bad=CATEGORICAL_COLOUR)
    for position, j in zip(range(len(order) - 1, -1, -1), order, strict=True):
        column = X.iloc[rows, j]
        x = values[rows, j]
        yj = position + _beeswarm_offsets(x, rng, width=0.38)
        if _is_categorical(column):
            ax.scatter(x, yj, s=6, color=CATEGORICAL_COLOUR, alpha=0.6, linewidths=0, rasterized=True)
        else:
            # missing values have a NaN rank and are drawn in the colour map's "bad" colour (grey)
            ax.scatter(x, yj, s=6, c=_value_rank(column), cmap=cmap, vmin=0.0, vmax=1.0, alpha=0.8,
                       linewidths=0, plotnonfinite=True, rasterized=True)
    ax.axvline(0.0, color=BASELINE_COLOUR, lw=1)
    ax.set_yticks(np.arange(len(order))[::-1], [str(X.columns[j]) for j in order])
    ax.set_ylim(-0.7, len(order) - 0.3)
    ax.set_xlabel("Contribution to predicted log-odds of abandonment (right = raises risk)")
    ax.set_title(f"Feature contributions per cart (LightGBM), top {len(order)} features by mean |contribution|")
    ax.grid(alpha=0.3, axis="x")
    bar = fig.colorbar(ScalarMappable(norm=Normalize(0.0, 1.0), cmap=cmap), ax=ax, pad=0.01, aspect=40)
    bar.set_ticks([0.0, 1.0], labels=["Low", "High"])
    bar.set_label("Feature value (grey: categorical or missing)", fontsize="small")
    return fig


# --------------------------------------------------------------------------------------------------------------
# output


_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.=-]*$")


def save_figures(figs: Mapping[str, Figure], folder: Path, dpi: int = DPI) -> list[Path]:
    """Write each figure to ``folder/<name>.png`` and close it; return the paths written, in ``figs`` order.

    ``folder`` is created if needed. Names must be plain file names (letters, digits, ``_ . = -``; a ``.png``
    suffix is optional). Closing removes pyplot-managed figures from pyplot's registry; figures from this
    module are not registered there and are freed once no longer referenced.
    """
    folder = Path(folder)
    for name in figs:
        if not _SAFE_NAME.match(name):
            raise ValueError(f"figure name {name!r} is not a plain file name (letters, digits, '_', '.', '=', '-')")
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, fig in figs.items():
        path = folder / (name if name.lower().endswith(".png") else f"{name}.png")
        if fig.canvas is None or not hasattr(fig.canvas, "print_png"):
            FigureCanvasAgg(fig)
        fig.savefig(path, dpi=dpi, format="png")
        written.append(path)
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close(fig)
    return written
