"""The compiled passes over the events give what the numpy and pandas formulations give."""

from __future__ import annotations

import numpy as np
import pytest

from features.scan import bucket_starts, canonical_events, session_facts


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_canonical_order_is_lexsort_by_session_time_and_position(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, sessions = 5_000, 300
    code = rng.integers(0, sessions, n)
    time_us = rng.integers(0, 40, n)  # many ties: they must keep the file order
    if seed == 2:  # mostly in time order, as logs are: a few sessions need sorting
        time_us = np.sort(time_us)
        time_us[rng.integers(0, n, 20)] = 0
    code = np.unique(code, return_inverse=True)[1]  # dense, as factorised ids are
    event, customer = rng.integers(0, 9, n), rng.integers(-1, 50, n)
    expected = np.lexsort((np.arange(n), time_us, code))
    order = np.empty(n, dtype=np.int32)
    arrays: list[np.ndarray] = [np.empty(n, dtype=np.int32), np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int8),
                                np.empty(n, dtype=np.int32)]
    n_codes = int(code.max()) + 1
    start = bucket_starts(code, n_codes)
    middle = n_codes // 3
    for lo, hi in ((middle, n_codes), (0, middle)):  # in two parts, as two threads place them
        canonical_events(code, time_us, event, customer, start, lo, hi, order, *arrays)
    assert np.array_equal(order, expected)
    for got, source in zip(arrays, (code, time_us, event, customer), strict=True):
        assert np.array_equal(got, source[expected])


def test_session_facts() -> None:
    rng = np.random.default_rng(4)
    n, sessions, add, purchase = 4_000, 250, 2, 5
    code = np.sort(rng.integers(0, sessions, n))
    code = np.unique(code, return_inverse=True)[1]  # dense 0..S-1, contiguous
    s = int(code.max()) + 1
    t = np.sort(rng.integers(0, 10**9, n))
    event = rng.integers(0, 7, n)
    customer = np.where(rng.random(n) < 0.5, -1, rng.integers(0, 50, n))
    start, end, bought, first_cart, who = session_facts(code, t, event, customer, s, add, purchase)
    for session in range(s):
        rows = np.flatnonzero(code == session)
        assert start[session] == t[rows[0]] and end[session] == t[rows[-1]]
        buys, adds = rows[event[rows] == purchase], rows[event[rows] == add]
        assert bought[session] == (t[buys[0]] if len(buys) else np.inf)
        assert first_cart[session] == (t[adds[0]] if len(adds) else np.inf)
        named = rows[customer[rows] >= 0]
        assert who[session] == (customer[named[0]] if len(named) else -1)


@pytest.mark.parametrize("inclusive", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_as_of_equals_the_sorting_reference(seed: int, inclusive: bool) -> None:
    from features.asof import as_of, as_of_sorted

    rng = np.random.default_rng(seed)
    n, q, keys = 3_000, 2_000, 120
    item_key, item_time = rng.integers(0, keys, n), rng.integers(0, 60, n)  # many ties in time
    if seed == 1:  # most keys' items already in time order, one key's in reverse
        item_time = np.sort(item_time)
        item_time[item_key == 7] = item_time[item_key == 7][::-1]
    query_key, query_time = rng.integers(0, keys + 10, q), rng.integers(-5, 65, q)  # some keys have no items
    values = rng.normal(size=n).round(2)
    got = as_of(item_key, item_time, query_key, query_time, inclusive=inclusive)
    ref = as_of_sorted(item_key, item_time, query_key, query_time, inclusive=inclusive)
    assert np.array_equal(got.count, ref.count)
    np.testing.assert_allclose(got.total(values), ref.total(values), atol=1e-9)
    np.testing.assert_array_equal(got.last(item_time), ref.last(item_time))
    np.testing.assert_array_equal(got.first_value(item_time), ref.first_value(item_time))
    brute = [(item_key == k) & ((item_time <= t) if inclusive else (item_time < t))
             for k, t in zip(query_key[:200], query_time[:200], strict=True)]
    assert [int(b.sum()) for b in brute] == got.count[:200].tolist()


def test_as_of_each_answers_every_moment_as_separate_lookups_would() -> None:
    from features.asof import as_of_each, as_of_sorted

    rng = np.random.default_rng(3)
    item_key, item_time = rng.integers(0, 50, 2_000), rng.integers(0, 100, 2_000)
    query_key, query_time = rng.integers(0, 55, 700), rng.integers(0, 110, 700)
    moments = [query_time, query_time - 7, query_time - 30]
    for inclusive in (False, True):
        found = as_of_each(item_key, item_time, query_key, moments, inclusive=inclusive)
        assert len(found) == len(moments)
        for got, at in zip(found, moments, strict=True):
            ref = as_of_sorted(item_key, item_time, query_key, at, inclusive=inclusive)
            assert np.array_equal(got.count, ref.count)
            np.testing.assert_array_equal(got.last(item_time), ref.last(item_time))


def test_as_of_refuses_negative_keys() -> None:
    from features.asof import as_of

    with pytest.raises(ValueError, match="non-negative"):
        as_of(np.array([0, -1]), np.array([1, 2]), np.array([0]), np.array([3]))
