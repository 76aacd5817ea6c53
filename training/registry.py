"""The model registry: one registered name, the serving model behind the alias ``champion``.

:func:`promote_version` is the gate every model goes through: it scores a candidate version and the current
champion on the same, newest test window and moves the alias only when the candidate is better by the configured
margin and its calibration is within the limit (:func:`decide`). The comparison is recorded as tags on the
candidate version. Aliases only; the deprecated stages are unused. :func:`compare_and_promote` applies it to the
risk model (ROC-AUC); :mod:`training.uplift_track` to the uplift models (profit of their policy).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.definitions import LABEL
from training.evaluate import classification_metrics
from training.model import RiskModel
from training.tracking import CHAMPION, RISK_MODEL_NAME
from training.train import load_run_model, prepare


@dataclass
class Promotion:
    """What :func:`compare_and_promote` decided, and the numbers behind it."""

    candidate: str
    champion: str | None
    promoted: bool
    forced: bool
    reason: str
    window: dict[str, str]
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "candidate": self.candidate,
            "champion_before": self.champion,
            "promoted": self.promoted,
            "forced": self.forced,
            "reason": self.reason,
            "window": self.window,
            "metrics": self.metrics,
        }


def decide(
    candidate: dict[str, float], champion: dict[str, float] | None, min_gain: float, max_ece: float,
    metric: str = "roc_auc", label: str = "ROC-AUC",
) -> tuple[bool, str]:
    """The promotion rule, as a pure function of the two sets of test metrics: never with a calibration error
    above ``max_ece``; otherwise when there is no champion, or when ``metric`` is better by ``min_gain``."""
    if candidate["ece"] > max_ece:
        return False, f"candidate calibration error {candidate['ece']:.4f} is above the limit {max_ece:.4f}"
    if champion is None:
        return True, "there is no champion yet"
    gain = candidate[metric] - champion[metric]
    if gain >= min_gain:
        return True, f"{label} better by {gain:+.4f} (needed {min_gain:+.4f})"
    return False, f"{label} better by only {gain:+.4f} (needed {min_gain:+.4f})"


def newest_window(snapshots: pd.DataFrame, test_days: float, valid_days: float) -> pd.DataFrame:
    """The labelled snapshots of the newest test window (the one a new training run would hold out)."""
    prep = prepare(snapshots, valid_days, test_days)
    return prep.frame.iloc[prep.split.test]


def _metrics(model: RiskModel, window: pd.DataFrame) -> dict[str, float]:
    y = window[LABEL].to_numpy(dtype=np.float64)
    m = classification_metrics(y, model.predict_proba(window), threshold=0.5)
    return {k: float(m[k]) for k in ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "top_decile_lift", "n")}


Evaluate = Callable[[str], dict[str, float]]
"""Test metrics of the model logged by a run (given its run id) on the comparison window."""
Gate = Callable[[dict[str, float], dict[str, float] | None], tuple[bool, str]]
"""The promotion rule: (candidate metrics, champion metrics or None) -> (promote?, why)."""


def promote_version(name: str, version: str | None, force: bool, window: dict[str, str], evaluate: Evaluate,
                    gate: Gate, hint: str) -> Promotion:
    """The registry side of every promotion: find the candidate (default: the newest version) and the champion,
    evaluate both with ``evaluate``, apply ``gate`` (or ``force``), move the alias, record the comparison as
    tags on the candidate version. ``hint`` tells how to register a first version."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    versions = client.search_model_versions(f"name = '{name}'")
    if not versions:
        raise LookupError(f"no registered versions of model {name!r}; {hint}")
    if version is None:
        version = str(max(int(v.version) for v in versions))
    by_number = {str(v.version): v for v in versions}
    if version not in by_number:
        raise LookupError(f"model {name!r} has no version {version}; it has {sorted(by_number, key=int)}")
    try:
        champion: str | None = str(client.get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException:
        champion = None
    cand = evaluate(str(by_number[version].run_id))
    metrics = {f"candidate_v{version}": cand}
    champ = None
    if champion is not None and champion != version:
        champ = evaluate(str(by_number[champion].run_id))
        metrics[f"champion_v{champion}"] = champ
    if champion == version:
        promoted, reason = False, f"version {version} is already the champion"
    else:
        promoted, reason = gate(cand, champ)
    forced = False
    if force and not promoted and champion != version:
        promoted, forced, reason = True, True, f"FORCED despite: {reason}"
    if promoted:
        client.set_registered_model_alias(name, CHAMPION, version)
    tags = {
        "promotion_decision": "promoted" if promoted else "kept_champion",
        "promotion_forced": str(forced).lower(),
        "promotion_reason": reason,
        "promotion_compared_with": champion or "none",
        "promotion_window": json.dumps(window),
        "promotion_metrics": json.dumps(metrics),
    }
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value[:5000])
    return Promotion(version, champion, promoted, forced, reason, window, metrics)


def compare_and_promote(
    snapshots: pd.DataFrame,
    version: str | None = None,
    force: bool = False,
    min_auc_gain: float = 0.002,
    max_ece: float = 0.05,
    test_days: float = 7.0,
    valid_days: float = 7.0,
    name: str = RISK_MODEL_NAME,
) -> Promotion:
    """Compare a registered risk model version (default: the newest) with the champion on the newest test window
    and move the alias if its ROC-AUC is better by ``min_auc_gain`` and its calibration error within ``max_ece``."""
    window = newest_window(snapshots, test_days, valid_days)
    times = pd.to_datetime(window["snapshot_time"], utc=True)
    span = {"from": times.min().isoformat(), "to": times.max().isoformat(), "snapshots": str(len(window))}
    return promote_version(
        name, version, force, span,
        evaluate=lambda run_id: _metrics(load_run_model(run_id), window),
        gate=lambda cand, champ: decide(cand, champ, min_auc_gain, max_ece),
        hint="run `cartrisk train --register` first",
    )
