"""The vectorised policies give every cart exactly the per-cart answer: random carts drawn to hit every rule and
edge (missing fields, band and cost-limit boundaries, ties), on the packaged catalogue and on edited ones."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import yaml

from features.segments import default_rules
from serving.batch_policy import (
    PROFIT_RULES,
    RULES,
    ProfitDecisions,
    RuleDecisions,
    cart_columns,
    decide_profit_batch,
    decide_rules_batch,
    exploration_draws_batch,
    interruption_reasons,
    risk_bands,
)
from serving.policy import CartContext, Catalogue, decide, default_catalogue, interruption_reason, load_catalogue
from serving.uplift_policy import decide_uplift, exploration_draws

NAMES: list[str] = default_rules().names
N = 25_000


# ------------------------------------------------------------------------------------------ catalogues


def _raw() -> dict[str, Any]:
    data = yaml.safe_load(resources.files("serving").joinpath("incentives.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _write(tmp: Path, name: str, data: dict[str, Any]) -> Catalogue:
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_catalogue(path)


def _entry(data: dict[str, Any], code: str) -> dict[str, Any]:
    return next(i for i in data["incentives"] if i["code"] == code)


@pytest.fixture(scope="module")
def edited(tmp_path_factory: pytest.TempPathFactory) -> Catalogue:
    """Other thresholds, a 10% cost limit (discount_10 exactly at it), equal priorities and equal costs (ties go
    to file order), several incentives of one type (free shipping, reward, reminder, guest checkout), free
    shipping paid in any case (a discount can then be cheaper), a tablet interruption."""
    data = _raw()
    p = data["policy"]
    p.update(risk_bands={"medium": 0.3, "high": 0.7}, min_risk_for_incentive=0.4, max_cost_share_of_cart=0.10,
             engaged_buy_threshold=0.9, engaged_segments=["engaged", "semi_engaged"])
    p["interrupted"] = {"min_pause_seconds": 300, "devices": ["mobile", "tablet"]}
    data["uplift"].update(margin=0.25, min_expected_profit=0.1, exploration_share=0.4, shipping_fee=4.5,
                          free_shipping_threshold=None)
    _entry(data, "discount_5")["priority"] = 7  # same priority as discount_10
    _entry(data, "discount_5")["eligibility"]["segments_any"] = ["unengaged", "one_time"]
    _entry(data, "gift")["cost"] = {"kind": "fixed", "value": 0.5}  # same cost as early_access
    _entry(data, "gift")["priority"] = 4
    _entry(data, "early_access")["eligibility"]["segments_any"] = ["vip", "recurring", "local"]
    _entry(data, "free_shipping")["eligibility"]["min_cart_value"] = 40
    data["incentives"] += [
        {"code": "free_shipping_small", "type": "free_shipping", "channel": "onsite", "message_key": "i.fss",
         "description": "Free shipping for small carts, paid in any case.",
         "cost": {"kind": "shipping_fee", "when": "always"}, "eligibility": {"requires_fee": True}, "priority": 2},
        {"code": "reminder_push", "type": "reminder", "channel": "onsite", "message_key": "i.push",
         "description": "A push reminder.", "cost": {"kind": "fixed", "value": 0.05, "when": "always"},
         "eligibility": {"requires_interruption": True}, "priority": 2},
        {"code": "discount_fixed", "type": "discount", "channel": "onsite", "message_key": "i.dfix",
         "description": "0.50 off.", "cost": {"kind": "fixed", "value": 0.5},
         "eligibility": {"segments_none": ["guest"]}, "priority": 4},
        {"code": "account_gift", "type": "guest_checkout", "channel": "onsite", "message_key": "i.ag",
         "description": "Guest checkout with a thank-you.", "cost": {"kind": "fixed", "value": 0.0},
         "eligibility": {"requires_account_step": True, "known_customer_only": True}, "priority": 0},
    ]
    return _write(tmp_path_factory.mktemp("catalogues"), "edited", data)


@pytest.fixture(scope="module")
def pause_only(tmp_path_factory: pytest.TempPathFactory) -> Catalogue:
    """No device interrupts, a 15% limit, VIPs from two segments, no standard shipping fee, free shipping paid in
    any case."""
    data = _raw()
    _entry(data, "free_shipping")["cost"] = {"kind": "shipping_fee", "when": "always"}
    p = data["policy"]
    p.update(max_cost_share_of_cart=0.15, vip_segments=["vip", "big_cart"], min_risk_for_incentive=0.5)
    p["interrupted"] = {"min_pause_seconds": 120, "devices": []}
    data["uplift"].update(shipping_fee=None, exploration_share=0.1)
    return _write(tmp_path_factory.mktemp("catalogues"), "pause_only", data)


# ------------------------------------------------------------------------------------------ random carts


@dataclass
class Carts:
    risk: np.ndarray
    flags: np.ndarray
    frame: pd.DataFrame
    order_value: np.ndarray
    probabilities: pd.DataFrame
    sessions: list[str]

    def contexts(self) -> list[CartContext]:
        return [CartContext.from_features(r) for r in _records(self.frame)]

    def segments(self) -> list[list[str]]:
        names = np.array(NAMES, dtype=object)
        return [names[row].tolist() for row in self.flags]


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return cast(list[dict[str, Any]], frame.to_dict("records"))


def _mix(rng: np.random.Generator, n: int, base: np.ndarray, special: Sequence[float], share: float) -> np.ndarray:
    """``base`` with a ``share`` of its entries replaced by values drawn from ``special``."""
    out = base.astype(np.float64).copy()
    hit = rng.random(n) < share
    out[hit] = rng.choice(np.asarray(special, dtype=np.float64), int(hit.sum()))
    return out


def random_carts(cat: Catalogue, n: int = N, seed: int = 0, odd: bool = True) -> Carts:
    """Carts drawn around every threshold of ``cat``; ``odd`` adds infinite values (the scalar fall-back)."""
    rng = np.random.default_rng(seed)
    s = cat.settings
    edges = [s.medium_risk, s.high_risk, s.min_risk_for_incentive, s.engaged_buy_threshold]
    risk_special = [0.0, 1.0, *edges, *(np.nextafter(e, 0.0) for e in edges)]
    risk = _mix(rng, n, rng.random(n), risk_special, 0.3)
    mins = sorted({i.eligibility.min_cart_value for i in cat.incentives} | {15.0, 2.5, 0.25})
    value_special = [0.0, np.nan, 24.5, 59.99, 60.0, *mins, *(np.nextafter(m, 0.0) for m in mins)]
    value = _mix(rng, n, np.round(rng.lognormal(3.8, 0.9, n), 2), value_special, 0.3)
    share = s.max_cost_share_of_cart
    fee = _mix(rng, n, np.round(rng.uniform(0, 12, n), 2), [np.nan, np.nan, 0.0, -1.0, 4.9, 5.9], 0.5)
    at_cap = rng.random(n) < 0.08
    fee[at_cap] = share * value[at_cap]  # free shipping exactly at the cost limit
    threshold = _mix(rng, n, np.full(n, 60.0), [np.nan, 50.0, 100.0], 0.4)
    same = rng.random(n) < 0.05
    threshold[same] = value[same]  # not below the threshold
    if odd:
        value[rng.random(n) < 0.002] = np.inf
        fee[rng.random(n) < 0.002] = np.inf
    device = rng.choice(np.array(["desktop", "mobile", "tablet", "unknown", None, np.nan], dtype=object), n,
                        p=[0.35, 0.3, 0.1, 0.05, 0.1, 0.1])
    frame = pd.DataFrame({
        "cart_value": value,
        "shipping_fee": fee,
        "free_shipping_threshold": threshold,
        "account_required": rng.choice(np.array([np.nan, 0.0, 1.0, 2.0]), n, p=[0.3, 0.35, 0.3, 0.05]),
        "is_guest": rng.choice(np.array([np.nan, 0.0, 1.0]), n, p=[0.1, 0.6, 0.3]),
        "funnel_step": rng.integers(1, 6, n).astype(np.float64),
        "seconds_since_prev_event": _mix(rng, n, rng.exponential(300, n), [np.nan, 600.0, 599.5, 300.0, 120.0],
                                         0.3),
        "device": device,
    })
    flags = rng.random((n, len(NAMES))) < rng.choice([0.05, 0.2, 0.5], len(NAMES))
    for name, p in (("vip", 0.2), ("engaged", 0.35)):
        flags[:, NAMES.index(name)] = rng.random(n) < p
    finite = np.where(np.isfinite(value), value, 80.0)
    order_value = _mix(rng, n, np.nan_to_num(finite) * rng.lognormal(0, 0.3, n), [0.0, 30.0, 50.0, 60.0], 0.15)
    keep = rng.random(n) < 0.3
    order_value[keep] = np.nan_to_num(finite[keep])
    return Carts(risk, flags, frame, order_value, random_probabilities(rng, cat, n),
                 [f"session-{seed}-{i}" for i in range(n)])


def random_probabilities(rng: np.random.Generator, cat: Catalogue, n: int) -> pd.DataFrame:
    """P(bought) for ``none``, every incentive but ``gift`` (unmodelled) and an unknown code; some exact ties."""
    codes = [i.code for i in cat.incentives if i.code != "gift"]
    p0 = rng.uniform(0.02, 0.95, n)
    columns: dict[str, np.ndarray] = {"none": p0}
    shared = np.clip(p0 + rng.normal(0.03, 0.05, n), 0.0, 1.0)
    for code in codes:
        p = np.clip(p0 + rng.normal(0.02, 0.06, n), 0.0, 1.0)
        p = np.where(rng.random(n) < 0.1, p0, p)  # no uplift
        columns[code] = np.where(rng.random(n) < 0.15, shared, p)  # same probability as other arms: ties
    columns["mystery_arm"] = rng.random(n)
    return pd.DataFrame(columns)


# ------------------------------------------------------------------------------------------ comparisons


def _same(name: str, got: np.ndarray, want: Sequence[Any], rows: Callable[[int], str]) -> None:
    """Equal per cart (floats within 1e-9, NaN equal to NaN); the first mismatch is reported with its cart."""
    g = np.asarray(got)
    w = np.asarray(list(want), dtype=g.dtype if g.dtype.kind in "fb" else object)
    assert g.shape == w.shape, f"{name}: shape {g.shape} != {w.shape}"
    if g.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            bad = np.flatnonzero(~((np.abs(g - w) <= 1e-9) | (np.isnan(g) & np.isnan(w)) | (g == w)))
    else:
        bad = np.flatnonzero(g != w)
    if len(bad):
        i = int(bad[0])
        pytest.fail(f"{name} differs on {len(bad)} carts; first cart {i}: got {g[i]!r}, want {w[i]!r}\n{rows(i)}")


def _same_decisions(got: RuleDecisions | ProfitDecisions, want: list[Any], row: Callable[[int], str]) -> None:
    """The fields both kinds of decision have: incentive code, channel, message key and deciding rule."""
    for name in ("code", "channel", "message_key", "rule"):
        _same(name, getattr(got, name), [getattr(d, name) for d in want], row)


def check_rules(cat: Catalogue, c: Carts, reasons: bool = True) -> RuleDecisions:
    got = decide_rules_batch(c.risk, c.flags, NAMES, c.frame, cat, reasons=reasons)
    segs, ctxs = c.segments(), c.contexts()
    want = [decide(float(r), s, x, cat) for r, s, x in zip(c.risk, segs, ctxs, strict=True)]

    def row(i: int) -> str:
        return f"risk={c.risk[i]!r} segments={segs[i]} cart={ctxs[i]}\nwant={want[i]}"

    _same_decisions(got, want, row)
    _same("risk_band", got.risk_band, [d.risk_band for d in want], row)
    _same("expected_cost", got.expected_cost, [d.expected_cost for d in want], row)
    _same("n_considered", got.n_considered, [len(d.considered) for d in want], row)
    if reasons:
        assert got.reason is not None
        _same("reason", got.reason, [d.reason for d in want], row)
    else:
        assert got.reason is None
    return got


def check_profit(cat: Catalogue, c: Carts, explore: bool, reasons: bool = True) -> ProfitDecisions:
    sessions = c.sessions if explore else None
    got = decide_profit_batch(c.probabilities, c.order_value, c.flags, NAMES, c.frame, cat, sessions,
                              reasons=reasons)
    segs, ctxs = c.segments(), c.contexts()
    probs = cast(list[dict[str, float]], _records(c.probabilities))
    want = [decide_uplift(probs[i], float(c.order_value[i]), segs[i], ctxs[i], cat, None,
                          exploration_draws(c.sessions[i]) if explore else None) for i in range(len(ctxs))]

    def row(i: int) -> str:
        return f"probs={probs[i]} order={c.order_value[i]!r} segments={segs[i]} cart={ctxs[i]}\nwant={want[i]}"

    _same_decisions(got, want, row)
    _same("explored", got.explored, [d.explored for d in want], row)
    _same("propensity", got.propensity, [d.propensity for d in want], row)
    _same("expected_cost", got.expected_cost, [d.expected_cost for d in want], row)
    _same("expected_uplift", got.expected_uplift, [d.chosen.uplift if d.chosen else 0.0 for d in want], row)
    _same("expected_profit", got.expected_profit, [d.chosen.expected_profit if d.chosen else 0.0 for d in want],
          row)
    _same("runner_up", got.runner_up, [d.runner_up.code if d.runner_up else None for d in want], row)
    _same("runner_up_profit", got.runner_up_profit,
          [d.runner_up.expected_profit if d.runner_up else np.nan for d in want], row)
    _same("n_considered", got.n_considered, [len(d.considered) for d in want], row)
    if reasons:
        assert got.reason is not None
        _same("reason", got.reason, [d.reason for d in want], row)
    return got


# ------------------------------------------------------------------------------------------ rule-based


def test_rules_equal_decide_on_the_packaged_catalogue() -> None:
    got = check_rules(default_catalogue(), random_carts(default_catalogue(), seed=1))
    assert set(got.rule) == set(RULES)  # every rule was exercised
    # discount_5 is eligible whenever a larger discount is and always cheaper: the larger ones only compete in rule 3
    assert set(got.code) == set(default_catalogue().codes) - {"discount_10", "discount_15"}


def test_rules_equal_decide_on_edited_catalogues(edited: Catalogue, pause_only: Catalogue) -> None:
    got = check_rules(edited, random_carts(edited, seed=2))
    assert set(got.rule) == set(RULES)
    assert set(got.code) == set(edited.codes) - {"discount_15"}  # discount_10 is cheaper wherever it is eligible
    assert set(check_rules(pause_only, random_carts(pause_only, n=10_000, seed=3)).rule) == set(RULES)


def test_rules_without_reasons_give_the_same_decisions() -> None:
    check_rules(default_catalogue(), random_carts(default_catalogue(), n=3000, seed=4), reasons=False)


def test_cart_columns_read_missing_values_as_from_features() -> None:
    """Absent columns, None, text, nullable dtypes and pandas text columns read as ``CartContext.from_features``."""
    rows: list[dict[str, Any]] = [
        {"cart_value": None, "shipping_fee": "4.90", "account_required": True, "device": 3},
        {"cart_value": 40.0, "shipping_fee": 4.9, "free_shipping_threshold": 60, "is_guest": False,
         "account_required": 0, "seconds_since_prev_event": 700, "device": "mobile"},
        {"cart_value": -0.0, "is_guest": 1, "account_required": 5.0, "device": "tablet"},
        {"cart_value": 80.0, "is_guest": np.nan, "seconds_since_prev_event": np.nan, "device": None},
    ]
    columns = ("cart_value", "shipping_fee", "free_shipping_threshold", "account_required", "is_guest",
               "seconds_since_prev_event", "device")
    as_dict = {k: [r.get(k) for r in rows] for k in columns}
    typed = pd.DataFrame({
        "cart_value": pd.array([None, 40.0, 0.0, 80.0], dtype="Float64"),
        "account_required": pd.array([True, False, True, None], dtype="boolean"),
        "device": pd.array([None, "mobile", "tablet", None], dtype="str"),
    })
    sources: list[tuple[Any, list[dict[str, Any]]]] = [(as_dict, rows), (typed, _records(typed))]
    for source, records in sources:
        cols = cart_columns(source, len(records))
        for i, record in enumerate(records):
            assert cols.context(i) == CartContext.from_features(record), (i, record)
    cols = cart_columns({}, 2)  # nothing known: empty carts of guests
    assert cols.context(1) == CartContext.from_features({})


def test_interruption_reasons_and_bands_match_the_scalar_ones(edited: Catalogue) -> None:
    c = random_carts(edited, n=3000, seed=5)
    cols = cart_columns(c.frame, 3000)
    got = interruption_reasons(cols, edited.settings)
    assert got.tolist() == [interruption_reason(x, edited.settings) for x in c.contexts()]
    assert {g for g in got if g} >= {"on mobile", "on tablet", "a 600-second pause"}
    from serving.policy import risk_band

    assert risk_bands(c.risk, edited.settings).tolist() == [risk_band(float(r), edited.settings) for r in c.risk]


def test_bad_inputs_are_refused_like_decide() -> None:
    cat = default_catalogue()
    flags = np.zeros((2, len(NAMES)), dtype=bool)
    carts = {"cart_value": [10.0, 20.0]}
    with pytest.raises(ValueError, match=r"risk must be a probability in \[0, 1\].*cart 1"):
        decide_rules_batch([0.5, np.nan], flags, NAMES, carts, cat)
    with pytest.raises(ValueError, match="cart_value must be a number >= 0"):
        decide_rules_batch([0.5, 0.5], flags, NAMES, {"cart_value": [10.0, -1.0]}, cat)
    with pytest.raises(ValueError, match="segment flags"):
        decide_rules_batch([0.5, 0.5], flags[:, :3], NAMES, carts, cat)
    probs = pd.DataFrame({"none": [0.5, 0.5], "discount_5": [0.6, 1.5]})
    with pytest.raises(ValueError, match=r"'discount_5' must be in \[0, 1\]"):
        decide_profit_batch(probs, [10.0, 10.0], flags, NAMES, carts, cat)
    with pytest.raises(ValueError, match="must include 'none'"):
        decide_profit_batch(probs[["discount_5"]], [10.0, 10.0], flags, NAMES, carts, cat)
    with pytest.raises(ValueError, match="order_value"):
        decide_profit_batch(probs.clip(0, 1), [10.0, np.nan], flags, NAMES, carts, cat)


# ------------------------------------------------------------------------------------------ profit


@pytest.mark.parametrize("explore", [False, True])
def test_profit_equals_decide_uplift_on_the_packaged_catalogue(explore: bool) -> None:
    cat = default_catalogue()
    c = random_carts(cat, seed=6)
    c.frame.loc[c.frame.index[::97], "cart_value"] = -5.0  # the profit policy treats it as an empty cart
    got = check_profit(cat, c, explore)
    assert set(got.rule) == set(PROFIT_RULES) - (set() if explore else {"explore"})


@pytest.mark.parametrize("explore", [False, True])
def test_profit_equals_decide_uplift_on_edited_catalogues(edited: Catalogue, pause_only: Catalogue,
                                                          explore: bool) -> None:
    got = check_profit(edited, random_carts(edited, n=15_000, seed=7), explore)
    assert set(got.rule) == set(PROFIT_RULES) - (set() if explore else {"explore"})
    assert set(got.code) >= {"reminder_push", "discount_fixed", "none"}
    check_profit(pause_only, random_carts(pause_only, n=8000, seed=8), explore)


def test_profit_without_reasons_or_modelled_incentives() -> None:
    cat = default_catalogue()
    c = random_carts(cat, n=3000, seed=9)
    check_profit(cat, c, explore=True, reasons=False)
    c.probabilities = c.probabilities[["none", "mystery_arm"]]  # no incentive has a model: nothing is eligible
    got = check_profit(cat, c, explore=True)
    assert set(got.rule) <= {"no_eligible", "empty_cart"} and (got.code == "none").all()


# ------------------------------------------------------------------------------------------ exact ties


def _one_cart(**fields: float) -> dict[str, list[float]]:
    base = {"cart_value": 100.0, "is_guest": 0.0, "account_required": 0.0, "seconds_since_prev_event": 5.0}
    return {k: [v] for k, v in {**base, **fields}.items()}


def test_free_shipping_exactly_as_cheap_as_the_rival_discount_wins(pause_only: Catalogue) -> None:
    """Rule 3 keeps free shipping when it costs no more than the cheapest offsetting discount (plus the slack):
    free shipping paid in any case costs the fee; discount_5 on 100.00 at risk 0.5 costs 5.00 x 0.5."""
    rival = 1e-9 + 100.0 * 5 / 100.0 * (1.0 - 0.5)
    flags = np.zeros((1, len(NAMES)), dtype=bool)
    for fee, rule in ((rival, "shipping_fee"), (np.nextafter(rival, 10.0), "medium_risk")):
        carts = _one_cart(shipping_fee=fee, free_shipping_threshold=200.0)
        got = decide_rules_batch([0.5], flags, NAMES, carts, pause_only)
        want = decide(0.5, [], cart_columns(carts, 1).context(0), pause_only)
        assert (got.rule[0], got.code[0], got.reason[0] if got.reason is not None else None) == (
            want.rule, want.code, want.reason)
        assert want.rule == rule


def test_equal_profits_go_to_the_cheaper_offer_then_the_code(edited: Catalogue) -> None:
    """decide_uplift sorts by (-profit, cost, code). Margin 0.25 x order 64 = 16 per unit of uplift: discount_fixed
    (+0.25, cost 0.5 x 0.75) and the free guest checkouts (+0.2265625) all earn exactly 3.625. Cart 0: the cheaper
    guest_checkout beats discount_fixed; cart 1: account_gift and guest_checkout cost the same, the code decides."""
    flags = np.zeros((2, len(NAMES)), dtype=bool)
    flags[:, NAMES.index("never_purchased")] = True
    carts = {k: v * 2 for k, v in _one_cart(cart_value=64.0, account_required=1.0).items()}
    probs = pd.DataFrame({"none": [0.5, 0.5], "discount_fixed": [0.75, 0.75], "guest_checkout": [0.7265625] * 2,
                          "account_gift": [0.5, 0.7265625]})
    got = decide_profit_batch(probs, [64.0, 64.0], flags, NAMES, carts, edited)
    assert got.code.tolist() == ["guest_checkout", "account_gift"]
    assert got.expected_profit.tolist() == [3.625, 3.625]
    for i in range(2):
        want = decide_uplift(_records(probs)[i], 64.0, ["never_purchased"], cart_columns(carts, 2).context(i),
                             edited)
        assert want.code == got.code[i] and want.rule == got.rule[i] == "best_profit"
        assert got.reason is not None and got.reason.to_pylist()[i] == want.reason


def test_exploration_draws_batch_equal_the_per_session_draws() -> None:
    ids = [f"s{k}" for k in range(5000)] + ["", "ü-ß 🛒", "a:b", "x" * 300]
    assert exploration_draws_batch(ids).tolist() == [list(exploration_draws(s)) for s in ids]
    assert exploration_draws_batch([]).shape == (0, 2)


def test_an_empty_batch_gives_empty_answers() -> None:
    flags = np.zeros((0, len(NAMES)), dtype=bool)
    rules = decide_rules_batch(np.zeros(0), flags, NAMES, pd.DataFrame({"cart_value": []}), default_catalogue())
    profit = decide_profit_batch(pd.DataFrame({"none": [], "discount_5": []}), np.zeros(0), flags, NAMES, {},
                                 default_catalogue(), [])
    assert len(rules) == len(profit) == 0 and rules.reason is not None and len(rules.reason) == 0


@pytest.mark.parametrize(("decimals", "plus"), [(0, False), (2, False), (2, True), (3, True)])
def test_numbers_are_formatted_exactly_as_python_formats_them(decimals: int, plus: bool) -> None:
    """The table-based formatting of the reasons: halves (0.125, 2.675), -0.001 -> -0.00, -0.0, large and
    non-finite values, and a million random ones, all as ``format`` gives them."""
    from serving.batch_policy import _fixed

    rng = np.random.default_rng(decimals)
    grid = np.arange(-20_000, 20_001)
    values = np.concatenate([
        rng.uniform(-120, 120, 400_000), rng.uniform(-1, 1, 400_000), np.round(rng.uniform(-50, 50, 200_000), 3),
        grid / 1000.0, grid / 200.0, grid / 8.0,
        [0.125, 0.375, 2.675, 1.005, -0.0, 0.0, -0.001, 0.004999999, 99.995, 99.994, 9.9995, 9999.5, 1e300, -1e-300,
         np.inf, -np.inf, np.nan, 5e-324],
    ])
    spec = f"{'+' if plus else ''}.{decimals}f"
    assert _fixed(values, decimals, plus) == [format(v, spec) for v in values.tolist()]


def test_e_mail_goes_to_known_customers_even_without_the_flag() -> None:
    """A catalogue built in code (not validated): an e-mail incentive without known_customer_only is still never
    sent to a guest, by both policies."""
    base = default_catalogue()
    incentives = tuple(
        dataclasses.replace(i, eligibility=dataclasses.replace(i.eligibility, known_customer_only=False))
        for i in base.incentives)
    cat = Catalogue(incentives=incentives, none=base.none, settings=base.settings, uplift=base.uplift)
    c = random_carts(cat, n=4000, seed=10)
    assert "reminder_email" in set(check_rules(cat, c).code)
    check_profit(cat, c, explore=False)


def test_numbers_and_templates_in_arrow_read_as_python_formats_them() -> None:
    from serving.batch_policy import _fixed_arrow, _format_arrow

    rng = np.random.default_rng(4)
    values = np.concatenate([rng.normal(0, 3, 2000), rng.normal(0, 0.01, 500), [0.0, -0.0, -0.0004, 0.125, 0.375,
                             -2.5, 1.005, 12345.678, 1e300, np.nan, np.inf, -np.inf]])
    for decimals, plus in ((2, False), (2, True), (3, True), (0, False)):
        spec = f"{'+' if plus else ''}.{decimals}f"
        assert _fixed_arrow(values, decimals, plus).to_pylist() == [format(v, spec) for v in values.tolist()]
    a = pa.array(["x", "y"])
    assert _format_arrow("100%% %s got %d of %s.", [a, pa.array([3, 40]), a], 2).to_pylist() == [
        "100% x got 3 of x.", "100% y got 40 of y."]
    assert _format_arrow("%s", [a], 2).to_pylist() == ["x", "y"]
    assert _format_arrow("no slot, 5%%", [], 3).to_pylist() == ["no slot, 5%"] * 3
    with pytest.raises(ValueError, match="2 slots for 1 columns"):
        _format_arrow("%s and %s", [a], 2)
    with pytest.raises(ValueError, match="1 missing"):
        _format_arrow("%s", [pa.array(["x", None])], 2)
    with pytest.raises(ValueError, match="not whole numbers"):
        _format_arrow("%d", [pa.array([1.5, 2.0])], 2)
