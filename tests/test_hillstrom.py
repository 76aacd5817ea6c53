"""Tests of the Hillstrom e-mail benchmark (training.hillstrom) and of ``cartrisk benchmark hillstrom``.

Reading, validation and encoding use small synthetic tables with the Hillstrom columns (known truth, no shared data
needed). The command runs on subsamples of the real shared file written to a temporary folder, and one test runs
the whole real file (read in place, never copied) against the published uplift@30%. The shared file is required:
without it those tests fail with a message saying where it was looked for.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cartrisk.cli import app
from training.hillstrom import (
    CATEGORICAL_COLUMNS,
    FEATURE_COLUMNS,
    PUBLISHED,
    UNKNOWN_CODE,
    HillstromDataError,
    HillstromEncoding,
    evaluate,
    experiment_rows,
    outcome_of,
    read_hillstrom_csv,
    split_stratified,
    train_hillstrom,
    treatment_of,
)
from training.uplift_metrics import qini_auc_score

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "hillstrom" / "hillstrom.train.csv"
FIRST_KEYS = ["uplift_at_30", "qini", "n_test"]
BANDS = ["1) $0 - $100", "2) $100 - $200", "3) $200 - $350", "4) $350 - $500", "5) $500 - $750",
         "6) $750 - $1,000", "7) $1,000 +"]
EDGES = [0, 100, 200, 350, 500, 750, 1000]

runner = CliRunner()


def shared_file() -> Path:
    if not SHARED.is_file():
        pytest.fail(f"the real Hillstrom file is required and was not found at {SHARED} "
                    "(shared/data/hillstrom/hillstrom.train.csv next to the repository)")
    return SHARED


# ------------------------------------------------------------------------------------ helpers


def synthetic_hillstrom(n: int, seed: int) -> pd.DataFrame:
    """Hillstrom columns as text; the women's e-mail raises visits by 0.15 for women's buyers only."""
    rng = np.random.default_rng(seed)
    history = np.round(rng.exponential(250, n) + 30, 2)
    band = np.searchsorted(EDGES, history, side="right") - 1
    mens = rng.integers(0, 2, n)
    womens = np.where(mens == 0, 1, rng.integers(0, 2, n))
    segment = rng.choice(["Mens E-Mail", "Womens E-Mail", "No E-Mail"], n)
    p = 0.10 + 0.15 * ((segment == "Womens E-Mail") & (womens == 1)) + 0.05 * (segment == "Mens E-Mail")
    visit = (rng.random(n) < p).astype(int)
    conversion = visit * (rng.random(n) < 0.1)
    frame = pd.DataFrame({
        "recency": rng.integers(1, 13, n),
        "history_segment": np.array(BANDS)[band],
        "history": history,
        "mens": mens,
        "womens": womens,
        "zip_code": rng.choice(["Surburban", "Urban", "Rural"], n, p=[0.45, 0.4, 0.15]),
        "newbie": rng.integers(0, 2, n),
        "channel": rng.choice(["Web", "Phone", "Multichannel"], n, p=[0.44, 0.44, 0.12]),
        "segment": segment,
        "visit": visit,
        "conversion": conversion,
        "spend": np.round(conversion * rng.uniform(30, 500, n), 2),
    })
    return frame.astype(str)


def write(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["benchmark", "hillstrom", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def real_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two disjoint random subsamples of the real file (train 6,000 rows, test 3,000), and the test one without
    its labels and outcomes."""
    raw = pd.read_csv(shared_file(), dtype=str, keep_default_na=False)
    rows = np.random.default_rng(3).permutation(len(raw))
    folder = tmp_path_factory.mktemp("hillstrom")
    test = raw.iloc[rows[6000:9000]]
    return {
        "train": write(raw.iloc[rows[:6000]], folder / "a.csv"),
        "test": write(test, folder / "b.csv"),
        "unlabelled": write(test.drop(columns=["segment", "visit", "conversion", "spend"]), folder / "b_new.csv"),
    }


# ------------------------------------------------------------------------------------ reading and validation


def test_reads_a_valid_file(tmp_path: Path) -> None:
    frame = synthetic_hillstrom(40, seed=1)
    frame.loc[0, "mens"] = "1.0"
    frame.loc[1, "channel"] = " Web "
    got = read_hillstrom_csv(write(frame, tmp_path / "a.csv"), require_labels=True)
    assert list(got.columns) == [*FEATURE_COLUMNS, "segment", "visit"]
    assert got.index.tolist() == list(range(40))
    assert got.loc[0, "mens"] == 1.0 and got.loc[1, "channel"] == "Web"
    assert got["history"].dtype == np.float64
    assert set(got["visit"]) <= {0.0, 1.0}
    # labels are optional when scoring
    unlabelled = write(frame.drop(columns=["segment", "visit", "conversion", "spend"]), tmp_path / "b.csv")
    assert list(read_hillstrom_csv(unlabelled).columns) == list(FEATURE_COLUMNS)


def test_missing_columns_are_all_named_with_the_file(tmp_path: Path) -> None:
    path = write(synthetic_hillstrom(30, seed=2).drop(columns=["history", "channel"]), tmp_path / "cols.csv")
    with pytest.raises(HillstromDataError, match=r"cols\.csv: missing column\(s\) history, channel"):
        read_hillstrom_csv(path)
    code, out, err = run("--train", str(path), "--json")
    assert code == 2 and out == ""
    assert err.startswith("error: ") and "cols.csv" in err and "history, channel" in err
    assert "Traceback" not in err
    # training needs the labels; scoring does not
    nolabel = write(synthetic_hillstrom(30, seed=2).drop(columns=["visit"]), tmp_path / "nolabel.csv")
    code, _, err = run("--train", str(nolabel))
    assert code == 2 and "nolabel.csv: missing column(s) visit" in err


def test_bad_values_name_the_file_row_and_column(tmp_path: Path) -> None:
    frame = synthetic_hillstrom(60, seed=3)
    frame.loc[2, "history"] = "abc"              # data row 3, file line 4
    frame.loc[2, "mens"] = "2"                   # a second bad value in the same row
    frame.loc[9, "recency"] = "3.5"
    frame.loc[20, "segment"] = "Kids E-Mail"
    frame.loc[30, "zip_code"] = ""
    frame.loc[40, "visit"] = "yes"
    frame.loc[50, "spend"] = "-4"                # optional columns are validated too
    path = write(frame, tmp_path / "bad.csv")
    with pytest.raises(HillstromDataError) as info:
        read_hillstrom_csv(path, require_labels=True)
    message = str(info.value)
    assert message.startswith(f"{path}: 7 bad value(s) in 6 row(s)")
    for expected in ("row 3 (line 4), column 'history': 'abc' is not a number",
                     "row 3 (line 4), column 'mens': '2' is not 0 or 1",
                     "row 10 (line 11), column 'recency': '3.5' is not a whole number",
                     "row 21 (line 22), column 'segment': 'Kids E-Mail' is not one of",
                     "row 31 (line 32), column 'zip_code': empty",
                     "row 41 (line 42), column 'visit': 'yes' is not 0 or 1",
                     "row 51 (line 52), column 'spend': '-4' is negative"):
        assert expected in message, expected
    # every bad value is reported (none dropped), in file order
    assert [(p.row, p.column) for p in info.value.problems] == [
        (3, "history"), (3, "mens"), (10, "recency"), (21, "segment"), (31, "zip_code"), (41, "visit"),
        (51, "spend")]
    code, out, err = run("--train", str(path), "--seed", "1")
    assert code == 2 and out == ""
    assert "bad.csv" in err and "row 3 (line 4), column 'history'" in err


def test_long_error_lists_are_cut_but_counted(tmp_path: Path) -> None:
    frame = synthetic_hillstrom(50, seed=4)
    frame["newbie"] = "maybe"
    with pytest.raises(HillstromDataError) as info:
        read_hillstrom_csv(write(frame, tmp_path / "many.csv"))
    assert "50 bad value(s) in 50 row(s)" in str(info.value) and "... and 30 more" in str(info.value)
    assert len(info.value.problems) == 50


def test_missing_or_empty_file_is_a_clear_error(tmp_path: Path) -> None:
    code, out, err = run("--train", str(tmp_path / "nope.csv"))
    assert code == 2 and out == "" and "nope.csv: no such file" in err
    header_only = tmp_path / "empty.csv"
    header_only.write_text(",".join(synthetic_hillstrom(1, seed=0).columns) + "\n")
    code, _, err = run("--train", str(header_only))
    assert code == 2 and "header but no rows" in err


# ------------------------------------------------------------------------------------ experiment rows, encoding


def test_mens_rows_are_left_out_and_counted() -> None:
    frame = pd.DataFrame({"segment": ["Mens E-Mail", "Womens E-Mail", "No E-Mail", "Mens E-Mail"],
                          "visit": [1.0, 0.0, 1.0, 0.0]})
    kept, left_out = experiment_rows(frame)
    assert left_out == 2 and kept.index.tolist() == [1, 2]
    assert treatment_of(kept).tolist() == [1, 0] and outcome_of(kept).tolist() == [0, 1]
    with pytest.raises(HillstromDataError, match="neither"):
        treatment_of(frame)


def test_encoding_is_stable_between_files_and_marks_unknown_values(tmp_path: Path) -> None:
    frame = synthetic_hillstrom(500, seed=5)
    a = read_hillstrom_csv(write(frame, tmp_path / "a.csv"))
    shuffled = frame.sample(frac=1.0, random_state=1).reset_index(drop=True)
    b = read_hillstrom_csv(write(shuffled, tmp_path / "b.csv"))
    enc = HillstromEncoding.fit(a)
    assert enc == HillstromEncoding.fit(b)  # the vocabulary does not depend on the row order
    assert enc.vocab["history_segment"] == tuple(BANDS)  # spending bands in their numeric order
    assert enc.vocab["channel"] == ("Multichannel", "Phone", "Web")
    assert HillstromEncoding.from_dict(json.loads(json.dumps(enc.to_dict()))) == enc

    xa, xb = enc.encode(a), enc.encode(b)
    assert list(xa.columns) == list(FEATURE_COLUMNS) and (xa.dtypes == np.float64).all()
    merged = xa.merge(xb, on=["history", "recency", "mens", "womens", "newbie"], suffixes=("_a", "_b"))
    assert len(merged) == len(a)  # every row found once in the other file, with the same codes
    for column in CATEGORICAL_COLUMNS:
        assert (merged[f"{column}_a"] == merged[f"{column}_b"]).all()
    assert (xa[list(CATEGORICAL_COLUMNS)] != UNKNOWN_CODE).all().all()

    # a band above the known ones sorts by its number (10 after 7), and unseen values get the reserved code
    odd = shuffled.head(4).copy()
    odd["channel"] = ["Web", "Carrier pigeon", "Phone", "Carrier pigeon"]
    odd.loc[0, "history_segment"] = "10) $5,000 +"
    odd_frame = read_hillstrom_csv(write(odd, tmp_path / "odd.csv"))
    xo = enc.encode(odd_frame)
    web, phone = enc.codes("channel", ["Web", "Phone"])
    assert xo["channel"].tolist() == [web, UNKNOWN_CODE, phone, UNKNOWN_CODE]
    assert xo.loc[0, "history_segment"] == UNKNOWN_CODE
    assert enc.unknown_counts(odd_frame) == {"history_segment": 1, "channel": 2}
    assert HillstromEncoding.fit(odd_frame).vocab["history_segment"][-1] == "10) $5,000 +"


def test_split_keeps_the_treatment_by_visit_mix() -> None:
    strata = np.repeat([0, 1, 2, 3], [900, 100, 850, 150])
    np.random.default_rng(0).shuffle(strata)
    rest, part = split_stratified(strata, 0.5, seed=7)
    assert len(part) == 1000 and set(rest).isdisjoint(part)
    assert all(abs(int((strata[part] == g).sum()) - n // 2) <= 1 for g, n in enumerate([900, 100, 850, 150]))
    assert np.array_equal(part, split_stratified(strata, 0.5, seed=7)[1])
    assert not np.array_equal(part, split_stratified(strata, 0.5, seed=8)[1])
    with pytest.raises(HillstromDataError, match="four groups"):
        split_stratified(np.r_[strata[strata != 3], 3], 0.5, seed=7)


def test_learner_finds_who_the_email_moves(tmp_path: Path) -> None:
    """Synthetic truth: the women's e-mail works only for women's buyers. A flipped treatment code or a wrong
    column would break this."""
    frame = read_hillstrom_csv(write(synthetic_hillstrom(6000, seed=6), tmp_path / "a.csv"), require_labels=True)
    model = train_hillstrom(frame, seed=3, members=2)
    assert model.info["n_left_out_mens"] == int((frame["segment"] == "Mens E-Mail").sum())
    assert len(model.members) == 2
    test = read_hillstrom_csv(write(synthetic_hillstrom(3000, seed=7), tmp_path / "b.csv"), require_labels=True)
    uplift = model.uplift(test)
    womens = test["womens"].to_numpy() == 1
    # true uplift 0.15 against 0; the regularised learner shrinks towards the average effect but must separate them
    assert uplift[womens].mean() - uplift[~womens].mean() > 0.05
    assert uplift[womens].mean() > 0.1
    rows, _ = experiment_rows(test)
    metrics = evaluate(outcome_of(rows), model.uplift(rows), treatment_of(rows))
    assert metrics["uplift_at_30"] > metrics["ate"] > 0  # targeting beats e-mailing everybody


# ------------------------------------------------------------------------------------ command line


def test_labelled_test_file_gives_the_metrics(real_files: dict[str, Path], tmp_path: Path) -> None:
    preds = tmp_path / "p.csv"
    code, out, err = run("--train", str(real_files["train"]), "--test", str(real_files["test"]), "--seed", "3",
                         "--members", "2", "--json", "--out", str(preds))
    assert code == 0, err
    assert out.count("\n") == 1
    result = json.loads(out)
    assert list(result)[:3] == FIRST_KEYS
    test = pd.read_csv(real_files["test"])
    mens = test["segment"] == "Mens E-Mail"
    assert result["n_test"] == int((~mens).sum())
    assert result["left_out_mens"] == {"train": int((pd.read_csv(real_files["train"])["segment"]
                                                     == "Mens E-Mail").sum()), "test": int(mens.sum())}
    assert result["n_left_out_mens"] == sum(result["left_out_mens"].values())
    assert result["strategy"] == "overall" and result["published"]["uplift_at_30"] == 0.0661
    assert "fit 2/2" in err  # progress on stderr

    # recomputed independently from the written per-row uplift (every row of the test file is scored)
    table = pd.read_csv(preds)
    assert table["row"].tolist() == list(range(1, len(test) + 1))
    np.testing.assert_allclose(table["uplift"], table["p_email"] - table["p_no_email"])
    kept = test.assign(uplift=table["uplift"].to_numpy())[~mens]
    treated = (kept["segment"] == "Womens E-Mail").to_numpy()
    top = np.argsort(-kept["uplift"].to_numpy(), kind="mergesort")[: math.ceil(0.3 * len(kept))]
    visit = kept["visit"].to_numpy()
    expected = visit[top][treated[top]].mean() - visit[top][~treated[top]].mean()
    assert result["uplift_at_30"] == pytest.approx(expected)
    assert result["qini"] == pytest.approx(qini_auc_score(visit, kept["uplift"], treated.astype(int)))

    code, text, _ = run("--train", str(real_files["train"]), "--test", str(real_files["test"]), "--seed", "3",
                        "--members", "2")
    assert code == 0
    assert "uplift@30% (overall)" in text and "0.0661" in text and "Qini coefficient" in text
    assert f"{result['uplift_at_30']:.4f}" in text


def test_unlabelled_test_file_is_scored(real_files: dict[str, Path], tmp_path: Path) -> None:
    preds = tmp_path / "out" / "uplift.csv"
    args = ("--train", str(real_files["train"]), "--seed", "3", "--members", "2")
    code, out, _ = run(*args, "--test", str(real_files["unlabelled"]), "--out", str(preds))
    assert code == 0, out
    assert "metrics need labels" in out
    table = pd.read_csv(preds)
    assert list(table.columns) == ["row", "uplift", "p_email", "p_no_email"]
    assert table["row"].tolist() == list(range(1, 3001))
    probabilities = table[["p_email", "p_no_email"]].to_numpy()
    assert ((probabilities > 0) & (probabilities < 1)).all()
    # same training, same seed: the same rows get the same uplift as in the labelled run
    labelled = tmp_path / "labelled.csv"
    assert run(*args, "--test", str(real_files["test"]), "--out", str(labelled))[0] == 0
    np.testing.assert_allclose(table["uplift"], pd.read_csv(labelled)["uplift"])

    code, out, _ = run(*args, "--test", str(real_files["unlabelled"]), "--json")
    assert code == 0
    result = json.loads(out)
    assert list(result)[:3] == FIRST_KEYS and result["uplift_at_30"] is None and result["n_test"] == 3000
    np.testing.assert_allclose(result["uplift"], table["uplift"], atol=1e-6)


def test_unknown_category_in_test_file_is_warned(real_files: dict[str, Path], tmp_path: Path) -> None:
    test = pd.read_csv(real_files["unlabelled"], dtype=str, keep_default_na=False).head(50)
    test.loc[[0, 5, 9], "channel"] = "Fax"
    code, out, err = run("--train", str(real_files["train"]), "--seed", "3", "--members", "1",
                         "--test", str(write(test, tmp_path / "fax.csv")), "--json")
    assert code == 0
    assert "warning:" in err and "3 row(s) with a channel value not seen in the training rows" in err
    assert len(json.loads(out)["uplift"]) == 50


def test_split_of_the_training_file(real_files: dict[str, Path], tmp_path: Path) -> None:
    preds = tmp_path / "held_out.csv"
    code, out, err = run("--train", str(real_files["train"]), "--seed", "5", "--members", "2", "--json",
                         "--out", str(preds))
    assert code == 0, err
    result = json.loads(out)
    assert list(result)[:3] == FIRST_KEYS
    train = pd.read_csv(real_files["train"])
    kept = train[train["segment"] != "Mens E-Mail"]
    assert result["n_left_out_mens"] == len(train) - len(kept)
    assert result["n_test"] == math.ceil(len(kept) / 2) and result["n_train"] == len(kept) - result["n_test"]
    assert "stratified (treatment x visit) 50/50 split" in result["protocol"]
    assert "stratified 50/50 split" in err
    # the written rows are the held-out half: rows of the file, none of them men's e-mail rows
    rows = pd.read_csv(preds)["row"]
    assert len(rows) == result["n_test"] and rows.is_unique
    assert (train.loc[rows - 1, "segment"] != "Mens E-Mail").all()
    assert abs(result["n_treated_test"] - int((kept["segment"] == "Womens E-Mail").sum()) / 2) <= 1


def test_real_file_beats_the_published_uplift_at_30() -> None:
    """The whole real file, default protocol (stratified 50/50 split, seed 7 = CARTRISK_SEED's default)."""
    code, out, err = run("--train", str(shared_file()), "--seed", "7", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["n_left_out_mens"] == 14915 and result["n_test"] == 14943
    assert result["strategy"] == "overall"
    assert result["uplift_at_30"] > PUBLISHED["uplift_at_30"] == 0.0661
    assert result["qini"] > 0.05 and result["uplift_at_30"] > result["ate_test"]
