"""Batch scoring: every cart of a data set (or of its last days) with the service's model and policy.

:func:`latest_carts` takes each cart session's latest snapshot (the cart as it stands at the end of the data,
or at the end of the window), :func:`already_bought` tells which of those were bought by the end of the data (no
incentive goes to them), :class:`BatchScorer` scores them (vectorised, in parts of :data:`PART_ROWS` carts)
and returns one row per cart:

``cart_id`` (the session), ``customer_id``, ``snapshot_time``, ``cart_value``, ``segments`` (``;``-separated),
``risk``, ``risk_band``, ``incentive``, ``channel``, ``policy`` (``profit`` with uplift models, else ``rules``),
``rule`` (which rule of the policy decided),
``expected_cost``, ``expected_uplift``, ``expected_recovered_revenue`` (uplift of the chosen incentive x expected
order value; empty without uplift models, since nothing measured says what an incentive recovers),
``expected_profit``, ``explored``, ``propensity``, ``top_reasons`` and ``why``.

The same code decides as in the service: the risk is the booster's calibrated probability (vectorised), the
reasons are the same path contributions as :mod:`serving.fastpredict` (per-leaf tables, summed for all rows in
the same pass through the trees as the risk, :class:`serving.forest.Forest`), the segments come from the same
rules (vectorised), and each cart's incentive from the vectorised twins of the decision functions
(:mod:`serving.batch_policy`, tested equal to :func:`serving.policy.decide` and
:func:`serving.uplift_policy.decide_uplift` on many random carts, with the same exploration draws from the session
id), so a cart gets the same answer here as from ``/score``. When the
``uplift:`` section sets a daily budget or segment caps, the per-cart functions decide instead, so that the budget
goes to the most profitable offers first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, cast

import numba
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.definitions import FEATURE_NAMES
from features.ids import numbered_together
from features.segments import RuleSet, assign_segments, default_rules
from features.sessions import to_us
from features.snapshots import last_with_cart, model_matrix
from serving.batch_policy import (
    CartColumns,
    cart_columns,
    decide_profit_batch,
    decide_rules_batch,
    exploration_draws_batch,
    risk_bands,
)
from serving.forest import Explained, Forest
from serving.policy import CartContext, Catalogue, default_catalogue
from serving.uplift_policy import Budget, decide_uplift, exploration_draws
from serving.uplift_scorer import DailyBudget, FastUplift
from training.model import RiskModel
from training.uplift_model import UpliftModel

__all__ = ["BATCH_COLUMNS", "BatchScorer", "already_bought", "carts_to_score", "latest_carts", "reason_texts",
           "segment_texts"]

BATCH_COLUMNS = ("cart_id", "customer_id", "snapshot_time", "cart_value", "segments", "risk", "risk_band",
                 "incentive", "channel", "policy", "rule", "expected_cost", "expected_uplift",
                 "expected_recovered_revenue", "expected_profit", "explored", "propensity", "top_reasons", "why")

Progress = Callable[[str, int], None]
"""Called with a stage name and the number of carts done in it."""
PART_ROWS = 1 << 17
"""Carts scored together (see :meth:`BatchScorer.score`): 131,072."""
_THREADSAFE_LAYERS = ("omp", "tbb")
"""numba threading layers that take parallel calls from two threads at once."""


def latest_carts(snapshots: pd.DataFrame, last_days: float | None = None) -> pd.DataFrame:
    """Each session's latest snapshot with something in the cart; with ``last_days``, only sessions whose latest
    snapshot falls in the last ``last_days`` days of the data."""
    latest = last_with_cart(snapshots)
    if last_days is not None:
        times = pd.to_datetime(latest["snapshot_time"], utc=True)
        latest = latest[times > times.max() - pd.Timedelta(days=float(last_days))]
    return latest.sort_values("snapshot_time", kind="stable").reset_index(drop=True)


def already_bought(carts: pd.DataFrame, events: pd.DataFrame, orders: pd.DataFrame) -> np.ndarray:
    """Per cart (a snapshot row with ``session_id``, ``customer_id`` and ``snapshot_time``): bought by the end of
    the data, so no incentive should go to it. Bought means its session has a purchase event or an order, or its
    customer placed an order at or after the cart's snapshot (the cart was recovered, or the customer has ordered
    since: a reminder would be out of place). Missing ids match nothing. The carts' ids and the sold sessions' (or
    the orders' customers') are numbered together, so the matching is on integer codes."""
    purchase = (events["event_type"] == "purchase").to_numpy(dtype=bool, na_value=False)
    sold = pd.concat([events["session_id"][purchase].astype("string"), orders["session_id"].astype("string")])
    cart_code, sold_code, n = numbered_together(carts["session_id"], sold)
    was_sold = np.zeros(n + 1, dtype=bool)  # the extra last slot stands for -1 (a missing id): never sold
    was_sold[sold_code[sold_code >= 0]] = True
    bought = was_sold[cart_code]
    order_code, cart_customer, n = numbered_together(orders["customer_id"], carts["customer_id"])
    last = np.full(n + 1, np.iinfo(np.int64).min)  # each customer's last order; the extra slot: no customer
    known = order_code >= 0
    np.maximum.at(last, order_code[known], to_us(orders["order_time"])[known])
    since = last[cart_customer] >= to_us(carts["snapshot_time"])
    return np.asarray(bought | since, dtype=bool)


def carts_to_score(snapshots: pd.DataFrame, events: pd.DataFrame, orders: pd.DataFrame,
                   last_days: float | None = None) -> tuple[pd.DataFrame, int]:
    """The carts a batch run scores: :func:`latest_carts` without those :func:`already_bought`; and how many were
    left out for that."""
    carts = latest_carts(snapshots, last_days)
    bought = already_bought(carts, events, orders)
    return carts[~bought].reset_index(drop=True), int(bought.sum())


def _reason_parts(features: np.ndarray, values: np.ndarray, names: Sequence[str]) -> pa.Array:
    """``"name (%+.2f)"`` of every (feature index, contribution), each distinct (feature, hundredth) formatted
    once and spread by Arrow (values exactly as Python formats them: the few within a rounding error of half a
    hundredth are formatted one by one)."""
    hundredths = values * 100
    rounded = np.round(hundredths)
    # whole hundredths, told apart by sign too ("-0.00" and "+0.00" differ): 2k for k >= 0 and +0, else 2k + 1
    cents = rounded.astype(np.int64) * 2 + np.signbit(rounded)
    pair_code, _ = pd.factorize(features.astype(np.int64) + len(names) * cents)
    first = np.empty(pair_code.max() + 1 if len(pair_code) else 0, dtype=np.int64)
    first[pair_code[::-1]] = np.arange(len(pair_code))[::-1]  # each pair's first row
    texts = [f"{names[int(features[i])]} ({rounded[i] / 100:+.2f})" for i in first]
    part = pa.DictionaryArray.from_arrays(pa.array(pair_code.astype(np.int32)), pa.array(texts, pa.string()))
    part = part.cast(pa.string())
    near_half = np.abs(hundredths - np.floor(hundredths) - 0.5) < 1e-6
    if near_half.any():
        exact = [f"{names[int(f)]} ({v:+.2f})" for f, v in zip(features[near_half], values[near_half], strict=True)]
        part = pc.replace_with_mask(part, pa.array(near_half), pa.array(exact, pa.string()))
    return part


def segment_texts(flags: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Per row, the names of its segments (``flags[row, j]`` = in segment ``names[j]``), ``;``-joined in the order
    of ``names``; each distinct combination is joined once."""
    flags = np.asarray(flags, dtype=bool)
    if flags.shape[1] <= 62:
        codes = flags @ (1 << np.arange(flags.shape[1], dtype=np.int64))
    else:  # Python integers: any number of segments
        codes = flags.astype(object) @ (1 << np.arange(flags.shape[1], dtype=object))
    _, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
    name_array = np.asarray(list(names), dtype=object)
    joined = np.array([";".join(name_array[flags[i]]) for i in first], dtype=object)
    return joined[inverse.ravel()] if len(flags) else np.empty(0, dtype=object)


def reason_texts(top: np.ndarray, values: np.ndarray, names: Sequence[str]) -> pd.Series:
    """Per row, its positive reasons as ``"name (+0.41); name (+0.12)"`` (the service's format), from the
    feature indices ``top`` and their contributions ``values``, both sorted by contribution, largest first.
    Built column by column in Arrow (string joins in C++, not one Python string per reason)."""
    names = list(names)
    text: pa.Array | None = None
    for j in range(top.shape[1]):
        v = values[:, j].astype(np.float64)
        part = _reason_parts(top[:, j], v, names)
        shown = pa.array(v > 0)  # sorted: once one is not positive, none after it is
        text = pc.if_else(shown, part, "") if text is None else pc.if_else(
            shown, pc.binary_join_element_wise(text, part, "; "), text)
    if text is None:
        return pd.Series([""] * len(top), dtype="string")
    return pd.Series(pd.arrays.ArrowStringArray(text))


@dataclass(frozen=True)
class _Walked:
    """What the trees said about a part's carts (:meth:`BatchScorer._walk`)."""

    found: Explained
    uplift: tuple[pd.DataFrame, np.ndarray] | None
    """The uplift arms' probabilities and the expected order values; None without uplift models."""


@dataclass
class BatchScorer:
    """The service's model and policy for a whole table of carts."""

    model: RiskModel
    catalogue: Catalogue | None = None
    rules: RuleSet | None = None
    uplift: UpliftModel | None = None
    top_reasons: int = 3
    explore: bool = True

    def __post_init__(self) -> None:
        self.catalogue = self.catalogue or default_catalogue()
        self.rules = self.rules or default_rules()
        self._forest = Forest([self.model.booster], len(FEATURE_NAMES), explained=0)
        self._uplift = FastUplift(self.uplift, FEATURE_NAMES, one_row=False) if self.uplift is not None else None

    def _risk_and_reasons(self, found: Explained) -> tuple[np.ndarray, pd.Series]:
        """Calibrated risk and the top reasons (features that raised the risk most) of every row, from one pass
        through the trees (:meth:`serving.forest.Forest.explain`): the risk from the leaves' values, the reasons
        from their path contributions."""
        risk = self.model.calibrate(1.0 / (1.0 + np.exp(-found.raw[:, 0])))
        return np.clip(risk, 0.0, 1.0), reason_texts(found.top, found.top_values, FEATURE_NAMES)

    def warm_up(self) -> None:
        """Do now what the first part would otherwise wait for: the uplift trees flattened, the compiled tree walk
        (and exploration draws) loaded. ``cartrisk score`` calls it on a second thread while the data are read."""
        x = np.zeros((1, len(FEATURE_NAMES)))
        self._forest.explain(x, self.top_reasons)
        if self._uplift is not None:
            self._uplift.batch(x)
            if self.explore:
                exploration_draws_batch(pa.array(["warm-up"], pa.large_string()))

    def _budgeted(self) -> bool:
        """The uplift policy with a daily budget or segment caps: carts are decided in order, all together."""
        assert self.catalogue is not None
        s = self.catalogue.uplift
        return self.uplift is not None and (s.daily_budget is not None or bool(s.segment_caps))

    def score(self, carts: pd.DataFrame, progress: Progress | None = None) -> pd.DataFrame:
        """One row per cart of ``carts`` (snapshot rows, e.g. from :func:`latest_carts`); see the module doc.

        Without a budget the carts go through in parts of :data:`PART_ROWS` (each cart's answer depends on it
        alone): the arrays of a part stay in the processor's caches and their memory is reused, where a million
        carts at once spend a third of the time faulting in fresh pages. The trees of the next part are walked on
        a second thread (compiled, without the interpreter lock) while this one decides the current part.
        ``progress("policy", n)`` after each part, ``n`` the carts done so far."""
        carts = carts.reset_index(drop=True)
        missing = np.flatnonzero(carts["session_id"].isna().to_numpy())
        if len(missing):  # the cart id of every list, and the seed of its exploration draws
            raise ValueError(f"{len(missing):,} carts have no session id (rows {missing[:5].tolist()}"
                             f"{' ...' if len(missing) > 5 else ''}); every cart needs one")
        if len(carts) <= PART_ROWS or self._budgeted():
            out = self._score_part(carts)
            if progress:
                progress("policy", len(carts))
            return out

        def part(start: int) -> pd.DataFrame:
            return carts.iloc[start:start + PART_ROWS].reset_index(drop=True)

        current = part(0)
        walked = self._walk(current)
        # a second thread may call the compiled code only if numba's threading layer allows concurrent calls
        # (OpenMP, TBB; its own "workqueue" aborts): known once the first parallel call has run, just now
        pipelined = numba.threading_layer() in _THREADSAFE_LAYERS
        parts = []
        with ThreadPoolExecutor(max_workers=1) as trees:
            for start in range(0, len(carts), PART_ROWS):
                upcoming = part(start + PART_ROWS) if start + PART_ROWS < len(carts) else None
                later = trees.submit(self._walk, upcoming) if pipelined and upcoming is not None else None
                parts.append(self._decide_part(current, walked))
                if upcoming is not None:
                    walked = later.result() if later is not None else self._walk(upcoming)
                    current = upcoming
                if progress:
                    progress("policy", min(start + PART_ROWS, len(carts)))
        return pd.concat(parts, ignore_index=True)

    def _walk(self, carts: pd.DataFrame) -> _Walked:
        """The model passes of a part: its feature matrix through the risk trees and (for the profit policy) the
        uplift trees."""
        matrix = model_matrix(carts)
        found = self._forest.explain(matrix, self.top_reasons)
        return _Walked(found, self._uplift.batch(matrix) if self._uplift is not None else None)

    def _score_part(self, carts: pd.DataFrame) -> pd.DataFrame:
        return self._decide_part(carts, self._walk(carts))

    def _decide_part(self, carts: pd.DataFrame, walked: _Walked) -> pd.DataFrame:
        assert self.rules is not None
        risk, reasons = self._risk_and_reasons(walked.found)
        member = assign_segments(carts, self.rules)
        names = list(member.columns)
        flags = member.to_numpy(dtype=bool)
        cols = cart_columns(carts[list(_CONTEXT_COLUMNS)], len(carts))
        ids = carts["session_id"].astype(str)
        decided = self._decide(ids, risk, flags, names, cols, carts, walked)
        out = pd.DataFrame({
            "cart_id": ids.array,
            "customer_id": carts["customer_id"].astype("string"),
            "snapshot_time": carts["snapshot_time"],
            "cart_value": carts["cart_value"].astype(np.float64),
            "segments": _text_column(segment_texts(flags, names)),
            "risk": risk,
            **{k: _text_column(v) if k in _TEXT_COLUMNS else v for k, v in decided.items()},
            "top_reasons": reasons,
        })
        return out[list(BATCH_COLUMNS)]

    def _decide(self, ids: pd.Series, risk: np.ndarray, flags: np.ndarray, names: list[str],
                cols: CartColumns, carts: pd.DataFrame, walked: _Walked) -> dict[str, Any]:
        """The decision columns: vectorised (:mod:`serving.batch_policy`, the same answers as the per-cart
        functions), or per cart when a daily budget or segment caps must be spent in order."""
        assert self.catalogue is not None
        cat = self.catalogue
        n = len(ids)
        if self.uplift is None:
            r = decide_rules_batch(risk, flags, names, cols, cat)
            return {"risk_band": r.risk_band, "incentive": r.code, "channel": r.channel, "policy": "rules",
                    "rule": r.rule, "expected_cost": _round(r.expected_cost, 4), "expected_uplift": np.nan,
                    "expected_recovered_revenue": np.nan, "expected_profit": np.nan, "explored": False,
                    "propensity": np.nan, "why": r.reason}
        assert self._uplift is not None
        assert walked.uplift is not None
        probs, values = walked.uplift
        if self._budgeted():
            segments = [[names[j] for j in np.flatnonzero(row)] for row in flags]
            return self._decide_with_budget(ids.tolist(), risk, segments, carts, probs, values)
        sessions = pa.array(ids) if self.explore else None  # the exploration draws hash each session id
        p = decide_profit_batch(probs, values, flags, names, cols, cat, sessions)
        value = np.maximum(np.asarray(values, dtype=np.float64), cols.cart_value)
        uplift = np.asarray(p.expected_uplift, dtype=np.float64)
        return {"risk_band": risk_bands(risk, cat.settings), "incentive": p.code, "channel": p.channel,
                "policy": "profit", "rule": p.rule, "expected_cost": _round(p.expected_cost, 4),
                "expected_uplift": _round(uplift, 5), "expected_recovered_revenue": _round(uplift * value, 4),
                "expected_profit": _round(p.expected_profit, 4), "explored": p.explored,
                "propensity": _round(p.propensity, 5), "why": p.reason if p.reason is not None else [""] * n}

    def _decide_with_budget(self, sessions: list[str], risk: np.ndarray, segments: list[list[str]],
                            carts: pd.DataFrame, probabilities: pd.DataFrame, values: np.ndarray) -> dict[str, Any]:
        """Per cart, so that today's budget goes to the most profitable offers first."""
        assert self.catalogue is not None
        cat = self.catalogue
        records = cast(list[dict[str, Any]], carts[list(_CONTEXT_COLUMNS)].to_dict("records"))
        contexts = [CartContext.from_features(r) for r in records]
        probs = cast(list[dict[str, float]], probabilities.to_dict("records"))
        s = cat.uplift
        budget = DailyBudget(s.daily_budget, s.segment_caps)

        def one(k: int, left: Budget | None) -> Any:
            draws = exploration_draws(sessions[k]) if self.explore else None
            return decide_uplift(probs[k], float(values[k]), segments[k], contexts[k], cat, left, draws)

        decisions = [one(k, None) for k in range(len(sessions))]
        order = sorted(range(len(decisions)), key=lambda k: -(decisions[k].chosen.expected_profit
                                                             if decisions[k].chosen else 0.0))
        for k in order:
            if decisions[k].chosen is None:
                continue
            decisions[k] = one(k, budget.remaining())
            if decisions[k].chosen is not None:
                budget.spend(decisions[k].chosen.expected_cost, segments[k])
        rows = []
        for k, d in enumerate(decisions):
            value = max(float(values[k]), contexts[k].cart_value)
            uplift = d.chosen.uplift if d.chosen is not None else 0.0
            rows.append({"incentive": d.code, "channel": d.channel, "rule": d.rule,
                         "expected_cost": round(d.expected_cost, 4), "expected_uplift": round(uplift, 5),
                         "expected_recovered_revenue": round(uplift * value, 4),
                         "expected_profit": round(d.chosen.expected_profit, 4) if d.chosen is not None else 0.0,
                         "explored": d.explored, "propensity": round(d.propensity, 5), "why": d.reason})
        out: dict[str, Any] = {k: [r[k] for r in rows] for k in rows[0]} if rows else {}
        return {"risk_band": risk_bands(risk, cat.settings), "policy": "profit", **out}


_TEXT = pd.StringDtype("pyarrow", na_value=np.nan)
"""pandas' default text dtype (``str``)."""
_TEXT_COLUMNS = frozenset({"risk_band", "incentive", "channel", "rule", "why"})


def _text_column(values: Any) -> Any:
    """Texts (an Arrow array, an object array or a list; None = missing) as a column of pandas' default text dtype,
    converted by Arrow (faster than pandas' own conversion, most of all on long texts such as the reasons); one
    text (the same for every row) is returned as it is."""
    if isinstance(values, str):  # one value for every row
        return values
    texts = values if isinstance(values, pa.Array) else pa.array(values, pa.large_string())
    return pd.array(texts.cast(pa.large_string()), dtype=_TEXT)


def _round(values: Any, digits: int) -> np.ndarray:
    """Rounded for the table (numpy's rounding; it can differ from Python's ``round`` by one unit in the last
    digit on values exactly half-way, which no decision depends on)."""
    return np.round(np.asarray(values, dtype=np.float64), digits)


_DECISION_COLUMNS = ("risk_band", "incentive", "channel", "policy", "rule", "expected_cost", "expected_uplift",
                     "expected_recovered_revenue", "expected_profit", "explored", "propensity", "why")

_CONTEXT_COLUMNS = ("cart_value", "shipping_fee", "free_shipping_threshold", "account_required", "is_guest",
                    "funnel_step", "device", "seconds_since_prev_event")
"""The snapshot columns :meth:`CartContext.from_features` reads."""
