"""Training data: the snapshot table, split by time with every session on one side only.

Sessions are assigned to a side by the time of their first snapshot: the latest ``test_days`` are the test window,
the ``valid_days`` before them the validation window (early stopping and calibration), everything earlier is
training data. Snapshots whose label is not known yet (the data ended inside their label window) are left out.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.definitions import LABEL


@dataclass(frozen=True)
class TimeSplit:
    """Row positions of the train, validation and test snapshots, and the window edges (UTC)."""

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    valid_start: pd.Timestamp
    test_start: pd.Timestamp
    end: pd.Timestamp

    def as_dict(self) -> dict[str, object]:
        return {
            "train_rows": len(self.train),
            "valid_rows": len(self.valid),
            "test_rows": len(self.test),
            "valid_start": self.valid_start.isoformat(),
            "test_start": self.test_start.isoformat(),
            "end": self.end.isoformat(),
        }


def labelled(snapshots: pd.DataFrame) -> pd.DataFrame:
    """Only the snapshots whose label is known, index reset."""
    return snapshots[snapshots[LABEL].notna()].reset_index(drop=True)


def time_split(snapshots: pd.DataFrame, valid_days: float = 7.0, test_days: float = 7.0) -> TimeSplit:
    """Split labelled snapshots by the start of their session's first snapshot.

    Raises ValueError when a side would be empty (too little data for the windows asked).
    """
    if snapshots[LABEL].isna().any():
        raise ValueError("time_split needs labelled snapshots; call training.data.labelled() first")
    times = pd.to_datetime(snapshots["snapshot_time"], utc=True)
    session_start = times.groupby(snapshots["session_id"].to_numpy()).transform("min")
    end = times.max()
    test_start = end - pd.Timedelta(days=test_days)
    valid_start = test_start - pd.Timedelta(days=valid_days)
    start = session_start.dt.tz_convert(None).to_numpy()
    t_test = test_start.tz_convert(None).to_datetime64()
    t_valid = valid_start.tz_convert(None).to_datetime64()
    test = np.flatnonzero(start >= t_test)
    valid = np.flatnonzero((start >= t_valid) & (start < t_test))
    train = np.flatnonzero(start < t_valid)
    for name, rows in (("train", train), ("validation", valid), ("test", test)):
        if len(rows) == 0:
            raise ValueError(
                f"the {name} window is empty: data from {times.min()} to {end}, validation {valid_days} "
                f"days and test {test_days} days; use fewer days or more data"
            )
    return TimeSplit(train, valid, test, valid_start, test_start, end)


def data_hash(frame: pd.DataFrame) -> str:
    """A SHA-256 of a table's content and column names (row order matters), to record what a model saw."""
    digest = hashlib.sha256()
    digest.update("\x1f".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()
