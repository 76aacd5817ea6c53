"""Work in a forked child: its result or its exception comes back to the parent."""

from __future__ import annotations

import os

import numpy as np
import pytest

from serving.concurrent import ChildFailed, in_child


def test_the_child_sees_the_parents_memory_and_returns_its_result() -> None:
    table = np.arange(1_000_000)
    wait = in_child(lambda: (os.getpid(), int(table.sum())))
    pid, total = wait()
    assert pid != os.getpid() and total == int(table.sum())


def test_the_childs_exception_is_raised_in_the_parent() -> None:
    def fails() -> None:
        raise OSError(28, "No space left on device")

    wait = in_child(fails)
    with pytest.raises(OSError, match="No space left"):
        wait()


class _Odd(Exception):
    def __init__(self, a: int, b: int) -> None:  # cannot be rebuilt from its args
        super().__init__(f"odd {a} {b}")


def test_an_exception_that_cannot_travel_comes_back_as_text() -> None:
    def fails() -> None:
        raise _Odd(1, 2)

    with pytest.raises(ChildFailed, match="odd 1 2"):
        in_child(fails)()


def test_a_child_that_dies_is_reported() -> None:
    with pytest.raises(ChildFailed, match="exit code 3"):
        in_child(lambda: os._exit(3))()


def test_without_fork_the_work_runs_here(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARTRISK_NO_FORK", "1")
    assert in_child(os.getpid)() == os.getpid()
