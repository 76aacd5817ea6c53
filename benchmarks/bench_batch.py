"""Throughput of the batch incentive decisions: the vectorised policies (serving/batch_policy.py) against the
per-cart loops that serving/batch.py runs (serving.policy.decide, serving.uplift_policy.decide_uplift).

    python benchmarks/bench_batch.py [--carts 1000000] [--loop-carts N] [--repeat 3] [--seed 1]

Draws random carts (values, fees, thresholds, account step, guests, pauses, devices, segment flags, risks, the
purchase probability under each experiment arm and the expected order value), then times, on the same carts:

- ``decide_rules_batch`` / ``decide_profit_batch`` from the DataFrame of carts, with and without reasons (and for
  the profit policy with and without exploration, whose draws hash each session id in Python); best of
  ``--repeat`` runs (5);
- the per-cart loops as ``BatchScorer`` runs them: feature records -> ``CartContext.from_features``, segment name
  lists, probability dicts (``prepare``), then one call per cart (``decide``); once, on the first ``--loop-carts``
  carts (default: all).

Prints one JSON line: carts per second of each variant and the number of carts whose answer (code, rule, reason,
expected cost) differs between the two (0 expected).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import report

from features.schema import INCENTIVES
from features.segments import default_rules
from serving.batch_policy import decide_profit_batch, decide_rules_batch
from serving.policy import CartContext, Catalogue, decide, default_catalogue
from serving.uplift_policy import decide_uplift, exploration_draws

T = TypeVar("T")


@dataclass
class Batch:
    """Random carts with everything both policies read."""

    risk: np.ndarray
    flags: np.ndarray
    names: list[str]
    carts: pd.DataFrame
    probabilities: pd.DataFrame
    order_value: np.ndarray
    sessions: list[str]

    def head(self, n: int) -> Batch:
        return Batch(self.risk[:n], self.flags[:n], self.names, self.carts.iloc[:n], self.probabilities.iloc[:n],
                     self.order_value[:n], self.sessions[:n])


def random_batch(n: int, seed: int) -> Batch:
    """``n`` carts roughly shaped like the synthetic shop's latest snapshots."""
    rng = np.random.default_rng(seed)
    names = default_rules().names
    value = np.round(rng.lognormal(3.8, 0.8, n), 2)
    carts = pd.DataFrame({
        "cart_value": value,
        "shipping_fee": np.where(rng.random(n) < 0.5, np.nan, rng.choice([0.0, 4.9, 5.9], n)),
        "free_shipping_threshold": np.where(rng.random(n) < 0.3, np.nan, 60.0),
        "account_required": rng.choice(np.array([np.nan, 0.0, 1.0]), n, p=[0.4, 0.35, 0.25]),
        "is_guest": (rng.random(n) < 0.3).astype(np.float64),
        "funnel_step": rng.integers(1, 6, n).astype(np.float64),
        "seconds_since_prev_event": np.where(rng.random(n) < 0.05, np.nan, rng.exponential(200, n)),
        "device": rng.choice(np.array(["desktop", "mobile", "tablet", "unknown"], dtype=object), n,
                             p=[0.5, 0.4, 0.08, 0.02]),
    })
    flags = rng.random((n, len(names))) < rng.uniform(0.05, 0.4, len(names))
    p0 = rng.uniform(0.05, 0.9, n)
    probabilities = pd.DataFrame({"none": p0, **{code: np.clip(p0 + rng.normal(0.02, 0.05, n), 0.0, 1.0)
                                                 for code in INCENTIVES}})
    return Batch(risk=rng.beta(2, 2, n), flags=flags, names=names, carts=carts, probabilities=probabilities,
                 order_value=value * rng.lognormal(0, 0.2, n), sessions=[f"s{k}" for k in range(n)])


def best_of(repeat: int, call: Callable[[], T]) -> tuple[T, float]:
    """The result of ``call`` and its fastest wall time over ``repeat`` runs (seconds)."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = call()
        best = min(best, time.perf_counter() - t0)
    return cast(T, out), best


def rate(n: int, seconds: float) -> int:
    return round(n / seconds)


def prepare(b: Batch) -> tuple[list[CartContext], list[list[str]], list[dict[str, float]]]:
    """What BatchScorer builds before its per-cart loop: contexts, segment name lists, probability dicts."""
    records = cast(list[dict[str, Any]], b.carts.to_dict("records"))
    contexts = [CartContext.from_features(r) for r in records]
    names = np.array(b.names, dtype=object)
    segments = [names[row].tolist() for row in b.flags]
    probs = cast(list[dict[str, float]], b.probabilities.to_dict("records"))
    return contexts, segments, probs


def differing(got_code: np.ndarray, got_rule: np.ndarray, got_cost: np.ndarray, got_reason: Any,
              want: list[Any]) -> int:
    """How many carts get another code, rule, reason or expected cost (beyond 1e-9) from the vectorised policy."""
    code = np.array([d.code for d in want], dtype=object)
    rule = np.array([d.rule for d in want], dtype=object)
    cost = np.array([d.expected_cost for d in want])
    bad = (got_code != code) | (got_rule != rule) | ~(np.abs(got_cost - cost) <= 1e-9)
    if got_reason is not None:
        reason = np.asarray(got_reason, dtype=object)  # an object array (rules) or Arrow texts (profit)
        bad |= reason != np.array([d.reason for d in want], dtype=object)
    return int(bad.sum())


def rates(n: int, full: float, quiet: float, m: int, t_prep: float, t_loop: float) -> dict[str, Any]:
    """Carts per second of the vectorised decisions (``n`` carts, with and without reasons) and of the per-cart
    loop (``m`` carts, with and without preparing its inputs), and the speed-up."""
    return {
        "vectorised_carts_per_s": rate(n, full),
        "vectorised_no_reasons_carts_per_s": rate(n, quiet),
        "loop_carts_per_s": rate(m, t_prep + t_loop),
        "loop_decide_only_carts_per_s": rate(m, t_loop),
        "speedup": round((t_prep + t_loop) / m / (full / n), 1),
    }


def bench_rules(b: Batch, loop: Batch, cat: Catalogue, repeat: int) -> dict[str, Any]:
    n = len(b.risk)
    _, quiet = best_of(repeat, lambda: decide_rules_batch(b.risk, b.flags, b.names, b.carts, cat, reasons=False))
    vec, full = best_of(repeat, lambda: decide_rules_batch(b.risk, b.flags, b.names, b.carts, cat))
    (contexts, segments, _), t_prep = best_of(1, lambda: prepare(loop))
    want, t_loop = best_of(1, lambda: [decide(float(r), s, c, cat)
                                       for r, s, c in zip(loop.risk, segments, contexts, strict=True)])
    m = len(loop.risk)
    return {
        **rates(n, full, quiet, m, t_prep, t_loop),
        "differing_carts": differing(vec.code[:m], vec.rule[:m], vec.expected_cost[:m],
                                     None if vec.reason is None else vec.reason[:m], want),
    }


def bench_profit(b: Batch, loop: Batch, cat: Catalogue, repeat: int, explore: bool) -> dict[str, Any]:
    n = len(b.risk)
    sessions = b.sessions if explore else None

    def batch(reasons: bool) -> Any:
        return decide_profit_batch(b.probabilities, b.order_value, b.flags, b.names, b.carts, cat, sessions,
                                   reasons=reasons)

    _, quiet = best_of(repeat, lambda: batch(False))
    vec, full = best_of(repeat, lambda: batch(True))
    (contexts, segments, probs), t_prep = best_of(1, lambda: prepare(loop))
    m = len(loop.risk)

    def one(k: int) -> Any:
        draws = exploration_draws(loop.sessions[k]) if explore else None
        return decide_uplift(probs[k], float(loop.order_value[k]), segments[k], contexts[k], cat, None, draws)

    want, t_loop = best_of(1, lambda: [one(k) for k in range(m)])
    return {
        **rates(n, full, quiet, m, t_prep, t_loop),
        "explored_share": round(float(vec.explored.mean()), 4),
        "differing_carts": differing(vec.code[:m], vec.rule[:m], vec.expected_cost[:m],
                                     None if vec.reason is None else vec.reason[:m], want),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--carts", type=int, default=1_000_000, help="carts per batch")
    parser.add_argument("--loop-carts", type=int, default=None, help="carts for the per-cart loops (default: all)")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each vectorised call (the best counts)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    cat = default_catalogue()
    batch = random_batch(args.carts, args.seed)
    loop = batch.head(args.loop_carts or args.carts)
    results: dict[str, Any] = {"carts": args.carts, "loop_carts": len(loop.risk), "catalogue": cat.source}
    results["rules"] = bench_rules(batch, loop, cat, args.repeat)
    results["profit"] = bench_profit(batch, loop, cat, args.repeat, explore=False)
    results["profit_explore"] = bench_profit(batch, loop, cat, args.repeat, explore=True)
    report("batch_policy", results)


if __name__ == "__main__":
    main()
