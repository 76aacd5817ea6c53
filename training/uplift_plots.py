"""Plots of the uplift models and their policy (pure functions returning matplotlib Figures, like
:mod:`training.plots`): Qini curves per incentive, observed uplift by decile of predicted uplift, and the profit
of the learned policy next to the baselines and the oracle.

``arms`` maps each incentive code to ``(y, uplift, treatment)`` on its held-out comparison rows: ``y`` 1 = bought,
``uplift`` the predicted uplift, ``treatment`` 1 for carts given the incentive and 0 for control carts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from training.plots import BASELINE_COLOUR, MODEL_COLOUR, REFERENCE_COLOUR, _figure
from training.uplift_metrics import qini_auc_score, qini_curve, uplift_by_decile

__all__ = ["ArmData", "plot_policy_values", "plot_qini_curves", "plot_uplift_by_decile"]

ArmData = Mapping[str, tuple[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike]]


def _grid(n: int, width: float = 3.4, height: float = 2.9) -> tuple[Figure, list[Axes]]:
    cols = min(4, max(1, n))
    rows = max(1, math.ceil(n / cols))
    fig = _figure(width * cols, height * rows)
    axes: list[Axes] = list(np.asarray(fig.subplots(rows, cols, squeeze=False)).ravel())
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def plot_qini_curves(arms: ArmData) -> Figure:
    """One Qini curve per incentive (share of carts targeted by predicted uplift -> extra purchases), with the
    random-targeting line and the Qini coefficient in the title."""
    if not arms:
        raise ValueError("no arms to plot")
    fig, axes = _grid(len(arms))
    for ax, (code, (y, u, t)) in zip(axes, arms.items(), strict=True):
        x, q = qini_curve(y, u, t)
        share = x / x[-1] if x[-1] > 0 else x
        ax.plot(share, q, color=MODEL_COLOUR, lw=1.6, label="model")
        ax.plot([0, 1], [0, q[-1]], color=BASELINE_COLOUR, ls="--", lw=1, label="random")
        ax.set_title(f"{code}  (Qini {qini_auc_score(y, u, t):+.3f})", fontsize=9)
        ax.set_xlabel("share of carts targeted", fontsize=8)
        ax.set_ylabel("extra purchases", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="upper left")
    fig.suptitle("Qini curves on the held-out experiment carts", fontsize=11)
    return fig


def plot_uplift_by_decile(arms: ArmData, bins: int = 10) -> Figure:
    """Per incentive: observed uplift (treated - control purchase rate, with a 95% interval) in each decile of
    predicted uplift, highest first, next to the mean prediction. A good model's bars fall from left to right."""
    if not arms:
        raise ValueError("no arms to plot")
    fig, axes = _grid(len(arms))
    for ax, (code, (y, u, t)) in zip(axes, arms.items(), strict=True):
        d = uplift_by_decile(y, u, t, bins=bins)
        pos = np.arange(1, len(d["observed"]) + 1)
        ax.bar(pos, d["observed"], color=MODEL_COLOUR, alpha=0.75, label="observed", yerr=1.96 * d["stderr"],
               error_kw={"lw": 0.8, "ecolor": "0.3"})
        ax.plot(pos, d["predicted"], "o-", color=REFERENCE_COLOUR, ms=3, lw=1.2, label="predicted")
        ax.axhline(0, color="0.2", lw=0.6)
        ax.set_title(code, fontsize=9)
        ax.set_xlabel("decile of predicted uplift", fontsize=8)
        ax.set_ylabel("uplift in purchase rate", fontsize=8)
        ax.set_xticks(pos)
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=7)
    fig.suptitle("Uplift by decile of predicted uplift (held-out experiment carts)", fontsize=11)
    return fig


def plot_policy_values(policies: Mapping[str, Mapping[str, float]], key: str = "profit_per_cart",
                       title: str = "Incremental profit per cart, true effects of the generator") -> Figure:
    """Horizontal bars: each policy's incremental profit per cart (``key``), best first; the learned policy and
    the oracle stand out. Policies without ``key`` are left out."""
    rows = sorted(((name, float(v[key])) for name, v in policies.items() if key in v and math.isfinite(v[key])),
                  key=lambda r: r[1])
    if not rows:
        raise ValueError(f"no policy has a {key!r} value")
    fig = _figure(7.0, 0.35 * len(rows) + 1.4)
    ax = fig.subplots()
    names = [r[0] for r in rows]
    values = [r[1] for r in rows]
    colours = [MODEL_COLOUR if n == "learned" else REFERENCE_COLOUR if n == "oracle" else BASELINE_COLOUR
               for n in names]
    ax.barh(names, values, color=colours)
    ax.axvline(0, color="0.2", lw=0.6)
    for k, v in enumerate(values):
        ax.text(v, k, f" {v:+.3f}", va="center", ha="left" if v >= 0 else "right", fontsize=8)
    ax.set_xlabel("profit per cart over giving nothing")
    ax.set_title(title, fontsize=10)
    ax.tick_params(labelsize=8)
    return fig
