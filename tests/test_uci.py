"""Tests of the UCI online-shoppers benchmark (training.uci) and of ``cartrisk benchmark uci``.

Most tests use a small synthetic table with the UCI columns (fast, no shared data needed); one test runs the
real shared file (read in place, never copied) and checks the held-out ROC-AUC.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from cartrisk.cli import app
from training.uci import (
    CATEGORICAL_COLUMNS,
    LABEL,
    REQUIRED_COLUMNS,
    UNKNOWN_CODE,
    UciDataError,
    UciEncoding,
    UciModel,
    holdout_benchmark,
    read_uci_csv,
    split_stratified,
    train_uci,
)

SHARED = (Path(__file__).resolve().parents[2] / "shared" / "data" / "uci-online-shoppers"
          / "online_shoppers_intention.train.csv")
needs_shared = pytest.mark.skipif(not SHARED.is_file(), reason=f"shared data {SHARED} not found")

FIRST_KEYS = ["roc_auc", "pr_auc", "f1", "n_test"]
MONTHS = ["Feb", "Mar", "May", "June", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

runner = CliRunner()


# ------------------------------------------------------------------------------------ helpers


def synthetic_uci(n: int, seed: int, label: bool = True) -> pd.DataFrame:
    """A table with the UCI columns (text as in the CSV) whose label depends on PageValues, Month and visitor."""
    rng = np.random.default_rng(seed)
    product = rng.poisson(20, n)
    page_values = np.where(rng.random(n) < 0.25, rng.exponential(25, n), 0.0)
    month = rng.choice(MONTHS, n)
    visitor = rng.choice(["Returning_Visitor", "New_Visitor", "Other"], n, p=[0.85, 0.13, 0.02])
    exit_rates = rng.uniform(0, 0.2, n)
    logit = -3.0 + 2.5 * (page_values > 0) + 0.03 * page_values + 0.8 * (month == "Nov") \
        + 0.5 * (visitor == "New_Visitor") - 8 * exit_rates
    y = rng.random(n) < 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame({
        "Administrative": rng.poisson(2, n),
        "Administrative_Duration": rng.exponential(60, n).round(2),
        "Informational": rng.poisson(0.5, n),
        "Informational_Duration": rng.exponential(20, n).round(2),
        "ProductRelated": product,
        "ProductRelated_Duration": (product * rng.exponential(30, n)).round(2),
        "BounceRates": (exit_rates * rng.uniform(0, 1, n)).round(5),
        "ExitRates": exit_rates.round(5),
        "PageValues": page_values.round(4),
        "SpecialDay": rng.choice([0.0, 0.2, 0.4, 0.6, 0.8, 1.0], n, p=[0.9, 0.02, 0.02, 0.02, 0.02, 0.02]),
        "Month": month,
        "OperatingSystems": rng.choice([1, 2, 3, 4], n),
        "Browser": rng.choice([1, 2, 4, 5], n),
        "Region": rng.integers(1, 10, n),
        "TrafficType": rng.choice([1, 2, 3, 4, 13], n),
        "VisitorType": visitor,
        "Weekend": np.where(rng.random(n) < 0.23, "TRUE", "FALSE"),
    })
    if label:
        frame[LABEL] = np.where(y, "TRUE", "FALSE")
    return frame.astype(str)  # as text, like the CSV, so that tests can put bad values anywhere


def write(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A labelled training file, a labelled test file and the same test file without labels."""
    folder = tmp_path_factory.mktemp("uci")
    test = synthetic_uci(600, seed=2)
    return {
        "train": write(synthetic_uci(1500, seed=1), folder / "a.csv"),
        "test": write(test, folder / "b.csv"),
        "unlabelled": write(test.drop(columns=[LABEL]), folder / "b_nolabel.csv"),
    }


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["benchmark", "uci", *args])
    return result.exit_code, result.stdout, result.stderr


# ------------------------------------------------------------------------------------ loading and validation


def test_reads_and_normalises_values(tmp_path: Path) -> None:
    frame = synthetic_uci(30, seed=3)
    frame.loc[0, "Month"] = "june"
    frame.loc[1, "Browser"] = "2.0"
    frame.loc[2, "Weekend"] = "true"
    frame.loc[3, LABEL] = "False"
    got = read_uci_csv(write(frame, tmp_path / "x.csv"), require_label=True)
    assert list(got.columns) == [*REQUIRED_COLUMNS, LABEL]
    assert got.loc[0, "Month"] == "Jun"
    assert got.loc[1, "Browser"] == "2"
    assert got.loc[2, "Weekend"] == 1.0
    assert got.loc[3, LABEL] == 0.0
    assert set(got[LABEL]) <= {0.0, 1.0}


def test_missing_columns_are_all_listed(files: dict[str, Path], tmp_path: Path) -> None:
    frame = synthetic_uci(50, seed=4).drop(columns=["PageValues", "Region"])
    path = write(frame, tmp_path / "missing.csv")
    code, out, err = run("--train", str(path), "--seed", "1", "--json")
    assert code == 2
    assert out == ""
    assert "PageValues" in err and "Region" in err and "missing column" in err
    # the label is required to train, not to score
    code, _, err = run("--train", str(files["unlabelled"]), "--seed", "1")
    assert code == 2
    assert "Revenue" in err


def test_bad_values_name_the_column_and_the_line(tmp_path: Path) -> None:
    frame = synthetic_uci(50, seed=5)
    frame.loc[2, "ProductRelated_Duration"] = "abc"  # data row 2 -> line 4 (line 1 is the header)
    frame.loc[9, "Browser"] = "2.5"
    frame.loc[10, LABEL] = "maybe"
    path = write(frame, tmp_path / "bad.csv")
    with pytest.raises(UciDataError) as info:
        read_uci_csv(path, require_label=True)
    message = str(info.value)
    assert "'ProductRelated_Duration'" in message and "line 4 ('abc')" in message
    assert "'Browser'" in message and "line 11 ('2.5')" in message
    assert "'Revenue'" in message and "line 12 ('maybe')" in message
    code, out, err = run("--train", str(path), "--seed", "1")
    assert code == 2
    assert "ProductRelated_Duration" in err and "line 4" in err
    assert out == ""


def test_empty_value_is_reported(tmp_path: Path) -> None:
    frame = synthetic_uci(20, seed=6)
    frame.loc[0, "PageValues"] = ""
    with pytest.raises(UciDataError, match=r"'PageValues'.*line 2 \(empty\)"):
        read_uci_csv(write(frame, tmp_path / "empty.csv"))


# ------------------------------------------------------------------------------------ encoding


def test_encoding_is_the_same_for_another_row_order_and_unseen_values(tmp_path: Path) -> None:
    frame = synthetic_uci(400, seed=7)
    a = read_uci_csv(write(frame, tmp_path / "a.csv"))
    shuffled = frame.sample(frac=1.0, random_state=3).reset_index(drop=True)
    b = read_uci_csv(write(shuffled, tmp_path / "b.csv"))
    enc_a, enc_b = UciEncoding.fit(a), UciEncoding.fit(b)
    assert enc_a == enc_b  # fitted vocabulary does not depend on the row order
    assert enc_a.vocab["Month"][:3] == ("Feb", "Mar", "May")  # calendar order, "June" -> "Jun"
    assert "Jun" in enc_a.vocab["Month"]

    # the same row gets the same codes in both files
    xa = enc_a.encode(a)
    xb = enc_a.encode(b)
    key = ["ProductRelated_Duration", "ExitRates", "PageValues", "Administrative_Duration"]
    merged = xa.merge(xb, on=key, suffixes=("_a", "_b"))
    assert len(merged) == len(a)
    for column in CATEGORICAL_COLUMNS:
        assert (merged[f"{column}_a"] == merged[f"{column}_b"]).all()
    assert (xa[list(CATEGORICAL_COLUMNS)] != UNKNOWN_CODE).all().all()

    # an unseen Month (and TrafficType) gets the reserved code; the other columns are untouched
    odd = shuffled.head(5).copy()
    odd["Month"] = ["Foo", "Jan", "JUNE", "Nov", "nov"]
    odd.loc[0, "TrafficType"] = "99"
    xo = enc_a.encode(read_uci_csv(write(odd, tmp_path / "odd.csv")))
    june, nov = enc_a.codes("Month", ["Jun", "Nov"])
    assert xo["Month"].tolist() == [UNKNOWN_CODE, UNKNOWN_CODE, june, nov, nov]
    assert xo.loc[0, "TrafficType"] == UNKNOWN_CODE
    assert xo.loc[1:, "TrafficType"].tolist() == xb.loc[1:4, "TrafficType"].tolist()
    assert enc_a.unknown_counts(read_uci_csv(tmp_path / "odd.csv")) == {"Month": 2, "TrafficType": 1}


def test_saved_model_keeps_its_encoding(tmp_path: Path) -> None:
    frame = read_uci_csv(write(synthetic_uci(800, seed=8), tmp_path / "a.csv"), require_label=True)
    model = train_uci(frame, seed=3, max_rounds=200)
    model.save(tmp_path / "model")
    loaded = UciModel.load(tmp_path / "model")
    assert loaded.encoding == model.encoding
    assert loaded.threshold == model.threshold
    other = read_uci_csv(write(synthetic_uci(100, seed=9), tmp_path / "b.csv"))
    np.testing.assert_allclose(loaded.predict_proba(other), model.predict_proba(other))


# ------------------------------------------------------------------------------------ splits and threshold


def test_stratified_split_keeps_the_positive_rate() -> None:
    y = np.r_[np.ones(155), np.zeros(845)].astype(int)
    np.random.default_rng(0).shuffle(y)
    for seed in range(10):  # a plain random split would miss the rate by several rows for most seeds
        rest, part = split_stratified(y, 0.3, seed=seed)
        assert len(part) == 300 and len(rest) == 700
        assert set(rest).isdisjoint(part) and len(set(rest) | set(part)) == len(y)
        assert abs(y[part].sum() - 0.155 * 300) <= 1
        assert abs(y[rest].sum() - 0.155 * 700) <= 1
    rest, part = split_stratified(y, 0.3, seed=5)
    again, _ = split_stratified(y, 0.3, seed=5)
    other, _ = split_stratified(y, 0.3, seed=6)
    assert np.array_equal(rest, again) and not np.array_equal(rest, other)
    with pytest.raises(UciDataError):
        split_stratified(np.zeros(50, dtype=int), 0.3, seed=5)


def test_threshold_comes_from_the_training_data(tmp_path: Path) -> None:
    train = read_uci_csv(write(synthetic_uci(1000, seed=10), tmp_path / "a.csv"), require_label=True)
    t1 = read_uci_csv(write(synthetic_uci(300, seed=11), tmp_path / "b.csv"), require_label=True)
    t2 = read_uci_csv(write(synthetic_uci(300, seed=12), tmp_path / "c.csv"), require_label=True)
    r1 = holdout_benchmark(train, t1, seed=4, max_rounds=300)
    r2 = holdout_benchmark(train, t2, seed=4, max_rounds=300)
    assert r1.threshold == r2.threshold  # not re-chosen on the test rows
    assert r1.test["f1_threshold"] == r1.threshold
    assert r1.test["f1"] != r2.test["f1"]


# ------------------------------------------------------------------------------------ command line


def test_test_file_with_labels_prints_the_metrics(files: dict[str, Path], tmp_path: Path) -> None:
    preds = tmp_path / "p.csv"
    code, out, _ = run("--train", str(files["train"]), "--test", str(files["test"]), "--seed", "3", "--json",
                       "--out", str(preds))
    assert code == 0
    result = json.loads(out)
    assert list(result)[:4] == FIRST_KEYS
    assert result["n_test"] == 600
    # the figures agree with an independent computation from the written probabilities
    y = (pd.read_csv(files["test"])[LABEL].astype(str).str.upper() == "TRUE").to_numpy()
    p = pd.read_csv(preds)
    assert result["roc_auc"] == pytest.approx(roc_auc_score(y, p["probability"]))
    flagged = (p["probability"] >= result["threshold"]).to_numpy()
    assert (flagged == p["predicted"].astype(bool)).all()
    assert result["f1"] == pytest.approx(2 * (flagged & y).sum() / (flagged.sum() + y.sum()))
    assert result["roc_auc"] > 0.75  # the synthetic label is learnable

    code, text, _ = run("--train", str(files["train"]), "--test", str(files["test"]), "--seed", "3")
    assert code == 0
    assert "ROC-AUC" in text and "0.937" in text and "0.754" in text and "0.655" in text


def test_test_file_without_labels_writes_predictions(files: dict[str, Path], tmp_path: Path) -> None:
    preds = tmp_path / "out" / "predictions.csv"
    code, out, _ = run("--train", str(files["train"]), "--test", str(files["unlabelled"]), "--seed", "3",
                       "--out", str(preds))
    assert code == 0, out
    assert "metrics need labels" in out
    table = pd.read_csv(preds)
    assert list(table.columns) == ["row", "probability", "predicted"]
    assert table["row"].tolist() == list(range(1, 601))
    assert table["probability"].between(0, 1).all()

    # the same rows get the same probabilities as in the labelled run (same training, same seed)
    labelled = tmp_path / "labelled.csv"
    assert run("--train", str(files["train"]), "--test", str(files["test"]), "--seed", "3",
               "--out", str(labelled))[0] == 0
    np.testing.assert_allclose(table["probability"], pd.read_csv(labelled)["probability"])

    code, out, _ = run("--train", str(files["train"]), "--test", str(files["unlabelled"]), "--seed", "3", "--json")
    result = json.loads(out)
    assert code == 0
    assert list(result)[:4] == FIRST_KEYS and result["roc_auc"] is None
    assert "metrics need labels" in result["note"]
    np.testing.assert_allclose(result["probabilities"], table["probability"], atol=1e-6)


def test_json_without_test_file_is_one_object_with_cv(files: dict[str, Path]) -> None:
    code, out, err = run("--train", str(files["train"]), "--seed", "5", "--folds", "2", "--json")
    assert code == 0
    assert out.count("\n") == 1 and out.endswith("\n")
    result = json.loads(out)
    assert list(result)[:4] == FIRST_KEYS
    assert result["n_test"] == 450  # 30% of 1,500
    assert result["cv"]["folds"] == 2 and len(result["cv"]["roc_auc"]["values"]) == 2
    assert result["published"] == {"roc_auc": 0.937, "pr_auc": 0.754, "f1": 0.655}
    assert "fold 2/2" in err  # progress goes to stderr


@needs_shared
def test_shared_file_held_out_roc_auc() -> None:
    code, out, _ = run("--train", str(SHARED), "--seed", "7", "--folds", "0", "--json")
    assert code == 0
    result = json.loads(out)
    assert result["n_test"] == 2590  # 30% of 8,631
    assert result["roc_auc"] > 0.90
    assert result["pr_auc"] > 0.65


def test_seed_ensemble_averages_its_members(tmp_path: Path) -> None:
    frame = read_uci_csv(write(synthetic_uci(800, seed=13), tmp_path / "a.csv"), require_label=True)
    other = read_uci_csv(write(synthetic_uci(100, seed=14), tmp_path / "b.csv"))
    model = train_uci(frame, seed=3, max_rounds=200, ensemble=3)
    assert len(model.members) == 3 and model.info["members"] == 3
    x = model.encoding.encode(other)
    expected = np.mean([m.predict_proba(x) for m in model.members], axis=0)
    np.testing.assert_allclose(model.predict_proba(other), expected)
    # a single member is the plain fit_risk_model model
    single = train_uci(frame, seed=3, max_rounds=200, ensemble=1)
    assert single.others == []
    np.testing.assert_allclose(single.predict_proba(other), single.risk.predict_proba(single.encoding.encode(other)))
    with pytest.raises(ValueError):
        train_uci(frame, seed=3, ensemble=0)
    model.save(tmp_path / "model")
    loaded = UciModel.load(tmp_path / "model")
    assert len(loaded.members) == 3
    np.testing.assert_allclose(loaded.predict_proba(other), model.predict_proba(other))
