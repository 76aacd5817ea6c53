"""Where deriving the snapshots touches new memory: the new pages faulted in under each function of ``features/``.

    python benchmarks/bench_fresh_memory.py --data DIR [--top 20]

Loads the shop in ``DIR`` (not counted), then derives each cart's latest snapshot as ``cartrisk score`` does
(``build_snapshots(..., latest_only=True)``) while a profiler notes, at every call and return of a function in
``features/``, the new pages the process has touched so far (``_common.fresh_pages``: minor faults, huge pages
counted at 2 MiB). Each function is charged what was touched while it ran (``inclusive``) and that minus what its
callees of ``features/`` touched (``own``); work on other threads is charged to the function that waits for it.
On this VM zeroing new pages costs about a second per GiB (docs/benchmarks.md, session 12), so these are the
places to cut. Run nothing else meanwhile (the huge-page count is the machine's). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import fresh_pages, peak_rss_mib, report

_ROOT = str(Path(__file__).resolve().parents[1] / "features") + "/"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="a shop's tables (e.g. from `cartrisk generate`)")
    parser.add_argument("--top", type=int, default=20, help="how many functions to list (most own memory first)")
    args = parser.parse_args()
    from features.io import load_dataset
    from features.snapshots import build_snapshots

    ds = load_dataset(args.data, quarantine_dir=None)
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    stack: list[list[Any]] = []  # [function, new pages at its call, its callees' new pages]

    def profile(frame: FrameType, event: str, _arg: object) -> None:
        code = frame.f_code
        if event not in ("call", "return") or not code.co_filename.startswith(_ROOT):
            return
        name = f"features/{code.co_filename[len(_ROOT):]}:{code.co_firstlineno} {code.co_name}"
        if event == "call":
            stack.append([name, fresh_pages(), 0])
        elif stack and stack[-1][0] == name:
            _, at_call, callees = stack.pop()
            touched = fresh_pages() - at_call
            inclusive[name] += touched
            own[name] += touched - callees
            if stack:
                stack[-1][2] += touched

    before = fresh_pages()
    t = time.perf_counter()
    sys.setprofile(profile)
    try:
        snaps = build_snapshots(ds, latest_only=True)
    finally:
        sys.setprofile(None)
    seconds = time.perf_counter() - t
    report("fresh_memory", {
        "events": len(ds.events), "snapshots": len(snaps),
        "snapshots_seconds_profiled": round(seconds, 1),
        "fresh_memory_gib": round((fresh_pages() - before) / 2**30, 1),
        "by_function_gib": [{"function": f, "own": round(v / 2**30, 2), "inclusive": round(inclusive[f] / 2**30, 2)}
                            for f, v in own.most_common(args.top)],
        "peak_rss_mib": round(peak_rss_mib()),
    })


if __name__ == "__main__":
    main()
