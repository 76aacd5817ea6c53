"""Uplift metrics on randomised data: Qini curve and coefficient, AUUC, uplift at the top k%.

Pure numpy. Definitions follow scikit-uplift (``sklift.metrics``) so figures compare with published ones:

* the Qini curve at the top ``n`` carts by predicted uplift is ``Y_t(n) - Y_c(n) * N_t(n) / N_c(n)`` (the extra
  positives among the treated of the top ``n``, over what their controls predict); the uplift curve is
  ``(Y_t/N_t - Y_c/N_c) * (N_t + N_c)``; both are evaluated where the predicted uplift changes;
* the Qini coefficient and the AUUC are the areas between each curve and the random line, as a share of the
  same area for the perfect ranking (1 = perfect, 0 = random, negative = worse than random);
* uplift at k (``by_group``): the outcome rate of the top k of the treated minus that of the top k of the
  controls, each group ranked on its own; ``overall``: treated minus control rate among the top k of all.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = ["qini_auc_score", "qini_curve", "uplift_at_k", "uplift_auc_score", "uplift_by_decile", "uplift_curve"]

Array = npt.NDArray[np.float64]


def _check(y: npt.ArrayLike, uplift: npt.ArrayLike, treatment: npt.ArrayLike) -> tuple[Array, Array, Array]:
    yy = np.asarray(y, dtype=np.float64)
    uu = np.asarray(uplift, dtype=np.float64)
    tt = np.asarray(treatment, dtype=np.float64)
    if not (yy.ndim == uu.ndim == tt.ndim == 1) or not (len(yy) == len(uu) == len(tt)):
        raise ValueError(f"y, uplift and treatment must be 1-d and of equal length, got {yy.shape}, {uu.shape}, "
                         f"{tt.shape}")
    if not np.isin(tt, (0.0, 1.0)).all():
        raise ValueError("treatment must be 0 (control) or 1 (treated)")
    if np.isnan(yy).any() or np.isnan(uu).any():
        raise ValueError("y and uplift must not contain NaN")
    if tt.sum() == 0 or tt.sum() == len(tt):
        raise ValueError("uplift metrics need both treated and control rows")
    return yy, uu, tt


def _cumulative(y: Array, uplift: Array, treatment: Array) -> tuple[Array, Array, Array, Array, Array]:
    order = np.argsort(-uplift, kind="mergesort")
    y, uplift, treatment = y[order], uplift[order], treatment[order]
    # evaluate at the last row of each run of equal predictions (ties are not split)
    ends = np.r_[np.flatnonzero(np.diff(uplift)), len(uplift) - 1]
    n_t = np.cumsum(treatment)[ends]
    n_c = np.cumsum(1.0 - treatment)[ends]
    y_t = np.cumsum(y * treatment)[ends]
    y_c = np.cumsum(y * (1.0 - treatment))[ends]
    return ends + 1.0, n_t, n_c, y_t, y_c


def qini_curve(y: npt.ArrayLike, uplift: npt.ArrayLike, treatment: npt.ArrayLike) -> tuple[Array, Array]:
    """(number of rows targeted, Qini value), starting at (0, 0)."""
    x, n_t, n_c, y_t, y_c = _cumulative(*_check(y, uplift, treatment))
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.where(n_c > 0, y_t - y_c * n_t / n_c, 0.0)
    return np.r_[0.0, x], np.r_[0.0, values]


def uplift_curve(y: npt.ArrayLike, uplift: npt.ArrayLike, treatment: npt.ArrayLike) -> tuple[Array, Array]:
    """(number of rows targeted, cumulative uplift x rows), starting at (0, 0)."""
    x, n_t, n_c, y_t, y_c = _cumulative(*_check(y, uplift, treatment))
    with np.errstate(divide="ignore", invalid="ignore"):
        rate_t = np.where(n_t > 0, y_t / np.maximum(n_t, 1), 0.0)
        rate_c = np.where(n_c > 0, y_c / np.maximum(n_c, 1), 0.0)
    return np.r_[0.0, x], np.r_[0.0, (rate_t - rate_c) * (n_t + n_c)]


def _normalised_area(curve: tuple[Array, Array], perfect: tuple[Array, Array]) -> float:
    x, v = curve
    px, pv = perfect
    random = x[-1] * v[-1] / 2
    area = float(np.trapezoid(v, x)) - random
    best = float(np.trapezoid(pv, px)) - random
    return area / best if best != 0 else 0.0


def _perfect_ranking(y: Array, treatment: Array) -> Array:
    # treated positives first, control positives last (they would have converted without treatment)
    return y * treatment - y * (1.0 - treatment)


def qini_auc_score(y: npt.ArrayLike, uplift: npt.ArrayLike, treatment: npt.ArrayLike) -> float:
    """The Qini coefficient: area between the Qini curve and the random line, over the perfect ranking's."""
    yy, uu, tt = _check(y, uplift, treatment)
    return _normalised_area(qini_curve(yy, uu, tt), qini_curve(yy, _perfect_ranking(yy, tt), tt))


def uplift_auc_score(y: npt.ArrayLike, uplift: npt.ArrayLike, treatment: npt.ArrayLike) -> float:
    """AUUC: area between the uplift curve and the random line, over the perfect ranking's."""
    yy, uu, tt = _check(y, uplift, treatment)
    return _normalised_area(uplift_curve(yy, uu, tt), uplift_curve(yy, _perfect_ranking(yy, tt), tt))


def uplift_at_k(
    y: npt.ArrayLike,
    uplift: npt.ArrayLike,
    treatment: npt.ArrayLike,
    k: float = 0.3,
    strategy: Literal["by_group", "overall"] = "by_group",
) -> float:
    """Treated minus control outcome rate among the top ``k`` (a share in (0, 1]) by predicted uplift."""
    yy, uu, tt = _check(y, uplift, treatment)
    if not 0.0 < k <= 1.0:
        raise ValueError(f"k must be a share in (0, 1], got {k}")
    if strategy == "overall":
        top = np.argsort(-uu, kind="mergesort")[: max(1, int(np.ceil(k * len(uu))))]
        t = tt[top] == 1
        if t.all() or not t.any():
            raise ValueError("the top k holds only one group; use strategy='by_group' or a larger k")
        return float(yy[top][t].mean() - yy[top][~t].mean())
    if strategy != "by_group":
        raise ValueError(f"strategy must be 'by_group' or 'overall', got {strategy!r}")
    rates = []
    for group in (1.0, 0.0):
        rows = np.flatnonzero(tt == group)
        top = rows[np.argsort(-uu[rows], kind="mergesort")[: max(1, int(np.ceil(k * len(rows))))]]
        rates.append(yy[top].mean())
    return float(rates[0] - rates[1])


def uplift_by_decile(y: npt.ArrayLike, uplift: npt.ArrayLike, treatment: npt.ArrayLike, bins: int = 10
                     ) -> dict[str, Array]:
    """Per bin of predicted uplift (highest first): mean prediction, observed uplift and its standard error."""
    yy, uu, tt = _check(y, uplift, treatment)
    order = np.argsort(-uu, kind="mergesort")
    parts = np.array_split(order, bins)
    out: dict[str, list[float]] = {"predicted": [], "observed": [], "stderr": [], "n": []}
    for rows in parts:
        t = tt[rows] == 1
        yt, yc = yy[rows][t], yy[rows][~t]
        ok = len(yt) > 1 and len(yc) > 1
        out["predicted"].append(float(uu[rows].mean()) if len(rows) else np.nan)
        out["observed"].append(float(yt.mean() - yc.mean()) if ok else np.nan)
        out["stderr"].append(float(np.sqrt(yt.var(ddof=1) / len(yt) + yc.var(ddof=1) / len(yc))) if ok else np.nan)
        out["n"].append(float(len(rows)))
    return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}
