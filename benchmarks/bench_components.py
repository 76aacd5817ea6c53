"""Per-call cost of the serving components: profile lookups (SQLite, Redis, through the resilient wrapper) and the
two incentive decisions (rule-based, profit policy), and the uplift models' per-arm probabilities for one cart.

    python benchmarks/bench_components.py [--gets 10000] [--redis redis://127.0.0.1:6379/15]

Generates a small shop, syncs its profiles into a temporary SQLite file and (when ``--redis`` answers) into the
given Redis database (which it empties first and afterwards), then times ``get`` on 10% unknown and 90% known
customers, ``ResilientProfiles.lookup``, ``serving.policy.decide`` and ``serving.uplift_policy.decide_uplift`` on
random carts. Prints one JSON line (medians and p99 in microseconds).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import report


def timed(call: Callable[[Any], object], args: list[Any]) -> dict[str, float]:
    for a in args[:100]:
        call(a)
    ns = []
    for a in args:
        t0 = time.perf_counter_ns()
        call(a)
        ns.append(time.perf_counter_ns() - t0)
    us = np.array(ns) / 1000
    return {"median_us": round(float(np.median(us)), 2), "p99_us": round(float(np.percentile(us, 99)), 2),
            "calls": len(us)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gets", type=int, default=10000)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15",
                        help="Redis database to use (emptied before and after); '' to skip Redis")
    args = parser.parse_args()
    from serving.policy import CartContext, decide, default_catalogue
    from serving.profile_store import open_store, sync_profiles
    from serving.resilient import ResilientProfiles
    from serving.uplift_policy import decide_uplift
    from training.synthetic_shop import generate_shop

    tmp = Path(tempfile.mkdtemp(prefix="cartrisk-bench-components-"))
    shop = generate_shop(customers=5000, days=30, seed=5).dataset
    rng = np.random.default_rng(1)
    known = shop.customers["customer_id"].astype(str).to_numpy()
    ids = [str(c) if rng.random() < 0.9 else f"unknown-{k}" for k, c in enumerate(rng.choice(known, args.gets))]
    results: dict[str, Any] = {}
    stores = {"sqlite": f"sqlite:///{tmp / 'profiles.db'}"}
    if args.redis:
        try:
            import redis

            redis.Redis.from_url(args.redis, socket_timeout=1).flushdb()
            stores["redis"] = args.redis
        except Exception as exc:
            results["redis_skipped"] = f"{type(exc).__name__}: {exc}"
    for name, url in stores.items():
        sync_profiles(shop, url)
        store = open_store(url, timeout_ms=50)
        results[f"{name}_get"] = timed(store.get, ids)
        resilient = ResilientProfiles.open(url, budget_ms=50)
        results[f"{name}_resilient_lookup"] = timed(resilient.lookup, ids)
    if "redis" in stores:
        import redis

        redis.Redis.from_url(args.redis).flushdb()

    cat = default_catalogue()
    segment_pool = ["vip", "recurring", "one_time", "engaged", "unengaged", "big_cart", "cart_abandoner", "guest"]
    carts = []
    for _ in range(args.gets):
        cart = CartContext(cart_value=float(rng.uniform(5, 200)), is_guest=bool(rng.random() < 0.3),
                           shipping_fee=float(rng.choice([0.0, 5.9])), free_shipping_threshold=60.0,
                           account_required=bool(rng.random() < 0.3),
                           seconds_since_prev_event=float(rng.uniform(0, 900)),
                           device=str(rng.choice(["desktop", "mobile"])))
        segs = frozenset(rng.choice(segment_pool, size=2, replace=False).tolist())
        p0 = float(rng.uniform(0.1, 0.9))
        probs = {"none": p0, **{i.code: float(np.clip(p0 + rng.normal(0.02, 0.05), 0, 1)) for i in cat.incentives}}
        carts.append((float(1 - p0), segs, cart, probs))
    results["rule_policy_decide"] = timed(lambda c: decide(c[0], c[1], c[2], cat), carts)
    results["profit_policy_decide"] = timed(lambda c: decide_uplift(c[3], c[2].cart_value, c[1], c[2], cat), carts)
    results["uplift_probabilities_one_row"] = uplift_row_timing(args.gets)
    report("serving_components", results)


def uplift_row_timing(n: int) -> dict[str, float]:
    """Per-arm purchase probabilities plus expected order value for one cart, as the service computes them
    (:class:`serving.uplift_scorer.FastUplift`), with uplift models fitted on a small all-experiment shop."""
    from features.definitions import FEATURE_NAMES
    from features.snapshots import build_snapshots, model_frame
    from serving.policy import default_catalogue
    from serving.uplift_scorer import FastUplift
    from training.synthetic_shop import generate_shop
    from training.uplift_train import fit_and_evaluate

    shop = generate_shop(customers=20_000, days=30, seed=5, experiment_share=1.0)
    assert shop.dataset.experiments is not None
    result = fit_and_evaluate(build_snapshots(shop.dataset), shop.dataset.experiments, default_catalogue())
    fast = FastUplift(result.model, FEATURE_NAMES)
    rows = model_frame(result.table.frame)[list(FEATURE_NAMES)].to_numpy(dtype=np.float64)
    picks = [rows[k] for k in np.random.default_rng(2).integers(0, len(rows), n)]
    out = timed(fast.answer, picks)
    boosters = len(result.model.base) + len(result.model.offsets) + (result.model.value is not None)
    return {**out, "boosters": float(boosters)}


if __name__ == "__main__":
    main()
