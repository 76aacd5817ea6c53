"""Batch scoring and the marketers' exports: the same answers as the service, lists in their import shapes,
written atomically, from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import QuickModel, UpliftShop
from test_scorer import _double_for
from typer.testing import CliRunner

from cartrisk.cli import app
from features.definitions import FEATURE_NAMES
from features.io import load_dataset
from features.snapshots import build_snapshots
from serving import exports as exports_module
from serving.batch import (
    BATCH_COLUMNS,
    BatchScorer,
    already_bought,
    latest_carts,
    reason_texts,
    segment_texts,
)
from serving.examples import request_for_snapshot
from serving.exports import cart_products, voucher_code, write_exports
from serving.policy import default_catalogue
from serving.schemas import ScoreRequest
from serving.scorer import Scorer
from serving.uplift_scorer import FastUplift


@pytest.fixture(scope="module")
def carts(quick_model: QuickModel) -> pd.DataFrame:
    return latest_carts(quick_model.snaps)


def test_latest_carts_are_one_per_session_at_its_last_snapshot(quick_model: QuickModel, carts: pd.DataFrame
                                                               ) -> None:
    snaps = quick_model.snaps
    with_cart = snaps[snaps["cart_value"] > 0]
    assert len(carts) == with_cart["session_id"].nunique() and carts["session_id"].is_unique
    last = with_cart.groupby("session_id", observed=True)["n_events"].max()
    assert (carts.set_index("session_id")["n_events"] == last.loc[carts["session_id"]].to_numpy()).all()
    recent = latest_carts(snaps, last_days=2)
    times = pd.to_datetime(carts["snapshot_time"], utc=True)
    assert 0 < len(recent) < len(carts)
    assert (pd.to_datetime(recent["snapshot_time"], utc=True) > times.max() - pd.Timedelta(days=2)).all()


def test_latest_only_snapshots_are_the_latest_rows_of_the_full_table(quick_model: QuickModel,
                                                                     carts: pd.DataFrame) -> None:
    """Batch scoring derives only each cart's latest snapshot: the same rows and values as the full table's."""
    latest = build_snapshots(quick_model.ds, latest_only=True)
    assert len(latest) == len(carts)
    pd.testing.assert_frame_equal(latest_carts(latest), carts)
    recent = latest_carts(latest, last_days=2)
    pd.testing.assert_frame_equal(recent, latest_carts(quick_model.snaps, last_days=2))


@pytest.mark.parametrize("with_uplift", [False, True])
def test_batch_answers_what_the_service_answers(quick_model: QuickModel, uplift_shop: UpliftShop,
                                                carts: pd.DataFrame, with_uplift: bool) -> None:
    cat = default_catalogue()
    uplift = uplift_shop.result.model if with_uplift else None
    sample = carts.sample(40, random_state=3).reset_index(drop=True)
    batch = BatchScorer(quick_model.model, catalogue=cat, uplift=uplift).score(sample)
    assert list(batch.columns) == list(BATCH_COLUMNS) and len(batch) == 40
    shop = quick_model.shop
    for k, snap in sample.iterrows():
        scorer = Scorer(quick_model.model, "t", profiles=_double_for(shop, snap), catalogue=cat,  # type: ignore[arg-type]
                        uplift=FastUplift(uplift, FEATURE_NAMES) if uplift is not None else None)
        req = ScoreRequest.model_validate(request_for_snapshot(shop, snap["session_id"], int(snap["n_events"])))
        answer = scorer.score(req)
        row = batch.iloc[int(str(k))]
        assert row["risk"] == pytest.approx(answer.risk, abs=1e-6), snap["snapshot_id"]
        assert row["incentive"] == answer.incentive.code and row["risk_band"] == answer.risk_band
        assert row["policy"] == answer.incentive.policy == ("profit" if with_uplift else "rules")
        assert row["expected_cost"] == pytest.approx(answer.incentive.expected_cost, abs=1e-3)
        assert row["segments"].split(";") == [s for s in answer.segments] or row["segments"] == ""
        top = [r.feature for r in answer.reasons]
        assert [part.split(" ")[0] for part in row["top_reasons"].split("; ") if part] == top
    if with_uplift:
        assert (batch["expected_recovered_revenue"] >= 0).all()
        assert (batch.loc[batch["incentive"] == "none", "expected_cost"] == 0).all()
    else:
        assert batch["expected_recovered_revenue"].isna().all()


def test_cart_products_are_adds_minus_removes() -> None:
    t = pd.Timestamp("2026-01-01", tz="UTC")
    events = pd.DataFrame({
        "session_id": ["s1"] * 5 + ["s2"],
        "event_type": ["add_to_cart", "add_to_cart", "remove_from_cart", "view_item", "add_to_cart", "add_to_cart"],
        "product_id": ["p1", "p2", "p1", "p9", "p3", "p7"],
        "quantity": [1, 1, 1, None, 2, 1],
        "event_time": [t + pd.Timedelta(seconds=i) for i in range(6)],
    })
    products = cart_products(events)
    assert products.to_dict() == {"s1": "p2;p3", "s2": "p7"}
    assert cart_products(events, sessions=["s2"]).to_dict() == {"s2": "p7"}
    assert cart_products(events, sessions=[]).empty


def _scored(quick_model: QuickModel, uplift_shop: UpliftShop, carts: pd.DataFrame) -> pd.DataFrame:
    return BatchScorer(quick_model.model, uplift=uplift_shop.result.model).score(carts)


def test_a_warmed_up_scorer_has_its_trees_ready_and_scores_the_same(quick_model: QuickModel,
                                                                    uplift_shop: UpliftShop,
                                                                    carts: pd.DataFrame) -> None:
    import threading

    scorer = BatchScorer(quick_model.model, uplift=uplift_shop.result.model)
    assert scorer._uplift is not None and scorer._uplift._forest is None  # built on first use
    warm = threading.Thread(target=scorer.warm_up)  # as `cartrisk score` does, beside the data being read
    warm.start()
    warm.join()
    assert scorer._uplift._forest is not None
    pd.testing.assert_frame_equal(scorer.score(carts), _scored(quick_model, uplift_shop, carts))


@pytest.mark.parametrize("pipelined", [True, False])
@pytest.mark.parametrize("profit", [True, False])
def test_scoring_in_parts_gives_the_table_of_one_pass(quick_model: QuickModel, uplift_shop: UpliftShop,
                                                      carts: pd.DataFrame, monkeypatch: pytest.MonkeyPatch,
                                                      profit: bool, pipelined: bool) -> None:
    import threading

    import numba

    import serving.batch

    scorer = BatchScorer(quick_model.model, uplift=uplift_shop.result.model if profit else None)
    whole = scorer.score(carts)
    monkeypatch.setattr(serving.batch, "PART_ROWS", 97)
    if pipelined:  # this machine's numba must allow it, or the test would only see the one-thread path
        assert numba.threading_layer() in serving.batch._THREADSAFE_LAYERS
    else:
        monkeypatch.setattr(serving.batch, "_THREADSAFE_LAYERS", ())
    walk = scorer._walk
    threads: list[int] = []

    def walk_and_note(part: pd.DataFrame) -> object:
        threads.append(threading.get_ident())
        return walk(part)

    monkeypatch.setattr(scorer, "_walk", walk_and_note)
    done: list[int] = []
    parts = scorer.score(carts, progress=lambda stage, n: done.append(n))
    assert len(carts) > 3 * 97 and done == [*range(97, len(carts), 97), len(carts)]
    assert len(threads) == len(done)  # each part's trees walked once: the first here, the others on the second
    assert (set(threads[1:]) != {threading.get_ident()}) is pipelined  # later parts: second thread if pipelined
    pd.testing.assert_frame_equal(parts, whole)


def test_carts_without_a_session_id_are_refused_with_their_rows(quick_model: QuickModel, carts: pd.DataFrame
                                                                  ) -> None:
    bad = carts.head(20).copy()
    bad.loc[[3, 7], "session_id"] = None
    with pytest.raises(ValueError, match=r"2 carts have no session id \(rows \[3, 7\]\)"):
        BatchScorer(quick_model.model).score(bad)


def test_already_bought_carts_are_those_bought_in_their_session_or_ordered_since() -> None:
    t = pd.Timestamp("2026-03-01 10:00", tz="UTC")
    carts = pd.DataFrame({
        "session_id": ["s1", "s2", "s3", "s4", "s5", "s6"],
        "customer_id": pd.array(["c1", "c2", "c3", None, "c5", "c6"], dtype="string"),
        "snapshot_time": [t] * 6,
    })
    events = pd.DataFrame({"session_id": ["s1", "s1", "s2", "s4"],
                           "event_type": pd.Categorical(["add_to_cart", "purchase", "add_to_cart", "purchase"])})
    orders = pd.DataFrame({
        "session_id": pd.array([None, None, "s6"], dtype="string"),
        "customer_id": pd.array(["c3", "c5", None], dtype="string"),
        "order_time": [t + pd.Timedelta(days=3), t - pd.Timedelta(hours=1), t],
    })
    # s1: purchase in the session; s2: still open; s3: its customer ordered since; s4: a guest who bought in the
    # session; s5: the customer's only order came before the cart; s6: a guest order placed from the session
    assert already_bought(carts, events, orders).tolist() == [True, False, True, True, False, True]
    assert already_bought(carts, events, orders.iloc[:0]).tolist() == [True, False, False, True, False, False]


def test_already_bought_on_many_ids_agrees_with_matching_them_one_by_one() -> None:
    """Enough rows for the compiled numbering of ids (features.ids.MIN_ROWS), with missing ids on every side."""
    rng = np.random.default_rng(4)
    t0 = pd.Timestamp("2026-03-01", tz="UTC")

    def ids(prefix: str, n: int, high: int, missing: float) -> pd.Series:
        values = pd.Series([f"{prefix}{k:07d}" for k in rng.integers(0, high, n)], dtype="string")
        return values.mask(rng.random(n) < missing)

    def times(n: int) -> pd.Series:
        return pd.Series(t0 + pd.to_timedelta(rng.integers(0, 10**6, n), unit="s"))

    sessions = pd.Series([f"s{k:07d}" for k in rng.permutation(300_000)[:60_000]], dtype="string")
    carts = pd.DataFrame({"session_id": sessions, "customer_id": ids("c", 60_000, 50_000, 0.3),
                          "snapshot_time": times(60_000)})
    events = pd.DataFrame({"session_id": ids("s", 150_000, 300_000, 0.0),
                           "event_type": pd.Categorical(rng.choice(["view", "purchase"], 150_000))})
    orders = pd.DataFrame({"session_id": ids("s", 120_000, 300_000, 0.5), "customer_id": ids("c", 120_000, 50_000, 0.2),
                           "order_time": times(120_000)})
    sold = set(events["session_id"][events["event_type"] == "purchase"]) | set(orders["session_id"].dropna())
    last: dict[str, pd.Timestamp] = {}
    for customer, at in zip(orders["customer_id"], orders["order_time"], strict=True):
        if customer is not pd.NA:
            last[customer] = max(at, last.get(customer, at))
    want = [s in sold or (c is not pd.NA and c in last and last[c] >= at)
            for s, c, at in zip(carts["session_id"], carts["customer_id"], carts["snapshot_time"], strict=True)]
    got = already_bought(carts, events, orders)
    assert got.tolist() == want
    assert 0 < got.sum() < len(got)


def test_times_for_spreadsheets_are_utc_seconds_rounded_down() -> None:
    from serving.exports import utc_texts

    times = pd.Series([pd.Timestamp("1969-12-31 23:59:59.5", tz="UTC"), pd.NaT,
                       pd.Timestamp("2026-01-01 00:00", tz="Europe/Berlin"), pd.Timestamp("2026-03-06 23:59:59.999999",
                                                                                        tz="UTC")])
    assert utc_texts(times).to_pylist() == ["1969-12-31 23:59:59", None, "2025-12-31 23:00:00",
                                            "2026-03-06 23:59:59"]


def test_exports_have_the_import_shapes(quick_model: QuickModel, uplift_shop: UpliftShop, carts: pd.DataFrame,
                                        tmp_path: Path) -> None:
    scored = _scored(quick_model, uplift_shop, carts)
    written = write_exports(scored, cart_products(quick_model.ds.events), tmp_path, default_catalogue())
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["files"] == written and manifest["carts"] == len(scored)
    back = pd.read_csv(tmp_path / "carts.csv")
    assert len(back) == len(scored) and list(back.columns) == list(BATCH_COLUMNS)
    # read as people read it: times to the second in UTC, money to the cent, the risk to 4 decimals
    assert back["snapshot_time"].str.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d").all()
    assert (pd.to_datetime(back["snapshot_time"], utc=True)
            == pd.to_datetime(scored["snapshot_time"], utc=True).dt.floor("s")).all()
    assert (back["cart_value"] == scored["cart_value"].round(2)).all()
    assert (back["risk"] == scored["risk"].round(4)).all()
    email = pd.read_csv(tmp_path / "email_reminder_email.csv")
    assert list(email.columns) == ["customer_id", "cart_id", "incentive", "products", "cart_value", "risk"]
    assert email["customer_id"].notna().all() and (email["products"].str.len() > 0).mean() > 0.9
    reminded = scored[(scored["incentive"] == "reminder_email") & scored["customer_id"].notna()]
    # one e-mail per customer, about their latest cart
    assert len(email) == reminded["customer_id"].nunique() and email["customer_id"].is_unique
    latest = reminded.sort_values("snapshot_time").groupby("customer_id")["cart_id"].last()
    assert dict(zip(email["customer_id"].astype(str), email["cart_id"].astype(str), strict=True)) == {
        str(k): str(v) for k, v in latest.items()}
    for name in [n for n in written if n.startswith("discount_")]:
        d = pd.read_csv(tmp_path / name)
        assert list(d.columns) == ["customer_id", "cart_id", "code", "percent_off", "cart_value"]
        assert d["code"].is_unique and d["code"].str.match(r"^DISCOUNT\d+-[0-9A-F]{10}$").all()
    audience = pd.read_csv(tmp_path / "audience_retargeting.csv")
    assert list(audience.columns) == ["customer_id"] and audience["customer_id"].is_unique
    at_risk = scored[scored["risk_band"] != "low"]["customer_id"].dropna().nunique()
    assert len(audience) == at_risk
    assert voucher_code("s1", "discount_10") == voucher_code("s1", "discount_10") != voucher_code("s2", "discount_10")


def test_a_failed_export_leaves_the_previous_one_untouched(quick_model: QuickModel, uplift_shop: UpliftShop,
                                                           carts: pd.DataFrame, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    scored = _scored(quick_model, uplift_shop, carts)
    products = cart_products(quick_model.ds.events)
    write_exports(scored, products, tmp_path, default_catalogue())
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    calls = {"n": 0}
    real = exports_module._csv

    def failing(frame: pd.DataFrame, path: Path) -> int:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return real(frame, path)

    monkeypatch.setattr(exports_module, "_csv", failing)
    with pytest.raises(OSError, match="disk full"):
        write_exports(scored.head(10), products, tmp_path, default_catalogue())
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert after == before  # same files, same bytes, no staging folder left behind


@pytest.mark.slow
def test_cli_scores_reports_and_checks_policy_edits_with_the_imported_models(
    quick_model: QuickModel, uplift_shop: UpliftShop, small_shop_dir: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("CARTRISK_HOME", str(home))
    monkeypatch.setenv("BENTOML_HOME", str(tmp_path / "bentoml"))
    runner = CliRunner()
    # without an imported model: a clear error, nothing written
    out = runner.invoke(app, ["score", "--data", str(small_shop_dir), "--out", str(tmp_path / "x")])
    assert out.exit_code == 2 and "cartrisk import-model" in out.output
    assert not (tmp_path / "x").exists()
    # the models are looked up before the data are read (then loaded while the data are read)
    out = runner.invoke(app, ["score", "--data", str(tmp_path / "no-data"), "--out", str(tmp_path / "x")])
    assert out.exit_code == 2 and "cartrisk import-model" in out.output
    quick_model.model.save(tmp_path / "risk")
    uplift_shop.result.model.save(tmp_path / "uplift")
    code = ("from pathlib import Path; from serving.model_import import save_bento_model, save_bento_uplift_model; "
            f"save_bento_model(Path({str(tmp_path / 'risk')!r}), {{'mlflow_version': '4'}}); "
            f"save_bento_uplift_model(Path({str(tmp_path / 'uplift')!r}), {{'mlflow_version': '2'}})")
    env = {"BENTOML_HOME": str(tmp_path / "bentoml"), "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)
    snaps = tmp_path / "snaps.parquet"
    quick_model.snaps.to_parquet(snaps)
    feats = ["--features", str(snaps)]
    out = runner.invoke(app, ["score", "--data", str(small_shop_dir), *feats, "--out", str(tmp_path / "exports"),
                              "--json"])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout)
    assert summary["policy"] == "profit" and summary["models"] == {"risk_version": "4", "uplift_version": "2"}
    # no list goes to a cart that was bought: not in its session, not by an order since
    shop = load_dataset(small_shop_dir, quarantine_dir=None)
    scored_ids = set(pd.read_csv(tmp_path / "exports" / "carts.csv", dtype=str)["cart_id"])
    bought = set(shop.events.loc[shop.events["event_type"] == "purchase", "session_id"].astype(str))
    assert summary["carts_already_bought_left_out"] > 0 and not scored_ids & bought
    assert summary["carts"] == len(pd.read_csv(tmp_path / "exports" / "carts.csv"))
    assert set(summary["files"]) >= {"carts.csv", "audience_retargeting.csv", "report.html"}
    page = (tmp_path / "exports" / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and (home / "report" / "latest.html").read_text() == page
    # cartrisk report writes the same kind of page where asked
    out = runner.invoke(app, ["report", "--data", str(small_shop_dir), *feats, "--out", str(tmp_path / "r.html"),
                              "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["carts"] == summary["carts"] and (tmp_path / "r.html").exists()
    # policy check: an edited catalogue is validated and compared with the one in force on recent carts
    text = (Path(__file__).resolve().parents[1] / "serving" / "incentives.yaml").read_text()
    assert "  margin: 0.30" in text
    edited = tmp_path / "incentives.yaml"
    edited.write_text(text.replace("  margin: 0.30", "  margin: 0.60"))
    out = runner.invoke(app, ["policy", "check", "--catalogue", str(edited), "--data", str(small_shop_dir), *feats,
                              "--last-days", "10", "--json"])
    assert out.exit_code == 0, out.output
    check = json.loads(out.stdout)
    assert check["valid"] and check["carts"] > 0 and check["policy"] == "profit"
    # a higher margin makes more incentives pay: more carts get one, at a higher cost
    assert check["edited"]["expected_cost"] > check["in_force"]["expected_cost"]
    assert check["edited"]["incentives"].get("none", {"carts": 0})["carts"] \
        < check["in_force"]["incentives"]["none"]["carts"]
    assert check["edited"]["segments"] == check["in_force"]["segments"]
    edited.write_text(text.replace("  margin: 0.30", "  margin: 1.30"))
    out = runner.invoke(app, ["policy", "check", "--catalogue", str(edited), "--data", str(small_shop_dir)])
    assert out.exit_code == 2 and "margin" in out.output and "at most 1" in out.output


def test_batch_spends_a_daily_budget_on_the_most_profitable_offers_first(
    quick_model: QuickModel, uplift_shop: UpliftShop, carts: pd.DataFrame, tmp_path: Path
) -> None:
    from serving.policy import load_catalogue

    text = (Path(__file__).resolve().parents[1] / "serving" / "incentives.yaml").read_text()
    assert "  daily_budget: null" in text
    free = BatchScorer(quick_model.model, uplift=uplift_shop.result.model, explore=False).score(carts)
    spent = float(free["expected_cost"].sum())
    assert spent > 20
    path = tmp_path / "incentives.yaml"
    path.write_text(text.replace("  daily_budget: null", f"  daily_budget: {spent / 4:.2f}"))
    capped = BatchScorer(quick_model.model, catalogue=load_catalogue(path), uplift=uplift_shop.result.model,
                         explore=False).score(carts)
    assert float(capped["expected_cost"].sum()) <= spent / 4 + 0.01
    assert float(capped["expected_cost"].sum()) > spent / 8
    # what was kept is the more profitable part of what would have been offered
    kept = capped["incentive"] != "none"
    dropped = (free["incentive"] != "none") & ~kept
    assert free.loc[kept, "expected_profit"].mean() > free.loc[dropped, "expected_profit"].mean()


@pytest.mark.parametrize("n_segments", [3, 70])
def test_segment_texts_join_each_rows_segments_in_order(n_segments: int) -> None:
    flags = np.random.default_rng(n_segments).random((500, n_segments)) < 0.2
    names = [f"seg{j}" for j in range(n_segments)]
    assert list(segment_texts(flags, names)) == [";".join(n for n, f in zip(names, row, strict=True) if f)
                                                 for row in flags]


def test_reason_texts_format_like_python_even_half_way() -> None:
    values = np.array([[0.125, 0.005, -0.01], [0.41, 0.0, 0.0], [-0.2, -0.3, -0.4], [2.675, 1.005, 0.015]])
    top = np.array([[0, 1, 2], [1, 2, 0], [0, 1, 2], [2, 0, 1]])
    names = ["a", "b", "c"]
    want = ["; ".join(f"{names[i]} ({v:+.2f})" for i, v in zip(t, row, strict=True) if v > 0)
            for t, row in zip(top, values, strict=True)]
    assert list(reason_texts(top, values, names)) == want
    assert want[0] == "a (+0.12); b (+0.01)" and want[2] == ""
    # a tiny negative and a tiny positive contribution of the same feature round to -0.00 and +0.00
    tiny = np.array([[-0.003, -0.5], [0.003, -0.5], [0.004, 0.001]])
    where = np.array([[0, 1], [0, 1], [0, 1]])
    assert list(reason_texts(where, tiny, names)) == ["", "a (+0.00)", "a (+0.00); b (+0.00)"]
    random = np.random.default_rng(3)
    many = -np.sort(-random.normal(0.0, 0.02, size=(5000, 3)), axis=1)
    which = random.integers(0, 3, size=(5000, 3))
    assert list(reason_texts(which, many, names)) == [
        "; ".join(f"{names[i]} ({v:+.2f})" for i, v in zip(t, row, strict=True) if v > 0)
        for t, row in zip(which, many, strict=True)]
