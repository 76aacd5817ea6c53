"""Where MLflow runs go: the embedded SQLite store by default, a tracking server when MLFLOW_TRACKING_URI is set.

The embedded default keeps the database and the artifacts in the workspace (``$CARTRISK_HOME/mlflow``), so no
server is needed. With ``MLFLOW_TRACKING_URI`` (for example ``http://127.0.0.1:5000``, a server backed by
PostgreSQL) the same code logs to that server and the server decides where artifacts go.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from cartrisk.settings import Settings, get_settings

EXPERIMENT = "cartrisk-risk"
RISK_MODEL_NAME = "cartrisk-risk"
CHAMPION = "champion"


def tracking_uri(settings: Settings | None = None) -> str:
    """The tracking URI in force: MLFLOW_TRACKING_URI if set, else the workspace's SQLite store."""
    explicit = os.environ.get("MLFLOW_TRACKING_URI")
    if explicit:
        return explicit
    settings = settings or get_settings()
    settings.mlflow_dir.mkdir(parents=True, exist_ok=True)
    return settings.mlflow_tracking_uri


def configure(experiment: str = EXPERIMENT, settings: Settings | None = None) -> str:
    """Point MLflow at the tracking store and select (creating if needed) the experiment; return its id."""
    import mlflow

    settings = settings or get_settings()
    uri = tracking_uri(settings)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    found = mlflow.get_experiment_by_name(experiment)
    if found is not None:
        mlflow.set_experiment(experiment_id=found.experiment_id)
        return str(found.experiment_id)
    artifact_location = None
    if uri.startswith("sqlite:"):
        artifact_location = (settings.mlflow_dir / "artifacts").resolve().as_uri()
    experiment_id = mlflow.create_experiment(experiment, artifact_location=artifact_location)
    mlflow.set_experiment(experiment_id=experiment_id)
    return str(experiment_id)


def git_commit(repo: Path | None = None) -> str:
    """The current git commit of the code (with '-dirty' when there are uncommitted changes), or 'unknown'."""
    where = repo or Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, check=True, timeout=5
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where, capture_output=True, text=True, check=True, timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")
