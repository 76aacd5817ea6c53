"""``cartrisk policy check``: validate edited segment rules and incentive catalogue, and show what they would do.

A marketer copies ``features/segments.yaml`` or ``serving/incentives.yaml``, edits it and runs ``cartrisk policy
check --rules my_segments.yaml --catalogue my_incentives.yaml --data DIR``. Every problem of either file is listed
with its place (exit code 2). When both are valid, the recent carts of the data (the last ``--last-days`` days) are
scored with the service's models twice, with the files in force and with the edited ones, and the command shows,
side by side, how many carts each segment rule catches, how many carts each incentive and each policy rule would
get, and what it would cost: before the change goes live.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cartrisk.commands.common import emit_json, fail, load_data, read_snapshots
from cartrisk.commands.train_cmd import DataOpt, FeaturesOpt, JsonOpt
from cartrisk.settings import get_settings

if TYPE_CHECKING:
    import pandas as pd

policy_app = typer.Typer(help="The segment rules and incentive catalogue: check an edit before it goes live.",
                         no_args_is_help=True)


def _load(rules: Path | None, catalogue: Path | None) -> tuple[Any, Any]:
    from features.segments import SegmentRuleError, load_rules
    from serving.policy import PolicyError, load_catalogue

    problems: list[str] = []
    ruleset = catalogue_obj = None
    try:
        ruleset = load_rules(rules)
    except SegmentRuleError as exc:
        problems.append(str(exc))
    except FileNotFoundError as exc:
        problems.append(f"{rules}: no such file ({exc})")
    if ruleset is not None:
        try:
            catalogue_obj = load_catalogue(catalogue, segment_names=[s.name for s in ruleset.segments])
        except PolicyError as exc:
            problems.append(str(exc))
    if problems:
        fail("the policy files are not valid:\n" + "\n".join(problems))
    return ruleset, catalogue_obj


def _summary(scored: pd.DataFrame) -> dict[str, Any]:
    segs = scored["segments"].fillna("").str.split(";").explode()
    segs = segs[segs.astype(bool)]
    by_incentive = scored.groupby("incentive").agg(carts=("cart_id", "size"), expected_cost=("expected_cost", "sum"))
    by_rule = scored.groupby("rule").agg(carts=("cart_id", "size"), expected_cost=("expected_cost", "sum"))
    return {
        "carts": len(scored),
        "segments": {str(k): int(v) for k, v in segs.value_counts().items()},
        "incentives": {str(k): {"carts": int(r.carts), "expected_cost": round(float(r.expected_cost), 2)}
                       for k, r in by_incentive.iterrows()},
        "rules": {str(k): {"carts": int(r.carts), "expected_cost": round(float(r.expected_cost), 2)}
                  for k, r in by_rule.iterrows()},
        "expected_cost": round(float(scored["expected_cost"].sum()), 2),
    }


def check(
    rules: Annotated[Path | None, typer.Option(help="Edited segment rules (YAML) (default: the ones in force).")]
    = None,
    catalogue: Annotated[Path | None, typer.Option(
        help="Edited incentive catalogue (YAML) (default: the one in force).")] = None,
    data: DataOpt = None,
    features: FeaturesOpt = None,
    last_days: Annotated[float, typer.Option(min=0.0, help="Recent carts: the last DAYS days of the data.")] = 7.0,
    json: JsonOpt = False,
) -> None:
    """Validate the segment rules and the incentive catalogue (every problem listed with its place), then, on the
    recent carts of the data, show how many carts each segment and each policy rule catches and what the
    incentives would cost: with the files in force and with the edited ones, side by side."""
    from cartrisk.commands.score_cmd import bento_models
    from features.segments import default_rules
    from serving.batch import BatchScorer, carts_to_score
    from serving.policy import default_catalogue

    ruleset, cat = _load(rules, catalogue)
    if data is None and not (get_settings().data_dir).exists():
        if json:
            emit_json({"valid": True, "rules": ruleset.source, "catalogue": cat.source})
        else:
            typer.echo(f"valid: {ruleset.source} and {cat.source} (no data to try them on; pass --data DIR)")
        return
    folder = data or get_settings().data_dir
    risk_model, uplift, labels = bento_models()
    dataset = load_data(folder)
    snaps = read_snapshots(folder, features, dataset, latest_only=True)
    carts, bought = carts_to_score(snaps, dataset.events, dataset.orders, last_days)  # as `cartrisk score` does
    if carts.empty:
        fail(f"{folder}: no cart that was not bought in the last {last_days} days")
    # exploration included: what `cartrisk score` would spend (the catalogue's exploration share is a cost too)
    live = _summary(BatchScorer(risk_model, catalogue=default_catalogue(), rules=default_rules(),
                                uplift=uplift).score(carts))
    edited = _summary(BatchScorer(risk_model, catalogue=cat, rules=ruleset, uplift=uplift).score(carts))
    result = {"valid": True, "rules": ruleset.source, "catalogue": cat.source, "carts": len(carts),
              "carts_already_bought_left_out": bought, "last_days": last_days,
              "policy": "profit" if uplift is not None else "rules", "models": labels,
              "in_force": live, "edited": edited}
    if json:
        emit_json(result)
        return
    typer.echo(f"valid: {ruleset.source} and {cat.source}")
    typer.echo(f"on the {len(carts):,} carts of the last {last_days:g} days not bought by the end of the data "
               f"({result['policy']} policy, exploration included, as `cartrisk score` would decide):")
    for title, key in (("segment", "segments"), ("incentive", "incentives"), ("policy rule", "rules")):
        names = sorted(set(live[key]) | set(edited[key]))
        typer.echo(f"  {title:<20}{'carts now':>12}{'edited':>10}" + ("" if key == "segments" else
                                                                      f"{'cost now':>12}{'edited':>10}"))
        for name in names:
            a, b = live[key].get(name), edited[key].get(name)
            if key == "segments":
                typer.echo(f"  {name:<20}{(a or 0):>12,}{(b or 0):>10,}")
            else:
                a = a or {"carts": 0, "expected_cost": 0.0}
                b = b or {"carts": 0, "expected_cost": 0.0}
                typer.echo(f"  {name:<20}{a['carts']:>12,}{b['carts']:>10,}{a['expected_cost']:>12,.2f}"
                           f"{b['expected_cost']:>10,.2f}")
    typer.echo(f"  {'total expected cost':<20}{'':>22}{live['expected_cost']:>12,.2f}{edited['expected_cost']:>10,.2f}")


def register(app: typer.Typer) -> None:
    policy_app.command("check")(check)
    app.add_typer(policy_app, name="policy")
