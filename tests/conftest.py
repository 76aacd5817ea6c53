"""Shared fixtures: a small generated shop and an isolated workspace per test module."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest


def services_required() -> bool:
    """In CI the real services must be there: a test that needs them fails instead of skipping."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def need_service(name: str, host: str, port: int) -> None:
    if port_open(host, port):
        return
    message = f"{name} is not reachable on {host}:{port}"
    if services_required():
        pytest.fail(message + " (CI must start it: see .ci/run)")
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def small_shop_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated shop (2,500 customers over 40 days) written once per test session."""
    from training.synthetic_shop import generate_shop, write_shop

    folder = tmp_path_factory.mktemp("shop")
    write_shop(generate_shop(customers=2500, days=40, seed=11), folder)
    return folder


@pytest.fixture(scope="session")
def small_snapshots(small_shop_dir: Path) -> pd.DataFrame:
    from features.io import load_dataset
    from features.snapshots import build_snapshots

    return build_snapshots(load_dataset(small_shop_dir, quarantine_dir=None))


@pytest.fixture()
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty CARTRISK_HOME with the embedded MLflow store; no tracking server."""
    monkeypatch.setenv("CARTRISK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    yield tmp_path / "home"


@dataclass(frozen=True)
class QuickModel:
    """The small shop loaded, prepared and snapshotted, and a quickly trained risk model on it."""

    ds: Any
    shop: Any
    snaps: pd.DataFrame
    model: Any


@pytest.fixture(scope="session")
def quick_model(small_shop_dir: Path) -> QuickModel:
    from features.io import load_dataset
    from features.profiles import prepare_shop
    from features.snapshots import snapshots_from_shop
    from training.model import fit_risk_model
    from training.train import prepare

    ds = load_dataset(small_shop_dir, quarantine_dir=None)
    shop = prepare_shop(ds)
    snaps = snapshots_from_shop(shop)
    prep = prepare(snaps, 5, 5)
    tx, ty = prep.part(prep.split.train)
    vx, vy = prep.part(prep.split.valid)
    model = fit_risk_model(tx, ty, vx, vy, {"learning_rate": 0.1, "num_leaves": 15}, max_rounds=200)
    return QuickModel(ds, shop, snaps, model)


@dataclass(frozen=True)
class UpliftShop:
    """A generated shop that tested incentives on every cart, written to disk, with its uplift models fitted."""

    folder: Path
    snaps: pd.DataFrame
    experiments: pd.DataFrame
    truth: pd.DataFrame
    result: Any
    """:class:`training.uplift_train.UpliftResult` of the default configuration."""


@pytest.fixture(scope="session")
def uplift_shop(tmp_path_factory: pytest.TempPathFactory) -> UpliftShop:
    """20,000 customers over 30 days, every cart in the experiment (about 8,000 experiment carts)."""
    from features.io import load_dataset
    from features.snapshots import build_snapshots
    from serving.policy import default_catalogue
    from training.synthetic_shop import generate_shop, write_shop
    from training.uplift_train import UpliftConfig, fit_and_evaluate

    folder = tmp_path_factory.mktemp("uplift_shop")
    shop = generate_shop(customers=20_000, days=30, seed=5, experiment_share=1.0)
    write_shop(shop, folder)
    ds = load_dataset(folder, quarantine_dir=None)
    snaps = build_snapshots(ds)
    assert ds.experiments is not None
    result = fit_and_evaluate(snaps, ds.experiments, default_catalogue(), shop.experiments, UpliftConfig())
    return UpliftShop(folder, snaps, ds.experiments, shop.experiments, result)
