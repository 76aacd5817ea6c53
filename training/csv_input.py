"""Reading a public CSV file as text, for the benchmark readers that validate every value themselves."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

__all__ = ["read_text_csv"]


def read_text_csv(path: Path, error: type[Exception]) -> pd.DataFrame:
    """Every cell as a string (nothing parsed, nothing turned into NaN), column names stripped; ``error`` (with the
    file in its message) when the file is missing or is not a readable CSV file."""
    if not path.is_file():
        raise error(f"{path}: no such file")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, csv.Error) as exc:
        raise error(f"{path}: not a readable CSV file ({exc})") from exc
    raw.columns = [str(c).strip() for c in raw.columns]
    return raw
