"""Two threads for the few large, independent steps whose work is in numpy or Arrow (which release the GIL)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

THREADS = 2
"""The machines this runs on have two cores or more; more threads than independent steps would only wait."""


def thread_map(fn: Callable[[T], R], items: Sequence[T], parallel: bool) -> list[R]:
    """``[fn(x) for x in items]``, in order; on :data:`THREADS` threads when ``parallel`` (callers pass it for large
    inputs only: a thread pool costs more than it saves on small ones). The results are the same either way."""
    if not parallel or len(items) < 2:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        return list(pool.map(fn, items))
