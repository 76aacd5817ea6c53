"""The UCI "Online Shoppers Purchasing Intention" benchmark, trained with the project's own model code.

The public data set (Sakar et al., 2019; see ``shared/data/README.md``) has one row per web session and the label
``Revenue`` (TRUE = the session bought something). It is a check that :func:`training.model.fit_risk_model`, the
code that trains the cart-abandonment model, holds up on real data with published reference figures
(:data:`PUBLISHED`).

The pieces, all usable without the command line:

* :func:`read_uci_csv` loads and validates a CSV: missing columns are listed, bad values are reported with their
  line numbers (:class:`UciDataError`).
* :class:`UciEncoding` turns the table into numeric model inputs. Categorical columns become integer codes from a
  vocabulary fitted on the training file (sorted, so the row order does not matter) and stored with the model, so
  another file is encoded the same way; values the training file did not have get the reserved code
  :data:`UNKNOWN_CODE`. A few label-free features are derived per row (:data:`DERIVED_FEATURES`).
* :func:`train_uci` trains a :class:`UciModel`: a seed ensemble (:data:`ENSEMBLE` members, probabilities
  averaged), each member a stratified, seeded split of the training rows into fit and validation rows and
  :func:`~training.model.fit_risk_model` (early stopping on half of the validation rows, an isotonic calibrator
  on the other half, kept only when it helps), and the F1 threshold chosen on the members' validation rows
  (:func:`~training.evaluate.best_f1_threshold`).
* :func:`holdout_benchmark`, :func:`cross_validate` and :func:`evaluate` give the figures.

Class imbalance (15.5% buyers) is handled without resampling or reweighting: the model is trained on the data as
they are, and F1 uses a threshold chosen on validation rows. The LightGBM parameters (:data:`UCI_PARAMS`) are
tuned for this small table: see the notes there.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.model_selection import StratifiedKFold, train_test_split

from training.csv_input import read_text_csv
from training.evaluate import best_f1_threshold, classification_metrics
from training.model import RiskModel, fit_risk_model

__all__ = [
    "CATEGORICAL_COLUMNS",
    "DERIVED_FEATURES",
    "ENSEMBLE",
    "FEATURE_SET",
    "HEADLINE",
    "LABEL",
    "NUMERIC_COLUMNS",
    "PUBLISHED",
    "REQUIRED_COLUMNS",
    "UCI_PARAMS",
    "UNKNOWN_CODE",
    "BenchmarkResult",
    "UciDataError",
    "UciEncoding",
    "UciModel",
    "cross_validate",
    "evaluate",
    "holdout_benchmark",
    "read_uci_csv",
    "split_benchmark",
    "split_stratified",
    "train_uci",
]

FEATURE_SET = "uci_online_shoppers"
LABEL = "Revenue"

NUMERIC_COLUMNS: tuple[str, ...] = (
    "Administrative",
    "Administrative_Duration",
    "Informational",
    "Informational_Duration",
    "ProductRelated",
    "ProductRelated_Duration",
    "BounceRates",
    "ExitRates",
    "PageValues",
    "SpecialDay",
)
"""Plain numbers (page counts, seconds, Google Analytics rates, page value, closeness to a special day)."""

CODE_COLUMNS: tuple[str, ...] = ("OperatingSystems", "Browser", "Region", "TrafficType")
"""Integer codes that are really categories (code 3 is not "more" than code 2)."""

TEXT_COLUMNS: tuple[str, ...] = ("Month", "VisitorType")
"""Categorical text columns."""

BOOL_COLUMNS: tuple[str, ...] = ("Weekend",)

CATEGORICAL_COLUMNS: tuple[str, ...] = ("Month", *CODE_COLUMNS, "VisitorType")
"""Columns encoded with the fitted vocabulary and passed to LightGBM as categorical."""

REQUIRED_COLUMNS: tuple[str, ...] = (
    *NUMERIC_COLUMNS,
    "Month",
    *CODE_COLUMNS,
    "VisitorType",
    *BOOL_COLUMNS,
)
"""Columns every file must have; ``Revenue`` is needed only to train or to compute metrics."""

DERIVED_FEATURES: tuple[str, ...] = (
    "has_page_value",
    "total_pages",
    "total_duration",
    "product_duration_per_page",
    "product_page_share",
)
"""Label-free features computed from each row alone (see :func:`derive_features`)."""

UNKNOWN_CODE = 0
"""Code of a categorical value the training file did not contain (known values are coded 1, 2, ...)."""

PUBLISHED: dict[str, float] = {"roc_auc": 0.937, "pr_auc": 0.754, "f1": 0.655}
"""Published held-out figures on this data set without oversampling (see ``shared/data/README.md``)."""

UCI_PARAMS: dict[str, Any] = {
    "learning_rate": 0.02,
    "num_leaves": 7,
    "min_data_in_leaf": 40,
    "feature_fraction": 0.7,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 5.0,
    "cat_smooth": 20.0,
    "min_data_per_group": 50,
    "max_cat_to_onehot": 4,
    "extra_trees": True,
    "num_threads": 1,
}
"""LightGBM parameters for this small table (about 5,000 fitting rows), merged over the project defaults.

Smaller trees, more rows per leaf, a lower learning rate and stronger L2 than the cart model's defaults (which are
sized for hundreds of thousands of snapshots), plus more smoothing of the categorical splits because several codes
(browsers, traffic types) have only a handful of rows. No ``is_unbalance`` / ``scale_pos_weight``: probabilities
stay honest and F1 comes from a threshold chosen on validation rows. One thread: on a table this small, threads
cost more than they save, and on a busy machine OpenMP threads made a 1-second fit take a minute (same result).
Chosen by repeated 5-fold cross-validation on the 70% training part of the shared file only (the 30% test part
was not used for choosing); differences between nearby settings were within noise (about 0.002 ROC-AUC).
``extra_trees`` (random split thresholds) makes the members of the seed ensemble (:data:`ENSEMBLE`) more
diverse; on its own it changes nothing, with the ensemble it adds about 0.0005 ROC-AUC in the same CV.
"""

ENSEMBLE = 10
"""Members of the seed ensemble trained by :func:`train_uci` (probabilities averaged).

Each member is the same :func:`~training.model.fit_risk_model` fit with its own seed and its own stratified
fit/validation split, so together they use every training row for fitting. Chosen by 3 x repeated stratified
5-fold cross-validation inside the 70% training part of the shared file (seed-7 split; the 30% test part was not
used): ROC-AUC 0.9342 with one model, 0.9352 with 5 members, 0.9353 with 10, 0.9356 / 0.9358 with 5 / 10 members
and ``extra_trees`` (paired difference to one model +0.0016, standard error 0.0004 over the 15 folds).
"""

MONTHS: tuple[str, ...] = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_ALIASES: dict[str, str] = {
    **{m.lower(): m for m in MONTHS},
    "june": "Jun",
    "july": "Jul",
    "sept": "Sep",
    **{full: m for full, m in zip(
        ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
         "november", "december"), MONTHS, strict=True)},
}
_TRUE = frozenset({"true", "1", "yes", "t", "y"})
_FALSE = frozenset({"false", "0", "no", "f", "n"})
_MAX_EXAMPLES = 5


class UciDataError(ValueError):
    """A UCI file that cannot be used: missing, unreadable, missing columns or bad values (with line numbers)."""


# --------------------------------------------------------------------------------------------------------------
# loading and validation


def _line(row: int) -> int:
    """File line of a 0-based data row (line 1 is the header)."""
    return row + 2


def _bad_value_message(column: str, what: str, raw: pd.Series, bad: npt.NDArray[np.bool_]) -> str:
    rows = np.flatnonzero(bad)
    examples = ", ".join(f"line {_line(int(i))} ({_show(raw.iloc[int(i)])})" for i in rows[:_MAX_EXAMPLES])
    more = f" and {len(rows) - _MAX_EXAMPLES} more" if len(rows) > _MAX_EXAMPLES else ""
    return f"column {column!r}: {len(rows)} {what} value(s): {examples}{more}"


def _show(value: object) -> str:
    text = "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
    return repr(text) if text.strip() else "empty"


def _parse_bool(raw: pd.Series) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """0/1 floats and a mask of values that are not a boolean (TRUE/FALSE, true/false, 1/0, yes/no)."""
    text = raw.astype("string").str.strip().str.lower().fillna("")
    is_true = text.isin(_TRUE).to_numpy(dtype=bool)
    is_false = text.isin(_FALSE).to_numpy(dtype=bool)
    return is_true.astype(np.float64), ~(is_true | is_false)


def _parse_number(raw: pd.Series, integer: bool = False) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Floats and a mask of values that are missing, not numbers, infinite or (with ``integer``) fractional."""
    values = pd.to_numeric(raw.astype("string").str.strip(), errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(values)
    if integer:
        bad |= np.isfinite(values) & (values != np.round(values))
    return values, bad


def normalise_category(column: str, value: object) -> str:
    """The canonical text of a categorical value: ``"june"`` -> ``"Jun"``, ``"3.0"`` -> ``"3"``, else stripped."""
    text = str(value).strip()
    if column == "Month":
        return _MONTH_ALIASES.get(text.lower(), text)
    if column in CODE_COLUMNS:
        try:
            number = float(text)
        except ValueError:
            return text
        return str(int(number)) if number.is_integer() else text
    return text


def read_uci_csv(path: Path, require_label: bool = False) -> pd.DataFrame:
    """Read and validate a UCI online-shoppers CSV.

    Returns a frame with the :data:`REQUIRED_COLUMNS` in their canonical form (numbers as float, categorical
    values as canonical text, ``Weekend`` as 0/1) and ``Revenue`` as 0/1 when the file has it; other columns are
    dropped. Raises :class:`UciDataError` when the file is missing or unreadable, when columns are missing (all of
    them are listed), when ``require_label`` and there is no ``Revenue`` column, or when values are bad (each bad
    column is named with the count and the first line numbers of its bad values; line 1 is the header).
    """
    raw = read_text_csv(path, UciDataError)
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if require_label and LABEL not in raw.columns:
        missing.append(LABEL)
    if missing:
        raise UciDataError(f"{path}: missing column(s) {', '.join(missing)} (a UCI online-shoppers file needs "
                           f"{', '.join(REQUIRED_COLUMNS)}" + (f" and {LABEL}" if require_label else "") + ")")
    if len(raw) == 0:
        raise UciDataError(f"{path}: the file has a header but no rows")

    out: dict[str, Any] = {}
    problems: list[str] = []
    for column in NUMERIC_COLUMNS:
        values, bad = _parse_number(raw[column])
        out[column] = values
        if bad.any():
            problems.append(_bad_value_message(column, "missing or non-numeric", raw[column], bad))
    for column in CATEGORICAL_COLUMNS:
        if column in CODE_COLUMNS:
            _, bad = _parse_number(raw[column], integer=True)
            what = "missing or non-integer"
        else:
            bad = (raw[column].str.strip() == "").to_numpy(dtype=bool)
            what = "missing"
        out[column] = [normalise_category(column, v) for v in raw[column]]
        if bad.any():
            problems.append(_bad_value_message(column, what, raw[column], bad))
    for column in (*BOOL_COLUMNS, *([LABEL] if LABEL in raw.columns else [])):
        values, bad = _parse_bool(raw[column])
        out[column] = values
        if bad.any():
            problems.append(_bad_value_message(column, "non-boolean (expected TRUE/FALSE)", raw[column], bad))
    if problems:
        raise UciDataError(f"{path}: bad values\n  " + "\n  ".join(problems))
    frame = pd.DataFrame(out, index=pd.RangeIndex(len(raw)))
    return frame[[*REQUIRED_COLUMNS, *([LABEL] if LABEL in frame.columns else [])]]


def labels_of(frame: pd.DataFrame) -> npt.NDArray[np.int64]:
    """The ``Revenue`` column as 0/1 integers (raises :class:`UciDataError` when there is none)."""
    if LABEL not in frame.columns:
        raise UciDataError(f"the table has no {LABEL} column")
    return frame[LABEL].to_numpy(dtype=np.int64)


# --------------------------------------------------------------------------------------------------------------
# encoding


def _sort_key(column: str, value: str) -> tuple[int, float, str]:
    """Calendar order for months, numeric order for codes, alphabetical otherwise; odd values last."""
    if column == "Month" and value in MONTHS:
        return (0, float(MONTHS.index(value)), value)
    if column in CODE_COLUMNS:
        try:
            return (0, float(value), value)
        except ValueError:
            return (1, 0.0, value)
    return (0 if column != "Month" else 1, 0.0, value)


def derive_features(frame: pd.DataFrame) -> pd.DataFrame:
    """The :data:`DERIVED_FEATURES`, computed from each row alone (no labels, no other rows).

    * ``has_page_value``: 1 when ``PageValues > 0`` (the session saw a page that precedes purchases).
    * ``total_pages`` / ``total_duration``: pages and seconds over the three page types.
    * ``product_duration_per_page``: seconds per product page (0 without product pages).
    * ``product_page_share``: share of the pages that are product pages (0 without pages).
    """
    pages = frame["Administrative"] + frame["Informational"] + frame["ProductRelated"]
    duration = (frame["Administrative_Duration"] + frame["Informational_Duration"]
                + frame["ProductRelated_Duration"])
    product = frame["ProductRelated"].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_page = np.where(product > 0, frame["ProductRelated_Duration"].to_numpy(dtype=np.float64) / product, 0.0)
        share = np.where(pages > 0, product / pages.to_numpy(dtype=np.float64), 0.0)
    return pd.DataFrame(
        {
            "has_page_value": (frame["PageValues"] > 0).astype(np.float64),
            "total_pages": pages.astype(np.float64),
            "total_duration": duration.astype(np.float64),
            "product_duration_per_page": per_page,
            "product_page_share": share,
        },
        index=frame.index,
    )


@dataclass(frozen=True)
class UciEncoding:
    """Fixed mapping from a validated UCI table (:func:`read_uci_csv`) to numeric model inputs.

    ``vocab`` holds, per categorical column, the known values in code order: the value at position ``i`` is coded
    ``i + 1``; anything else is :data:`UNKNOWN_CODE`. It is fitted on the training file, sorted (calendar order for
    months), so it does not depend on the row order, and it is saved with the model.
    """

    vocab: dict[str, tuple[str, ...]]
    derived: bool = True

    @classmethod
    def fit(cls, frame: pd.DataFrame, derived: bool = True) -> UciEncoding:
        """The vocabulary of every categorical column of ``frame`` (values in canonical form)."""
        vocab: dict[str, tuple[str, ...]] = {}
        for column in CATEGORICAL_COLUMNS:
            values = {normalise_category(column, v) for v in frame[column]}
            vocab[column] = tuple(sorted(values, key=partial(_sort_key, column)))
        return cls(vocab=vocab, derived=derived)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Model input columns, in order."""
        base = (*NUMERIC_COLUMNS, *CATEGORICAL_COLUMNS, *BOOL_COLUMNS)
        return (*base, *DERIVED_FEATURES) if self.derived else base

    def codes(self, column: str, values: Sequence[object] | pd.Series) -> npt.NDArray[np.float64]:
        """Integer codes (as floats) of the values of one categorical column; unknown values -> ``UNKNOWN_CODE``."""
        lookup = {value: i + 1 for i, value in enumerate(self.vocab[column])}
        return np.array([lookup.get(normalise_category(column, v), UNKNOWN_CODE) for v in values],
                        dtype=np.float64)

    def encode(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Numeric model inputs (float64, columns :attr:`feature_names`) with the same index as ``frame``."""
        missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
        if missing:
            raise UciDataError(f"cannot encode: missing column(s) {', '.join(missing)}")
        cols: dict[str, npt.NDArray[np.float64]] = {
            column: frame[column].to_numpy(dtype=np.float64) for column in (*NUMERIC_COLUMNS, *BOOL_COLUMNS)
        }
        for column in CATEGORICAL_COLUMNS:
            cols[column] = self.codes(column, frame[column])
        out = pd.DataFrame(cols, index=frame.index)
        if self.derived:
            out = pd.concat([out, derive_features(frame)], axis=1)
        return out[list(self.feature_names)]

    def unknown_counts(self, frame: pd.DataFrame) -> dict[str, int]:
        """Per categorical column, how many rows of ``frame`` have a value outside the vocabulary (only > 0)."""
        counts = {c: int((self.codes(c, frame[c]) == UNKNOWN_CODE).sum()) for c in CATEGORICAL_COLUMNS}
        return {c: n for c, n in counts.items() if n}

    def to_dict(self) -> dict[str, Any]:
        return {"vocab": {c: list(v) for c, v in self.vocab.items()}, "derived": self.derived,
                "unknown_code": UNKNOWN_CODE}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UciEncoding:
        return cls(vocab={c: tuple(v) for c, v in data["vocab"].items()}, derived=bool(data.get("derived", True)))


# --------------------------------------------------------------------------------------------------------------
# model


@dataclass
class UciModel:
    """A risk model trained on UCI sessions with its encoding and the F1 threshold chosen on validation rows.

    ``risk`` is the first member of the seed ensemble, ``others`` the rest (empty for a single model); the
    probability is the mean of the members' calibrated probabilities.
    """

    risk: RiskModel
    encoding: UciEncoding
    threshold: float
    info: dict[str, Any] = field(default_factory=dict)
    others: list[RiskModel] = field(default_factory=list)

    @property
    def members(self) -> list[RiskModel]:
        return [self.risk, *self.others]

    def predict_proba(self, frame: pd.DataFrame) -> npt.NDArray[np.float64]:
        """Calibrated purchase probabilities of the rows of a validated table (mean over the members)."""
        x = self.encoding.encode(frame)
        probs = [np.asarray(m.predict_proba(x), dtype=np.float64) for m in self.members]
        return np.asarray(np.mean(probs, axis=0), dtype=np.float64)

    def save(self, folder: Path) -> None:
        """Write the boosters and calibrations (:meth:`RiskModel.save`; members after the first in
        ``member_<i>/``) and ``uci.json`` (encoding, threshold, number of members)."""
        self.risk.save(folder)
        for i, member in enumerate(self.others, start=1):
            member.save(folder / f"member_{i}")
        (folder / "uci.json").write_text(json.dumps(
            {"encoding": self.encoding.to_dict(), "threshold": self.threshold, "info": self.info,
             "members": len(self.members)}, indent=1))

    @classmethod
    def load(cls, folder: Path) -> UciModel:
        meta = json.loads((folder / "uci.json").read_text())
        others = [RiskModel.load(folder / f"member_{i}") for i in range(1, int(meta.get("members", 1)))]
        return cls(risk=RiskModel.load(folder), encoding=UciEncoding.from_dict(meta["encoding"]),
                   threshold=float(meta["threshold"]), info=meta.get("info", {}), others=others)


def split_stratified(
    y: npt.ArrayLike, share: float, seed: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Row positions ``(rest, part)`` with ``part`` a stratified random ``share`` of the rows (seeded).

    Both parts keep the positive rate of ``y`` (up to rounding); each part is sorted by position.
    """
    labels = np.asarray(y)
    if not 0.0 < share < 1.0:
        raise ValueError(f"share must be between 0 and 1; got {share}")
    if len(np.unique(labels)) < 2 or np.bincount(labels.astype(np.int64)).min() < 2:
        raise UciDataError("a stratified split needs at least two rows of each class (Revenue TRUE and FALSE)")
    rest, part = train_test_split(np.arange(len(labels)), test_size=share, stratify=labels, random_state=seed)
    return np.sort(rest).astype(np.int64), np.sort(part).astype(np.int64)


def train_uci(
    frame: pd.DataFrame,
    seed: int = 7,
    params: Mapping[str, Any] | None = None,
    valid_share: float = 0.2,
    max_rounds: int = 3000,
    early_stopping_rounds: int = 100,
    derived: bool = True,
    ensemble: int = ENSEMBLE,
) -> UciModel:
    """Train on all rows of a validated, labelled table.

    Each of the ``ensemble`` members (seeds ``seed``, ``seed + 1``, ...) splits the rows (stratified, with its
    own seed) into ``1 - valid_share`` fitting rows and ``valid_share`` validation rows;
    :func:`~training.model.fit_risk_model` fits its booster, stops early on the first half of the shuffled
    validation rows and calibrates on the second half. The model's probability is the members' mean. The F1
    threshold is chosen on the pooled validation predictions, each member scoring only its own validation rows
    (rows it never fitted on). ``params`` override :data:`UCI_PARAMS`.
    """
    if ensemble < 1:
        raise ValueError(f"ensemble must be at least 1; got {ensemble}")
    y = labels_of(frame)
    encoding = UciEncoding.fit(frame, derived=derived)
    x = encoding.encode(frame)
    merged = {**UCI_PARAMS, **(params or {})}
    members: list[RiskModel] = []
    valid_y: list[npt.NDArray[np.int64]] = []
    valid_p: list[npt.NDArray[np.float64]] = []
    for member_seed in range(seed, seed + ensemble):
        fit_rows, valid_rows = split_stratified(y, valid_share, member_seed)
        # shuffle the validation rows so that the early-stopping and calibration halves are random halves
        valid_rows = np.random.default_rng(member_seed).permutation(valid_rows)
        risk = fit_risk_model(
            x.iloc[fit_rows], y[fit_rows], x.iloc[valid_rows], y[valid_rows],
            params=merged, seed=member_seed, max_rounds=max_rounds, early_stopping_rounds=early_stopping_rounds,
            encode=None, categorical=list(CATEGORICAL_COLUMNS), feature_set=FEATURE_SET,
        )
        members.append(risk)
        valid_y.append(y[valid_rows])
        valid_p.append(np.asarray(risk.predict_proba(x.iloc[valid_rows]), dtype=np.float64))
    threshold = best_f1_threshold(np.concatenate(valid_y), np.concatenate(valid_p))
    rounds = [int(m.booster.best_iteration or m.booster.current_iteration()) for m in members]
    info = {
        "seed": seed,
        "rows": len(frame),
        "fit_rows": len(fit_rows),
        "valid_rows": len(valid_rows),
        "members": ensemble,
        "rounds": round(float(np.mean(rounds))),
        "member_rounds": rounds,
        "calibrated": sum(bool(len(m.calib_x)) for m in members) > ensemble / 2,
        "calibrated_members": sum(bool(len(m.calib_x)) for m in members),
    }
    return UciModel(risk=members[0], encoding=encoding, threshold=threshold, info=info, others=members[1:])


def evaluate(model: UciModel, frame: pd.DataFrame) -> dict[str, float]:
    """Metrics of ``model`` on a labelled table, F1 at the model's validation threshold (never re-chosen here)."""
    return classification_metrics(labels_of(frame), model.predict_proba(frame), threshold=model.threshold)


# --------------------------------------------------------------------------------------------------------------
# benchmark protocols

HEADLINE = ("roc_auc", "pr_auc", "f1")

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass
class BenchmarkResult:
    """Held-out test figures, optional cross-validation summary, and how they were obtained."""

    test: dict[str, float]
    n_test: int
    n_train: int
    threshold: float
    seed: int
    protocol: str
    cv: dict[str, Any] | None = None
    model: UciModel | None = None
    seconds: float = 0.0
    unknown_values: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` object: ``roc_auc``, ``pr_auc``, ``f1``, ``n_test`` first, then the details."""
        out: dict[str, Any] = {k: _finite(self.test[k]) for k in HEADLINE}
        out["n_test"] = self.n_test
        out.update(
            precision=_finite(self.test["precision"]),
            recall=_finite(self.test["recall"]),
            threshold=self.threshold,
            base_rate=_finite(self.test["base_rate"]),
            n_train=self.n_train,
            seed=self.seed,
            protocol=self.protocol,
        )
        if self.model is not None:
            out["rounds"] = self.model.info.get("rounds")
            out["calibrated"] = self.model.info.get("calibrated")
        if self.unknown_values:
            out["unknown_values"] = self.unknown_values
        if self.cv is not None:
            out["cv"] = self.cv
        out["published"] = dict(PUBLISHED)
        out["seconds"] = round(self.seconds, 2)
        return out


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def holdout_benchmark(
    train: pd.DataFrame,
    test: pd.DataFrame,
    seed: int = 7,
    params: Mapping[str, Any] | None = None,
    protocol: str = "train file -> test file",
    **train_kwargs: Any,
) -> BenchmarkResult:
    """Train on all rows of ``train`` (:func:`train_uci`) and evaluate once on the labelled ``test``."""
    start = time.perf_counter()
    model = train_uci(train, seed=seed, params=params, **train_kwargs)
    metrics = evaluate(model, test)
    return BenchmarkResult(test=metrics, n_test=len(test), n_train=len(train), threshold=model.threshold,
                           seed=seed, protocol=protocol, model=model, seconds=time.perf_counter() - start,
                           unknown_values=model.encoding.unknown_counts(test))


def split_benchmark(
    frame: pd.DataFrame,
    seed: int = 7,
    test_share: float = 0.3,
    params: Mapping[str, Any] | None = None,
    source: str = "the train file",
    **train_kwargs: Any,
) -> BenchmarkResult:
    """Stratified ``1 - test_share`` / ``test_share`` split of one labelled table; train on the first part."""
    rest, part = split_stratified(labels_of(frame), test_share, seed)
    train = frame.iloc[rest].reset_index(drop=True)
    test = frame.iloc[part].reset_index(drop=True)
    share = round(100 * test_share)
    return holdout_benchmark(train, test, seed=seed, params=params,
                             protocol=f"stratified {100 - share}/{share} split of {source}", **train_kwargs)


def cross_validate(
    frame: pd.DataFrame,
    seed: int = 7,
    folds: int = 5,
    params: Mapping[str, Any] | None = None,
    progress: Progress = _quiet,
    **train_kwargs: Any,
) -> dict[str, Any]:
    """Stratified ``folds``-fold cross-validation: per fold, :func:`train_uci` on the other folds, metrics on it.

    Returns ``{"folds": k, "roc_auc": {"mean", "std", "values"}, "pr_auc": ..., "f1": ...}`` (``std`` is the
    sample standard deviation over the folds).
    """
    y = labels_of(frame)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    values: dict[str, list[float]] = {k: [] for k in HEADLINE}
    for i, (fit_rows, test_rows) in enumerate(splitter.split(np.zeros(len(y)), y), start=1):
        progress(f"cross-validation fold {i}/{folds}")
        model = train_uci(frame.iloc[fit_rows].reset_index(drop=True), seed=seed, params=params, **train_kwargs)
        metrics = evaluate(model, frame.iloc[test_rows].reset_index(drop=True))
        for key in HEADLINE:
            values[key].append(float(metrics[key]))
    summary: dict[str, Any] = {"folds": folds}
    for key, vals in values.items():
        arr = np.asarray(vals)
        summary[key] = {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if len(arr) > 1 else 0.0,
                        "values": [round(v, 4) for v in vals]}
    return summary
