"""Compiled loops: ``numba.njit`` with the machine code kept on disk for the next process.

Only the batch paths (snapshots of a whole shop, batch scoring) import this; the scoring service does not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba

F = TypeVar("F", bound=Callable[..., Any])


def compiled(**options: Any) -> Callable[[F], F]:
    """``numba.njit(**options)`` with the compiled code kept on disk for the next process (beside the module, or
    in the user's cache folder when the install is read-only); where no folder is writable, numba refuses to
    cache at import time, and the function is compiled in memory instead (once per process)."""

    def wrap(fn: F) -> F:
        try:
            return cast(F, numba.njit(cache=True, **options)(fn))
        except RuntimeError:  # "cannot cache function ...: no locator available"
            return cast(F, numba.njit(**options)(fn))

    return wrap
