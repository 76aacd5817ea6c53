"""Loading a shop's tables with Arrow's default memory pool (mimalloc) against jemalloc, which
``features.io.reading_pool`` uses while reading.

    python benchmarks/bench_load_pool.py --data DIR [--pairs 3]

Each run is a fresh process that calls ``features.io.load_dataset`` on DIR (read and validate every table) and
reports its wall seconds and the seconds its threads spent in the kernel; the two pools alternate, ``--pairs``
times, since this VM's speed drifts from one minute to the next. The mimalloc runs set
``ARROW_DEFAULT_MEMORY_POOL=mimalloc``, which ``reading_pool`` leaves alone. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import report

_ONE_RUN = """
import json, resource, sys, time
from pathlib import Path
from features.io import load_dataset, reading_pool
with reading_pool() as pool:
    pass
t = time.perf_counter()
ds = load_dataset(Path(sys.argv[1]), quarantine_dir=None)
seconds = time.perf_counter() - t
use = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"pool": pool, "seconds": round(seconds, 2), "kernel_seconds": round(use.ru_stime, 2),
                  "events": len(ds.events), "peak_rss_mib": use.ru_maxrss // 1024}))
"""


def one_run(data: Path, pool: str | None) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if pool is not None:
        env["ARROW_DEFAULT_MEMORY_POOL"] = pool
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", _ONE_RUN, str(data)], env=env, cwd=root, check=True,
                          capture_output=True, text=True)
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="a shop's folder (e.g. from `cartrisk generate`)")
    parser.add_argument("--pairs", type=int, default=3, help="runs of each pool, alternating")
    args = parser.parse_args()
    runs = []
    for _ in range(args.pairs):
        runs.append(one_run(args.data, "mimalloc"))
        runs.append(one_run(args.data, None))  # reading_pool: jemalloc
    report("load_pool", {"events": runs[0]["events"], "runs": runs})


if __name__ == "__main__":
    main()
