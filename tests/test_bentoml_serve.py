"""One real `bentoml serve` of the service, called with BentoML's own client."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import QuickModel, UpliftShop, free_port

from serving.examples import example_request

pytestmark = pytest.mark.slow


def test_real_bentoml_serve_answers_with_the_sync_client(quick_model: QuickModel, uplift_shop: UpliftShop,
                                                         tmp_path: Path) -> None:
    """The risk model and the uplift models in the store: the profit policy answers through real HTTP."""
    import bentoml

    from serving.profile_store import sync_profiles

    env = dict(os.environ)
    env.update(BENTOML_HOME=str(tmp_path / "bentoml"), CARTRISK_HOME=str(tmp_path / "home"),
               CARTRISK_PROFILE_STORE=f"sqlite:///{tmp_path / 'profiles.db'}")
    env.pop("CARTRISK_API_KEY", None)
    ds, shop, snaps = quick_model.ds, quick_model.shop, quick_model.snaps
    quick_model.model.save(tmp_path / "model")
    # save into the throwaway store in a child process: BENTOML_HOME is read when bentoml is first imported
    code = ("import sys; from pathlib import Path; from serving.model_import import save_bento_model; "
            f"print(save_bento_model(Path({str(tmp_path / 'model')!r}), {{'mlflow_version': '9'}}))")
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)
    uplift_shop.result.model.save(tmp_path / "uplift")
    code = ("from pathlib import Path; from serving.model_import import save_bento_uplift_model; "
            f"print(save_bento_uplift_model(Path({str(tmp_path / 'uplift')!r}), {{'mlflow_version': '3'}}))")
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)
    sync_profiles(ds, env["CARTRISK_PROFILE_STORE"])
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "bentoml", "serve", "serving.service:CartRisk", "--host",
                             "127.0.0.1", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        body: dict[str, Any] = example_request(shop, snaps)
        deadline = time.monotonic() + 120
        while True:
            try:
                with bentoml.SyncHTTPClient(url, timeout=5) as client:
                    if client.is_ready():
                        answer = client.score(body)
                        break
            except Exception:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail("bentoml serve did not answer: " + (tmp_path / "serve.log").read_text()[-3000:])
                time.sleep(1)
        assert 0 < answer["risk"] < 1 and answer["model_version"] == "9"
        assert answer["incentive"]["code"] and answer["degraded"] is False
        assert answer["incentive"]["policy"] == "profit" and answer["incentive"]["propensity"] > 0
        import urllib.request

        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as resp:
            metrics = resp.read().decode()
        assert "cartrisk_score_seconds" in metrics and "cartrisk_incentives" in metrics
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
        log.close()


def test_bento_builds_with_the_models_and_definitions(uplift_shop: UpliftShop, tmp_path: Path) -> None:
    import lightgbm as lgb
    import numpy as np

    from features.definitions import FEATURE_NAMES
    from training.model import RiskModel

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, len(FEATURE_NAMES)))
    booster = lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(x, (x[:, 0] > 0).astype(float)), 5)
    RiskModel(booster, np.empty(0), np.empty(0)).save(tmp_path / "model")
    env = {**os.environ, "BENTOML_HOME": str(tmp_path / "bentoml")}
    code = ("from pathlib import Path; from serving.model_import import save_bento_model; "
            f"print(save_bento_model(Path({str(tmp_path / 'model')!r}), {{'mlflow_version': '1'}}))")
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)
    uplift_shop.result.model.save(tmp_path / "uplift")
    code = ("from pathlib import Path; from serving.model_import import save_bento_uplift_model; "
            f"print(save_bento_uplift_model(Path({str(tmp_path / 'uplift')!r}), {{'mlflow_version': '3'}}))")
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)
    root = Path(__file__).resolve().parents[1]
    built = subprocess.run([sys.executable, "-m", "bentoml", "build", "--output", "tag"], cwd=root, env=env,
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    tag = built.stdout.strip().splitlines()[-1].removeprefix("__tag__:")
    bento_dir = tmp_path / "bentoml" / "bentos" / tag.split(":")[0] / tag.split(":")[1]
    files = {p.relative_to(bento_dir).as_posix() for p in bento_dir.rglob("*") if p.is_file()}
    assert "src/serving/service.py" in files and "src/features/segments.yaml" in files
    assert "src/serving/incentives.yaml" in files
    import yaml

    # BentoML 1.4 records the model in the Bento's manifest and ships it from the model store with the Bento
    manifest = yaml.safe_load((bento_dir / "bento.yaml").read_text())
    models = [m["tag"] for service in manifest["services"] for m in service["models"]]
    assert any(tag.startswith("cartrisk-risk:") for tag in models), manifest["services"]
    assert any(tag.startswith("cartrisk-uplift:") for tag in models), manifest["services"]
    assert "src/training/uplift_model.py" in files
