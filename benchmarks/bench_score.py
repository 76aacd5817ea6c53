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

from _common import report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--carts", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--customers", type=int, default=5000)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="cartrisk-bench-score-"))
    os.environ["CARTRISK_HOME"] = str(home)
    from features.profiles import prepare_shop
    from features.snapshots import snapshots_from_shop
    from serving.examples import request_for_snapshot
    from serving.profile_store import sync_profiles
    from serving.resilient import ResilientProfiles
    from serving.schemas import ScoreRequest
    from serving.scorer import Scorer
    from training.model import fit_risk_model
    from training.synthetic_shop import generate_shop
    from training.train import prepare

    shop_data = generate_shop(customers=args.customers, days=40, seed=5)
    shop = prepare_shop(shop_data.dataset)
    snaps = snapshots_from_shop(shop)
    prep = prepare(snaps, 5, 5)
    tx, ty = prep.part(prep.split.train)
    vx, vy = prep.part(prep.split.valid)
    model = fit_risk_model(tx, ty, vx, vy)
    store = f"sqlite:///{home / 'profiles.db'}"
    sync_profiles(shop_data.dataset, store)
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
