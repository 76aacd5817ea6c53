"""Point-in-time ("as of") lookups without a Python loop (compiled: :mod:`features.scan`).

Given items (a key such as a customer, a time, optional values) and queries (a key and a time), answer for every
query how many items of the same key happened before the query time, their total value and the time of the latest
one. This is the one primitive behind every history feature, so the rule "use only what was known at the moment"
lives in one place: an item at exactly the query time is *not* seen unless ``inclusive`` is set.

Times are integers (microseconds since the epoch); keys are non-negative integers (factorised ids).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AsOf:
    """Where each query falls among the items of its key, sorted by time.

    ``order`` sorts the items by (key, time); ``first[q]`` is the sorted position of the first item of query ``q``'s
    key and ``stop[q]`` the position just after its last item before the query time. So
    ``stop - first`` items of the key are before the query.
    """

    order: np.ndarray
    first: np.ndarray
    stop: np.ndarray

    @property
    def count(self) -> np.ndarray:
        """Number of items of the key before each query."""
        return self.stop - self.first

    def total(self, values: np.ndarray) -> np.ndarray:
        """Sum of ``values`` (aligned with the items) over the items before each query."""
        prefix = np.concatenate([[0.0], np.cumsum(np.asarray(values, dtype=np.float64)[self.order])])
        return np.asarray(prefix[self.stop] - prefix[self.first])

    def last(self, values: np.ndarray) -> np.ndarray:
        """``values`` of the latest item before each query (float), NaN when there is none."""
        sorted_values = np.asarray(values, dtype=np.float64)[self.order]
        out = np.full(len(self.stop), np.nan)
        has = self.stop > self.first
        out[has] = sorted_values[self.stop[has] - 1]
        return out

    def first_value(self, values: np.ndarray) -> np.ndarray:
        """``values`` of the earliest item of the key before each query (float), NaN when none."""
        sorted_values = np.asarray(values, dtype=np.float64)[self.order]
        out = np.full(len(self.stop), np.nan)
        has = self.stop > self.first
        out[has] = sorted_values[self.first[has]]
        return out


def _pack(key: np.ndarray, time: np.ndarray, flag: np.ndarray) -> np.ndarray | None:
    """One int64 per row that sorts like (key, time, flag), or None when it does not fit in 63 bits."""
    if len(key) == 0:
        return np.empty(0, np.int64)
    uniq, rank = np.unique(time, return_inverse=True)
    time_bits = max(len(uniq).bit_length(), 1) + 1
    key_max = int(key.max())
    if key.min() < 0 or key_max.bit_length() + time_bits > 62:
        return None
    return np.asarray((key << time_bits) | (rank.astype(np.int64) << 1) | flag)


def _int64(*arrays: np.ndarray) -> list[np.ndarray]:
    return [np.asarray(a, dtype=np.int64) for a in arrays]


def as_of(
    item_key: np.ndarray,
    item_time: np.ndarray,
    query_key: np.ndarray,
    query_time: np.ndarray,
    inclusive: bool = False,
) -> AsOf:
    """Locate each query among the items of its key that happened before it.

    With ``inclusive=False`` an item counts when ``item_time < query_time``; with ``inclusive=True`` when
    ``item_time <= query_time``.
    """
    return as_of_each(item_key, item_time, query_key, [query_time], inclusive)[0]


def as_of_each(
    item_key: np.ndarray,
    item_time: np.ndarray,
    query_key: np.ndarray,
    query_times: Sequence[np.ndarray],
    inclusive: bool = False,
) -> list[AsOf]:
    """:func:`as_of` of the same queries at each of several times (``query_times``), the items sorted once."""
    item_key, item_time, query_key = _int64(item_key, item_time, query_key)
    if (len(item_key) and item_key.min() < 0) or (len(query_key) and query_key.min() < 0):
        raise ValueError("as_of: keys must be non-negative (factorised ids; leave guests out)")
    from features.scan import as_of_bounds, key_time_order  # compiled code: not loaded by the service

    n_keys = int(max(item_key.max(initial=-1), query_key.max(initial=-1))) + 1
    order, start, sorted_time = key_time_order(item_key, item_time, n_keys)
    found = []
    for query_time in query_times:
        first, stop = as_of_bounds(start, sorted_time, query_key, _int64(query_time)[0], inclusive)
        found.append(AsOf(order=order, first=first, stop=stop))
    return found


def as_of_sorted(
    item_key: np.ndarray,
    item_time: np.ndarray,
    query_key: np.ndarray,
    query_time: np.ndarray,
    inclusive: bool = False,
) -> AsOf:
    """:func:`as_of` with numpy sorts only (the reference the compiled version is tested against)."""
    item_key, item_time, query_key, query_time = _int64(item_key, item_time, query_key, query_time)
    n_items = len(item_key)
    # Merge items and queries in one sort; at equal (key, time) the tie flag puts queries first (strict) or
    # items first (inclusive). Items tied on (key, time) may come in any order: counts, sums and times of
    # the items before a query do not depend on it.
    key = np.concatenate([item_key, query_key])
    time = np.concatenate([item_time, query_time])
    item_flag, query_flag = (0, 1) if inclusive else (1, 0)
    flag = np.concatenate([np.full(n_items, item_flag, np.int64), np.full(len(query_key), query_flag, np.int64)])
    packed = _pack(key, time, flag)
    # too many distinct keys or times to pack into one integer: a (slower) three-key sort
    merged = np.argsort(packed) if packed is not None else np.lexsort((flag, time, key))
    is_item = merged < n_items
    order = merged[is_item]  # the items alone, sorted by (key, time)
    sorted_keys = item_key[order]
    items_before: np.ndarray = np.cumsum(is_item) - is_item
    stop = np.empty(len(query_key), dtype=np.int64)
    stop[merged[~is_item] - n_items] = items_before[~is_item]
    first = np.searchsorted(sorted_keys, query_key, side="left").astype(np.int64)
    return AsOf(order=order, first=first, stop=stop)
