"""One-row LightGBM predictions in microseconds, with the reasons behind them.

Two costs dominate a naive per-request ``Booster.predict``: the Python wrapper (argument checks, array copies,
~70 us) and, for reasons, TreeSHAP (``pred_contrib=True``), whose cost grows with trees x leaves x depth^2
(milliseconds for a few hundred trees). This module avoids both:

* it calls LightGBM's C API for single rows (``LGBM_BoosterPredictForMatSingleRowFast``), set up once, asking
  for the leaf each tree sends the row to;
* it explains a prediction by *path attribution* on the booster's own trees (Saabas): every split on the way
  from a tree's root to its leaf moves the tree's output by (child value - parent value), credited to the split's
  feature. The contributions depend only on the leaf reached, so they are precomputed per leaf, and a row's
  contributions are a sum over its leaves. They add up exactly to the raw score (bias + sum = log-odds), like
  LightGBM's TreeSHAP values, which stay what the batch plots and MLflow report.
"""

from __future__ import annotations

import ctypes
import re
from collections.abc import Sequence
from typing import Any

import lightgbm as lgb
import numpy as np
from lightgbm.basic import _LIB, _safe_call

_PREDICT_LEAF_INDEX = 2
_DTYPE_FLOAT64 = 1


def _walk(node: dict[str, Any], out: list[tuple[int, dict[int, float]]], path: dict[int, float]) -> None:
    if "leaf_index" in node:
        out.append((int(node["leaf_index"]), dict(path)))
        return
    value = float(node["internal_value"])
    feature = int(node["split_feature"])
    for side in ("left_child", "right_child"):
        child = node[side]
        child_value = float(child["leaf_value"] if "leaf_index" in child else child["internal_value"])
        step = dict(path)
        step[feature] = step.get(feature, 0.0) + (child_value - value)
        _walk(child, out, step)


def _leaf_values(root: dict[str, Any], n_leaves: int) -> np.ndarray:
    """Each leaf's output, by leaf index."""
    out = np.zeros(max(n_leaves, 1))
    stack = [root]
    while stack:
        node = stack.pop()
        if "leaf_index" in node:
            out[int(node["leaf_index"])] = float(node["leaf_value"])
        elif "left_child" in node:
            stack += [node["left_child"], node["right_child"]]
        else:  # a single-leaf tree: no index in the dump
            out[0] = float(node["leaf_value"])
    return out


class FastBooster:
    """A trained booster prepared for one-row scoring: leaf lookup through the C API, per-leaf contributions."""

    def __init__(self, booster: lgb.Booster) -> None:
        self.booster = booster
        self.n_features = booster.num_feature()
        best = booster.best_iteration if booster.best_iteration and booster.best_iteration > 0 else -1
        dump = booster.dump_model(num_iteration=best if best > 0 else None)
        trees = dump["tree_info"]
        self.n_trees = len(trees)
        offsets = [0]
        blocks: list[np.ndarray] = []
        values: list[np.ndarray] = []
        bias = 0.0
        for tree in trees:
            root = tree["tree_structure"]
            values.append(_leaf_values(root, int(tree.get("num_leaves", 1))))
            if "split_index" not in root:  # a tree with a single leaf: a constant (no leaf index in the dump)
                bias += float(root["leaf_value"])
                block = np.zeros((1, self.n_features))
            else:
                bias += float(root["internal_value"])
                leaves: list[tuple[int, dict[int, float]]] = []
                _walk(root, leaves, {})
                block = np.zeros((len(leaves), self.n_features))
                for leaf, path in leaves:
                    for feature, amount in path.items():
                        block[leaf, feature] += amount
            blocks.append(block)
            offsets.append(offsets[-1] + len(block))
        self.bias = bias
        self._table = np.vstack(blocks) if blocks else np.zeros((0, self.n_features))
        self._leaf_value = np.concatenate(values) if values else np.zeros(0)
        self._offsets = np.asarray(offsets[:-1], dtype=np.int64)
        self._handle = ctypes.c_void_p()
        _safe_call(_LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
            booster._handle,
            ctypes.c_int(_PREDICT_LEAF_INDEX),
            ctypes.c_int(0),
            ctypes.c_int(best),
            ctypes.c_int(_DTYPE_FLOAT64),
            ctypes.c_int32(self.n_features),
            ctypes.c_char_p(b"num_threads=1"),
            ctypes.byref(self._handle),
        ))
        self._out = np.zeros(self.n_trees, dtype=np.float64)
        self._out_len = ctypes.c_int64(0)

    def __del__(self) -> None:
        handle = getattr(self, "_handle", None)
        if handle is not None and handle.value:
            _LIB.LGBM_FastConfigFree(handle)

    def leaves(self, row: np.ndarray) -> np.ndarray:
        """Leaf index of ``row`` (float64, one value per feature) in every tree."""
        data = np.ascontiguousarray(row, dtype=np.float64)
        if data.shape != (self.n_features,):
            raise ValueError(f"expected {self.n_features} feature values, got shape {data.shape}")
        _safe_call(_LIB.LGBM_BoosterPredictForMatSingleRowFast(
            self._handle,
            data.ctypes.data_as(ctypes.c_void_p),
            ctypes.byref(self._out_len),
            self._out.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
        ))
        return self._out.astype(np.int64)

    def raw(self, row: np.ndarray) -> float:
        """The raw score of ``row`` (log-odds for a classifier, the prediction for a regression)."""
        if self.n_trees == 0:
            return 0.0
        return float(self._leaf_value[self._offsets + self.leaves(row)].sum())

    def raw_parts(self, row: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """Raw scores of consecutive groups of trees (group ``k`` starts at tree ``starts[k]``): with a booster from
        :func:`merge_boosters`, every merged model's score from one C call."""
        return np.add.reduceat(self._leaf_value[self._offsets + self.leaves(row)], starts)

    def explain(self, row: np.ndarray) -> tuple[float, np.ndarray]:
        """Raw score (log-odds) and each feature's contribution to it; ``bias + contributions.sum()`` = score."""
        contrib = self._table[self._offsets + self.leaves(row)].sum(axis=0)
        return self.bias + float(contrib.sum()), contrib


def merge_boosters(boosters: Sequence[lgb.Booster]) -> tuple[lgb.Booster, np.ndarray]:
    """One booster holding every tree of ``boosters`` (trained on the same features), in order, and the index of
    each one's first tree. Its only use is leaf lookup: a single C call per row finds the leaves of all the models
    (each call costs about 20 us whatever the number of trees), and :meth:`FastBooster.raw_parts` sums each
    model's leaves into its own raw score."""
    if not boosters:
        raise ValueError("nothing to merge")
    texts = [b.model_to_string() for b in boosters]
    header = re.sub(r"(?m)^tree_sizes=.*\n", "", texts[0][: texts[0].index("Tree=0")])
    blocks: list[str] = []
    starts: list[int] = []
    for text in texts:
        if "Tree=0" not in text:
            raise ValueError("cannot merge a booster without trees")
        body = text[text.index("Tree=0"): text.index("end of trees")]
        starts.append(len(blocks))
        for tree in re.split(r"(?m)^Tree=\d+\n", body)[1:]:
            blocks.append(f"Tree={len(blocks)}\n{tree}")
    merged = lgb.Booster(model_str=header + "".join(blocks) + "end of trees\n")
    return merged, np.asarray(starts, dtype=np.int64)
