"""How good is a policy? Its profit on held-out experiment carts, against the truth and from logged data alone.

Every policy picks, per cart, ``none`` or one incentive among those eligible under the catalogue (the same set
for every policy, so they compete on equal terms; a baseline that would pick an ineligible incentive gives
``none``). Profits are *incremental*: what a policy earns over giving nothing, per cart, in the shop currency.

* With the generator's truth (``truth/experiments.parquet``: every cart's true purchase probability under every
  arm, its final value and its fee), the true profit of each choice is known, and with it the oracle policy (the
  best eligible choice for each cart). :func:`policy_values` reports each policy's profit and its share of the
  oracle's.
* A real shop has no truth. :func:`off_policy_values` estimates the same profits from the logged experiments only:
  inverse propensity weighting (IPS) and doubly robust (DR, the model's predicted profit corrected by the
  weighted residual where the log agrees with the policy).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd

from features.segments import RuleSet, assign_segments
from serving.policy import NONE, CartContext, Catalogue, decide, interruption_reason
from serving.uplift_policy import cost_amount, decide_uplift, expected_fee, offer_of
from serving.uplift_policy import is_eligible as eligible_incentive

__all__ = ["PolicyInputs", "baseline_choices", "learned_choices", "off_policy_values", "policy_inputs",
           "policy_values", "true_profits"]


@dataclass(frozen=True)
class PolicyInputs:
    """What every policy sees for the carts: model probabilities, expected values, segments, contexts."""

    probabilities: pd.DataFrame
    """``P(bought | arm)`` per cart (columns: ``none`` and the modelled incentives)."""
    order_value: np.ndarray
    segments: list[frozenset[str]]
    carts: list[CartContext]
    eligible: list[tuple[str, ...]]
    """Per cart, the modelled incentives eligible under the catalogue."""

    @property
    def risk(self) -> np.ndarray:
        return np.asarray(1.0 - self.probabilities["none"].to_numpy(dtype=np.float64))


def policy_inputs(frame: pd.DataFrame, probabilities: pd.DataFrame, order_value: np.ndarray, catalogue: Catalogue,
                  rules: RuleSet | None = None) -> PolicyInputs:
    """Segments, checkout contexts and eligible incentives of the carts of ``frame`` (experiment rows)."""
    member = assign_segments(frame, rules)
    names = list(member.columns)
    flags = member.to_numpy(dtype=bool)
    segments = [frozenset(n for n, f in zip(names, row, strict=True) if f) for row in flags]
    records = cast(list[dict[str, Any]], frame.to_dict("records"))
    carts = [CartContext.from_features(r) for r in records]
    modelled = [inc for inc in catalogue.incentives if inc.code in probabilities.columns]
    cap = catalogue.settings.max_cost_share_of_cart
    eligible = []
    for segs, cart, v in zip(segments, carts, order_value, strict=True):
        value = max(float(v), cart.cart_value)
        fee = expected_fee(cart, value, catalogue.uplift)
        inter = interruption_reason(cart, catalogue.settings) is not None
        eligible.append(tuple(i.code for i in modelled if eligible_incentive(i, segs, cart, value, fee, inter, cap)))
    return PolicyInputs(probabilities.reset_index(drop=True), np.asarray(order_value, dtype=np.float64), segments,
                        carts, eligible)


def learned_choices(inputs: PolicyInputs, catalogue: Catalogue) -> np.ndarray:
    """The profit policy's choice per cart (no exploration, no budget)."""
    probs = cast(list[dict[str, float]], inputs.probabilities.to_dict("records"))
    return np.array([
        decide_uplift(p, float(v), segs, cart, catalogue).code
        for p, v, segs, cart in zip(probs, inputs.order_value, inputs.segments, inputs.carts, strict=True)
    ], dtype=object)


def baseline_choices(inputs: PolicyInputs, catalogue: Catalogue, discount: str = "discount_10"
                     ) -> dict[str, np.ndarray]:
    """The baselines: nothing; one incentive for every cart it is eligible for; a discount to every high-risk
    cart; the rule-based policy (risk = 1 - P(bought | none) of the uplift model)."""
    n = len(inputs.carts)
    out: dict[str, np.ndarray] = {"no_incentive": np.full(n, NONE, dtype=object)}
    for inc in inputs.probabilities.columns:
        if inc != NONE:
            out[f"everyone_{inc}"] = np.array([inc if inc in e else NONE for e in inputs.eligible], dtype=object)
    high = inputs.risk >= catalogue.settings.high_risk
    out[f"high_risk_{discount}"] = np.array(
        [discount if h and discount in e else NONE for h, e in zip(high, inputs.eligible, strict=True)], dtype=object)
    rule = []
    for r, segs, cart, e in zip(inputs.risk, inputs.segments, inputs.carts, inputs.eligible, strict=True):
        code = decide(float(min(max(r, 0.0), 1.0)), segs, cart, catalogue).code
        rule.append(code if code in e else NONE)
    out["rule_based"] = np.array(rule, dtype=object)
    return out


def true_profits(truth: pd.DataFrame, arms: Sequence[str], catalogue: Catalogue) -> pd.DataFrame:
    """Per cart and arm, the true incremental profit over ``none`` (from the generator's per-arm truth)."""
    margin = catalogue.uplift.margin
    p0 = truth["p_purchase_none"].to_numpy(dtype=np.float64)
    value = truth["cart_value"].to_numpy(dtype=np.float64)
    fee = truth["shipping_fee"].to_numpy(dtype=np.float64)
    out = {NONE: np.zeros(len(truth))}
    for arm in arms:
        if arm == NONE:
            continue
        inc = catalogue.get(arm)
        p = truth[f"p_purchase_{arm}"].to_numpy(dtype=np.float64)
        out[arm] = np.array([offer_of(inc, float(a), float(b), float(v), float(f), margin).expected_profit
                             if np.isfinite(a) else -np.inf
                             for a, b, v, f in zip(p, p0, value, fee, strict=True)])
    return pd.DataFrame(out, index=truth.index)


def oracle_choices(profits: pd.DataFrame, eligible: Sequence[tuple[str, ...]]) -> np.ndarray:
    """The best eligible choice per cart under the true profits (``none`` when nothing earns more than 0)."""
    table = profits.to_numpy()
    cols = list(profits.columns)
    out = []
    for row, allowed in zip(table, eligible, strict=True):
        best, best_profit = NONE, 0.0
        for code in allowed:
            v = row[cols.index(code)]
            if v > best_profit:
                best, best_profit = code, v
        out.append(best)
    return np.array(out, dtype=object)


def _value(choices: np.ndarray, profits: pd.DataFrame) -> float:
    cols = {c: k for k, c in enumerate(profits.columns)}
    table = profits.to_numpy()
    idx = np.array([cols[c] for c in choices])
    return float(np.mean(table[np.arange(len(choices)), idx]))


def policy_values(choices: Mapping[str, np.ndarray], profits: pd.DataFrame, oracle: np.ndarray
                  ) -> dict[str, dict[str, float]]:
    """Per policy: true incremental profit per cart, share of the oracle's, share of carts given an incentive."""
    best = _value(oracle, profits)
    out = {"oracle": {"profit_per_cart": best, "share_of_oracle": 1.0,
                      "incentive_share": float(np.mean(oracle != NONE))}}
    for name, c in choices.items():
        v = _value(c, profits)
        out[name] = {"profit_per_cart": v, "share_of_oracle": v / best if best > 0 else float("nan"),
                     "incentive_share": float(np.mean(c != NONE))}
    return out


def realised_profit(frame: pd.DataFrame, catalogue: Catalogue) -> np.ndarray:
    """Profit of each logged cart under the arm it was given, from its outcome alone (no truth)."""
    s = catalogue.uplift
    out = np.zeros(len(frame))
    bought = frame["bought"].to_numpy(dtype=np.float64)
    value = frame["order_value"].fillna(0.0).to_numpy(dtype=np.float64)
    for k, (arm, b, v) in enumerate(zip(frame["incentive"].astype(str), bought, value, strict=True)):
        fee = s.shipping_fee if (s.shipping_fee and (s.free_shipping_threshold is None
                                                     or v < s.free_shipping_threshold)) else 0.0
        if arm == NONE:
            out[k] = b * s.margin * v
            continue
        inc = catalogue.get(arm)
        pay = cost_amount(inc, v, fee)
        out[k] = b * (s.margin * v - (pay if inc.cost.when == "bought" else 0.0)) - (
            pay if inc.cost.when == "always" else 0.0)
    return out


def off_policy_values(choices: Mapping[str, np.ndarray], frame: pd.DataFrame, inputs: PolicyInputs,
                      catalogue: Catalogue) -> dict[str, dict[str, float]]:
    """IPS and DR estimates of each policy's incremental profit per cart, from the logged experiments only, with
    their standard errors (``ips_se``, ``dr_se``): on a week of experiments they are wide, which is why the
    synthetic shop's truth is the yardstick and these are the estimates a real shop can have."""
    reward = realised_profit(frame, catalogue)
    logged = frame["incentive"].astype(str).to_numpy()
    propensity = frame["propensity"].to_numpy(dtype=np.float64)
    model = _model_profits(inputs, catalogue)

    def q(choice: np.ndarray) -> np.ndarray:
        return np.array([model[k].get(c, 0.0) for k, c in enumerate(choice)])

    def terms(choice: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        match = (choice == logged) / propensity
        return match * reward, q(choice) + match * (reward - q(logged))

    base_ips, base_dr = terms(np.full(len(frame), NONE, dtype=object))
    out = {}
    n = max(len(frame), 1)
    for name, c in choices.items():
        ips, dr = terms(c)
        # incremental over giving nothing: per-cart differences, so the standard error counts the pairing
        d_ips, d_dr = ips - base_ips, dr - base_dr
        out[name] = {"ips_profit_per_cart": float(np.mean(d_ips)), "ips_se": float(np.std(d_ips) / np.sqrt(n)),
                     "dr_profit_per_cart": float(np.mean(d_dr)), "dr_se": float(np.std(d_dr) / np.sqrt(n))}
    return out


def _model_profits(inputs: PolicyInputs, catalogue: Catalogue) -> list[dict[str, float]]:
    """The model's expected profit (not incremental) of each arm per cart, for the DR estimator."""
    s = catalogue.uplift
    rows = cast(list[dict[str, float]], inputs.probabilities.to_dict("records"))
    out: list[dict[str, float]] = []
    for p, v, cart in zip(rows, inputs.order_value, inputs.carts, strict=True):
        value = max(float(v), cart.cart_value)
        fee = expected_fee(cart, value, s)
        base = {NONE: p[NONE] * s.margin * value}
        for code, pa in p.items():
            if code != NONE:
                base[code] = base[NONE] + offer_of(catalogue.get(code), pa, p[NONE], value, fee,
                                                   s.margin).expected_profit
        out.append(base)
    return out
