"""Turn the generator's arrays into the project's tables, with the dtypes :func:`features.io.load_dataset` returns.

String ids are built as Arrow buffers straight from integers (``s00001234``, ``c0000123``, ``o00000042``,
``p00017``), without a Python loop. Times come in as int64 seconds since the Unix epoch (UTC).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.schema import TABLES


def id_strings(prefix: str, numbers: np.ndarray, width: int, valid: np.ndarray | None = None
               ) -> pa.StringArray:
    """``prefix`` + ``numbers`` zero-padded to ``width`` digits, as an Arrow string array (null where not
    ``valid``)."""
    n = len(numbers)
    size = len(prefix) + width
    buf = np.empty((n, size), dtype=np.uint8)
    buf[:, : len(prefix)] = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    rest = np.asarray(numbers, dtype=np.int64).copy()
    if n and (rest.min() < 0 and valid is None):
        raise ValueError("negative id number")
    rest = np.maximum(rest, 0)
    if n and rest.max() >= 10**width:
        raise ValueError(f"id number {rest.max()} does not fit in {width} digits")
    for col in range(size - 1, len(prefix) - 1, -1):
        rest, digit = np.divmod(rest, 10)
        buf[:, col] = digit + 48
    offsets = np.arange(0, (n + 1) * size, size, dtype=np.int32)
    bitmap = None
    null_count = 0
    if valid is not None:
        bitmap = pa.py_buffer(np.packbits(np.asarray(valid, dtype=bool), bitorder="little"))
        null_count = int(n - np.count_nonzero(valid))
    arr = pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(buf.ravel()), bitmap,
                                      null_count)
    return arr


def id_width(count: int, minimum: int) -> int:
    """Digits needed to number ``count`` things, at least ``minimum``."""
    return max(minimum, len(str(max(count, 1))))


def strings(values: pa.Array) -> pd.Series:
    """An Arrow string array as a pandas ``string`` Series (what validation returns)."""
    return pd.Series(pd.array(values, dtype="string"))


def labels(names: Sequence[str], codes: np.ndarray) -> pd.Series:
    """``names[code]`` per row as a ``string`` Series, null where the code is -1."""
    codes = np.asarray(codes, dtype=np.int64)
    index = pa.array(codes, mask=codes < 0)
    return strings(pc.take(pa.array(list(names), pa.string()), index))


def text_categories(names: Sequence[str], codes: np.ndarray) -> pd.Series:
    """``names[code]`` per row as a categorical of ``string`` texts (null where the code is -1), keeping only
    the names used: what validation makes of a ``few_values`` column."""
    values = pd.Categorical.from_codes(np.asarray(codes, dtype=np.int64),
                                       categories=pd.Index(list(names), dtype="string"))
    return pd.Series(values.remove_unused_categories())


def times(seconds: np.ndarray) -> pd.Series:
    """int64 seconds since the epoch as ``datetime64[us, UTC]``."""
    us = np.asarray(seconds, dtype=np.int64) * 1_000_000
    return pd.Series(us.astype("datetime64[us]")).dt.tz_localize("UTC")


def category(names: Sequence[str], codes: np.ndarray) -> pd.Categorical[str]:
    """Codes into ``names`` as a categorical with exactly those categories (-1 = missing)."""
    return pd.Categorical.from_codes(np.asarray(codes, dtype=np.int64), categories=pd.Index(list(names)))


def nullable_int(values: np.ndarray, missing: np.ndarray) -> pd.arrays.IntegerArray:
    return pd.arrays.IntegerArray(np.asarray(values, dtype=np.int64), np.asarray(missing, dtype=bool))


def nullable_bool(codes: np.ndarray) -> pd.arrays.BooleanArray:
    """-1 missing, 0 false, 1 true."""
    codes = np.asarray(codes)
    return pd.arrays.BooleanArray(codes == 1, codes < 0)


def table(columns: dict[str, Any], name: str) -> pd.DataFrame:
    """A DataFrame of table ``name`` from columns given in schema order, without copying them.

    Raises ValueError when the columns or the categories differ from the schema (a bug in the generator).
    """
    schema = TABLES[name]
    if list(columns) != schema.names:
        raise ValueError(f"{name}: columns {list(columns)} differ from the schema {schema.names}")
    frame = pd.DataFrame(columns, copy=False)
    for col in schema.columns:
        if col.kind == "category":
            expected = pd.CategoricalDtype(list(col.allowed or ()))
            if frame[col.name].dtype != expected:
                raise ValueError(f"{name}.{col.name}: categories differ from the schema")
    return frame
