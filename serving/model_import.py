"""Bring the registry's serving model into the BentoML model store, so the service never needs MLflow.

``import_model`` resolves an alias (``champion`` by default) of the registered risk model, downloads its booster
and calibrator from the run's artifacts, and saves them as a BentoML model ``cartrisk-risk`` labelled with the
MLflow model version and run id. The service loads the latest ``cartrisk-risk`` from the BentoML store (or the tag
in ``CARTRISK_MODEL_TAG``); ``bentoml build`` packs it into the Bento.

``import_uplift_model`` does the same for the uplift models (``cartrisk-uplift``, registered by ``cartrisk uplift
train --register`` and promoted by ``cartrisk uplift promote``): when a version is behind the alias, the service
chooses incentives by expected profit; when none is, it keeps the rule-based policy.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

BENTO_MODEL_NAME = "cartrisk-risk"
BENTO_UPLIFT_NAME = "cartrisk-uplift"


def bentoml_home_default() -> None:
    """Keep the BentoML store in the workspace unless BENTOML_HOME is set (call before importing bentoml)."""
    import os

    from cartrisk.settings import get_settings

    os.environ.setdefault("BENTOML_HOME", str(get_settings().bentoml_home.resolve()))


def save_bento_model(folder: Path, labels: dict[str, str], metadata: dict[str, Any] | None = None) -> str:
    """Save a risk model folder (booster.txt + calibration.json) into the BentoML store; return its tag."""
    import bentoml

    with bentoml.models.create(BENTO_MODEL_NAME, labels=labels, metadata=metadata or {}) as bento_model:
        for name in ("booster.txt", "calibration.json"):
            shutil.copy2(folder / name, Path(bento_model.path) / name)
    return str(bento_model.tag)


def import_model(alias: str = "champion") -> dict[str, str]:
    """Import the version behind ``alias`` of the registered risk model; return what was imported."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from training.tracking import RISK_MODEL_NAME, configure

    configure()
    client = MlflowClient()
    try:
        version = client.get_model_version_by_alias(RISK_MODEL_NAME, alias)
    except MlflowException as exc:
        raise LookupError(f"model {RISK_MODEL_NAME!r} has no version with alias {alias!r}; run `cartrisk train "
                          f"--register` and `cartrisk promote` first") from exc
    run_id = str(version.run_id)
    folder = Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="risk_model"))
    tags = dict(version.tags or {})
    labels = {
        "mlflow_model": RISK_MODEL_NAME,
        "mlflow_version": str(version.version),
        "mlflow_run_id": run_id,
        "mlflow_alias": alias,
        "feature_set": tags.get("feature_set", ""),
    }
    tag = save_bento_model(folder, labels, metadata={"data_hash": tags.get("data_hash", ""),
                                                      "test_roc_auc": tags.get("test_roc_auc", "")})
    return {"bento_model": tag, **labels}


def import_uplift_model(alias: str = "champion") -> dict[str, str] | None:
    """Import the version behind ``alias`` of the registered uplift model; None when there is none."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from training.tracking import configure
    from training.uplift_track import UPLIFT_MODEL_NAME

    configure()
    client = MlflowClient()
    try:
        version = client.get_model_version_by_alias(UPLIFT_MODEL_NAME, alias)
    except MlflowException:
        return None
    run_id = str(version.run_id)
    folder = Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="uplift_model"))
    tags = dict(version.tags or {})
    labels = {"mlflow_model": UPLIFT_MODEL_NAME, "mlflow_version": str(version.version), "mlflow_run_id": run_id,
              "mlflow_alias": alias, "feature_set": tags.get("feature_set", ""), "arms": tags.get("arms", "")}
    tag = save_bento_uplift_model(folder, labels, {"test_dr_profit_per_cart": tags.get("test_dr_profit_per_cart", "")})
    return {"bento_model": tag, **labels}


def save_bento_uplift_model(folder: Path, labels: dict[str, str], metadata: dict[str, Any] | None = None) -> str:
    """Save an uplift model folder (``UpliftModel.save``) into the BentoML store; return its tag."""
    import bentoml

    with bentoml.models.create(BENTO_UPLIFT_NAME, labels=labels, metadata=metadata or {}) as bento_model:
        for path in folder.iterdir():
            shutil.copy2(path, Path(bento_model.path) / path.name)
    return str(bento_model.tag)


def remove_uplift_models() -> list[str]:
    """Delete the imported uplift models from the BentoML store (no uplift champion any more); return their tags."""
    import bentoml

    try:
        found = bentoml.models.list(BENTO_UPLIFT_NAME)
    except bentoml.exceptions.NotFound:
        return []
    removed = []
    for model in found:
        bentoml.models.delete(model.tag)
        removed.append(str(model.tag))
    return removed
