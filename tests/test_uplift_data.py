"""The uplift training table: each experiment joined to the snapshot known at its decision, nothing later."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.uplift_data import experiment_table

T0 = pd.Timestamp("2026-02-01 10:00", tz="UTC")


def snap(session: str, minutes: float, n_events: int, cart_value: float, abandoned: float | None) -> dict[str, object]:
    return {"snapshot_id": f"{session}-{n_events}", "session_id": session,
            "snapshot_time": T0 + pd.Timedelta(minutes=minutes), "n_events": n_events, "cart_value": cart_value,
            "abandoned": np.nan if abandoned is None else abandoned}


def exp(session: str, minutes: float, arm: str, propensity: float = 0.125) -> dict[str, object]:
    return {"session_id": session, "decision_time": T0 + pd.Timedelta(minutes=minutes), "incentive": arm,
            "propensity": propensity}


@pytest.fixture()
def table() -> tuple[pd.DataFrame, pd.DataFrame]:
    snapshots = pd.DataFrame([
        snap("s1", 0, 1, 20.0, 0.0), snap("s1", 5, 2, 45.0, 0.0), snap("s1", 9, 3, 70.0, 0.0),
        snap("s2", 3, 1, 15.0, 1.0),
        snap("s3", 0, 1, 30.0, None),
        snap("s4", 0, 1, 10.0, 1.0),
        snap("s5", 0, 1, 12.0, 1.0),
    ])
    experiments = pd.DataFrame([
        exp("s1", 5, "discount_10"),  # decided at the second snapshot exactly
        exp("s2", 1, "gift"),  # decided before the session's first snapshot
        exp("s3", 0, "none"),  # outcome unknown (label window still open)
        exp("s4", 0, "bogus_arm"),
        exp("s5", 0.5, "none"),
    ])
    return snapshots, experiments


def test_each_experiment_gets_the_snapshot_known_at_its_decision_and_nothing_later(
    table: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    snapshots, experiments = table
    out = experiment_table(snapshots, experiments, arms=["none", "discount_10", "gift"])
    rows = out.frame.set_index("session_id")
    assert list(out.frame["session_id"]) == ["s5", "s1"]  # sorted by decision time
    # s1: decided at minute 5 -> the snapshot of minute 5 (2 events, cart 45), not the later one (cart 70)
    assert rows.loc["s1", "snapshot_id"] == "s1-2" and rows.loc["s1", "cart_value"] == 45.0
    assert rows.loc["s1", "incentive"] == "discount_10" and rows.loc["s1", "propensity"] == 0.125
    # outcome and order value: bought = 1 - abandoned; the order is worth the cart's last value
    assert rows.loc["s1", "bought"] == 1.0 and rows.loc["s1", "order_value"] == 70.0
    assert rows.loc["s5", "bought"] == 0.0
    assert out.arms == ("none", "discount_10", "gift")


def test_unusable_experiments_are_kept_with_their_reason_not_dropped(
    table: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    snapshots, experiments = table
    out = experiment_table(snapshots, experiments, arms=["none", "discount_10", "gift"])
    reasons = dict(zip(out.skipped["session_id"], out.skipped["reason"], strict=True))
    assert reasons == {
        "s2": "no snapshot of the session at or before the decision time",
        "s3": "outcome not known yet (label window still open at the end of the data)",
        "s4": "arm not in the catalogue",
    }
    assert len(out.frame) + len(out.skipped) == len(experiments)
    summary = out.summary()
    assert summary["rows"] == 2 and summary["skipped"] == 3
    assert summary["per_arm"] == {"none": 1, "discount_10": 1, "gift": 0}


def test_without_a_control_arm_there_is_no_uplift_to_learn(table: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    snapshots, experiments = table
    with pytest.raises(ValueError, match="no control arm 'none'"):
        experiment_table(snapshots, experiments, arms=["discount_10", "gift"])


def test_on_a_generated_shop_every_experiment_is_used_or_explained(small_shop_dir: object,
                                                                    small_snapshots: pd.DataFrame) -> None:
    experiments = pd.read_parquet(f"{small_shop_dir}/experiments.parquet")
    out = experiment_table(small_snapshots, experiments)
    assert len(out.frame) + len(out.skipped) == len(experiments)
    assert len(out.frame) > 0.9 * len(experiments)
    # no leakage: every joined snapshot is at or before its decision
    assert (pd.to_datetime(out.frame["snapshot_time"], utc=True)
            <= pd.to_datetime(out.frame["decision_time"], utc=True)).all()
