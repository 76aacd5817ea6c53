"""In-process scoring speed: one cart from request object to answer (features, model, reasons, segments, incentive).

    python benchmarks/bench_score.py [--carts 1000] [--repeat 20]

Trains a quick model on a generated shop, syncs its profiles into the embedded SQLite store, builds real requests
from its carts (known customers and guests), validates them once, then times ``Scorer.score`` per call.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import quick_shop_model, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--carts", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--customers", type=int, default=5000)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="cartrisk-bench-score-"))
    os.environ["CARTRISK_HOME"] = str(home)
    from serving.examples import request_for_snapshot
    from serving.resilient import ResilientProfiles
    from serving.schemas import ScoreRequest
    from serving.scorer import Scorer

    _, shop, snaps, model, store = quick_shop_model(args.customers, str(home))
    scorer = Scorer(model, "bench", profiles=ResilientProfiles.open(store, budget_ms=50))
    rows = snaps.sample(min(args.carts, len(snaps)), random_state=1)
    requests = [ScoreRequest.model_validate(request_for_snapshot(shop, s, int(n)))
                for s, n in zip(rows["session_id"], rows["n_events"], strict=True)]
    timings = []
    for req in requests:
        scorer.score(req)
        for _ in range(args.repeat):
            t0 = time.perf_counter_ns()
            scorer.score(req)
            timings.append(time.perf_counter_ns() - t0)
    us = np.array(timings) / 1000
    report("in_process_score", {
        "carts": len(requests),
        "calls": len(us),
        "known_customer_share": round(float(rows["customer_id"].notna().mean()), 3),
        "profile_store": "sqlite",
        "median_us": round(float(np.median(us)), 1),
        "p99_us": round(float(np.percentile(us, 99)), 1),
    })


if __name__ == "__main__":
    main()
