"""The training table of the uplift models: one row per logged experiment cart.

Each row of the ``experiments`` log (session, decision time, arm given, its propensity) is joined to the cart's
snapshot at the decision: the latest snapshot of the session at or before ``decision_time``, so its features use
only what was known when the incentive was chosen. The outcome is ``bought`` (1 - the abandonment label: bought
in the session or within the label window after it), and ``order_value`` is the value of the cart at its last
snapshot (what the order was worth when bought; known only afterwards, used as a training target only).

Rows that cannot be used are not dropped silently: :class:`ExperimentTable` keeps them in ``skipped`` with the
reason (no snapshot of the session at or before the decision; outcome not known yet because the label window is
still open at the end of the data; an arm outside the catalogue).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.definitions import LABEL

__all__ = ["ExperimentTable", "experiment_table", "final_cart_values"]

OUTCOME = "bought"
ARM = "incentive"


@dataclass(frozen=True)
class ExperimentTable:
    """Experiment carts with their decision-time snapshot and outcome, plus the rows that could not be used."""

    frame: pd.DataFrame
    """Snapshot columns + ``incentive``, ``propensity``, ``decision_time``, ``bought``, ``order_value``; sorted by
    decision time."""
    skipped: pd.DataFrame
    """``session_id``, ``decision_time``, ``incentive``, ``reason`` of every unusable experiment row."""
    arms: tuple[str, ...]
    """The arms present, control (``none``) first."""

    def summary(self) -> dict[str, object]:
        counts = self.frame[ARM].value_counts()
        return {
            "rows": len(self.frame),
            "skipped": len(self.skipped),
            "skipped_by_reason": {str(k): int(v) for k, v in self.skipped["reason"].value_counts().items()},
            "per_arm": {arm: int(counts.get(arm, 0)) for arm in self.arms},
            "bought_rate": float(self.frame[OUTCOME].mean()) if len(self.frame) else float("nan"),
        }


def final_cart_values(snapshots: pd.DataFrame) -> pd.Series:
    """Cart value at the last snapshot of each session (indexed by session id)."""
    last = snapshots.sort_values(["session_id", "snapshot_time", "n_events"], kind="stable")
    return last.groupby("session_id", sort=False, observed=True)["cart_value"].last()


def experiment_table(
    snapshots: pd.DataFrame, experiments: pd.DataFrame, arms: Sequence[str] | None = None
) -> ExperimentTable:
    """Join each experiment row to its decision-time snapshot and outcome (see the module docstring).

    ``arms``: the arms that may appear (default: those present); rows with another arm are skipped.
    """
    exp = experiments[["session_id", "decision_time", ARM, "propensity"]].copy()
    exp["session_id"] = exp["session_id"].astype("string")
    exp[ARM] = exp[ARM].astype("string")
    exp["decision_time"] = pd.to_datetime(exp["decision_time"], utc=True).astype("datetime64[us, UTC]")
    exp["_row"] = np.arange(len(exp))
    skipped: list[pd.DataFrame] = []

    def skip(rows: pd.DataFrame, reason: str) -> None:
        if len(rows):
            part = rows[["session_id", "decision_time", ARM]].copy()
            part["reason"] = reason
            skipped.append(part)

    present = sorted(set(exp[ARM].dropna()))
    known = list(arms) if arms is not None else present
    if "none" not in known:
        raise ValueError("the experiments have no control arm 'none'; uplift needs a control group")
    bad_arm = ~exp[ARM].isin(known).fillna(False).to_numpy(dtype=bool)
    skip(exp[bad_arm], "arm not in the catalogue")
    exp = exp[~bad_arm]

    snaps = snapshots.copy()
    snaps["session_id"] = snaps["session_id"].astype("string")
    snaps["snapshot_time"] = pd.to_datetime(snaps["snapshot_time"], utc=True).astype("datetime64[us, UTC]")
    snaps = snaps.sort_values(["snapshot_time", "n_events"], kind="stable")
    exp = exp.sort_values("decision_time", kind="stable")
    joined = pd.merge_asof(exp, snaps, left_on="decision_time", right_on="snapshot_time", by="session_id",
                           direction="backward", allow_exact_matches=True)
    no_snap = joined["snapshot_id"].isna().to_numpy()
    skip(joined[no_snap], "no snapshot of the session at or before the decision time")
    joined = joined[~no_snap]
    open_window = joined[LABEL].isna().to_numpy()
    skip(joined[open_window], "outcome not known yet (label window still open at the end of the data)")
    joined = joined[~open_window].copy()

    joined[OUTCOME] = 1.0 - joined[LABEL].astype(np.float64)
    finals = final_cart_values(snapshots)
    finals.index = finals.index.astype("string")
    joined["order_value"] = joined["session_id"].map(finals).astype(np.float64)
    joined = joined.sort_values(["decision_time", "_row"], kind="stable").drop(columns="_row").reset_index(drop=True)
    order = ["none", *[a for a in known if a != "none"]]
    columns = ["session_id", "decision_time", ARM, "reason"]
    skipped_frame = pd.concat(skipped, ignore_index=True) if skipped else pd.DataFrame(columns=columns)
    return ExperimentTable(joined, skipped_frame.reset_index(drop=True), tuple(order))
