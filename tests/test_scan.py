"""The compiled passes over the events give what the numpy and pandas formulations give."""

from __future__ import annotations

import numpy as np
import pytest

from features.scan import canonical_order, session_facts


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_canonical_order_is_lexsort_by_session_time_and_position(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, sessions = 5_000, 300
    code = rng.integers(0, sessions, n)
    time_us = rng.integers(0, 40, n)  # many ties: they must keep the file order
    if seed == 2:  # mostly in time order, as logs are: a few sessions need sorting
        time_us = np.sort(time_us)
        time_us[rng.integers(0, n, 20)] = 0
    expected = np.lexsort((np.arange(n), time_us, code))
    assert np.array_equal(canonical_order(code, time_us, sessions), expected)


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
