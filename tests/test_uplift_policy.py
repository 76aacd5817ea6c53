"""The profit policy: never a negative expected profit, eligibility, budget and caps, exploration."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from serving.policy import CartContext, Catalogue, UpliftSettings, default_catalogue, parse_catalogue
from serving.uplift_policy import Budget, decide_uplift, exploration_draws, offer_of

ARMS = ("reminder_email", "free_shipping", "discount_5", "discount_10", "discount_15", "early_access", "gift")


def catalogue(**uplift: object) -> Catalogue:
    base = default_catalogue()
    settings = {"exploration_share": 0.0, **uplift}
    return dataclasses.replace(base, uplift=dataclasses.replace(base.uplift, **settings))  # type: ignore[arg-type]


def known_cart(value: float = 80.0, **kw: object) -> CartContext:
    return CartContext(cart_value=value, is_guest=False, **kw)  # type: ignore[arg-type]


def test_discount_economics_by_hand() -> None:
    inc = default_catalogue().get("discount_10")
    # +0.10 purchase probability on a 100.00 order at 30% margin = 3.00; cost 10.00 x 0.60 = 6.00
    offer = offer_of(inc, p_with=0.6, p_without=0.5, order_value=100.0, fee=0.0, margin=0.3)
    assert offer.uplift == pytest.approx(0.1)
    assert offer.expected_cost == pytest.approx(6.0)
    assert offer.expected_profit == pytest.approx(-3.0)
    email = offer_of(default_catalogue().get("reminder_email"), 0.55, 0.5, 100.0, 0.0, 0.3)
    assert email.expected_cost == pytest.approx(0.05)  # paid whatever happens
    assert email.expected_profit == pytest.approx(0.05 * 30 - 0.05)


def test_never_a_negative_expected_profit() -> None:
    rng = np.random.default_rng(1)
    cat = catalogue()
    for _ in range(2000):
        p0 = float(rng.uniform(0.05, 0.95))
        probs = {"none": p0, **{a: float(np.clip(p0 + rng.normal(0, 0.05), 0, 1)) for a in ARMS}}
        segs = set(rng.choice(["vip", "recurring", "engaged", "unengaged", "big_cart", "cart_abandoner"],
                              size=2, replace=False))
        cart = CartContext(cart_value=float(rng.uniform(5, 200)), is_guest=bool(rng.integers(0, 2)),
                           shipping_fee=float(rng.choice([0.0, 5.9])), free_shipping_threshold=60.0,
                           seconds_since_prev_event=float(rng.uniform(0, 2000)))
        d = decide_uplift(probs, cart.cart_value, segs, cart, cat)
        if d.code != "none":
            assert d.chosen is not None and d.chosen.expected_profit > 0
            assert all(d.chosen.expected_profit >= o.expected_profit for o in d.considered)
            inc = cat.get(d.code)
            assert not (cart.is_guest and inc.channel == "email")
            assert not (inc.eligibility.segments_none and set(inc.eligibility.segments_none) & segs)
            assert not (inc.eligibility.segments_any and not set(inc.eligibility.segments_any) & segs)
            assert cart.cart_value >= inc.eligibility.min_cart_value


def test_chooses_the_most_profitable_and_names_the_runner_up() -> None:
    probs = {"none": 0.5, "reminder_email": 0.56, "discount_5": 0.60, "free_shipping": 0.5}
    d = decide_uplift(probs, 100.0, {"unengaged"}, known_cart(100.0, seconds_since_prev_event=900.0), catalogue())
    # reminder: 0.06 x 30 - 0.05 = 1.75; 5% off: 0.10 x 30 - 5 x 0.6 = 0.00 -> reminder, runner-up discount_5
    assert d.code == "reminder_email" and d.rule == "best_profit"
    assert d.chosen is not None and d.chosen.expected_profit == pytest.approx(1.75)
    assert d.runner_up is not None and d.runner_up.code in ("discount_5", "none")
    assert "reminder_email" in d.reason and "+1.75" in d.reason


def test_nothing_when_nothing_pays() -> None:
    probs = {"none": 0.8, **{a: 0.8 for a in ARMS}}
    d = decide_uplift(probs, 80.0, {"engaged"}, known_cart(seconds_since_prev_event=900.0), catalogue())
    assert d.code == "none" and d.rule == "nothing_pays"


def test_unmodelled_or_ineligible_incentives_are_never_offered() -> None:
    # a guest: no e-mail, no early access, even if the model says they pay handsomely
    probs = {"none": 0.3, "reminder_email": 0.9, "early_access": 0.9, "discount_5": 0.31}
    guest = CartContext(cart_value=80.0, is_guest=True, seconds_since_prev_event=900.0)
    d = decide_uplift(probs, 80.0, {"guest"}, guest, catalogue())
    assert d.code not in ("reminder_email", "early_access")
    # VIPs get no discount (catalogue: segments_none: [vip]); gift needs min 50 cart value
    probs = {"none": 0.3, "discount_15": 0.9, "gift": 0.4}
    d = decide_uplift(probs, 40.0, {"vip"}, known_cart(40.0), catalogue())
    assert d.code == "none"
    # guest_checkout has no uplift model: never offered by this policy
    d = decide_uplift({"none": 0.3}, 80.0, {"guest"}, CartContext(80.0, account_required=True, is_guest=True),
                      catalogue())
    assert d.code == "none" and d.rule == "no_eligible"


def test_budget_and_segment_caps() -> None:
    probs = {"none": 0.3, "discount_15": 0.7, "discount_5": 0.45, "reminder_email": 0.33}
    cart = known_cart(100.0, seconds_since_prev_event=900.0)
    segs = {"unengaged"}
    # 5% off: 0.15 x 30 - 5 x 0.45 = 2.25 (cost 2.25); 15% off: 0.4 x 30 - 15 x 0.7 = 1.50 (cost 10.50);
    # reminder: 0.03 x 30 - 0.05 = 0.85 (cost 0.05)
    free = decide_uplift(probs, 100.0, segs, cart, catalogue())
    assert free.code == "discount_5" and free.chosen is not None
    assert free.chosen.expected_profit == pytest.approx(2.25)
    assert free.runner_up is not None and free.runner_up.code == "discount_15"
    tight = decide_uplift(probs, 100.0, segs, cart, catalogue(), budget=Budget(total=1.0))
    assert tight.code == "reminder_email" and "over today's budget" in tight.reason
    broke = decide_uplift(probs, 100.0, segs, cart, catalogue(), budget=Budget(total=0.0))
    assert broke.code == "none" and broke.rule == "over_budget"
    capped = Budget(by_segment=(("unengaged", 1.0),))
    assert decide_uplift(probs, 100.0, segs, cart, catalogue(), budget=capped).code == "reminder_email"
    # a cap on a segment the cart is not in does not bind
    other = Budget(by_segment=(("vip", 0.0),))
    assert decide_uplift(probs, 100.0, segs, cart, catalogue(), budget=other).code == "discount_5"


def test_exploration_is_random_flagged_and_stable_per_session() -> None:
    cat = catalogue(exploration_share=0.2)
    probs = {"none": 0.5, "reminder_email": 0.6, "discount_5": 0.52}
    cart = known_cart(100.0, seconds_since_prev_event=900.0)
    decisions = [decide_uplift(probs, 100.0, {"unengaged"}, cart, cat, draws=exploration_draws(f"s{i}"))
                 for i in range(3000)]
    explored = [d for d in decisions if d.explored]
    assert 0.17 < len(explored) / len(decisions) < 0.23
    assert {d.code for d in explored} == {"none", "reminder_email", "discount_5"}
    # propensities: explored arm 0.2/3 (+0.8 when it is also the greedy choice)
    for d in explored:
        expected = 0.2 / 3 + (0.8 if d.code == "reminder_email" else 0.0)
        assert d.propensity == pytest.approx(expected)
    assert exploration_draws("abc") == exploration_draws("abc") != exploration_draws("abd")
    greedy = [d for d in decisions if not d.explored]
    assert {d.code for d in greedy} == {"reminder_email"}
    assert greedy[0].propensity == pytest.approx(0.8 + 0.2 / 3)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="'none'"):
        decide_uplift({"discount_5": 0.5}, 10.0, set(), known_cart(), catalogue())
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        decide_uplift({"none": 1.5}, 10.0, set(), known_cart(), catalogue())
    with pytest.raises(ValueError, match="order_value"):
        decide_uplift({"none": 0.5}, float("nan"), set(), known_cart(), catalogue())


def test_uplift_section_is_validated() -> None:
    from importlib import resources

    import yaml

    from serving.policy import PolicyError

    raw = yaml.safe_load(resources.files("serving").joinpath("incentives.yaml").read_text())
    assert parse_catalogue(raw).uplift.margin == pytest.approx(0.30)
    raw["uplift"].update(margin=1.5, segment_caps={"unengagd": 10}, exploration_share=0.9)
    with pytest.raises(PolicyError) as err:
        parse_catalogue(raw)
    text = str(err.value)
    assert "uplift, margin" in text and "'unengagd'" in text and "did you mean 'unengaged'" in text
    assert "exploration_share" in text
    assert isinstance(default_catalogue().uplift, UpliftSettings)
