"""Two pieces of finished-data work at once: one in a forked child process, one here.

Batch scoring ends with two independent writers (the marketers' lists and the HTML report), both mostly Python
under the interpreter lock, so threads would take turns; a forked child shares the scored table as it is
(copy-on-write, nothing pickled) and runs on the other core. Where ``fork`` does not exist (Windows) the work runs
in this process, first.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["ChildFailed", "in_child"]


class ChildFailed(RuntimeError):
    """The child's work raised an exception that could not be sent back as it was."""


def _run(work: Callable[[], Any], conn: Connection) -> None:  # pragma: no cover - runs in the child
    try:
        conn.send_bytes(pickle.dumps((True, work())))
    except BaseException as exc:  # everything goes back to the parent, which raises it
        try:
            message = pickle.dumps((False, exc))
            pickle.loads(message)  # some exceptions pickle but cannot be rebuilt
        except Exception:
            message = pickle.dumps((False, ChildFailed("".join(traceback.format_exception(exc)))))
        conn.send_bytes(message)
    finally:
        conn.close()


def in_child(work: Callable[[], T]) -> Callable[[], T]:
    """Start ``work`` in a forked child (it sees this process's memory as it is now) and return a function that
    waits for it and returns what ``work`` returned, or raises what it raised (:class:`ChildFailed` when that
    cannot be sent back, or when the child died without a word). Without ``fork`` (or with the environment
    variable ``CARTRISK_NO_FORK`` set), ``work`` runs now and the waiter hands over its result."""
    if "fork" not in mp.get_all_start_methods() or os.environ.get("CARTRISK_NO_FORK"):
        result = work()
        return lambda: result
    context = mp.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_run, args=(work, send), daemon=True)
    child.start()
    send.close()

    def wait() -> T:
        try:
            ok, value = pickle.loads(receive.recv_bytes())
        except EOFError:
            child.join()
            ok, value = False, ChildFailed(f"the child process ended without reporting (exit code {child.exitcode})")
        finally:
            receive.close()
            child.join()
        if not ok:
            raise value
        return value

    return wait
