"""One settings object for the whole project.

Every value can be set with an environment variable carrying the ``CARTRISK_`` prefix, for example
``CARTRISK_HOME=/data/cartrisk`` or ``CARTRISK_LABEL_WINDOW_HOURS=48``. Nothing is read at import time:
call :func:`get_settings` where a value is needed.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Project settings; the environment prefix is ``CARTRISK_``."""

    model_config = SettingsConfigDict(env_prefix="CARTRISK_", extra="ignore")

    home: Path = Field(
        default=Path(".cartrisk"),
        description="Workspace folder holding all local state: data, MLflow store, profiles, models.",
    )
    label_window_hours: float = Field(
        default=24.0,
        gt=0,
        description="A cart counts as recovered (not abandoned) if its customer orders within this "
        "many hours after the session ends.",
    )
    max_bad_row_share: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="Loading fails when more than this share of a table's rows is bad; below it, "
        "bad rows are quarantined with their reason.",
    )
    seed: int = Field(default=7, description="Default random seed for generation and training.")
    promote_min_auc_gain: float = Field(
        default=0.002,
        description="cartrisk promote moves the champion alias only when the candidate's ROC-AUC on the newest "
        "test window beats the champion's by at least this much.",
    )
    promote_max_ece: float = Field(
        default=0.05,
        gt=0,
        description="cartrisk promote never promotes a candidate whose expected calibration error on the newest "
        "test window is above this.",
    )
    promote_min_profit_gain: float = Field(
        default=0.0,
        description="cartrisk uplift promote moves the uplift champion alias only when the candidate's policy "
        "earns at least this much more per experiment cart (doubly robust estimate, shop currency) on the newest "
        "test window than the champion's.",
    )
    test_days: float = Field(default=7.0, gt=0, description="Days in the newest (test) window.")
    valid_days: float = Field(default=7.0, gt=0, description="Days in the validation window before it.")

    @property
    def data_dir(self) -> Path:
        """Default folder for the generated shop."""
        return self.home / "data"

    @property
    def mlflow_dir(self) -> Path:
        return self.home / "mlflow"

    @property
    def mlflow_tracking_uri(self) -> str:
        return f"sqlite:///{(self.mlflow_dir / 'mlflow.db').resolve()}"

    @property
    def profile_store_uri(self) -> str:
        return f"sqlite:///{(self.home / 'profiles.db').resolve()}"

    @property
    def bentoml_home(self) -> Path:
        return self.home / "bentoml"


def get_settings() -> Settings:
    """Read the settings from the environment now."""
    return Settings()
