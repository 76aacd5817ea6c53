"""The same training code against a real MLflow tracking server backed by PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import free_port, need_service

from features.definitions import LABEL
from features.snapshots import model_frame
from training.train import TrainConfig, load_run_model, train_and_log

pytestmark = [pytest.mark.services, pytest.mark.slow]


@pytest.fixture()
def postgres_db() -> Iterator[str]:
    need_service("PostgreSQL", "127.0.0.1", 5432)
    import psycopg

    name = f"cartrisk_mlflow_{uuid.uuid4().hex[:10]}"
    conn = psycopg.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres", autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


@pytest.fixture()
def mlflow_server(postgres_db: str, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", postgres_db,
         "--artifacts-destination", (tmp_path / "artifacts").as_uri(), "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(f"mlflow server did not start: {(tmp_path / 'server.log').read_text()[-2000:]}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_train_against_postgres_backed_server_and_read_back(
    mlflow_server: str, small_snapshots: pd.DataFrame, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    config = TrainConfig(valid_days=5, test_days=5, params={"learning_rate": 0.1, "num_leaves": 15},
                         register=True, contributions_sample=200)
    result = train_and_log(small_snapshots, config, source="postgres test")
    client = MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
    run = client.get_run(result.run_id)
    assert run.data.metrics["test_roc_auc"] == pytest.approx(result.metrics["test_roc_auc"])
    assert run.data.tags["data_hash"] == result.data_hash
    assert result.model_version is not None
    version = client.get_model_version("cartrisk-risk", result.model_version)
    assert version.run_id == result.run_id
    # nothing was written to the embedded store: the workspace has no MLflow database
    assert not (workspace / "mlflow" / "mlflow.db").exists()
    # the model comes back through the server's artifact proxy and predicts the same
    x = model_frame(small_snapshots[small_snapshots[LABEL].notna()].head(200))
    np.testing.assert_allclose(load_run_model(result.run_id).predict_proba(x), result.model.predict_proba(x),
                               atol=1e-12)
