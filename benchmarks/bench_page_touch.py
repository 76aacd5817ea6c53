"""What touching new memory costs on this machine: 4 KiB pages against transparent huge pages, right after the
same amount was freed and after a pause.

    python benchmarks/bench_page_touch.py [--gib 4] [--pause 6]

Each step maps ``--gib`` GiB of anonymous memory, advises huge pages or not (``MADV_HUGEPAGE`` /
``MADV_NOHUGEPAGE``), writes one byte per 4 KiB page, and unmaps it; the steps run in this order: huge pages
(the first touch of the process), huge pages again at once, huge pages after ``--pause`` seconds, small pages,
small pages after the pause. Prints the seconds and kernel seconds of each, per GiB.

Why: loading the tables and deriving the snapshots spend more than half their processor time in the kernel,
giving the process new pages (docs/benchmarks.md). On a VM whose balloon reports free memory back to the host
(``page_reporting``), memory freed and left free for a couple of seconds costs as much to touch again as memory
never touched; numpy asks for huge pages for its large arrays, and those are cheap when reused at once and dear
otherwise. Linux only. Run nothing else meanwhile.
"""

from __future__ import annotations

import argparse
import mmap
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import report


def touch(gib: int, huge: bool) -> dict[str, float]:
    """Map, advise, touch every 4 KiB page once, unmap; seconds and kernel seconds per GiB."""
    import numpy as np

    kernel = resource.getrusage(resource.RUSAGE_SELF).ru_stime
    start = time.perf_counter()
    area = mmap.mmap(-1, gib * 2**30, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    area.madvise(mmap.MADV_HUGEPAGE if huge else mmap.MADV_NOHUGEPAGE)
    view = np.frombuffer(area, dtype=np.uint8)
    view[::4096] = 1
    seconds = time.perf_counter() - start
    kernel = resource.getrusage(resource.RUSAGE_SELF).ru_stime - kernel
    del view
    area.close()
    return {"seconds_per_gib": round(seconds / gib, 3), "kernel_seconds_per_gib": round(kernel / gib, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gib", type=int, default=4, help="memory touched per step, GiB")
    parser.add_argument("--pause", type=float, default=6.0, help="seconds to wait before the 'after a pause' steps")
    args = parser.parse_args()
    steps: dict[str, dict[str, float]] = {}
    for name, huge, pause in (("huge_first", True, False), ("huge_at_once", True, False),
                              ("huge_after_pause", True, True), ("small_at_once", False, False),
                              ("small_after_pause", False, True)):
        if pause:
            time.sleep(args.pause)
        steps[name] = touch(args.gib, huge)
    report("page_touch", {"gib": args.gib, "pause_seconds": args.pause, "steps": steps})


if __name__ == "__main__":
    main()
