"""Read and write the shop's tables (Parquet or CSV), validating on load and quarantining bad rows.

A data folder holds one file per table: ``events.parquet`` (or ``events.csv``), ``orders``, ``email_events``,
``customers`` and, optionally, ``experiments``. Loading writes each table's bad rows, with the reason, to
``<quarantine_dir>/<table>.csv`` and returns a report per table.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.schema import REQUIRED_TABLES, TABLES, TableSchema
from features.validate import ValidationReport, validate


@dataclass
class Dataset:
    """The validated tables of one shop, and what loading them found."""

    events: pd.DataFrame
    orders: pd.DataFrame
    email_events: pd.DataFrame
    customers: pd.DataFrame
    experiments: pd.DataFrame | None = None
    reports: list[ValidationReport] = field(default_factory=list)

    def table(self, name: str) -> pd.DataFrame | None:
        value: pd.DataFrame | None = getattr(self, name)
        return value


def table_path(data_dir: Path, name: str) -> Path | None:
    """The file holding table ``name`` in ``data_dir`` (Parquet preferred), or None."""
    for suffix in (".parquet", ".csv"):
        path = data_dir / f"{name}{suffix}"
        if path.exists():
            return path
    return None


class UnreadableFile(ValueError):
    """A table file that cannot be read at all (not Parquet, truncated, not CSV text)."""


@contextlib.contextmanager
def reading_pool() -> Iterator[str]:
    """While reading a table: Arrow's jemalloc pool as the default one (unless ``ARROW_DEFAULT_MEMORY_POOL`` names
    one, or this pyarrow has no jemalloc); the previous default is restored after. Yields the backend in use.

    Loading the batch benchmark's shop (65 million events), most of the time went to the kernel zeroing fresh pages
    for the pool: with Arrow's default (mimalloc) 20-28 s, 18-33 s of it in the kernel; with jemalloc 14-15 s, 7-9 s
    (``benchmarks/bench_load_pool.py``, docs/benchmarks.md). Only while reading: jemalloc reuses freed pages, and
    after ``serving.concurrent.in_child`` forks those are copied on write (the lists written beside the forked
    report took 7-10 s instead of 5-6 s).
    """
    previous = pa.default_memory_pool()
    jemalloc = None
    if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
        with contextlib.suppress(NotImplementedError):  # pyarrow built without jemalloc (ArrowNotImplementedError)
            jemalloc = pa.jemalloc_memory_pool()
    if jemalloc is None:
        yield str(previous.backend_name)
        return
    pa.set_memory_pool(jemalloc)
    try:
        yield "jemalloc"
    finally:
        pa.set_memory_pool(previous)


def _text_columns(path: Path, names: Collection[str]) -> list[str]:
    """Those of ``names`` that the Parquet file at ``path`` holds as text (read from its footer)."""
    if not names:
        return []
    schema = pq.read_schema(path)
    return [f.name for f in schema if f.name in names and (pa.types.is_string(f.type) or pa.types.is_large_string(
        f.type))]


def read_raw(path: Path, categories: Collection[str] = ()) -> pd.DataFrame:
    """Read a CSV (every value as text, so validation sees what the file says) or a Parquet file; a file that
    cannot be read raises :class:`UnreadableFile` saying which file and why.

    Text columns of a Parquet file named in ``categories`` come back as categoricals (the schema's
    ``few_values``): each distinct text held once, not once per row. Reading the batch benchmark's 65 million
    events touched 9.8 GiB of new memory instead of 10.7 GiB (``benchmarks/bench_load_steps.py``, with and
    without ``--all-text``), and validation needs no text pass over those columns."""
    if path.suffix not in (".parquet", ".csv"):
        raise UnreadableFile(f"{path}: unsupported file type {path.suffix!r}; use .parquet or .csv")
    try:
        if path.suffix == ".parquet":  # columns kept apart (not joined into one block per type: a copy)
            with reading_pool():
                return pd.read_parquet(path, engine="pyarrow", read_dictionary=_text_columns(path, categories),
                                       to_pandas_kwargs={"split_blocks": True, "self_destruct": True})
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except (pa.ArrowException, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        kind = "a Parquet" if path.suffix == ".parquet" else "a CSV"
        raise UnreadableFile(f"{path}: cannot be read as {kind} file ({type(exc).__name__}: {exc})") from exc


def empty_table(schema: TableSchema) -> pd.DataFrame:
    """An empty table with the right columns and types."""
    return validate(pd.DataFrame({c: pd.Series([], dtype="string") for c in schema.names}),
                    schema).good


def write_atomic_parquet(df: pd.DataFrame, path: Path) -> None:
    """Write a Parquet file so that readers never see a half-written one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_atomic_csv(df: pd.DataFrame, path: Path) -> None:
    """Write a CSV file atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        df.to_csv(tmp, index=False)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_table(
    path: Path, schema: TableSchema, quarantine_dir: Path | None, max_bad_share: float
) -> tuple[pd.DataFrame, ValidationReport]:
    """Load and validate one table; write its bad rows to ``quarantine_dir/<table>.csv``."""
    raw = read_raw(path, categories=[c.name for c in schema.columns if c.few_values])
    result = validate(raw, schema, source=str(path), max_bad_share=max_bad_share)
    if quarantine_dir is not None and len(result.bad):
        write_atomic_csv(result.bad, quarantine_dir / f"{schema.name}.csv")
    return result.good, result.report


def load_dataset(
    data_dir: Path, quarantine_dir: Path | None = None, max_bad_share: float = 0.05
) -> Dataset:
    """Load every table of the shop in ``data_dir``.

    The four required tables must exist; ``experiments`` is optional. Bad rows go to ``quarantine_dir``
    (default ``data_dir/quarantine`` when writable) and are counted in the reports.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"data folder {data_dir} does not exist")
    if quarantine_dir is None and os.access(data_dir, os.W_OK):
        quarantine_dir = data_dir / "quarantine"
    tables: dict[str, pd.DataFrame] = {}
    reports: list[ValidationReport] = []
    for name, schema in TABLES.items():
        path = table_path(data_dir, name)
        if path is None:
            if name in REQUIRED_TABLES:
                raise FileNotFoundError(
                    f"{data_dir}: table {name!r} not found (expected {name}.parquet or {name}.csv)"
                )
            continue
        tables[name], report = load_table(path, schema, quarantine_dir, max_bad_share)
        reports.append(report)
    return Dataset(
        events=tables["events"],
        orders=tables["orders"],
        email_events=tables["email_events"],
        customers=tables["customers"],
        experiments=tables.get("experiments"),
        reports=reports,
    )


def write_dataset(ds: Dataset, out_dir: Path) -> list[Path]:
    """Write the tables as Parquet files in ``out_dir``; return the paths written."""
    written = []
    for name in TABLES:
        df = ds.table(name)
        if df is None:
            continue
        path = Path(out_dir) / f"{name}.parquet"
        write_atomic_parquet(df, path)
        written.append(path)
    return written
