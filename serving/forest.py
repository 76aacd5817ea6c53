"""Several LightGBM boosters evaluated together on a batch of rows: the same raw scores as ``Booster.predict``, bit
for bit, about three times faster, and the service's reasons (path contributions) in the same pass.

Why ``Booster.predict`` is slow on a batch: it walks one row through one tree at a time, taking a branch at every
split, and half of those branches are mispredicted (a split sends rows either way by design). Here, instead:

* Every split becomes one comparison ``column > threshold`` (right if true). LightGBM's rules for missing values
  and categories are folded into the columns beforehand, once per block of rows: a numeric split whose missing
  values go left reads a copy of its feature with NaN as -inf, one whose missing values go right a copy with
  +inf, one that treats missing as zero a copy with 0 (and ``zero_as_missing`` splits a copy with zero and NaN
  mapped to the default side); a categorical split reads a 0/1 column that is 0 where the category is in the
  split's left set. Only the columns some split uses are built.
* A block of rows goes through one tree together, a fixed number of steps (the tree's depth), with no branch:
  ``node = left[node] + (x[column[node]] > threshold[node])`` (a node's two children lie side by side); a leaf is
  its own left child and its threshold is +inf, so a row that reached one stays there. The rows' walks are
  independent, so the processor overlaps them.
* Blocks run on all cores (numba ``prange``); each tree's leaf values add to its booster's raw score, and for the
  explained booster each leaf's path contributions (those of :class:`serving.fastpredict.FastBooster`, computed
  the same way) add to the row's contributions, whose largest ``k`` are picked in the same pass. Every leaf of a
  tree lists the same number of contributions (padded with zeros to a spare feature), so adding them is a loop
  of fixed length, not one that ends at a different place for every row.
* Node and column numbers are unsigned: numba guards a read at a signed index against negative indices (three
  more instructions per read), which made the walk twice as slow (session 12 in docs/benchmarks.md).

Linear trees (``linear_tree=True``) are refused: their leaves are not constants.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numba
import numpy as np

from features.compiled import compiled

__all__ = ["Explained", "Forest", "compiled"]

_NAN_LEFT, _NAN_RIGHT, _NAN_ZERO, _ZERO_LEFT, _ZERO_RIGHT, _CATEGORY = range(6)
"""How a column is made from its feature: NaN as -inf / +inf / 0; NaN and zero as -inf / +inf; category set."""
_BLOCK = 32
"""Rows walked through a tree together (32: faster than 16 and no slower than 64 on the batch benchmark's carts;
part of the model-and-policy gain of session 10 in docs/benchmarks.md)."""
_ZERO = 1e-35
"""LightGBM's ``kZeroThreshold``: what counts as zero for ``zero_as_missing``."""


@dataclass(frozen=True)
class Explained:
    """Per row: the raw score of every booster, and the explained booster's ``k`` largest path contributions."""

    raw: np.ndarray
    """n x boosters, float64: each booster's raw score (log-odds for a classifier)."""
    top: np.ndarray
    """n x k, int64: the features of the largest contributions, largest first (ties: the lower feature index)."""
    top_values: np.ndarray
    """n x k, float64: those contributions."""


class _Builder:
    """Collects the nodes of every tree and the columns their splits read."""

    def __init__(self, n_features: int) -> None:
        self.n_features = n_features
        self.columns: dict[tuple[int, int, frozenset[int]], int] = {}
        self.col: list[int] = []
        self.thr: list[float] = []
        self.left: list[int] = []
        """Per node: its left child (the right one is the next node); a leaf's is itself."""
        self.value: list[float] = []
        self.credits: list[dict[int, float]] = []
        """Per node: for a leaf of an explained tree, its path contributions (feature: amount), else empty."""

    def column(self, feature: int, kind: int, categories: frozenset[int] = frozenset()) -> int:
        if not 0 <= feature < self.n_features:
            raise ValueError(f"a split reads feature {feature}, but the rows have {self.n_features} features")
        return self.columns.setdefault((feature, kind, categories), len(self.columns))

    def node(self) -> int:
        i = len(self.col)
        self.col.append(0)
        self.thr.append(np.inf)  # a leaf: nothing is greater, so it goes "left", to itself
        self.left.append(i)
        self.value.append(0.0)
        self.credits.append({})
        return i

    def add(self, tree: dict[str, Any], path: dict[int, float] | None, depth: int = 0, at: int | None = None
            ) -> tuple[int, int]:
        """Adds a (sub)tree at node ``at`` (None: a new node); returns its root node and its depth. ``path``: for an
        explained tree, what the splits above credited to each feature (:mod:`serving.fastpredict`'s path
        attribution), else None."""
        i = self.node() if at is None else at
        if "split_index" not in tree:  # a leaf
            if "leaf_coeff" in tree or "leaf_features" in tree:
                raise ValueError("linear trees (linear_tree=True) cannot be scored in batch: their leaves are "
                                 "linear models, not constants")
            self.value[i] = float(tree["leaf_value"])
            self.credits[i] = {f: v for f, v in (path or {}).items() if v != 0.0}
            return i, depth
        feature = int(tree["split_feature"])
        if tree["decision_type"] == "==":
            cats = frozenset(int(c) for c in str(tree["threshold"]).split("||"))
            self.col[i], self.thr[i] = self.column(feature, _CATEGORY, cats), 0.5
        else:
            missing, left = tree["missing_type"], bool(tree["default_left"])
            kind = {"NaN": _NAN_LEFT if left else _NAN_RIGHT, "None": _NAN_ZERO,
                    "Zero": _ZERO_LEFT if left else _ZERO_RIGHT}[missing]
            self.col[i], self.thr[i] = self.column(feature, kind), float(tree["threshold"])
        self.left[i] = self.node()  # the two children side by side: the right one is left + 1
        self.node()
        depths = []
        for k, side in enumerate(("left_child", "right_child")):
            step = None
            if path is not None:  # the move from this node's value to the child's, credited to the split feature
                child = tree[side]
                to = float(child["internal_value"] if "split_index" in child else child["leaf_value"])
                step = {**path, feature: path.get(feature, 0.0) + (to - float(tree["internal_value"]))}
            depths.append(self.add(tree[side], step, depth + 1, at=self.left[i] + k)[1])
        return i, max(depths)


class Forest:
    """The trees of ``boosters`` (trained on the same ``n_features`` features, in the same order), flattened for
    :meth:`raw` and :meth:`explain`. ``explained``: the booster whose path contributions :meth:`explain` sums (the
    service's reasons); None when nothing is to be explained."""

    def __init__(self, boosters: Sequence[lgb.Booster], n_features: int, explained: int | None = None) -> None:
        if not boosters:
            raise ValueError("no boosters to evaluate")
        b = _Builder(n_features)
        roots: list[int] = []
        depths: list[int] = []
        group: list[int] = []
        for g, booster in enumerate(boosters):
            dump = booster.dump_model()
            for tree in dump["tree_info"]:
                root, depth = b.add(tree["tree_structure"], {} if g == explained else None)
                roots.append(root)
                depths.append(depth)
                group.append(g)
        self.n_features = n_features
        self.n_boosters = len(boosters)
        if not b.columns:  # only one-leaf trees: one column keeps the arrays non-empty
            b.column(0, _NAN_ZERO)
        cols = list(b.columns)
        width = max([max(c[2], default=-1) for c in cols] + [0]) // 64 + 1
        bits = np.zeros((len(cols), width), dtype=np.uint64)
        for k, (_, _, cats) in enumerate(cols):
            for c in cats:
                if c >= 0:
                    bits[k, c // 64] |= np.uint64(1) << np.uint64(c % 64)
        # node and column numbers are unsigned: numba guards every read at a signed index against a negative one
        # (three more instructions per read); unsigned ones skip the guard, and the walk takes half the time
        self._src = np.array([c[0] for c in cols], dtype=np.uint32)
        self._kind = np.array([c[1] for c in cols], dtype=np.int64)
        self._bits = bits
        self._col = np.asarray(b.col, dtype=np.uint32)
        self._thr = np.asarray(b.thr, dtype=np.float64)
        self._left = np.asarray(b.left, dtype=np.uint32)
        self._value = np.asarray(b.value, dtype=np.float64)
        self._roots = np.asarray(roots, dtype=np.uint32)
        self._depths = np.asarray(depths, dtype=np.int64)
        self._group = np.asarray(group, dtype=np.uint32)
        self.n_trees = len(roots)
        self._credit_start, self._credit_feature, self._credit, self._credit_width = _credit_lists(
            b, roots, n_features)
        self._explains = explained is not None

    def _matrix(self, matrix: np.ndarray) -> np.ndarray:
        x = np.asarray(matrix, dtype=np.float64)  # any memory order: each value is read once, into a block
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"expected rows of {self.n_features} features, got an array of shape {x.shape}")
        return x

    def _run(self, matrix: np.ndarray, k: int) -> Explained:
        x = self._matrix(matrix)
        raw, top, values = _evaluate(x, self._src, self._kind, self._bits, self._col, self._thr, self._left,
                                     self._value, self._roots, self._depths, self._group, self.n_boosters,
                                     self._credit_start, self._credit_feature, self._credit, self._credit_width, k)
        return Explained(raw, top, values)

    def raw(self, matrix: np.ndarray) -> np.ndarray:
        """n x boosters: every booster's raw score of every row (what ``predict(raw_score=True)`` gives)."""
        return self._run(matrix, 0).raw

    def explain(self, matrix: np.ndarray, k: int) -> Explained:
        """The raw scores and, per row, the explained booster's ``k`` largest path contributions."""
        if not self._explains:
            raise ValueError("this forest explains no booster: build it with explained=<booster index>")
        return self._run(matrix, min(int(k), self.n_features))


def _credit_lists(b: _Builder, roots: list[int], n_features: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The explained booster's leaves' path contributions as lists of equal length within a tree (the tree's
    longest; the rest credit 0.0 to a spare feature ``n_features``, never read), so that adding a leaf's list is a
    loop of fixed length: (per node the start of its list, the features, the amounts, per tree the length; trees
    of boosters not explained have none). A leaf credits only the features on its path, in increasing order, so
    the sums are those of the sparse lists."""
    width = np.zeros(len(roots), dtype=np.uint64)
    start = np.zeros(len(b.credits), dtype=np.uint64)
    features: list[int] = []
    amounts: list[float] = []
    ends = [*roots[1:], len(b.credits)]  # a tree's nodes are numbered from its root to the next tree's
    for t, (root, end) in enumerate(zip(roots, ends, strict=True)):
        width[t] = max(len(c) for c in b.credits[root:end])
        if not width[t]:  # nothing to credit: a booster not explained, or a one-leaf tree
            continue
        for node in range(root, end):
            if b.left[node] != node:  # not a leaf: no list
                continue
            items = sorted(b.credits[node].items())
            spare = int(width[t]) - len(items)
            start[node] = len(features)
            features += [f for f, _ in items] + [n_features] * spare
            amounts += [v for _, v in items] + [0.0] * spare
    return start, np.array(features, dtype=np.uint32), np.array(amounts, dtype=np.float64), width


@compiled(nogil=True)
def _column_value(v: float, kind: int, bits: np.ndarray) -> float:  # pragma: no cover - compiled
    if kind == _CATEGORY:
        # LightGBM: NaN and negative codes go right; a code is the value truncated toward zero
        if v != v or v <= -1.0 or v >= bits.shape[0] * 64:
            return 1.0
        c = int(v)
        return 0.0 if (bits[c // 64] >> np.uint64(c % 64)) & np.uint64(1) else 1.0
    missing = v != v
    if kind == _NAN_LEFT:
        return -np.inf if missing else v
    if kind == _NAN_RIGHT:
        return np.inf if missing else v
    if kind == _NAN_ZERO:
        return 0.0 if missing else v
    if missing or (-_ZERO <= v <= _ZERO):
        return -np.inf if kind == _ZERO_LEFT else np.inf
    return v


@compiled(parallel=True, nogil=True)
def _evaluate(x: np.ndarray, src: np.ndarray, kind: np.ndarray, bits: np.ndarray, col: np.ndarray,
              thr: np.ndarray, left: np.ndarray, value: np.ndarray, roots: np.ndarray, depths: np.ndarray,
              group: np.ndarray, n_groups: int, credit_start: np.ndarray, credit_feature: np.ndarray,
              credit: np.ndarray, credit_width: np.ndarray, k: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    n, n_features = x.shape
    n_cols = src.shape[0]
    raw = np.zeros((n, n_groups))
    top = np.zeros((n, k), dtype=np.int64)
    top_values = np.zeros((n, k))
    for b in numba.prange((n + _BLOCK - 1) // _BLOCK):
        r0 = b * _BLOCK
        m = min(_BLOCK, n - r0)
        xb = np.zeros((n_cols, _BLOCK))  # column-major block: the columns the splits read
        for c in range(n_cols):
            for j in range(m):
                xb[c, j] = _column_value(x[r0 + j, src[c]], kind[c], bits[c])
        sums = np.zeros((_BLOCK, n_groups))  # the block's raw scores: indexed by j, not r0 + j (unsigned reads)
        contrib = np.zeros((_BLOCK, n_features + 1))  # + the spare feature of the credit lists
        nodes = np.empty(_BLOCK, dtype=np.uint32)
        for t in range(roots.shape[0]):
            for j in range(_BLOCK):
                nodes[j] = roots[t]
            for _ in range(depths[t]):
                for j in range(_BLOCK):
                    node = nodes[j]
                    nodes[j] = left[node] + np.uint32(xb[col[node], j] > thr[node])
            g = group[t]
            for j in range(_BLOCK):
                sums[j, g] += value[nodes[j]]
            width = credit_width[t]
            if k > 0 and width > 0:
                for j in range(_BLOCK):
                    start = credit_start[nodes[j]]
                    for e in range(width):
                        contrib[j, credit_feature[start + e]] += credit[start + e]
        for j in range(m):
            for g in range(n_groups):
                raw[r0 + j, g] = sums[j, g]
        for j in range(m):  # the k largest, largest first; ties to the lower feature index
            for q in range(k):
                best = -1
                for f in range(n_features):
                    taken = False
                    for p in range(q):
                        if top[r0 + j, p] == f:
                            taken = True
                    if not taken and (best < 0 or contrib[j, f] > contrib[j, best]):
                        best = f
                top[r0 + j, q] = best
                top_values[r0 + j, q] = contrib[j, best]
    return raw, top, top_values
