"""Shared helpers of the benchmark scripts: machine description, peak and fresh memory, result lines."""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
from datetime import UTC, datetime
from typing import Any

import pandas as pd


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fresh_pages() -> int:
    """Bytes of new pages this process has faulted in so far: its minor faults, each a 4 KiB page except the
    transparent huge pages (2 MiB each; the machine's count, from /proc/vmstat: run nothing else). 0 where the
    kernel does not say (not Linux)."""
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    try:
        with open("/proc/vmstat") as f:
            huge = next((int(line.split()[1]) for line in f if line.startswith("thp_fault_alloc ")), 0)
    except OSError:
        return 0
    return (faults - huge) * 4096 + huge * 2**21


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_gib, 1),
        "python": sys.version.split()[0],
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
    }


def report(name: str, results: dict[str, Any]) -> None:
    """Print one JSON line: the benchmark's name, its figures and the machine."""
    print(json.dumps({"benchmark": name, **results, "machine": machine()}))


def quick_shop_model(customers: int, folder: str) -> tuple[Any, Any, pd.DataFrame, Any, str]:
    """The serving benchmarks' setup: a generated shop (40 days, seed 5), its snapshots, a quickly trained risk
    model and the shop's profiles synced into SQLite under ``folder``.

    Returns (synthetic shop, prepared shop, snapshots, model, profile store URL).
    """
    from features.profiles import prepare_shop
    from features.snapshots import snapshots_from_shop
    from serving.profile_store import sync_profiles
    from training.model import fit_risk_model
    from training.synthetic_shop import generate_shop
    from training.train import prepare

    shop_data = generate_shop(customers=customers, days=40, seed=5)
    shop = prepare_shop(shop_data.dataset)
    snaps = snapshots_from_shop(shop)
    prep = prepare(snaps, 5, 5)
    tx, ty = prep.part(prep.split.train)
    vx, vy = prep.part(prep.split.valid)
    model = fit_risk_model(tx, ty, vx, vy)
    store = f"sqlite:///{folder}/profiles.db"
    sync_profiles(shop_data.dataset, store)
    return shop_data, shop, snaps, model, store
