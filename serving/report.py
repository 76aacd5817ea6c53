"""The marketers' report: one self-contained HTML page (no external script, style sheet, font or image).

:func:`build_report` turns a batch scoring run (the table of :mod:`serving.batch`), the cart snapshots and,
when the shop logs them, its incentive experiments into :class:`ReportData` (plain tables); :func:`render_html`
writes the page: the abandonment rate over time, the risk distribution, the segments (size, risk, abandonment
rate), the incentive mix per segment with its expected cost and recovered revenue, the top reasons for risk and,
with experiments, the measured uplift of each incentive per segment with its 95% interval. Charts are inline SVG
(matplotlib, text drawn as paths, so no font is needed); tables sort by a click on a column header (a few lines
of inline script). It opens from disk, offline; the service serves the latest one at ``/report``.
"""

from __future__ import annotations

import html
import io
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from matplotlib.figure import Figure

from features.definitions import LABEL
from features.ids import locate
from features.segments import RuleSet, assign_segments
from features.sessions import US_PER_DAY, to_us
from features.snapshots import last_with_cart
from training.plots import MODEL_COLOUR, REFERENCE_COLOUR, _figure

__all__ = ["ReportData", "build_report", "experiment_outcomes", "measured_uplift", "render_html"]


@dataclass
class ReportData:
    """Every number the page shows, as plain tables (so tests can compare them with the CSV)."""

    title: str
    generated: str
    carts: int
    policy: str
    daily: pd.DataFrame
    """``day``, ``carts``, ``abandoned``, ``abandonment_rate`` (carts whose outcome is known)."""
    risk: np.ndarray
    segments: pd.DataFrame
    """``segment``, ``carts``, ``share``, ``mean_risk``, ``abandonment_rate``."""
    mix: pd.DataFrame
    """``segment``, ``incentive``, ``carts``, ``expected_cost``, ``expected_recovered_revenue``."""
    reasons: pd.DataFrame
    """``feature``, ``carts`` (carts with it among their top reasons), ``share``."""
    uplift: pd.DataFrame | None = None
    """``incentive``, ``segment``, ``treated``, ``control``, ``uplift``, ``low``, ``high`` (95%)."""
    totals: dict[str, float] = field(default_factory=dict)
    """Over all carts (each once): ``with_incentive``, ``expected_cost``, ``expected_recovered_revenue``."""
    notes: list[str] = field(default_factory=list)
    scope: str = ""
    """Which carts were scored: their time window and the run's choices."""
    daily_note: str = ""
    """Which days the abandonment chart leaves out, and why."""


KNOWN_SHARE_FOR_A_DAY = 0.5
"""A day is drawn in the abandonment chart once at least this share of its carts have a known outcome."""


def _split_column(values: pd.Series, sep: str = ";") -> tuple[np.ndarray, np.ndarray]:
    """``(row, part)`` for every ``sep``-separated part of every row: the split done once per distinct value (a
    column like ``segments`` holds few distinct combinations), then repeated for the rows that have it."""
    codes, uniques = pd.factorize(values.fillna("").astype(str))
    parts = [str(u).split(sep) for u in uniques]
    counts = np.array([len(p) for p in parts], dtype=np.int64)
    flat = np.array([x for p in parts for x in p], dtype=object)
    starts = np.r_[0, np.cumsum(counts)[:-1]] if len(counts) else counts
    rows = np.repeat(np.arange(len(codes)), counts[codes])
    within = np.arange(len(rows)) - np.repeat(np.cumsum(counts[codes]) - counts[codes], counts[codes])
    return rows, flat[np.repeat(starts[codes], counts[codes]) + within]


_SEGMENT_ROW_COLUMNS = ("risk", "incentive", "expected_cost", "expected_recovered_revenue")


def _segment_rows(scored: pd.DataFrame, abandoned: np.ndarray) -> pd.DataFrame:
    """One row per (cart, segment) with the cart's risk, incentive, expected cost and recovered revenue, and
    ``abandoned`` (its outcome, aligned with ``scored``): carts in several segments count in each; carts in none
    under '(none)'."""
    rows, segment = _split_column(scored["segments"])
    out = pd.DataFrame({name: scored[name].to_numpy()[rows] for name in _SEGMENT_ROW_COLUMNS})
    out["abandoned"] = np.asarray(abandoned, dtype=np.float64)[rows]
    out["segment"] = np.where(segment == "", "(none)", segment)
    return out


def _reason_counts(top_reasons: pd.Series, carts: int) -> pd.DataFrame:
    """``feature``, ``carts`` (carts with it among their top reasons), ``share``, from texts like
    ``"cart_value (+0.41); device (+0.12)"``: each reason is ``name (value)``, reasons are ``; ``-separated
    (split in Arrow: the texts are nearly all distinct)."""
    text = pa.array(top_reasons.fillna("").astype("string"), type=pa.string())  # stays in Arrow
    reasons = pc.list_flatten(pc.split_pattern(text, "; "))
    names = pc.list_element(pc.split_pattern(reasons, " (", max_splits=1), 0)
    counted = pc.value_counts(pc.filter(names, pc.not_equal(names, ""))).to_pylist()
    found = pd.DataFrame({"feature": [str(c["values"]) for c in counted],
                          "carts": np.array([c["counts"] for c in counted], dtype=np.int64)})
    found = found.sort_values(["carts", "feature"], ascending=[False, True], kind="stable").reset_index(drop=True)
    found["share"] = found["carts"] / carts if carts else 0.0
    return found


MIN_GROUP = 20
"""Carts needed on each side (given the incentive, control) before a segment's uplift is shown."""


def measured_uplift(experiments: pd.DataFrame, segment_of: pd.Series, min_group: int = MIN_GROUP) -> pd.DataFrame:
    """Per incentive and segment (and ``all``): purchase rate of carts given it minus control carts, with a 95%
    interval (Agresti-Caffo: one success and one failure added to each side, so a small group with all or no
    purchases does not get a zero-width interval). ``experiments`` is an experiment table (``session_id``,
    ``incentive``, ``bought``, optionally ``is_guest``); ``segment_of`` maps a session to its ``;``-separated
    segments. An incentive never given to a guest (an e-mail needs an address) is compared with known customers'
    control carts only. Groups with fewer than ``min_group`` carts on either side are left out."""
    cols = ["session_id", "incentive", "bought", *(["is_guest"] if "is_guest" in experiments else [])]
    exp = experiments[cols].copy()
    exp["incentive"] = exp["incentive"].astype(str)
    guest = exp["is_guest"].to_numpy(dtype=np.float64) == 1 if "is_guest" in exp else np.zeros(len(exp), bool)
    exp["guest"] = guest
    at_row = locate(pd.Series(segment_of.index), exp["session_id"])  # each experiment's row of ``segment_of``
    texts = np.where(at_row >= 0, segment_of.fillna("").astype(str).to_numpy(dtype=object)[at_row], "")
    member, segment = _split_column(pd.Series(texts, dtype=object))  # one row per (experiment, segment)
    exploded = exp.iloc[member].assign(segment=segment)
    groups: list[tuple[str, pd.DataFrame]] = [("all", exp), *[(str(k), g) for k, g in exploded.groupby("segment")
                                                               if str(k)]]
    never_guest = {str(code) for code, g in exp.groupby("incentive") if not g["guest"].any()}
    rows = []
    for seg, g in groups:
        for code, t in g[g["incentive"] != "none"].groupby("incentive"):
            control_rows = g[(g["incentive"] == "none") & ~(g["guest"] & (str(code) in never_guest))]
            treated = t["bought"].to_numpy(dtype=np.float64)
            control = control_rows["bought"].to_numpy(dtype=np.float64)
            if len(treated) < min_group or len(control) < min_group:
                continue
            diff = float(treated.mean() - control.mean())
            p1 = (treated.sum() + 1) / (len(treated) + 2)
            p0 = (control.sum() + 1) / (len(control) + 2)
            se = float(np.sqrt(p1 * (1 - p1) / (len(treated) + 2) + p0 * (1 - p0) / (len(control) + 2)))
            centre = float(p1 - p0)
            rows.append({"incentive": str(code), "segment": seg, "treated": len(treated), "control": len(control),
                         "uplift": diff, "low": centre - 1.96 * se, "high": centre + 1.96 * se})
    return pd.DataFrame(rows, columns=["incentive", "segment", "treated", "control", "uplift", "low", "high"])


def experiment_outcomes(snapshots: pd.DataFrame, experiments: pd.DataFrame) -> pd.DataFrame:
    """What :func:`measured_uplift` needs of each logged experiment: ``session_id``, ``incentive``, ``bought``
    (1 - the session's abandonment label) and ``is_guest``, from the session's snapshots (the full table or only
    each cart's latest: outcome and guest flag belong to the session). Experiments whose session has no snapshot
    with a cart, or whose outcome is not known yet (label window open at the end of the data), are left out."""
    carts = snapshots[snapshots["cart_value"].to_numpy(dtype=np.float64) > 0]
    # each session's last snapshot with a cart: the first row of the session id in the reversed table
    backwards = carts.iloc[::-1]
    at_row = locate(backwards["session_id"], experiments["session_id"])
    label = np.where(at_row >= 0, backwards[LABEL].to_numpy(dtype=np.float64)[at_row], np.nan)
    kept = np.flatnonzero(~np.isnan(label))  # a snapshot found, with a known outcome
    guest = backwards["is_guest"].to_numpy(dtype=np.float64)[at_row[kept]]
    return pd.DataFrame({"session_id": experiments["session_id"].astype(str).to_numpy()[kept],
                         "incentive": experiments["incentive"].astype(str).to_numpy()[kept],
                         "bought": 1.0 - label[kept], "is_guest": guest})


def segment_abandonment(carts: pd.DataFrame, rules: RuleSet | None = None) -> pd.Series:
    """Per segment (``(none)`` for carts in no segment), the abandonment rate of ``carts`` (snapshot rows) whose
    outcome is known."""
    member = assign_segments(carts, rules)
    flags, names = member.to_numpy(dtype=bool), list(member.columns)
    label = carts[LABEL].to_numpy(dtype=np.float64)
    known = ~np.isnan(label)
    rates = {}
    for j, name in enumerate([*names, "(none)"]):
        member = (flags[:, j] if j < len(names) else ~flags.any(axis=1)) & known
        rates[name] = float(label[member].mean()) if member.any() else float("nan")
    return pd.Series(rates, dtype=np.float64)


def build_report(scored: pd.DataFrame, snapshots: pd.DataFrame, experiments: pd.DataFrame | None = None,
                 title: str = "Cart abandonment and incentives", scope: str = "", rules: RuleSet | None = None
                 ) -> ReportData:
    """The report's tables from a batch run, the snapshots (for outcomes over time) and the experiment table.
    ``scope``: what the run scored, in words (e.g. "the last 7 days; 120 carts already bought left out"); the
    carts' time window is added to it. ``rules``: the segment rules the carts were scored with (default: the ones
    in force), for the segments' abandonment rates over every cart of the period, bought ones included."""
    last = last_with_cart(snapshots)
    # days as whole days since the epoch (formatted once per day, not once per cart)
    day_number = pd.Series(to_us(last["snapshot_time"]) // US_PER_DAY, index=last.index)
    label = last[LABEL].astype("float64")
    per_day = pd.DataFrame({"day": day_number, "known": label.notna(), "abandoned": label.fillna(0.0)}).groupby(
        "day").agg(all_carts=("known", "size"), carts=("known", "sum"), abandoned=("abandoned", "sum"))
    # a day whose outcomes are mostly not known yet (its carts' windows still open at the end of the data) would
    # show the rate of a few early carts: left out, and said so
    settled = per_day["carts"] >= KNOWN_SHARE_FOR_A_DAY * per_day["all_carts"]
    daily = per_day[settled & (per_day["carts"] > 0)].drop(columns="all_carts").reset_index()
    daily["day"] = pd.to_datetime(daily["day"].to_numpy(dtype=np.int64), unit="D").strftime("%Y-%m-%d")
    daily["carts"] = daily["carts"].astype(np.int64)
    daily["abandonment_rate"] = daily["abandoned"] / daily["carts"]
    at_row = locate(last["session_id"], scored["cart_id"])  # each scored cart's row of ``last``
    abandoned = np.where(at_row >= 0, last[LABEL].to_numpy(dtype=np.float64)[at_row], np.nan)
    rows = _segment_rows(scored, abandoned)
    seg = rows.groupby("segment").agg(carts=("risk", "size"), mean_risk=("risk", "mean")).reset_index()
    if len(scored):  # over every cart of the scored period, the bought ones (not scored) included
        times = to_us(pd.to_datetime(scored["snapshot_time"], utc=True))
        at = to_us(last["snapshot_time"])
        period = last[(at >= times.min()) & (at <= times.max())]
    else:
        period = last.iloc[:0]
    seg["abandonment_rate"] = seg["segment"].map(segment_abandonment(period, rules))
    seg["share"] = seg["carts"] / len(scored)
    seg = seg.sort_values("carts", ascending=False)[["segment", "carts", "share", "mean_risk", "abandonment_rate"]]
    mix = rows.groupby(["segment", "incentive"]).agg(
        carts=("risk", "size"), expected_cost=("expected_cost", "sum"),
        expected_recovered_revenue=("expected_recovered_revenue", "sum")).reset_index()
    if scored["expected_recovered_revenue"].isna().all():
        mix["expected_recovered_revenue"] = np.nan
    reasons = _reason_counts(scored["top_reasons"], len(scored))
    uplift = None
    notes = []
    unsettled = int((~settled).sum())
    daily_note = (f"The last {unsettled} day{'s are' if unsettled > 1 else ' is'} left out: fewer than "
                  f"{KNOWN_SHARE_FOR_A_DAY:.0%} of their carts have a known outcome yet." if unsettled else "")
    if experiments is not None and len(experiments):
        uplift = measured_uplift(experiments, scored.set_index(scored["cart_id"].astype(str))["segments"])
    else:
        notes.append("No experiment data: measured uplift per incentive needs a logged randomised test.")
    policy = str(scored["policy"].iloc[0]) if len(scored) else "rules"
    revenue = scored["expected_recovered_revenue"]
    totals = {"with_incentive": float((scored["incentive"] != "none").sum()),
              "expected_cost": float(scored["expected_cost"].sum()),
              "expected_recovered_revenue": float(revenue.sum()) if revenue.notna().any() else float("nan")}
    if len(scored):
        seen = pd.to_datetime(scored["snapshot_time"], utc=True)
        window = f"carts last seen from {seen.min():%Y-%m-%d %H:%M} to {seen.max():%Y-%m-%d %H:%M} UTC"
        scope = f"{window}{'; ' + scope if scope else ''}"
    return ReportData(title, datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), len(scored), policy, daily,
                      scored["risk"].to_numpy(dtype=np.float64), seg, mix, reasons, uplift, totals, notes, scope,
                      daily_note)


# ------------------------------------------------------------------------------------------------ charts


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    return re.sub(r"<metadata>.*?</metadata>", "", text[text.index("<svg"):], flags=re.S)


def _chart_daily(daily: pd.DataFrame) -> str:
    fig = _figure(7.5, 2.8)
    ax = fig.subplots()
    x = pd.to_datetime(daily["day"])
    ax.plot(x, 100 * daily["abandonment_rate"], color=MODEL_COLOUR, lw=1.6)
    ax.set_ylabel("abandoned, % of carts")
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=8)
    fig.autofmt_xdate()
    return _svg(fig)


def _chart_risk(risk: np.ndarray) -> str:
    fig = _figure(7.5, 2.6)
    ax = fig.subplots()
    ax.hist(risk, bins=40, range=(0, 1), color=MODEL_COLOUR, alpha=0.85)
    ax.set_xlabel("predicted abandonment risk")
    ax.set_ylabel("carts")
    ax.tick_params(labelsize=8)
    return _svg(fig)


def _chart_mix(mix: pd.DataFrame, segments: list[str]) -> str:
    table = mix.pivot_table(index="segment", columns="incentive", values="carts", aggfunc="sum", fill_value=0)
    table = table.reindex([s for s in segments if s in table.index])
    table = table[sorted(table.columns, key=lambda c: (c != "none", str(c)))]
    shares = table.div(table.sum(axis=1), axis=0)
    fig = _figure(7.5, 0.32 * len(shares) + 1.3)
    ax = fig.subplots()
    left = np.zeros(len(shares))
    colours = ["0.8", MODEL_COLOUR, REFERENCE_COLOUR, "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink",
               "tab:olive", "tab:cyan"]
    for k, code in enumerate(shares.columns):
        ax.barh(shares.index, shares[code], left=left, color=colours[k % len(colours)], label=str(code))
        left += shares[code].to_numpy()
    ax.invert_yaxis()
    ax.set_xlabel("share of the segment's carts")
    ax.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.25 if len(shares) < 6 else -0.12))
    ax.tick_params(labelsize=8)
    return _svg(fig)


def _chart_reasons(reasons: pd.DataFrame, top: int = 12) -> str:
    r = reasons.head(top).iloc[::-1]
    fig = _figure(7.5, 0.3 * len(r) + 1.0)
    ax = fig.subplots()
    ax.barh(r["feature"], 100 * r["share"], color=MODEL_COLOUR)
    ax.set_xlabel("% of carts with it among their top reasons")
    ax.tick_params(labelsize=8)
    return _svg(fig)


def _chart_uplift(uplift: pd.DataFrame) -> str:
    u = uplift[uplift["segment"] == "all"].sort_values("uplift")
    fig = _figure(7.5, 0.35 * len(u) + 1.0)
    ax = fig.subplots()
    y = np.arange(len(u))
    ax.errorbar(100 * u["uplift"], y, xerr=[100 * (u["uplift"] - u["low"]), 100 * (u["high"] - u["uplift"])],
                fmt="o", color=MODEL_COLOUR, ecolor="0.4", capsize=3)
    ax.axvline(0, color="0.2", lw=0.6)
    ax.set_yticks(y, u["incentive"])
    ax.set_xlabel("uplift in purchase rate, percentage points (95% interval)")
    ax.tick_params(labelsize=8)
    return _svg(fig)


# ------------------------------------------------------------------------------------------------- page

_STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:2rem auto;max-width:72rem;color:#222;
padding:0 1rem}h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2.2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85rem;margin:.6rem 0}th,td{padding:.25rem .6rem;text-align:right;
border-bottom:1px solid #eee}th{cursor:pointer;background:#f4f4f4;user-select:none}th:first-child,
td:first-child{text-align:left}th.sorted-asc::after{content:' \\25B2'}th.sorted-desc::after{content:' \\25BC'}
.chart svg{max-width:100%;height:auto}.note{color:#666;font-size:.85rem}.kpi{display:inline-block;margin-right:2rem}
.kpi b{font-size:1.3rem;display:block}
"""

_SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function(table){
  table.querySelectorAll('th').forEach(function(th, col){
    th.addEventListener('click', function(){
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var asc = !th.classList.contains('sorted-asc');
      table.querySelectorAll('th').forEach(function(h){h.classList.remove('sorted-asc','sorted-desc');});
      th.classList.add(asc ? 'sorted-asc' : 'sorted-desc');
      rows.sort(function(a, b){
        var x = a.cells[col].getAttribute('data-v'), y = b.cells[col].getAttribute('data-v');
        var nx = parseFloat(x), ny = parseFloat(y);
        var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : String(x).localeCompare(String(y));
        return asc ? c : -c;
      });
      rows.forEach(function(r){body.appendChild(r);});
    });
  });
});
"""


def _cell(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return '<td data-v="">-</td>'
    if fmt == "text":
        return f'<td data-v="{html.escape(str(value), quote=True)}">{html.escape(str(value))}</td>'
    number = float(value)
    shown = {"int": f"{number:,.0f}", "pct": f"{100 * number:.1f}%", "money": f"{number:,.2f}",
             "pp": f"{100 * number:+.1f}", "prob": f"{number:.3f}"}[fmt]
    return f'<td data-v="{number!r}">{shown}</td>'


def _table(frame: pd.DataFrame, formats: dict[str, str], table_id: str) -> str:
    head = "".join(f"<th>{html.escape(c.replace('_', ' '))}</th>" for c in formats)
    body = "".join("<tr>" + "".join(_cell(row[c], f) for c, f in formats.items()) + "</tr>"
                   for row in frame.to_dict("records"))
    return f'<table class="sortable" id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def render_html(data: ReportData) -> str:
    """The self-contained page."""
    seg_order = data.segments["segment"].tolist()
    mix_totals = data.mix.groupby("segment").agg(carts=("carts", "sum"), expected_cost=("expected_cost", "sum"),
                                                 expected_recovered_revenue=("expected_recovered_revenue", "sum"))
    given = data.mix[data.mix["incentive"] != "none"]
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(data.title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(data.title)}</h1>",
        f'<p class="note">Generated {data.generated}; incentives chosen by the '
        f"{'profit policy (measured effects)' if data.policy == 'profit' else 'rule-based policy'}"
        + (f'.</p><p class="note" id="scope">Scored: {html.escape(data.scope)}' if data.scope else "") + ".</p>",
        f'<div><span class="kpi"><b id="kpi-carts">{data.carts:,}</b>carts scored</span>'
        f'<span class="kpi"><b id="kpi-given">{data.totals["with_incentive"]:,.0f}</b>given an incentive</span>'
        f'<span class="kpi"><b id="kpi-cost">{data.totals["expected_cost"]:,.2f}</b>expected cost</span>'
        + (f'<span class="kpi"><b id="kpi-revenue">{data.totals["expected_recovered_revenue"]:,.2f}</b>expected '
           "recovered revenue</span>" if np.isfinite(data.totals["expected_recovered_revenue"]) else "") + "</div>",
        "<h2>Abandonment rate over time</h2>",
        f'<div class="chart" id="chart-daily">{_chart_daily(data.daily)}</div>' if len(data.daily) else
        '<p class="note">No cart with a known outcome yet.</p>',
        f'<p class="note" id="daily-note">{html.escape(data.daily_note)}</p>' if data.daily_note else "",
        "<h2>Risk distribution</h2>", f'<div class="chart" id="chart-risk">{_chart_risk(data.risk)}</div>',
        "<h2>Segments</h2>",
        _table(data.segments, {"segment": "text", "carts": "int", "share": "pct", "mean_risk": "prob",
                               "abandonment_rate": "pct"}, "segments"),
        '<p class="note">A cart counts in every segment it belongs to. Abandonment rate: every cart of the same '
        "period whose outcome is known, the bought ones included (those are not scored).</p>",
        "<h2>Incentives per segment</h2>",
        f'<div class="chart" id="chart-mix">{_chart_mix(data.mix, seg_order)}</div>',
        _table(mix_totals.reset_index().merge(
            given.groupby("segment")["carts"].sum().rename("with_incentive").reset_index(), on="segment",
            how="left").fillna({"with_incentive": 0}),
            {"segment": "text", "carts": "int", "with_incentive": "int", "expected_cost": "money",
             "expected_recovered_revenue": "money"}, "segment-costs"),
        _table(data.mix.sort_values(["segment", "carts"], ascending=[True, False]),
               {"segment": "text", "incentive": "text", "carts": "int", "expected_cost": "money",
                "expected_recovered_revenue": "money"}, "mix"),
        "<h2>Top reasons for risk</h2>",
        f'<div class="chart" id="chart-reasons">{_chart_reasons(data.reasons)}</div>' if len(data.reasons) else "",
        _table(data.reasons.head(25), {"feature": "text", "carts": "int", "share": "pct"}, "reasons"),
    ]
    if data.uplift is not None and len(data.uplift):
        parts += [
            "<h2>Measured uplift per incentive (randomised experiments)</h2>",
            f'<div class="chart" id="chart-uplift">{_chart_uplift(data.uplift)}</div>',
            _table(data.uplift, {"incentive": "text", "segment": "text", "treated": "int", "control": "int",
                                 "uplift": "pp", "low": "pp", "high": "pp"}, "uplift"),
            '<p class="note">Uplift: purchase rate of carts given the incentive minus control carts, in percentage '
            "points, with a 95% interval (Agresti-Caffo); segments as of each cart's latest snapshot; segments "
            f"with fewer than {MIN_GROUP} carts on either side are left out.</p>",
        ]
    parts += [f'<p class="note">{html.escape(n)}</p>' for n in data.notes]
    parts += [f"<script>{_SCRIPT}</script>", "</body></html>"]
    return "\n".join(parts)


def report_json(data: ReportData) -> str:
    """The report's headline numbers as JSON (for ``--json``)."""
    return json.dumps({"carts": data.carts, "policy": data.policy, "segments": len(data.segments),
                       "days": len(data.daily), "uplift_rows": 0 if data.uplift is None else len(data.uplift)})
