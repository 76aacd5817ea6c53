"""The profit policy at request time: per-arm purchase probabilities for one cart, and today's budget.

:class:`FastUplift` evaluates an :class:`training.uplift_model.UpliftModel` on one feature row with the
single-row C API of :mod:`serving.fastpredict` (no DataFrame, no Python-level tree walk): the base log-odds (the
refitted base booster's, or the mean of the cross-fitted ones), plus each arm's constant shift and offset booster,
through the sigmoid.
It gives exactly what ``UpliftModel.purchase_probabilities`` gives for the same row (tested). All the boosters
are merged into one for the leaf lookup (:func:`serving.fastpredict.merge_boosters`): one C call per cart instead
of one per booster.

:class:`DailyBudget` keeps what is left of the ``uplift:`` section's daily budget and per-segment caps for one
process: each offer made spends its *expected* cost (what the policy weighs; the realised cost is only known when
the cart is bought), and the budget starts again at midnight UTC. A service with several workers gives each worker
an equal share (``share``), so together they never pass the day's budget.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from serving.fastpredict import FastBooster, merge_boosters
from serving.policy import NONE
from serving.uplift_policy import Budget
from training.uplift_model import UpliftModel

if TYPE_CHECKING:  # imported on first batch: the one-row path (the service) does not load numba
    from serving.forest import Forest

__all__ = ["DailyBudget", "FastUplift"]


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


class FastUplift:
    """One-row purchase probabilities under every arm, and the expected order value."""

    def __init__(self, model: UpliftModel, feature_names: Sequence[str], one_row: bool = True) -> None:
        """``one_row``: prepare the one-row path now (the service: its first request must not wait); batch-only
        users pass False and it is prepared on first use, if ever."""
        missing = [n for n in model.feature_names if n not in feature_names]
        if missing:
            raise ValueError(f"the uplift model needs features this service does not compute: {missing}")
        self.model = model
        self.arms = model.arms
        self._index = np.array([list(feature_names).index(n) for n in model.feature_names], dtype=np.int64)
        self._identity = list(model.feature_names) == list(feature_names)
        boosters = [*model.base, *(model.offsets[arm] for arm in self.arms)]
        if model.value is not None:
            boosters.append(model.value)
        self._boosters = boosters
        self._forest: Forest | None = None
        self._merged: tuple[FastBooster, np.ndarray] | None = None
        if one_row:
            self._one_row()
        self._n_base = len(model.base)
        self._shifts = np.array([model.shifts[arm] for arm in self.arms])

    def _one_row(self) -> tuple[FastBooster, np.ndarray]:
        """Every booster merged into one for the leaf lookup, and the first tree of each."""
        if self._merged is None:
            merged, starts = merge_boosters(self._boosters)
            self._merged = (FastBooster(merged), starts)
        return self._merged

    def _row(self, row: np.ndarray) -> np.ndarray:
        return row if self._identity else np.ascontiguousarray(row[self._index])

    def _parts(self, row: np.ndarray) -> np.ndarray:
        fast, starts = self._one_row()
        return fast.raw_parts(self._row(row), starts)

    def answer(self, row: np.ndarray) -> tuple[dict[str, float], float]:
        """From one leaf lookup: ``P(bought | cart, arm)`` for every arm and the expected value of the order if
        bought (never below 0), from the cart's feature row (in the service's order)."""
        z, value = self._combine(self._parts(row)[None, :])
        return {arm: _sigmoid(float(v)) for arm, v in zip(self.arms, z[0], strict=True)}, float(value[0])

    def _combine(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """From each row's raw booster scores (columns in the order of the merged boosters: base models, one offset
        per arm, the order value): each arm's purchase log-odds (mean of the base models + the arm's shift + its
        offset) and the expected order value (never below 0)."""
        nb, na = self._n_base, len(self.arms)
        z = raw[:, :nb].mean(axis=1)[:, None] + self._shifts[None, :] + raw[:, nb: nb + na]
        if self.model.value is None:
            return z, np.full(len(raw), self.model.value_default)
        return z, np.maximum(raw[:, -1], 0.0)

    def probabilities(self, row: np.ndarray) -> dict[str, float]:
        """The per-arm purchase probabilities of :meth:`answer`."""
        return self.answer(row)[0]

    def batch(self, matrix: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
        """Many carts at once (rows of a feature matrix in the service's order): the per-arm probabilities (one
        column per arm) and the expected order values. All the boosters go through the rows together
        (:class:`serving.forest.Forest`: LightGBM's raw scores, bit for bit, in one pass)."""
        x = matrix if self._identity else matrix[:, self._index]
        if self._forest is None:  # built on first use: the one-row path does not need it
            from serving.forest import Forest

            self._forest = Forest(self._boosters, len(self.model.feature_names))
        z, values = self._combine(self._forest.raw(x))
        return pd.DataFrame(1.0 / (1.0 + np.exp(-z)), columns=list(self.arms)), values

    @property
    def incentives(self) -> tuple[str, ...]:
        return tuple(a for a in self.arms if a != NONE)


class DailyBudget:
    """What is left today of a daily budget and of per-segment caps, in one process (see the module doc)."""

    def __init__(self, total: float | None, caps: Mapping[str, float] | Sequence[tuple[str, float]] = (),
                 share: float = 1.0, clock: Callable[[], float] = time.time) -> None:
        if not 0.0 < share <= 1.0:
            raise ValueError(f"share must be in (0, 1], got {share}")
        pairs = list(caps.items()) if isinstance(caps, Mapping) else list(caps)
        self.total = None if total is None else float(total) * share
        self.caps = {name: float(v) * share for name, v in pairs}
        self._clock = clock
        self._day = self._today()
        self.spent = 0.0
        self.spent_by_segment: dict[str, float] = dict.fromkeys(self.caps, 0.0)

    def _today(self) -> int:
        return int(self._clock() // 86_400)

    def _roll(self) -> None:
        day = self._today()
        if day != self._day:
            self._day = day
            self.spent = 0.0
            self.spent_by_segment = dict.fromkeys(self.caps, 0.0)

    @property
    def unlimited(self) -> bool:
        return self.total is None and not self.caps

    def remaining(self) -> Budget:
        self._roll()
        left = None if self.total is None else max(self.total - self.spent, 0.0)
        return Budget(left, tuple((n, max(c - self.spent_by_segment[n], 0.0)) for n, c in self.caps.items()))

    def spend(self, cost: float, segments: Collection[str]) -> None:
        if cost <= 0:
            return
        self._roll()
        self.spent += cost
        for name in self.caps:
            if name in segments:
                self.spent_by_segment[name] += cost

    def state(self) -> dict[str, object]:
        self._roll()
        return {"total": self.total, "spent": round(self.spent, 4), "caps": self.caps,
                "spent_by_segment": {k: round(v, 4) for k, v in self.spent_by_segment.items()}}
