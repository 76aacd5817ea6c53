"""features.ids.factorize_ids gives what pd.factorize gives, on the compiled path and on the fallback."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import features.ids as ids
from features.ids import factorize_ids


@pytest.fixture(autouse=True)
def _small_columns_compiled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ids, "MIN_ROWS", 0)


def _arrow(values: list[str | None], chunks: int = 1, large: bool = True) -> pd.Series:
    kind = pa.large_string() if large else pa.string()
    cut = np.linspace(0, len(values), chunks + 1).astype(int)
    parts = [pa.array(values[cut[i]: cut[i + 1]], kind) for i in range(chunks)]
    return pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array(parts, kind)))


def _same_as_pandas(values: pd.Series) -> None:
    codes, uniques = factorize_ids(values)
    want_codes, want_uniques = pd.factorize(values.astype("string"), sort=False)
    np.testing.assert_array_equal(codes, want_codes)
    assert list(uniques) == list(want_uniques)
    assert uniques.dtype == "string"


def _compiled(values: pd.Series) -> bool:
    chunked = ids.arrow_text(values)
    return chunked is not None and ids._as_numbers(chunked) is not None


def test_dense_prefixed_ids_with_gaps_and_missing_values() -> None:
    rng = np.random.default_rng(1)
    numbers = rng.integers(0, 5_000, size=20_000)
    values: list[str | None] = [f"s{n:08d}" for n in numbers]
    for i in rng.choice(len(values), 3_000, replace=False):
        values[i] = None
    series = _arrow(values, chunks=7)
    assert _compiled(series)
    _same_as_pandas(series)


def test_sparse_plain_numbers_are_hashed_as_integers() -> None:
    rng = np.random.default_rng(2)
    numbers = rng.integers(10**8, 10**12, size=5_000)
    values: list[str | None] = [str(n) for n in np.r_[numbers, numbers[:2_000]]]
    values[17] = None
    series = _arrow(values, chunks=3, large=False)
    numbers_found = ids._as_numbers(ids.arrow_text(series))
    assert numbers_found is not None
    _, low, high = numbers_found
    assert high - low >= ids.MAX_TABLE_PER_ROW * len(values) + 1024  # the sparse path
    _same_as_pandas(series)


def test_leading_zeros_of_different_lengths_are_not_merged() -> None:
    series = _arrow(["7", "007", "07", "7", "70"])
    assert not _compiled(series)  # '007' and '7' would be one number
    codes, uniques = factorize_ids(series)
    assert list(uniques) == ["7", "007", "07", "70"]
    np.testing.assert_array_equal(codes, [0, 1, 2, 0, 3])


def test_leading_zeros_of_one_length_and_numbers_without_them() -> None:
    _same_as_pandas(_arrow(["007", "070", "700", "007"]))
    assert _compiled(_arrow(["007", "070", "700"]))
    mixed_lengths = _arrow(["7", "70", "700", "7"])
    assert _compiled(mixed_lengths)
    _same_as_pandas(mixed_lengths)


@pytest.mark.parametrize("values", [
    ["c1", "d2", "c1"],  # two prefixes
    ["c1", "c", "c1"],  # no digits
    ["c1", "c1x", "c1"],  # text after the number
    ["c" + "1" * 19, "c2"],  # more digits than an int64 holds
    ["x-1", "x-2", "x-1"],  # fine: one prefix 'x-'
    ["é1", "é22", "é1"],  # a prefix of two bytes
    ["", "1"],  # an empty id
    [None, None],  # no id at all
    [" 1", "1"],  # a space is part of the prefix of one only
])
def test_other_shapes_give_the_same_as_pandas(values: list[str | None]) -> None:
    _same_as_pandas(_arrow(values))


def test_sliced_chunks_object_columns_and_short_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    whole = pa.array([f"u{n}" for n in range(100)], pa.large_string())
    sliced = pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([whole.slice(30, 40), whole.slice(5, 10)])))
    assert _compiled(sliced)
    _same_as_pandas(sliced)
    _same_as_pandas(pd.Series(["u3", None, "u1", "u3"], dtype=object))
    monkeypatch.setattr(ids, "MIN_ROWS", 1_000)
    _same_as_pandas(_arrow(["u3", "u1", "u3"]))


def test_categorical_columns_are_numbered_through_their_codes() -> None:
    values = pd.Series(pd.Categorical(["b", "a", None, "b", "c"], categories=["c", "b", "a", "unused"]))
    _same_as_pandas(values)


def test_categories_that_read_the_same_as_text_are_one_id() -> None:
    _same_as_pandas(pd.Series(pd.Categorical([1, "1", 2, None], categories=[1, "1", 2])))


def test_take_of_no_rows_and_of_rows_in_some_chunks_only() -> None:
    chunked = pa.chunked_array([pa.array(["a", "b"]), pa.array([], pa.string()), pa.array(["c", "d"])])
    assert ids.take_sorted(chunked, np.array([], dtype=np.int64)).to_pylist() == []
    assert ids.take_sorted(chunked, np.array([3], dtype=np.int64)).to_pylist() == ["d"]
    assert ids.take_sorted(chunked, np.array([0, 2], dtype=np.int64)).to_pylist() == ["a", "c"]


def test_take_increasing_is_take_for_arrow_text_and_for_other_columns() -> None:
    texts = pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array(
        [pa.array(["a", None], pa.large_string()), pa.array(["c", "d", "e"], pa.large_string())])), name="id")
    numbers = pd.Series([1.5, 2.5, None, 4.5, 5.5], dtype="Float64", index=[9, 8, 7, 6, 5], name="x")
    rows = np.array([0, 1, 3, 4])
    plain = pd.Series(["x", None, "y", "z", "w"], dtype="str")  # pandas' default text type (NaN for missing)
    for column in (texts, numbers, plain):
        got = ids.take_increasing(column, rows)
        pd.testing.assert_series_equal(got, column.take(rows).reset_index(drop=True))
    assert ids.take_increasing(texts, rows).array._pa_array.num_chunks == 1


@pytest.mark.parametrize("n", [50, 150_000])  # pd.factorize below features.ids.MIN_ROWS, compiled from there on
def test_locate_finds_the_first_row_of_each_id_and_minus_one_for_none(n: int) -> None:
    rng = np.random.default_rng(n)
    keys = pd.Series([f"s{k:06d}" for k in rng.integers(0, n, n)], dtype="string").mask(rng.random(n) < 0.1)
    values = pd.Series([f"s{k:06d}" for k in rng.integers(0, 2 * n, n)], dtype="string").mask(rng.random(n) < 0.1)
    first: dict[str, int] = {}
    for row, key in enumerate(keys):
        if key is not pd.NA:
            first.setdefault(key, row)
    want = [first.get(v, -1) if v is not pd.NA else -1 for v in values]
    got = ids.locate(keys, values)
    assert got.tolist() == want
    assert (got == -1).any() and (got >= 0).any()
