"""Single-cart feature speed: one live cart (events so far + stored profile) to its feature values.

    python benchmarks/bench_online.py [--carts 2000] [--repeat 20]

Takes real snapshots of a generated shop, prepares each one's events and profile the way the service receives
them, then times :func:`features.online.cart_features` per cart (median and p99 over all calls).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _common import report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--carts", type=int, default=2000, help="snapshots to time")
    parser.add_argument("--repeat", type=int, default=20, help="calls per snapshot")
    parser.add_argument("--customers", type=int, default=3000, help="size of the generated shop")
    args = parser.parse_args()

    from test_online_parity import _live_events

    from features.online import cart_features
    from features.profiles import PROFILE_FIELDS, compute_profiles, prepare_shop, shop_aov
    from features.sessions import session_bounds
    from features.snapshots import snapshots_from_shop
    from training.synthetic_shop import generate_shop

    shop = prepare_shop(generate_shop(customers=args.customers, days=30, seed=11).dataset)
    snaps = snapshots_from_shop(shop).iloc[: args.carts]
    code_of = {sid: i for i, sid in enumerate(shop.ordered.session_ids)}
    codes = np.array([code_of[s] for s in snaps["session_id"]])
    starts = shop.sessions["start_us"].to_numpy()[codes]
    profiles = compute_profiles(shop, shop.session_customer[codes], starts)
    aov = shop_aov(shop, starts)
    firsts, _ = session_bounds(shop.ordered.session_code)
    cases = []
    for i, (n, code) in enumerate(zip(snaps["n_events"].astype(int), codes, strict=True)):
        lo = firsts[code]
        events = _live_events(shop.ordered.events.iloc[lo : lo + n], shop.ordered.time_us[lo : lo + n])
        guest = bool(shop.session_customer[code] < 0)
        prof = None if guest else {f: profiles[f].iloc[i] for f in PROFILE_FIELDS}
        cases.append((events, prof, guest, float(aov[i])))
    timings = []
    for events, prof, guest, shop_value in cases:
        for _ in range(args.repeat):
            t0 = time.perf_counter_ns()
            cart_features(events, prof, is_guest=guest, shop_aov=shop_value)
            timings.append(time.perf_counter_ns() - t0)
    us = np.array(timings) / 1000
    report(
        "online_cart_features",
        {
            "carts": len(cases),
            "calls": len(us),
            "mean_events_per_cart": round(float(np.mean([len(c[0]) for c in cases])), 1),
            "median_us": round(float(np.median(us)), 1),
            "p99_us": round(float(np.percentile(us, 99)), 1),
        },
    )


if __name__ == "__main__":
    main()
