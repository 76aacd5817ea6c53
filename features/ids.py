"""Number the ids of a large column fast: ``pd.factorize`` (codes in order of first appearance), compiled for the
common shape of shop ids, a fixed prefix and a number (``s00012345``, ``c0158616``, ``512475445``).

Hashing tens of millions of texts costs about 70 ns each (the hash table of millions of distinct ids does not fit
in the cache). When every id of a column is the same prefix followed by 1 to 18 digits, and either every id has
the same length or no number has a leading zero, each text stands for exactly one number; the numbers are read
in one pass over the Arrow buffers, and numbered through a table indexed by the number itself when they are
dense (ids handed out in order), or hashed as integers otherwise. Any other column (UUIDs, free text, mixed
prefixes) goes to ``pd.factorize`` as before. Either way the result is the same as ``pd.factorize(values,
sort=False)``: ``tests/test_ids.py`` checks both paths against it.

Only the batch paths import this (numba); the scoring service does not.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from features.compiled import compiled

MIN_ROWS = 100_000
"""Columns shorter than this go to ``pd.factorize`` (the compiled path only pays off on large ones)."""

MAX_TABLE_PER_ROW = 4
"""Numbers spread over at most this many times the column's length are numbered through a direct table."""


def arrow_text(values: pd.Series) -> pa.ChunkedArray | None:
    """The Arrow text chunks behind a pandas column, or None when it is not Arrow text."""
    chunked = getattr(values.array, "_pa_array", None)
    if not isinstance(chunked, pa.ChunkedArray):
        return None
    if not (pa.types.is_string(chunked.type) or pa.types.is_large_string(chunked.type)):
        return None
    return chunked


def text_buffers(chunk: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Offsets (int64), data bytes and validity (one bool per row) of an Arrow text chunk, read in place (the
    offsets copied only when they are 32-bit)."""
    _, offsets, data = chunk.buffers()
    width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
    n = len(chunk)
    if offsets is None:
        offs = np.zeros(n + 1, dtype=np.int64)
    else:
        offs = np.frombuffer(offsets, dtype=width)[chunk.offset: chunk.offset + n + 1].astype(np.int64, copy=False)
    raw = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, dtype=np.uint8)
    valid = chunk.is_valid().to_numpy(zero_copy_only=False) if chunk.null_count else np.ones(n, dtype=bool)
    return offs, raw, np.asarray(valid, dtype=bool)


def _prefix(chunked: pa.ChunkedArray) -> bytes | None:
    """The non-digit start of the first present id (b'' for plain numbers), or None when there is none."""
    for chunk in chunked.chunks:
        present = chunk.drop_null() if chunk.null_count else chunk
        if len(present):
            text = present[0].as_py().encode()
            end = 0
            while end < len(text) and not (48 <= text[end] <= 57):
                end += 1
            return text[:end]
    return None


@compiled(nogil=True)
def _numbers(offsets: np.ndarray, data: np.ndarray, valid: np.ndarray, prefix: np.ndarray,
             out: np.ndarray, state: np.ndarray) -> bool:  # pragma: no cover - compiled
    """Read each present id as ``prefix`` + digits into ``out`` (-1 where missing); False as soon as one is not.

    ``state`` carries, across chunks: [0] the length of the ids so far (-1 before the first, -2 once two differ),
    [1] 1 once a number has a leading zero, [2] the smallest and [3] the largest number."""
    p = prefix.shape[0]
    length, leading_zero, low, high = state[0], state[1], state[2], state[3]
    for r in range(offsets.shape[0] - 1):
        if not valid[r]:
            out[r] = -1
            continue
        lo, hi = offsets[r], offsets[r + 1]
        digits = hi - lo - p
        if digits < 1 or digits > 18:
            return False
        for k in range(p):
            if data[lo + k] != prefix[k]:
                return False
        value = np.int64(0)
        for k in range(lo + p, hi):
            d = np.int64(data[k]) - 48
            if d < 0 or d > 9:
                return False
            value = value * 10 + d
        if digits > 1 and data[lo + p] == 48:
            leading_zero = 1
        if length != hi - lo:
            length = hi - lo if length == -1 else -2
        low = min(low, value)
        high = max(high, value)
        out[r] = value
    state[0], state[1], state[2], state[3] = length, leading_zero, low, high
    return True


@compiled(nogil=True)
def _number_dense(values: np.ndarray, low: int, table: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """Replace each number of ``values`` in ``[low, low + len(table))`` by its code in order of first appearance
    (-1 stays -1), through ``table`` (filled with -1: the code of each number, by number); return the position of
    each code's first row."""
    first = np.empty(table.shape[0], dtype=np.int64)
    n = 0
    for r in range(values.shape[0]):
        v = values[r]
        if v < 0:
            continue
        c = np.int64(table[v - low])
        if c < 0:
            c = np.int64(n)
            table[v - low] = c
            first[n] = r
            n += 1
        values[r] = c
    return first[:n].copy()


@compiled(nogil=True)
def _first_rows(codes: np.ndarray, n_codes: int) -> np.ndarray:  # pragma: no cover - compiled
    """The first row of each code (codes numbered in order of first appearance)."""
    first = np.empty(n_codes, dtype=np.int64)
    seen = 0
    for r in range(codes.shape[0]):
        if codes[r] == seen:
            first[seen] = r
            seen += 1
    return first


def _as_numbers(chunked: pa.ChunkedArray) -> tuple[np.ndarray, int, int] | None:
    """Each id as its number (-1 where missing) and the smallest and largest number, or None when the column is
    not prefix + number throughout (or has no id at all)."""
    prefix = _prefix(chunked)
    if prefix is None:
        return None
    out = np.empty(len(chunked), dtype=np.int64)
    state = np.array([-1, 0, np.iinfo(np.int64).max, -1], dtype=np.int64)
    pre = np.frombuffer(prefix, dtype=np.uint8)
    start = 0
    for chunk in chunked.chunks:
        offsets, data, valid = text_buffers(chunk)
        if not _numbers(offsets, data, valid, pre, out[start: start + len(chunk)], state):
            return None
        start += len(chunk)
    if state[0] == -2 and state[1] == 1:  # '007' and '7' would be one number
        return None
    return out, int(state[2]), int(state[3])


def take_sorted(chunked: pa.ChunkedArray, rows: np.ndarray) -> pa.ChunkedArray:
    """``chunked.take(rows)`` for increasing ``rows``, chunk by chunk (a take across hundreds of chunks, or
    joining them first, costs far more), as one chunk."""
    bounds = np.cumsum([0] + [len(c) for c in chunked.chunks])
    cuts = np.searchsorted(rows, bounds)
    parts = [chunk.take(pa.array(rows[cuts[i]: cuts[i + 1]] - bounds[i]))
             for i, chunk in enumerate(chunked.chunks) if cuts[i + 1] > cuts[i]]
    # one chunk: later takes from it (each session's id, ...) are much slower across many chunks
    return pa.chunked_array([pa.concat_arrays(parts)] if parts else [], type=chunked.type)


def take_increasing(values: pd.Series, rows: np.ndarray) -> pd.Series:
    """``values.take(rows).reset_index(drop=True)`` for increasing ``rows``; a column of Arrow text is taken chunk
    by chunk (:func:`take_sorted`: a take from tens of millions of ids across hundreds of chunks took seconds)."""
    chunked = arrow_text(values)
    if chunked is None:
        return values.take(rows).reset_index(drop=True)
    return pd.Series(pd.array(take_sorted(chunked, rows), dtype=values.dtype), name=values.name)  # no copy


def factorize_ids(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """``pd.factorize(values, sort=False)`` (codes int64, -1 where missing; the distinct ids as a string Index in
    order of first appearance), compiled for prefix + number ids (see the module's text)."""
    categories = values.cat.categories.astype("string") if isinstance(values.dtype, pd.CategoricalDtype) else None
    if categories is not None and categories.is_unique:  # numbered through its codes (text categories distinct)
        codes, uniques = pd.factorize(values, sort=False)
        return np.asarray(codes, dtype=np.int64), pd.Index(uniques.astype("string"), dtype="string")
    chunked = arrow_text(values) if len(values) >= MIN_ROWS else None
    found = _as_numbers(chunked) if chunked is not None else None
    if chunked is None or found is None:
        codes, uniques = pd.factorize(values.astype("string"), sort=False)
        return np.asarray(codes, dtype=np.int64), pd.Index(uniques, dtype="string")
    numbers, low, high = found
    if high - low < MAX_TABLE_PER_ROW * len(numbers) + 1024:
        table = np.full(high - low + 1, -1, dtype=np.int32 if len(numbers) < 2**31 else np.int64)
        first = _number_dense(numbers, low, table)  # the numbers become their codes, in place
        codes = numbers
    else:  # sparse numbers: hashed as integers (much cheaper than as texts)
        present_rows = numbers >= 0
        found_codes, distinct = pd.factorize(numbers[present_rows], sort=False)
        codes = np.full(len(numbers), -1, dtype=np.int64)
        codes[present_rows] = found_codes
        first = _first_rows(codes, len(distinct))
    texts: Any = take_sorted(chunked, first)
    return codes, pd.Index(pd.array(texts, dtype="string"), dtype="string")


def numbered_together(first: pd.Series, second: pd.Series) -> tuple[np.ndarray, np.ndarray, int]:
    """The ids of two text columns numbered together by :func:`factorize_ids` (equal ids, equal codes; -1 where
    missing): each column's codes, and how many distinct ids there are. Matching on these codes is several times
    faster than hashing the texts again for each lookup."""
    both = pd.concat([first.astype("string"), second.astype("string")], ignore_index=True)
    codes, distinct = factorize_ids(both)
    return codes[:len(first)], codes[len(first):], len(distinct)


def locate(keys: pd.Series, values: pd.Series) -> np.ndarray:
    """For each of ``values``, the first row of ``keys`` holding the same id; -1 where there is none (or the value
    is missing)."""
    key_code, value_code, n = numbered_together(keys, values)
    row = np.full(n + 1, -1, dtype=np.int64)  # the extra last slot answers for code -1 (a missing value)
    present = np.flatnonzero(key_code >= 0)[::-1]  # written last to first: the first row of an id is kept
    row[key_code[present]] = present
    return row[value_code]
