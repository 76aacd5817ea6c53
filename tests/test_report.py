"""The marketers' HTML report: its numbers, and the page itself in a real headless Chromium."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import QuickModel, UpliftShop, services_required

from serving.batch import BatchScorer, latest_carts
from serving.report import build_report, experiment_outcomes, measured_uplift, render_html
from training.uplift_data import experiment_table

CHROMIUM = os.environ.get("CARTRISK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def report_files(quick_model: QuickModel, uplift_shop: UpliftShop, tmp_path_factory: pytest.TempPathFactory
                 ) -> dict[str, Any]:
    """A batch run of the small shop with both models: carts.csv and report.html on disk."""
    folder = tmp_path_factory.mktemp("report")
    snaps = quick_model.snaps
    scored = BatchScorer(quick_model.model, uplift=uplift_shop.result.model).score(latest_carts(snaps))
    scored.to_csv(folder / "carts.csv", index=False)
    assert quick_model.ds.experiments is not None
    experiments = experiment_table(snaps, quick_model.ds.experiments).frame
    data = build_report(scored, snaps, experiments)
    (folder / "report.html").write_text(render_html(data), encoding="utf-8")
    return {"folder": folder, "data": data, "experiments": experiments}


def test_report_tables_hold_the_numbers_of_the_csv(report_files: dict[str, Any]) -> None:
    data = report_files["data"]
    csv = pd.read_csv(report_files["folder"] / "carts.csv", dtype={"segments": str})
    assert data.carts == len(csv)
    per_segment = csv["segments"].fillna("").str.split(";").explode().replace("", "(none)").value_counts()
    got = data.segments.set_index("segment")["carts"]
    assert got.to_dict() == per_segment.to_dict()
    assert data.totals["with_incentive"] == (csv["incentive"] != "none").sum()
    assert data.totals["expected_cost"] == pytest.approx(csv["expected_cost"].sum())
    mix = data.mix.groupby("incentive")["carts"].sum()
    # a cart counts once per segment it is in, so per incentive the mix adds up to its carts x their segments
    n_segs = csv["segments"].fillna("").str.split(";").map(len)
    assert mix.to_dict() == csv.assign(n=n_segs).groupby("incentive")["n"].sum().to_dict()
    # the reasons: each "name (value)" of a cart's "; "-separated top reasons, counted once per cart
    named = [r.split(" (")[0] for text in csv["top_reasons"].fillna("") for r in str(text).split("; ") if r]
    assert data.reasons.set_index("feature")["carts"].to_dict() == pd.Series(named).value_counts().to_dict()
    assert data.reasons["carts"].is_monotonic_decreasing


def test_the_report_says_what_it_scored_and_leaves_out_days_without_known_outcomes(
        report_files: dict[str, Any], quick_model: QuickModel) -> None:
    from features.snapshots import last_with_cart
    from serving.report import KNOWN_SHARE_FOR_A_DAY

    data = report_files["data"]
    last = last_with_cart(quick_model.snaps)
    day = pd.to_datetime(last["snapshot_time"], utc=True).dt.strftime("%Y-%m-%d")
    known_share = last["abandoned"].notna().groupby(day).mean()
    # a day is drawn when enough of its carts have a known outcome; the left-out days are the last ones
    assert set(data.daily["day"]) == set(known_share[known_share >= KNOWN_SHARE_FOR_A_DAY].index)
    left_out = sorted(set(known_share.index) - set(data.daily["day"]))
    assert left_out and left_out == sorted(known_share.index)[-len(left_out):]
    assert f"The last {len(left_out)} day" in data.daily_note
    page = render_html(build_report(pd.read_csv(report_files["folder"] / "carts.csv"), quick_model.snaps,
                                    scope="every cart of the data"))
    assert 'id="scope">Scored: carts last seen from ' in page and "UTC; every cart of the data." in page
    assert 'id="daily-note">The last' in page


def test_segment_abandonment_counts_the_bought_carts_that_are_not_scored(report_files: dict[str, Any],
                                                                        quick_model: QuickModel) -> None:
    from features.snapshots import last_with_cart
    from serving.report import segment_abandonment

    scored = pd.read_csv(report_files["folder"] / "carts.csv", dtype={"segments": str, "cart_id": str})
    last = last_with_cart(quick_model.snaps)
    bought = set(last.loc[last["abandoned"] == 0, "session_id"].astype(str))
    not_bought = scored[~scored["cart_id"].isin(bought)]  # as `cartrisk score` leaves the bought carts out
    data = build_report(not_bought, quick_model.snaps)
    rates = data.segments.set_index("segment")["abandonment_rate"]
    seen = pd.to_datetime(not_bought["snapshot_time"], utc=True)
    at = pd.to_datetime(last["snapshot_time"], utc=True)
    want = segment_abandonment(last[(at >= seen.min()) & (at <= seen.max())])
    assert rates.to_dict() == pytest.approx(want.reindex(rates.index).to_dict(), nan_ok=True)
    assert (rates.dropna() < 0.99).any()  # the scored carts alone would all be abandoned


def test_measured_uplift_needs_only_each_carts_latest_snapshot(quick_model: QuickModel,
                                                                 report_files: dict[str, Any]) -> None:
    """Batch scoring derives only the latest snapshots: the report's measured uplift from them equals the one
    from the experiments joined to their decision-time snapshots."""
    csv = pd.read_csv(report_files["folder"] / "carts.csv", dtype={"segments": str, "cart_id": str})
    segments = csv.set_index("cart_id")["segments"].fillna("")
    assert quick_model.ds.experiments is not None
    from_latest = experiment_outcomes(latest_carts(quick_model.snaps), quick_model.ds.experiments)
    assert len(from_latest) == len(report_files["experiments"])
    pd.testing.assert_frame_equal(measured_uplift(from_latest, segments),
                                  measured_uplift(report_files["experiments"], segments))


def test_measured_uplift_is_treated_minus_control_with_an_interval() -> None:
    exp = pd.DataFrame({"session_id": [f"s{k}" for k in range(8)],
                        "incentive": ["none"] * 4 + ["gift"] * 4,
                        "bought": [0, 0, 1, 0, 1, 1, 0, 1]})
    seg = pd.Series({f"s{k}": "vip" if k % 2 else "guest" for k in range(8)})
    table = measured_uplift(exp, seg, min_group=2).set_index(["incentive", "segment"])

    def cell(frame: pd.DataFrame, key: tuple[str, str], column: str) -> float:
        return float(frame.loc[key, column])  # type: ignore[arg-type]

    assert cell(table, ("gift", "all"), "uplift") == pytest.approx(0.75 - 0.25)
    assert cell(table, ("gift", "all"), "low") < 0.5 < cell(table, ("gift", "all"), "high")
    assert cell(table, ("gift", "vip"), "treated") == 2 and cell(table, ("gift", "vip"), "control") == 2
    # all bought on one side, none on the other: still an interval of non-zero width
    assert cell(table, ("gift", "vip"), "high") - cell(table, ("gift", "vip"), "low") > 0.2
    assert measured_uplift(exp, seg, min_group=3).query("segment == 'vip'").empty
    # an e-mail never goes to guests: its control group is the known customers' control carts
    exp["incentive"] = ["none", "none", "none", "none", "reminder_email", "reminder_email", "gift", "gift"]
    exp["is_guest"] = [1, 1, 0, 0, 0, 0, 1, 0]
    both = measured_uplift(exp, seg, min_group=1).set_index(["incentive", "segment"])
    assert cell(both, ("reminder_email", "all"), "control") == 2 and cell(both, ("gift", "all"), "control") == 4


def test_report_is_self_contained(report_files: dict[str, Any]) -> None:
    page = (report_files["folder"] / "report.html").read_text()
    for needle in ("<script src", "<link ", "@import", "@font-face", "<img"):
        assert needle not in page, needle
    # the only addresses are the SVG and XLink namespace names, which are never fetched
    import re

    assert set(re.findall(r"https?://[^\"' )]+", page)) <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    assert page.count("<svg") >= 5 and page.count('class="sortable"') >= 4


def _chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    message = f"Chromium is not installed at {CHROMIUM}"
    if services_required():
        pytest.fail(message + " (CI installs Debian's chromium: see .ci/run)")
    pytest.skip(message)


def _not_blank(png: bytes) -> float:
    from matplotlib.image import imread

    pixels = imread(io.BytesIO(png), format="png")[..., :3]
    return float((pixels.mean(axis=2) < 0.9).mean())


@pytest.mark.slow
def test_report_in_headless_chromium(report_files: dict[str, Any], tmp_path: Path) -> None:
    _chromium()
    from playwright.sync_api import sync_playwright

    csv = pd.read_csv(report_files["folder"] / "carts.csv", dtype={"segments": str})
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
        page.goto((report_files["folder"] / "report.html").as_uri())
        page.wait_for_load_state("load")
        # the charts render: each one's screenshot has ink on it
        for chart in ("chart-daily", "chart-risk", "chart-mix", "chart-reasons", "chart-uplift"):
            shot = page.locator(f"#{chart}").screenshot()
            assert _not_blank(shot) > 0.01, chart
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        assert _not_blank((tmp_path / "report.png").read_bytes()) > 0.01
        # the tables hold the CSV's numbers
        assert page.locator("#kpi-carts").inner_text().replace(",", "") == str(len(csv))
        rows = page.locator("#segments tbody tr")
        shown = {rows.nth(k).locator("td").nth(0).inner_text(): int(rows.nth(k).locator("td").nth(1).inner_text()
                                                                    .replace(",", ""))
                 for k in range(rows.count())}
        per_segment = csv["segments"].fillna("").str.split(";").explode().replace("", "(none)").value_counts()
        assert shown == per_segment.to_dict()
        # a click on a header sorts the table by that column
        page.locator("#segments th", has_text="carts").first.click()
        values = [float(v) for v in page.locator("#segments tbody tr td:nth-child(2)").evaluate_all(
            "cells => cells.map(c => c.getAttribute('data-v'))")]
        assert values == sorted(values)
        page.locator("#segments th", has_text="carts").first.click()
        values = [float(v) for v in page.locator("#segments tbody tr td:nth-child(2)").evaluate_all(
            "cells => cells.map(c => c.getAttribute('data-v'))")]
        assert values == sorted(values, reverse=True)
        browser.close()
    assert problems == []
    shutil.copy(tmp_path / "report.png", report_files["folder"] / "report.png")
    assert np.isfinite(report_files["data"].totals["expected_cost"])
