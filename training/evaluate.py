"""Evaluation of the cart-abandonment risk model: metrics and tables (pure functions, no plotting).

Conventions used throughout:

* ``y`` (or ``y_true``) is the label: 1 = the cart was abandoned, 0 = it was completed. Booleans are accepted.
* ``p`` is the model's predicted abandonment probability for the same rows, a number in [0, 1].
* "Positive" means an abandoned cart; the "positive rate" / "base rate" is the share of abandoned carts.
* Rankings put the **highest** risk first. Where several rows have exactly the same score, their order is not
  defined by the model, so counts that depend on the order (top-decile lift, the decile table) use the
  *expected* value under a random order of the tied rows: the tied rows share their positives evenly.

The plots live in :mod:`training.plots`, so this module does not import matplotlib.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from features.schema import DEVICES

__all__ = [
    "BinStrategy",
    "best_f1_threshold",
    "calibration_table",
    "check_scores",
    "classification_metrics",
    "decile_table",
    "expected_calibration_error",
    "f1_at_threshold",
    "slice_metrics",
    "standard_slices",
    "top_decile_lift",
]

BinStrategy = Literal["uniform", "quantile"]

FloatArray = npt.NDArray[np.float64]


# --------------------------------------------------------------------------------------------------------------
# input checks


def _as_array(values: npt.ArrayLike) -> np.ndarray:
    """``values`` as a NumPy array; pandas' missing values (``pd.NA``) in nullable columns become NaN."""
    to_numpy = getattr(values, "to_numpy", None)
    if to_numpy is not None and isinstance(values, pd.Series | pd.Index | pd.api.extensions.ExtensionArray):
        try:
            return np.asarray(to_numpy(dtype=np.float64, na_value=np.nan))
        except (TypeError, ValueError):
            return np.asarray(to_numpy())
    return np.asarray(values)


def check_scores(y_true: npt.ArrayLike, p: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Validate labels and probabilities and return them as 1-D float arrays.

    Raises ``ValueError`` with a message saying what is wrong when: either input is not 1-D, the lengths
    differ, there are no rows, a label is not 0/1 (or is NaN), ``p`` contains NaN, or ``p`` has values outside
    [0, 1] (raw scores / log-odds passed by mistake).
    """
    y = _as_array(y_true)
    q = _as_array(p)
    if y.ndim != 1 or q.ndim != 1:
        raise ValueError(f"y_true and p must be 1-D arrays; got shapes {y.shape} and {q.shape}")
    if len(y) != len(q):
        raise ValueError(f"y_true and p must have the same length; got {len(y)} labels and {len(q)} scores")
    if len(y) == 0:
        raise ValueError("y_true and p are empty; there is nothing to evaluate")
    try:
        yf = y.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"y_true must be 0/1 labels; got values of dtype {y.dtype}") from exc
    bad_y = ~np.isin(yf, (0.0, 1.0))
    if bad_y.any():
        examples = np.unique(y[bad_y])[:5].tolist()
        raise ValueError(f"y_true must contain only 0 and 1 (1 = abandoned); found {int(bad_y.sum())} other "
                         f"values, e.g. {examples}")
    try:
        qf = q.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"p must be numeric probabilities; got values of dtype {q.dtype}") from exc
    n_nan = int(np.isnan(qf).sum())
    if n_nan:
        raise ValueError(f"p contains {n_nan} NaN value(s); every row needs a predicted probability")
    lo, hi = float(qf.min()), float(qf.max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"p must be probabilities in [0, 1]; found values from {lo:g} to {hi:g} "
                         "(raw scores or log-odds instead of probabilities?)")
    return yf, qf


def _has_both_classes(y: FloatArray) -> bool:
    positives = float(y.sum())
    return 0.0 < positives < len(y)


# --------------------------------------------------------------------------------------------------------------
# ranking helpers


def _expected_labels_by_rank(y: FloatArray, p: FloatArray) -> FloatArray:
    """Labels ordered by descending score, each run of tied scores replaced by its mean label.

    Entry ``i`` is the expected label of the row at rank ``i`` (0 = highest score) when tied rows are put in a
    random order, so sums over rank ranges are the expected positives in those ranges.
    """
    order = np.argsort(-p, kind="stable")
    ys = y[order]
    ps = p[order]
    starts = np.flatnonzero(np.r_[True, ps[1:] != ps[:-1]])
    sizes = np.diff(np.r_[starts, len(ps)])
    means = np.add.reduceat(ys, starts) / sizes
    return np.repeat(means, sizes)


def _decile_bounds(n: int) -> npt.NDArray[np.int64]:
    """Rank boundaries of 10 nearly equal groups (sizes differ by at most one, larger groups first)."""
    sizes = np.full(10, n // 10, dtype=np.int64)
    sizes[: n % 10] += 1
    return np.r_[0, np.cumsum(sizes)]


def top_decile_lift(y_true: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """Positive rate among the 10% highest-scored rows divided by the overall positive rate.

    The top decile is the ``ceil(n / 10)`` highest scores (the same rows as decile 1 of :func:`decile_table`).
    A lift of 3 means carts in the riskiest tenth abandon three times as often as carts on average; 1 means the
    score does not help. Ties at the cut-off are counted at their mean label. NaN when there are no positives.
    """
    y, q = check_scores(y_true, p)
    base = float(y.mean())
    if base == 0.0:
        return math.nan
    k = math.ceil(len(y) / 10)
    top_rate = float(_expected_labels_by_rank(y, q)[:k].sum()) / k
    return top_rate / base


# --------------------------------------------------------------------------------------------------------------
# thresholds and F1


def _f1_curve(y: FloatArray, p: FloatArray) -> tuple[FloatArray, FloatArray]:
    """F1 of the rule ``p >= t`` for every distinct score ``t``, thresholds in descending order."""
    order = np.argsort(-p, kind="stable")
    ys = y[order]
    ps = p[order]
    last_of_run = np.flatnonzero(np.r_[ps[1:] != ps[:-1], True])
    tp = np.cumsum(ys)[last_of_run]
    flagged = (last_of_run + 1).astype(np.float64)
    positives = float(y.sum())
    f1 = 2.0 * tp / (flagged + positives)
    return ps[last_of_run], f1


def best_f1_threshold(y_true: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """The threshold ``t`` maximising F1 of the rule "flag the cart when ``p >= t``" on these data.

    The returned value is one of the scores in ``p``. When several thresholds reach the same best F1, the
    highest one (fewest carts flagged) is returned. Choose it on validation data and pass it as ``threshold``
    to :func:`classification_metrics` on test data, so the test F1 is not optimistically biased.

    Raises ``ValueError`` when ``y_true`` has no positives (F1 is 0 for every threshold).
    """
    y, q = check_scores(y_true, p)
    if y.sum() == 0:
        raise ValueError("best_f1_threshold needs at least one positive (abandoned) row; y_true is all 0")
    thresholds, f1 = _f1_curve(y, q)
    return float(thresholds[int(np.argmax(f1))])


def f1_at_threshold(y_true: npt.ArrayLike, p: npt.ArrayLike, threshold: float) -> dict[str, float]:
    """Precision, recall, F1 and share of rows flagged for the rule "flag the cart when ``p >= threshold``".

    * ``precision``: share of flagged carts that were abandoned (NaN when nothing is flagged).
    * ``recall``: share of abandoned carts that were flagged (NaN when there are no positives).
    * ``f1``: harmonic mean of the two, ``2 TP / (flagged + positives)`` (NaN when both are zero).
    * ``flagged_share``: share of all carts flagged.
    """
    y, q = check_scores(y_true, p)
    if not math.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number; got {threshold}")
    flagged = q >= threshold
    tp = float(y[flagged].sum())
    n_flagged = float(flagged.sum())
    positives = float(y.sum())
    return {
        "precision": tp / n_flagged if n_flagged else math.nan,
        "recall": tp / positives if positives else math.nan,
        "f1": 2.0 * tp / (n_flagged + positives) if n_flagged + positives else math.nan,
        "flagged_share": n_flagged / len(y),
    }


# --------------------------------------------------------------------------------------------------------------
# calibration


def _bin_ids(p: FloatArray, bins: int, strategy: BinStrategy) -> npt.NDArray[np.intp]:
    """Bin index of every score, with the same edges and edge rule as ``sklearn.calibration.calibration_curve``.

    ``uniform``: ``bins`` equal-width bins on [0, 1]. ``quantile``: edges at the quantiles of ``p`` (roughly equal
    counts; fewer non-empty bins when scores are tied). A score equal to an inner edge goes to the lower bin.
    """
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or bins < 1:
        raise ValueError(f"bins must be a positive integer; got {bins!r}")
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, bins + 1)
    elif strategy == "quantile":
        edges = np.percentile(p, np.linspace(0.0, 100.0, bins + 1))
    else:
        raise ValueError(f"strategy must be 'uniform' or 'quantile'; got {strategy!r}")
    return np.searchsorted(edges[1:-1], p)


def calibration_table(
    y_true: npt.ArrayLike, p: npt.ArrayLike, bins: int = 10, strategy: BinStrategy = "quantile"
) -> pd.DataFrame:
    """Mean predicted probability against the observed abandonment rate, per score bin.

    One row per non-empty bin, ordered from low to high scores, with columns:

    * ``bin``: bin number (0 = lowest scores; empty bins are left out, so numbers can skip).
    * ``n``: rows in the bin.
    * ``p_min`` / ``p_max``: smallest and largest predicted probability in the bin.
    * ``mean_predicted``: average predicted abandonment probability in the bin.
    * ``observed_rate``: share of the bin's carts that were actually abandoned.
    * ``gap``: ``observed_rate - mean_predicted`` (positive = the model under-predicts risk there).

    ``mean_predicted`` and ``observed_rate`` equal ``prob_pred`` and ``prob_true`` of scikit-learn's
    ``calibration_curve`` with the same ``bins`` and ``strategy``.
    """
    y, q = check_scores(y_true, p)
    ids = _bin_ids(q, bins, strategy)
    frame = pd.DataFrame({"bin": ids.astype(np.int64), "y": y, "p": q})
    table = frame.groupby("bin", sort=True).agg(
        n=("y", "size"),
        p_min=("p", "min"),
        p_max=("p", "max"),
        mean_predicted=("p", "mean"),
        observed_rate=("y", "mean"),
    )
    table["gap"] = table["observed_rate"] - table["mean_predicted"]
    return table.reset_index()


def expected_calibration_error(
    y_true: npt.ArrayLike, p: npt.ArrayLike, bins: int = 15, strategy: BinStrategy = "uniform"
) -> float:
    """Expected calibration error: the average gap between predicted and observed abandonment rates.

    The scores are grouped into ``bins`` bins (``uniform``: equal width on [0, 1], the usual ECE;
    ``quantile``: roughly equal counts). In each bin, the absolute difference between the mean predicted
    probability and the observed positive rate is taken, and the differences are averaged with weights equal to
    the bins' shares of rows. 0 means that, within every bin, the predicted probabilities match the observed rate
    on average; 0.02 means predictions are off by two percentage points on average.
    """
    table = calibration_table(y_true, p, bins=bins, strategy=strategy)
    weights = table["n"].to_numpy(dtype=np.float64)
    gaps = table["gap"].abs().to_numpy(dtype=np.float64)
    return float((weights * gaps).sum() / weights.sum())


# --------------------------------------------------------------------------------------------------------------
# headline metrics


def classification_metrics(
    y_true: npt.ArrayLike, p: npt.ArrayLike, threshold: float | None = None, ece_bins: int = 15
) -> dict[str, float]:
    """Headline metrics of predicted abandonment probabilities ``p`` against labels ``y_true`` (1 = abandoned).

    Returned keys (all floats, ready for ``mlflow.log_metrics``):

    * ``n``: number of rows (carts / snapshots evaluated).
    * ``base_rate``: share of rows that were abandoned.
    * ``roc_auc``: probability that a random abandoned cart is scored above a random completed one (0.5 = no
      skill, 1 = perfect ranking).
    * ``pr_auc``: average precision, the area under the precision-recall curve (compare with ``base_rate``, which
      is what a random score gets).
    * ``log_loss``: mean negative log-likelihood of the labels under ``p`` (lower is better; punishes confident
      mistakes).
    * ``brier``: mean squared difference between ``p`` and the label (lower is better).
    * ``ece``: expected calibration error with ``ece_bins`` equal-width bins (see
      :func:`expected_calibration_error`).
    * ``top_decile_lift``: positive rate in the 10% highest scores divided by ``base_rate`` (see
      :func:`top_decile_lift`).
    * ``f1``, ``precision``, ``recall``, ``flagged_share``: for the rule "flag the cart when ``p >= f1_threshold``"
      (see :func:`f1_at_threshold`).
    * ``f1_threshold``: the threshold used: ``threshold`` when given, otherwise the F1-maximising threshold on
      these same data (:func:`best_f1_threshold`; optimistic, so prefer choosing it on validation data).

    When only one class is present, ranking metrics are undefined: ``roc_auc``, ``pr_auc`` and
    ``top_decile_lift`` (no positives) are NaN instead of raising; with no positives and no ``threshold``, the F1
    threshold cannot be chosen and ``f1_threshold``/``f1``/``precision``/``recall`` are NaN. The other metrics
    are still computed.

    Raises ``ValueError`` for bad input: lengths differ, empty input, labels other than 0/1, NaN in ``p`` or ``p``
    outside [0, 1].
    """
    y, q = check_scores(y_true, p)
    both = _has_both_classes(y)
    metrics: dict[str, float] = {
        "n": float(len(y)),
        "base_rate": float(y.mean()),
        "roc_auc": float(roc_auc_score(y, q)) if both else math.nan,
        "pr_auc": float(average_precision_score(y, q)) if both else math.nan,
        "log_loss": float(log_loss(y, q, labels=[0.0, 1.0])),
        "brier": float(brier_score_loss(y, q, pos_label=1.0)),
        "ece": expected_calibration_error(y, q, bins=ece_bins, strategy="uniform"),
        "top_decile_lift": top_decile_lift(y, q),
    }
    if threshold is None and y.sum() == 0:
        # no positives: no threshold can be chosen and F1 is undefined
        metrics.update(precision=math.nan, recall=math.nan, f1=math.nan, flagged_share=math.nan, f1_threshold=math.nan)
        return metrics
    used = best_f1_threshold(y, q) if threshold is None else float(threshold)
    metrics.update(f1_at_threshold(y, q, used))
    metrics["f1_threshold"] = used
    return metrics


# --------------------------------------------------------------------------------------------------------------
# slices


def slice_metrics(
    y_true: npt.ArrayLike,
    p: npt.ArrayLike,
    slices: Mapping[str, npt.ArrayLike],
    min_size: int = 50,
    min_per_class: int = 5,
) -> dict[str, dict[str, float]]:
    """ROC-AUC within named subsets of the rows (e.g. "at_begin_checkout", "device=mobile").

    ``slices`` maps a name to a boolean mask with one entry per row (True = the row is in the slice); slices may
    overlap. For each slice the result holds:

    * ``n``: rows in the slice; ``positives``: abandoned rows in it; ``base_rate``: their share.
    * ``roc_auc``: ROC-AUC computed on the slice's rows only, i.e. how well the score ranks carts *within* the
      slice. NaN when the slice has fewer than ``min_size`` rows or fewer than ``min_per_class`` positives or
      negatives, because the AUC of a tiny or one-class slice is undefined or mostly noise.

    Raises ``ValueError`` when a mask is not boolean or does not have one entry per row.
    """
    y, q = check_scores(y_true, p)
    result: dict[str, dict[str, float]] = {}
    for name, raw in slices.items():
        mask = np.asarray(raw)
        if mask.dtype != np.bool_:
            raise ValueError(f"slice {name!r} must be a boolean mask; got dtype {mask.dtype}")
        if mask.shape != y.shape:
            raise ValueError(f"slice {name!r} has {mask.size} entries but there are {len(y)} rows")
        ys = y[mask]
        n = len(ys)
        positives = float(ys.sum())
        negatives = n - positives
        enough = n >= min_size and positives >= min_per_class and negatives >= min_per_class
        result[name] = {
            "n": float(n),
            "positives": positives,
            "base_rate": positives / n if n else math.nan,
            "roc_auc": float(roc_auc_score(ys, q[mask])) if enough else math.nan,
        }
    return result


def _is_value(column: pd.Series, value: str | float) -> npt.NDArray[np.bool_]:
    """Boolean mask of ``column == value``; missing values are False (works for categorical and string dtypes)."""
    return column.isin([value]).to_numpy(dtype=bool)


def standard_slices(snapshots: pd.DataFrame) -> dict[str, npt.NDArray[np.bool_]]:
    """The usual slices of a cart-snapshot table, as boolean masks aligned with its rows.

    Needs the columns ``event_type``, ``n_adds``, ``device`` and ``is_guest`` (see
    :mod:`features.snapshots`). Returns, in this order:

    * ``at_first_add_to_cart``: the snapshot taken at the session's first add-to-cart
      (``event_type == "add_to_cart"`` and ``n_adds == 1``), i.e. the earliest moment a cart can be scored.
    * ``at_begin_checkout``: snapshots taken when checkout begins (``event_type == "begin_checkout"``).
    * ``device=desktop``, ``device=mobile``, ``device=tablet``, ``device=unknown``.
    * ``guest`` (``is_guest == 1``) and ``known_customer`` (``is_guest == 0``).

    Rows with a missing value fall in none of the slices that depend on that column.
    """
    required = ("event_type", "n_adds", "device", "is_guest")
    missing = [c for c in required if c not in snapshots.columns]
    if missing:
        raise ValueError(f"standard_slices needs the snapshot columns {list(required)}; missing {missing}")
    event = snapshots["event_type"]
    n_adds = snapshots["n_adds"].to_numpy(dtype=np.float64, na_value=np.nan)
    is_guest = snapshots["is_guest"].to_numpy(dtype=np.float64, na_value=np.nan)
    slices: dict[str, npt.NDArray[np.bool_]] = {
        "at_first_add_to_cart": _is_value(event, "add_to_cart") & (n_adds == 1.0),
        "at_begin_checkout": _is_value(event, "begin_checkout"),
    }
    for device in DEVICES:
        slices[f"device={device}"] = _is_value(snapshots["device"], device)
    slices["guest"] = is_guest == 1.0
    slices["known_customer"] = is_guest == 0.0
    return slices


# --------------------------------------------------------------------------------------------------------------
# deciles


def decile_table(y_true: npt.ArrayLike, p: npt.ArrayLike) -> pd.DataFrame:
    """Abandonment by score decile, decile 1 = the 10% of rows with the highest predicted risk.

    Rows are ranked by descending score and cut into 10 groups of nearly equal size (sizes differ by at most
    one, larger groups first). Columns:

    * ``decile``: 1 (highest risk) to 10 (lowest risk).
    * ``n``: rows in the decile.
    * ``positives``: abandoned rows in the decile. Tied scores that straddle a decile boundary share their
      positives in proportion (the expected count under a random order of the ties), so this can be fractional.
    * ``rate``: ``positives / n``, the decile's abandonment rate.
    * ``lift``: ``rate / base_rate``; how many times more often than average carts in this decile abandon.
    * ``p_min``, ``p_max``, ``mean_predicted``: range and mean of the predicted probabilities in the decile.
    * ``cum_share_targeted``: share of all rows in deciles 1..d (0.1, 0.2, ..., 1.0).
    * ``cum_positives_share`` (cumulative gains): share of all abandoned carts captured by deciles 1..d; reaches
      1.0 at decile 10.
    * ``cum_lift``: ``cum_positives_share / cum_share_targeted``, the lift of targeting deciles 1..d together.

    Lifts and gains are NaN when there are no positives. Needs at least 10 rows.
    """
    y, q = check_scores(y_true, p)
    n = len(y)
    if n < 10:
        raise ValueError(f"decile_table needs at least 10 rows; got {n}")
    expected = _expected_labels_by_rank(y, q)
    sorted_p = np.sort(q)[::-1]
    bounds = _decile_bounds(n)
    starts, stops = bounds[:-1], bounds[1:]
    sizes = (stops - starts).astype(np.float64)
    positives = np.array([expected[a:b].sum() for a, b in zip(starts, stops, strict=True)])
    total_pos = float(y.sum())
    base = total_pos / n
    rate = positives / sizes
    with np.errstate(invalid="ignore", divide="ignore"):
        lift = rate / base if base > 0 else np.full(10, np.nan)
        gains = np.cumsum(positives) / total_pos if total_pos > 0 else np.full(10, np.nan)
    cum_share = np.cumsum(sizes) / n
    return pd.DataFrame(
        {
            "decile": np.arange(1, 11),
            "n": sizes.astype(np.int64),
            "positives": positives,
            "rate": rate,
            "lift": lift,
            "p_min": [float(sorted_p[b - 1]) for b in stops],
            "p_max": [float(sorted_p[a]) for a in starts],
            "mean_predicted": [float(sorted_p[a:b].mean()) for a, b in zip(starts, stops, strict=True)],
            "cum_share_targeted": cum_share,
            "cum_positives_share": gains,
            "cum_lift": gains / cum_share,
        }
    )
