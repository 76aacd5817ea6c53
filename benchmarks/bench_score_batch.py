"""Batch scoring end to end: from a shop's event tables on disk to carts.csv, the lists and the report.

    python benchmarks/bench_score_batch.py [--customers 1900000] [--days 60] [--rules-policy] [--one-pass]
        [--no-threads]
    python benchmarks/bench_score_batch.py --data DIR   # a shop already on disk (e.g. from `cartrisk generate`)

Generates a shop of ``--customers`` customers (about 0.8 carts per customer over 60 days, of which about 0.55 are
not bought by the end of the data and get scored), writes its tables as Parquet, trains a quick risk model and
uplift models on a small shop of the same generator, then times what ``cartrisk score`` does on the big one, step
by step: load the tables, derive the snapshots (features), pick each cart's latest snapshot, leave out the carts
already bought, the scorer's one-off setup (trees flattened, compiled code loaded: ``model_setup``),
the model (risk + reasons), segments + policy, the exports with the report (and the measured uplift of the shop's
logged experiments) rendered alongside in a forked child (``exports_and_report``: until both are written). Not
timed, unlike ``cartrisk score``: loading the models from the BentoML store and importing the command line.
Prints one JSON line;
``model_and_policy_carts_per_second`` (all carts through a set-up scorer) is the figure the issue sets at 200,000,
``with_setup_carts_per_second`` the same with the setup counted, and ``end_to_end_seconds`` (load to lists and
report, setup included) the one it sets under 60 s for a million carts. Per step, ``kernel_seconds`` is the time
spent in the kernel (mostly zeroing new pages) and ``fresh_memory_gib`` the new pages touched.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import fresh_pages, peak_rss_mib, report


def models() -> tuple[Any, Any]:
    """A risk model and uplift models fitted on a small all-experiment shop of the same generator."""
    from features.snapshots import build_snapshots
    from serving.policy import default_catalogue
    from training.model import fit_risk_model
    from training.synthetic_shop import generate_shop
    from training.train import prepare
    from training.uplift_train import fit_and_evaluate

    shop = generate_shop(customers=20_000, days=30, seed=5, experiment_share=1.0)
    snaps = build_snapshots(shop.dataset)
    prep = prepare(snaps, 5, 5)
    tx, ty = prep.part(prep.split.train)
    vx, vy = prep.part(prep.split.valid)
    risk = fit_risk_model(tx, ty, vx, vy, {"learning_rate": 0.05}, max_rounds=400)
    assert shop.dataset.experiments is not None
    uplift = fit_and_evaluate(snaps, shop.dataset.experiments, default_catalogue()).model
    return risk, uplift


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_900_000,
                        help="generated shop size (1,900,000: about a million carts to score)")
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--data", type=Path, default=None,
                        help="score the shop in this folder (left in place) instead of generating one")
    parser.add_argument("--rules-policy", action="store_true", help="no uplift models: the rule-based policy")
    parser.add_argument("--one-pass", action="store_true",
                        help="score all carts in one part instead of parts of serving.batch.PART_ROWS (for comparison)")
    parser.add_argument("--repeat-model", type=int, default=0, metavar="N",
                        help="after the run, score the same carts N more times (model and policy only) and report "
                             "each run's carts per second: how much the rate varies from one minute to the next")
    parser.add_argument("--no-threads", action="store_true",
                        help="validation, profile lookups and id factorisation on one thread (for comparison)")
    args = parser.parse_args()
    if args.no_threads:
        import features.profiles
        import features.sessions
        import features.validate

        features.validate.PARALLEL_ROWS = features.sessions.PARALLEL_ROWS = 2**62
        features.profiles.PARALLEL_QUERIES = 2**62
    if args.one_pass:
        import serving.batch

        serving.batch.PART_ROWS = 2**62
    from features.io import load_dataset, reading_pool
    from features.snapshots import build_snapshots
    from serving.batch import BatchScorer, already_bought, latest_carts
    from serving.concurrent import in_child
    from serving.exports import cart_products, write_exports, write_text_atomic
    from serving.policy import default_catalogue
    from serving.report import build_report, experiment_outcomes, render_html
    from training.synthetic_shop import generate_shop, write_shop

    risk, uplift = models()
    tmp = Path(tempfile.mkdtemp(prefix="cartrisk-bench-batch-"))
    data = args.data if args.data is not None else tmp / "data"
    if args.data is None:
        write_shop(generate_shop(args.customers, args.days, seed=9), data)
    times: dict[str, float] = {}
    kernel: dict[str, float] = {}  # of each step's time, the seconds the process spent in the kernel (all threads)
    fresh: dict[str, float] = {}  # the new pages each step touched, GiB
    started = time.perf_counter()
    last_kernel = [resource.getrusage(resource.RUSAGE_SELF).ru_stime]
    last_pages = [fresh_pages()]

    def lap(name: str, t0: float) -> float:
        now = time.perf_counter()
        times[name] = round(now - t0, 2)
        used = resource.getrusage(resource.RUSAGE_SELF).ru_stime
        kernel[name] = round(used - last_kernel[0], 2)
        last_kernel[0] = used
        pages = fresh_pages()
        fresh[name] = round((pages - last_pages[0]) / 2**30, 1)
        last_pages[0] = pages
        return now

    with reading_pool() as pool:
        pass
    t = time.perf_counter()
    ds = load_dataset(data, quarantine_dir=None)
    t = lap("load_tables", t)
    snaps = build_snapshots(ds, latest_only=True)  # as `cartrisk score` does: each cart's latest snapshot
    t = lap("snapshots_features", t)
    carts = latest_carts(snaps)
    t = lap("latest_carts", t)
    # serving.batch.carts_to_score, as `cartrisk score` calls it, in its two steps (timed apart)
    bought = already_bought(carts, ds.events, ds.orders)
    carts = carts[~bought].reset_index(drop=True)
    t = lap("leave_out_bought", t)
    catalogue = default_catalogue()
    scorer = BatchScorer(risk, catalogue=catalogue, uplift=None if args.rules_policy else uplift)
    scorer.score(carts.head(64))  # once per process: the trees flattened, the compiled code loaded
    t = lap("model_setup", t)
    scored = scorer.score(carts)
    t = lap("model_and_policy", t)
    # as `cartrisk score` does: the report rendered in a forked child while the lists are written here
    # with the measured uplift of the logged experiments, when the shop has them (as `cartrisk score` does)
    experiments = ds.experiments
    page = in_child(lambda: render_html(build_report(
        scored, snaps, experiment_outcomes(snaps, experiments) if experiments is not None and len(experiments)
        else None)))
    write_exports(scored, cart_products(ds.events, sessions=scored["cart_id"]), tmp / "out", catalogue)
    t_exports = time.perf_counter()
    times["exports"] = round(t_exports - t, 2)
    kernel["exports"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_stime - last_kernel[0], 2)
    write_text_atomic(tmp / "out" / "report.html", page())
    lap("exports_and_report", t)
    end_to_end = time.perf_counter() - started
    repeats = []
    for _ in range(args.repeat_model):
        t = time.perf_counter()
        scorer.score(carts)
        repeats.append(round(len(carts) / (time.perf_counter() - t)))
    report("batch_score", {
        "customers": len(ds.customers), "events": len(ds.events), "carts": len(carts),
        "carts_already_bought_left_out": int(bought.sum()),
        "policy": "rules" if args.rules_policy else "profit", "threads": not args.no_threads,
        "parts": not args.one_pass,
        "seconds": times,
        "kernel_seconds": kernel,
        "fresh_memory_gib": fresh,
        "arrow_memory_pool_reading": pool,
        "model_and_policy_carts_per_second": round(len(carts) / times["model_and_policy"]),
        "with_setup_carts_per_second": round(len(carts) / (times["model_and_policy"] + times["model_setup"])),
        "end_to_end_seconds": round(end_to_end, 1),
        **({"model_and_policy_repeats_carts_per_second": repeats} if repeats else {}),
        "peak_rss_mib": round(peak_rss_mib()),
    })
    shutil.rmtree(tmp, ignore_errors=True)  # the generated shop's tables (hundreds of MB) and the outputs


if __name__ == "__main__":
    main()
