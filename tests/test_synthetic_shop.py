"""The synthetic shop: valid tables, a real funnel, labels as defined, and a truth that is really true."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cartrisk.cli import app
from features.io import Dataset, load_dataset
from features.schema import EVENT_TYPES, FUNNEL_STEP, INCENTIVES, SNAPSHOT_EVENTS
from training import synthetic_params as P
from training.synthetic_funnel import CartState, Covariates, Outcome, draw_outcome, shown_fee, truth
from training.synthetic_observable import Observed, line_values, observable_truth
from training.synthetic_population import Profiles, price_sensitivity, tilt_level
from training.synthetic_sessions import Catalog, Sessions, draw_browsing, draw_cart_plans, draw_intents
from training.synthetic_shop import (
    SyntheticShop,
    assign_arms,
    cart_state,
    generate_shop,
    observed,
    write_shop,
)

CUSTOMERS, DAYS, SEED = 5000, 40, 11
ARMS = ("none", *INCENTIVES)
DISCOUNT = {"discount_5": 0.05, "discount_10": 0.10, "discount_15": 0.15}


@pytest.fixture(scope="module")
def shop() -> SyntheticShop:
    return generate_shop(CUSTOMERS, DAYS, SEED)


@pytest.fixture(scope="module")
def written(shop: SyntheticShop, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("shop")
    write_shop(shop, out)
    return out


@pytest.fixture(scope="module")
def loaded(written: Path) -> Dataset:
    return load_dataset(written, quarantine_dir=written / "quarantine")


def _events(shop: SyntheticShop) -> pd.DataFrame:
    """Events sorted by session and time, with their 1-based position in the session."""
    ev = shop.dataset.events.sort_values(["session_id", "event_time"], kind="stable").reset_index(drop=True)
    ev["position"] = ev.groupby("session_id").cumcount() + 1
    ev["etype"] = ev["event_type"].astype("string")
    return ev


# -- tables ------------------------------------------------------------------------------------------------------


def test_same_seed_writes_identical_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    first = write_shop(generate_shop(400, 10, 5), tmp_path / "a")
    again = write_shop(generate_shop(400, 10, 5), tmp_path / "b")
    other = write_shop(generate_shop(400, 10, 6), tmp_path / "c")
    assert [p.relative_to(tmp_path / "a") for p in first] == [p.relative_to(tmp_path / "b") for p in again]
    assert len(first) == 9
    for a, b in zip(first, again, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
    assert first[0].read_bytes() != other[0].read_bytes()


def test_written_tables_load_without_bad_rows_and_equal_the_dataset(
    shop: SyntheticShop, loaded: Dataset
) -> None:
    assert {r.table for r in loaded.reports} == {"events", "orders", "email_events", "customers",
                                                 "experiments"}
    for report in loaded.reports:
        assert report.rows_bad == 0, (report.table, report.reasons)
        assert report.ignored_columns == []
        assert report.rows_read > 0
    for name in ("events", "orders", "email_events", "customers", "experiments"):
        got, made = loaded.table(name), shop.dataset.table(name)
        assert got is not None and made is not None
        assert list(got.columns) == list(made.columns)
        assert (got.dtypes == made.dtypes).all(), name
        assert got.equals(made), name


def test_shop_has_realistic_shape(shop: SyntheticShop) -> None:
    summary = shop.summary()
    ev = shop.dataset.events
    sessions = ev["session_id"].nunique()
    assert 0.06 < summary["carts"] / sessions < 0.16
    assert 0.6 < summary["abandonment_rate"] < 0.8
    assert 0.2 < summary["experiment_carts"] / summary["carts"] < 0.4
    guests = ev.loc[ev["customer_id"].isna(), "session_id"].nunique()
    assert 0.2 < guests / sessions < 0.5
    assert shop.dataset.customers["city"].value_counts(normalize=True).iloc[0] > 0.25
    assert shop.dataset.customers["city"].nunique() == 8
    assert set(ev["event_type"].astype("string").unique()) == set(EVENT_TYPES)


def test_session_attributes_are_constant_and_item_columns_only_on_item_events(shop: SyntheticShop) -> None:
    ev = shop.dataset.events
    per_session = ev.groupby("session_id")[["device", "traffic_source", "customer_id"]].nunique(dropna=False)
    assert (per_session.max() == 1).all()
    assert ev["device"].notna().all() and ev["traffic_source"].notna().all()
    item = ev["event_type"].isin(["view_item", "add_to_cart", "remove_from_cart", "purchase"])
    for col in ("product_id", "category", "price", "quantity"):
        assert ev.loc[item, col].notna().all(), col
        assert ev.loc[~item, col].isna().all(), col
    assert (ev.loc[item, "quantity"] >= 1).all()
    fee_rows = ev["event_type"].isin(["add_shipping_info", "add_payment_info", "purchase"])
    assert ev.loc[fee_rows, ["shipping_fee", "free_shipping_threshold"]].notna().all().all()
    assert ev.loc[~fee_rows, ["shipping_fee", "free_shipping_threshold"]].isna().all().all()
    checkout = fee_rows | (ev["event_type"] == "begin_checkout")
    assert ev.loc[checkout, "account_required"].notna().all()
    assert ev.loc[~checkout, "account_required"].isna().all()


def test_times_strictly_increase_within_sessions(shop: SyntheticShop) -> None:
    ev = _events(shop)
    step = ev.groupby("session_id")["event_time"].diff().dt.total_seconds()
    assert (step.dropna() >= 1).all()


def test_sessions_walk_the_funnel_in_order(shop: SyntheticShop) -> None:
    ev = _events(shop)
    assert (ev.loc[ev["position"] == 1, "etype"] == "page_view").all()
    assert (ev.loc[ev["position"] > 1, "etype"] != "page_view").all()
    step = ev["etype"].map(FUNNEL_STEP).astype(int)
    checkout = ev[step >= 2].copy()
    checkout["step"] = step[step >= 2]
    # checkout steps come once each, in order, with none skipped (purchase rows: one per line)
    once = checkout[checkout["step"] < 6]
    assert not once.duplicated(["session_id", "step"]).any()
    rank = once.groupby("session_id").cumcount() + 2
    assert (once["step"].to_numpy() == rank.to_numpy()).all()
    assert (checkout.groupby("session_id")["step"].diff().dropna() >= 0).all()
    # cart building (steps 0-1) never follows a checkout step
    first_checkout = checkout.groupby("session_id")["position"].min()
    last_building = ev[step <= 1].groupby("session_id")["position"].max()
    both = first_checkout.index.intersection(last_building.index)
    assert (last_building[both] < first_checkout[both]).all()
    # a purchase always follows add_payment_info in its session
    bought = set(ev.loc[ev["etype"] == "purchase", "session_id"])
    paid = set(ev.loc[ev["etype"] == "add_payment_info", "session_id"])
    assert bought <= paid


def test_shipping_fee_is_zero_at_or_above_the_threshold(shop: SyntheticShop) -> None:
    ev = _events(shop)
    add = (ev["etype"] == "add_to_cart").to_numpy(dtype=bool)
    rem = (ev["etype"] == "remove_from_cart").to_numpy(dtype=bool)
    line = (ev["price"] * ev["quantity"].astype("float64")).fillna(0.0).to_numpy()
    ev["cart"] = pd.Series(line * add - line * rem).groupby(ev["session_id"]).cumsum()
    built = set(ev.loc[add, "session_id"])  # return sessions show a cart built in an earlier session
    shipping = ev[(ev["etype"] == "add_shipping_info") & ev["session_id"].isin(built)]
    cart = shipping.set_index("session_id")[["cart", "shipping_fee", "free_shipping_threshold"]]
    log = shop.dataset.experiments
    assert log is not None
    free_sessions = set(log["session_id"][(log["incentive"] == "free_shipping").to_numpy()])
    over = cart["cart"] >= cart["free_shipping_threshold"] - 1e-9
    assert (cart.loc[over, "shipping_fee"] == 0).all()
    under = ~over & ~cart.index.isin(free_sessions)
    assert under.sum() > 50
    assert (cart.loc[under, "shipping_fee"] > 0).all()
    assert (cart.loc[cart.index.isin(free_sessions), "shipping_fee"] == 0).all()


def test_one_order_per_purchasing_session_with_its_value(shop: SyntheticShop) -> None:
    ev = _events(shop)
    orders = shop.dataset.orders
    in_window = orders[orders["session_id"].notna()]
    assert not in_window["session_id"].duplicated().any()
    buys = ev[ev["etype"] == "purchase"]
    assert set(in_window["session_id"]) == set(buys["session_id"])
    lines = buys.assign(line=buys["price"] * buys["quantity"].astype("float64"))
    per_session = lines.groupby("session_id").agg(
        value=("line", "sum"), fee=("shipping_fee", "first"), first=("event_time", "min"),
        customer=("customer_id", "first"),
    )
    # a return session buys the cart of an experiment session: map discounts through the cart truth
    carts = shop.carts.set_index("session_id")
    rate = carts["incentive"].astype("string").map(DISCOUNT).fillna(0.0)
    returned = carts[carts["returned"]]
    got = in_window.set_index("session_id").loc[per_session.index]
    discount = pd.Series(0.0, index=per_session.index)
    direct = per_session.index.intersection(rate.index)
    discount[direct] = rate[direct]
    back_value = returned["order_value"]
    is_back = ~per_session.index.isin(rate.index)
    assert is_back.sum() == len(returned) > 0
    expected = (per_session["value"] * (1 - discount) + per_session["fee"]).round(2)
    assert np.allclose(got.loc[~is_back, "total_value"], expected[~is_back], atol=0.011)
    assert np.allclose(np.sort(got.loc[is_back, "total_value"]), np.sort(back_value), atol=0.011)
    assert (got["order_time"] == per_session["first"]).all()
    assert got["customer_id"].astype("object").equals(per_session["customer"].astype("object"))
    history = orders[orders["session_id"].isna()]
    assert (history["order_time"] < pd.Timestamp("2026-01-05", tz="UTC")).all()
    assert history["order_time"].min() < pd.Timestamp("2025-01-05", tz="UTC")


def test_customers_exist_before_their_orders_visits_and_mails(shop: SyntheticShop) -> None:
    ds = shop.dataset
    created = ds.customers.set_index("customer_id")["created_at"]
    for frame, col in ((ds.orders, "order_time"), (ds.events, "event_time"), (ds.email_events, "event_time")):
        first = frame.dropna(subset=["customer_id"]).groupby("customer_id")[col].min()
        assert (created[first.index] < first).all(), col


def test_engagement_levels_come_out_of_the_email_history(shop: SyntheticShop) -> None:
    start = pd.Timestamp("2026-01-05", tz="UTC")
    mail = shop.dataset.email_events
    acted = mail[mail["type"].isin(["open", "click"]) & (mail["event_time"] < start)]
    days = (start - acted.groupby("customer_id")["event_time"].max()).dt.total_seconds() / 86400
    truth_level = shop.customers.set_index("customer_id")["engagement_at_start"].astype("string")
    days = days.reindex(truth_level.index)
    assert (days[truth_level == "engaged"] <= 30).mean() > 0.7
    semi = days[truth_level == "semi_engaged"]
    assert ((semi > 45) & (semi < 130)).mean() > 0.6
    assert ((days[truth_level == "unengaged"] >= 120) | days[truth_level == "unengaged"].isna()).mean() > 0.95
    assert (mail["type"] == "sent").sum() > (mail["type"] == "open").sum() > (mail["type"] == "click").sum()


def test_past_orders_match_the_segments(shop: SyntheticShop) -> None:
    start = pd.Timestamp("2026-01-05", tz="UTC")
    orders = shop.dataset.orders
    count = orders[orders["order_time"] < start].groupby("customer_id").size()
    seg = shop.customers.set_index("customer_id")["segment"].astype("string")
    count = count.reindex(seg.index).fillna(0)
    assert (count[seg == "vip"] >= 10).all()
    assert (count[seg == "recurring"] > 2).all()
    assert (count[seg == "one_time"] == 1).all()
    assert (count[seg == "never_purchased"] == 0).all()
    value = orders.merge(seg.rename("segment"), left_on="customer_id", right_index=True)
    aov = value.groupby("segment")["total_value"].mean()
    assert aov["big_spender"] > 2 * aov["one_time"]


# -- label and truth ---------------------------------------------------------------------------------------------


def test_snapshot_truth_covers_exactly_the_snapshot_events_of_cart_sessions(shop: SyntheticShop) -> None:
    ev = _events(shop)
    cart_sessions = set(ev.loc[ev["etype"] == "add_to_cart", "session_id"])
    snaps = ev[ev["session_id"].isin(cart_sessions) & ev["etype"].isin(SNAPSHOT_EVENTS)]
    expected = (snaps["session_id"] + "#" + snaps["position"].astype("string")).to_numpy(dtype=object)
    truth_snaps = shop.snapshots
    assert not truth_snaps["snapshot_id"].duplicated().any()
    assert set(expected) == set(truth_snaps["snapshot_id"])
    kinds = dict(zip(expected, snaps["etype"], strict=True))
    assert (truth_snaps["snapshot_id"].map(kinds) == truth_snaps["event_type"].astype("string")).all()
    assert truth_snaps["p_abandon"].between(0, 1).all()
    assert set(truth_snaps["session_id"]) == set(shop.carts["session_id"])


def test_labels_match_the_feature_pipeline(loaded: Dataset, shop: SyntheticShop) -> None:
    from features.snapshots import build_snapshots

    snaps = build_snapshots(loaded, shop.label_window_hours)
    merged = snaps[["snapshot_id", "abandoned"]].merge(
        shop.snapshots[["snapshot_id", "abandoned"]], on="snapshot_id", how="outer", suffixes=("_f", "_t"),
        indicator=True,
    )
    assert (merged["_merge"] == "both").all()
    known = merged.dropna(subset=["abandoned_f"])
    assert len(known) > 0.9 * len(merged)
    assert (known["abandoned_f"] == known["abandoned_t"]).all()


def _binomial_z(p: np.ndarray, outcome: np.ndarray) -> float:
    """z-score of the realised count against the expected one, for independent Bernoulli(p) outcomes."""
    return float((outcome.sum() - p.sum()) / np.sqrt((p * (1 - p)).sum()))


def test_mean_truth_matches_realised_abandonment(shop: SyntheticShop) -> None:
    carts = shop.carts
    assert len(carts) > 2000
    assert abs(_binomial_z(carts["p_abandon_first_add"].to_numpy(), carts["abandoned"].to_numpy())) < 4
    snaps = shop.snapshots
    for event, group in snaps.groupby("event_type", observed=True):
        z = _binomial_z(group["p_abandon"].to_numpy(), group["abandoned"].to_numpy())
        assert abs(z) < 4, (event, z)
    # calibrated across the range, not just on average
    first = snaps.drop_duplicates("session_id")
    bins = pd.qcut(first["p_abandon"], 5, duplicates="drop")
    for _, group in first.groupby(bins, observed=True):
        z = _binomial_z(group["p_abandon"].to_numpy(), group["abandoned"].to_numpy())
        assert abs(z) < 4, z
    assert first["p_abandon"].quantile(0.9) - first["p_abandon"].quantile(0.1) > 0.3


def _small_state(n: int, rng: np.random.Generator) -> CartState:
    active = np.zeros((n, P.N_SLOTS), dtype=bool)
    active[:, 0] = True
    active[:, P.VIEW_CART:] = True
    extra = rng.random(n) < 0.5
    active[extra, 1] = active[extra, 2] = True
    known = rng.random(n) < 0.7
    cov = Covariates(
        known=known,
        n_prior=np.where(known, rng.integers(0, 15, n), 0),
        engagement=np.where(known, rng.random(n), 0.0),
        visits=np.where(known, rng.integers(0, 12, n), 0),
        device=rng.integers(0, 4, n),
        source=rng.integers(0, 7, n),
        price_sens=rng.lognormal(0, 0.3, n),
    )
    return CartState(cov=cov, intent=rng.integers(0, 3, n), value=rng.choice([25.0, 55.0, 59.99, 80.0], n),
                     active=active)


@pytest.mark.parametrize("stand_at", [0, P.BEGIN_CHECKOUT, P.ADD_SHIPPING])
def test_exact_truth_equals_monte_carlo_of_the_same_hazards(stand_at: int) -> None:
    """Replay the funnel many times from one slot: the share abandoned must match the exact probability."""
    rng = np.random.default_rng(3)
    n, reps, window = 40, 3000, 24 * 3600.0
    st = _small_state(n, rng)
    arm = rng.integers(0, len(P.ARMS), n)
    arm[~st.cov.known & np.isin(arm, [P.REMINDER, P.EARLY_ACCESS])] = P.NONE
    account = rng.random(n) < 0.5
    hz, inc, ret = P.Hazards(), P.Incentives(), P.Returns()
    exact = 1.0 - truth(st, arm, account, window, hz, inc, ret).p_purchase[:, stand_at]
    # standing at a slot = only the later slots can still be left
    walked = np.repeat(st.active, reps, axis=0)
    walked[:, 1 : stand_at + 1] = False
    rep = CartState(cov=st.cov.take(np.repeat(np.arange(n), reps)), intent=np.repeat(st.intent, reps),
                    value=np.repeat(st.value, reps), active=walked)
    # before begin_checkout the account step is not known yet: draw it
    drawn = rng.random(n * reps) < P.ACCOUNT_REQUIRED_PROB
    acc = drawn if stand_at < P.BEGIN_CHECKOUT else np.repeat(account, reps)
    out = draw_outcome(rng, rep, np.repeat(arm, reps), acc, window, hz, inc, ret)
    simulated = out.abandoned.reshape(n, reps).mean(axis=1)
    se = np.sqrt(exact * (1 - exact) / reps) + 1e-9
    z = (simulated - exact) / se
    assert np.abs(z).max() < 4.5, z
    assert abs(z.sum() / np.sqrt(n)) < 4


# -- the observable truth: the Bayes limit of a model that sees the tables -------------------------------------


def test_observable_truth_matches_realised_abandonment_and_is_calibrated_per_decile(shop: SyntheticShop) -> None:
    snaps, carts = shop.snapshots, shop.carts
    assert snaps["p_abandon_observable"].between(0, 1).all()
    first = snaps.drop_duplicates("session_id").set_index("session_id")
    assert (first["event_type"] == "add_to_cart").all()
    assert np.allclose(first.loc[carts["session_id"], "p_abandon_observable"], carts["p_abandon_observable_first_add"])
    z = _binomial_z(carts["p_abandon_observable_first_add"].to_numpy(), carts["abandoned"].to_numpy())
    assert abs(z) < 4, z
    for event, group in snaps.groupby("event_type", observed=True):
        z = _binomial_z(group["p_abandon_observable"].to_numpy(), group["abandoned"].to_numpy())
        assert abs(z) < 4, (event, z)
    # calibrated per decile, on one snapshot per cart (independent outcomes)
    deciles = pd.qcut(first["p_abandon_observable"], 10)
    observed, predicted = [], []
    for _, group in first.groupby(deciles, observed=True):
        p, y = group["p_abandon_observable"].to_numpy(), group["abandoned"].to_numpy()
        assert len(group) > 150
        assert abs(_binomial_z(p, y)) < 4
        assert abs(y.mean() - p.mean()) < 0.08
        observed.append(y.mean())
        predicted.append(p.mean())
    assert np.corrcoef(observed, predicted)[0, 1] > 0.95
    assert first["p_abandon_observable"].quantile(0.9) - first["p_abandon_observable"].quantile(0.1) > 0.3


def test_oracle_averages_to_the_observable_truth_and_ranks_better(shop: SyntheticShop) -> None:
    """E[p_abandon | observables] = p_abandon_observable: the oracle only adds what cannot be seen."""
    from sklearn.metrics import roc_auc_score

    snaps = shop.snapshots
    for event, group in snaps.groupby("event_type", observed=True):
        one = group.drop_duplicates("session_id")  # one per cart: independent
        diff = (one["p_abandon"] - one["p_abandon_observable"]).to_numpy()
        z = diff.mean() / (diff.std() / np.sqrt(len(diff)))
        assert abs(z) < 4, (event, z)
        assert diff.std() > 0.01, event  # the oracle does know more
    y = snaps["abandoned"].to_numpy()
    assert roc_auc_score(y, snaps["p_abandon"]) > roc_auc_score(y, snaps["p_abandon_observable"]) > 0.75


TINY_PRICES = np.array([9.99, 19.99, 24.99, 44.99, 54.99, 99.99])


def _simulated_carts(n: int, known: bool, n_prior: int, engagement: float, visits: int, device: int, source: int,
                     aov: float, seed: int) -> tuple[Observed, np.ndarray, Outcome]:
    """Sessions of one shopper profile drawn with the generator's own functions, over a catalogue of six
    products so that the same observable cart comes up many times; their observable truth and outcomes."""
    rng = np.random.default_rng(seed)
    catalog = Catalog(price=TINY_PRICES, category=np.zeros(6, dtype=np.int64),
                      by_price=np.argsort(TINY_PRICES, kind="stable"), popularity=np.full(6, 1 / 6))
    orders, value, is_known = np.array([n_prior]), np.array([aov]), np.array([True])
    prof = Profiles(n_prior=orders, aov=value, price_sens=price_sensitivity(orders, value, is_known),
                    tilt_level=tilt_level(orders, value))
    kn = np.full(n, known)
    eng, vis, src = np.full(n, engagement if known else 0.0), np.full(n, visits if known else 0), np.full(n, source)
    intent, has_cart, views = draw_intents(rng, np.where(kn, n_prior, 0), kn, eng, vis, src)
    sessions = Sessions(customer=np.where(kn, 0, -1), start_s=np.arange(n) * 100_000,
                        device=np.full(n, device, dtype=np.int8), source=src.astype(np.int8),
                        intent=intent.astype(np.int8), engagement=eng, visits=vis, has_cart=has_cart,
                        n_views=views)
    plan = draw_cart_plans(rng, sessions, prof, catalog, draw_browsing(rng, sessions, catalog))
    state = cart_state(sessions, prof, plan)
    arm, _, _ = assign_arms(rng, state.cov.known)
    hz, inc, ret = P.Hazards(), P.Incentives(), P.Returns()
    window = 24 * 3600.0
    outcome = draw_outcome(rng, state, arm, plan.account_required, window, hz, inc, ret)
    obs = observed(sessions, prof, plan, catalog, state, shown_fee(state.band, arm))
    return obs, observable_truth(obs, line_values(catalog), window, hz, inc, ret), outcome


def _signature(obs: Observed, slot: int) -> list[np.ndarray]:
    """Everything observable at ``slot`` for carts of one profile: views, the lines so far, and from view_cart
    on the whole cart, from begin_checkout the account step, from add_shipping_info the fee shown."""
    if slot in P.ADD_SLOTS:
        k = P.ADD_SLOTS.index(slot) + 1
        return [obs.views, *(obs.line_cents[:, line] for line in range(k))]
    key = [obs.views, obs.n_lines, obs.removed, *(obs.line_cents[:, line] for line in range(P.MAX_ITEMS))]
    if slot >= P.BEGIN_CHECKOUT:
        key.append(obs.account.astype(np.int64))
    if slot >= P.ADD_SHIPPING:
        key.append((obs.fee_shown > 0).astype(np.int64))
    return key


@pytest.mark.parametrize("profile", [(True, 3, 0.8, 4, 1, 3, 75.0), (False, 0, 0.0, 0, 0, 4, np.nan),
                                     (True, 12, 0.2, 1, 1, 2, 170.0)])
def test_observable_truth_is_exact_and_equal_for_equal_observables(
        profile: tuple[bool, int, float, int, int, int, float]) -> None:
    """Group simulated carts by what is observable at each slot: within a group the observable truth is one
    number (it reads nothing latent), and the share of the group that is abandoned matches it."""
    obs, p, outcome = _simulated_carts(250_000, *profile, seed=5)
    y = outcome.abandoned.astype(np.float64)
    zs = []
    for slot in [*P.ADD_SLOTS[:2], P.VIEW_CART, P.BEGIN_CHECKOUT, P.ADD_SHIPPING, P.ADD_PAYMENT]:
        k = P.ADD_SLOTS.index(slot) + 1 if slot in P.ADD_SLOTS else 1
        reached = (obs.n_lines >= k) & (outcome.exit_slot > slot)
        frame = pd.DataFrame({f"k{i}": v[reached] for i, v in enumerate(_signature(obs, slot))})
        frame["p"], frame["y"] = p[reached, slot], y[reached]
        frame["v"] = frame["p"] * (1 - frame["p"])
        groups = frame.groupby([c for c in frame.columns if c.startswith("k")])
        stats = groups.agg(n=("y", "size"), ys=("y", "sum"), ps=("p", "sum"), vs=("v", "sum"), hi=("p", "max"),
                           lo=("p", "min"))
        assert (stats["hi"] - stats["lo"]).max() < 1e-12, slot
        big = stats[stats["n"] >= 40]
        assert len(big) >= 10, slot
        z = (big["ys"] - big["ps"]) / np.sqrt(big["vs"])
        total = (big["ys"].sum() - big["ps"].sum()) / np.sqrt(big["vs"].sum())
        assert abs(total) < 4, (slot, total)
        zs.append(z.to_numpy())
    every = np.concatenate(zs)
    assert np.abs(every).max() < 4.8
    assert (every**2).mean() < 1.3  # chi-square per group, about 1 when exact


def test_observable_truth_reads_only_what_is_visible_at_each_slot() -> None:
    obs, p, _ = _simulated_carts(40_000, True, 2, 0.5, 3, 0, 1, 50.0, seed=8)
    rng = np.random.default_rng(9)
    n = len(obs)
    catalog_lines = np.round(TINY_PRICES * 100).astype(np.int64)
    lines = rng.choice(catalog_lines, (n, P.MAX_ITEMS)) * rng.integers(1, 4, (n, P.MAX_ITEMS))
    window, hz, inc, ret = 24 * 3600.0, P.Hazards(), P.Incentives(), P.Returns()
    table = line_values(Catalog(price=TINY_PRICES, category=np.zeros(6, dtype=np.int64),
                                by_price=np.argsort(TINY_PRICES, kind="stable"), popularity=np.full(6, 1 / 6)))

    def again(**changes: np.ndarray) -> np.ndarray:
        return observable_truth(dataclasses.replace(obs, **cast(dict[str, Any], changes)), table, window, hz, inc, ret)

    for k in (1, 2):  # the lines after the k-th, how many there are, the removal, the account step and the fee
        more = rng.integers(1, P.MAX_ITEMS + 1, n)
        cents = np.where(np.arange(P.MAX_ITEMS)[None, :] < k, obs.line_cents, lines)
        cents = np.where(np.arange(P.MAX_ITEMS)[None, :] < np.maximum(more, k)[:, None], cents, 0)
        removed = np.where(rng.random(n) < 0.5, rng.integers(0, P.MAX_ITEMS, n) % np.maximum(more, k), -1)
        changed = again(line_cents=cents, n_lines=np.maximum(more, k), removed=removed,
                        account=rng.random(n) < 0.5, fee_shown=rng.choice([0.0, P.SHIPPING_FEE], n))
        both = obs.n_lines >= k
        slot = P.ADD_SLOTS[k - 1]
        assert np.array_equal(changed[both, slot], p[both, slot]), k
    flipped = again(account=~obs.account, fee_shown=np.where(obs.fee_shown > 0, 0.0, P.SHIPPING_FEE))
    assert np.array_equal(flipped[:, P.VIEW_CART], p[:, P.VIEW_CART])
    assert not np.allclose(flipped[:, P.BEGIN_CHECKOUT], p[:, P.BEGIN_CHECKOUT])
    fee_only = again(fee_shown=np.where(obs.fee_shown > 0, 0.0, P.SHIPPING_FEE))
    assert np.array_equal(fee_only[:, P.BEGIN_CHECKOUT], p[:, P.BEGIN_CHECKOUT])
    assert not np.allclose(fee_only[:, P.ADD_SHIPPING], p[:, P.ADD_SHIPPING])
    # and nothing latent is an input at all
    assert {f.name for f in dataclasses.fields(Observed)} == {
        "cov", "tilt_level", "views", "line_cents", "n_lines", "removed", "account", "fee_shown"}
    assert {f.name for f in dataclasses.fields(Covariates)} == {
        "known", "n_prior", "engagement", "visits", "device", "source", "price_sens"}


# -- experiments and incentive effects ---------------------------------------------------------------------------


def test_experiment_log_has_the_right_propensities(shop: SyntheticShop) -> None:
    log = shop.dataset.experiments
    assert log is not None
    guest = log["customer_id"].isna()
    arms = log["incentive"].astype("string")
    assert not arms[guest].isin(["reminder_email", "early_access"]).any()
    assert np.allclose(log.loc[guest, "propensity"], 1 / 6)
    assert np.allclose(log.loc[~guest, "propensity"], 1 / 8)
    counts = arms[~guest].value_counts().reindex(ARMS, fill_value=0).to_numpy()
    expected = counts.sum() / len(ARMS)
    assert ((counts - expected) ** 2 / expected).sum() < 30  # chi-square, 7 d.f.
    ev = _events(shop)
    first_add = ev[ev["etype"] == "add_to_cart"].groupby("session_id")["event_time"].min()
    assert (log.set_index("session_id")["decision_time"] == first_add[log["session_id"]].to_numpy()).all()
    truth_log = shop.experiments
    assert set(truth_log["session_id"]) == set(log["session_id"])


def test_truth_experiments_are_consistent_with_snapshots(shop: SyntheticShop) -> None:
    exp = shop.experiments
    first = shop.snapshots.drop_duplicates("session_id").set_index("session_id")["p_abandon"]
    given = exp["incentive"].astype("string").to_numpy()
    p_given = np.array([exp[f"p_purchase_{a}"].iloc[i] for i, a in enumerate(given)])
    assert np.allclose(p_given, 1 - first[exp["session_id"]].to_numpy())
    guest = exp["customer_id"].isna()
    for arm in ("reminder_email", "early_access"):
        assert exp.loc[guest, f"p_purchase_{arm}"].isna().all()
        assert exp.loc[~guest, f"p_purchase_{arm}"].notna().all()
    assert np.allclose(exp["order_value_free_shipping"], exp["cart_value"])
    assert (exp["order_value_discount_15"] < exp["order_value_discount_5"]).all()
    assert np.allclose(exp["order_value_none"], (exp["cart_value"] + exp["shipping_fee"]).round(2))


def _uplift(exp: pd.DataFrame, arm: str) -> pd.Series:
    return exp[f"p_purchase_{arm}"] - exp["p_purchase_none"]


def test_free_shipping_helps_only_below_the_threshold_and_most_just_below(shop: SyntheticShop) -> None:
    exp = shop.experiments
    up = _uplift(exp, "free_shipping")
    above = exp["cart_value"] >= P.FREE_SHIPPING_THRESHOLD
    near = exp["cart_value"].between(P.FREE_SHIPPING_THRESHOLD - 10, P.FREE_SHIPPING_THRESHOLD - 0.01)
    far = exp["cart_value"] < P.FREE_SHIPPING_THRESHOLD - 30
    assert np.allclose(up[above], 0.0)
    assert (up[~above] > 0).all()
    assert up[near].mean() > up[far].mean() > 0
    assert up[near].mean() > 0.03


def test_discounts_move_unengaged_more_than_engaged_and_bigger_more(shop: SyntheticShop) -> None:
    exp = shop.experiments
    known = exp["customer_id"].notna()
    engaged = known & (exp["engagement_score"] >= 1.0)
    unengaged = known & (exp["engagement_score"] <= 0.0)
    assert engaged.sum() > 50 and unengaged.sum() > 50
    for arm in DISCOUNT:
        up = _uplift(exp, arm)
        assert up[unengaged].mean() > 2 * up[engaged].mean() > 0
    assert (_uplift(exp, "discount_15") >= _uplift(exp, "discount_10")).all()
    assert (_uplift(exp, "discount_10") >= _uplift(exp, "discount_5")).all()
    assert _uplift(exp, "discount_15").mean() > _uplift(exp, "discount_5").mean()


def test_vip_perks_move_vips_and_reminders_move_known_customers(shop: SyntheticShop) -> None:
    exp = shop.experiments
    vip = exp["orders_before"] >= 10
    known = exp["customer_id"].notna()
    assert vip.sum() > 20
    for arm in ("early_access", "gift"):
        up = _uplift(exp, arm)
        assert up[vip].mean() > 3 * up[known & ~vip].mean()
    assert (_uplift(exp, "reminder_email")[known] > 0).all()


def test_effects_have_realistic_sizes(shop: SyntheticShop) -> None:
    exp = shop.experiments
    for arm in INCENTIVES:
        up = _uplift(exp, arm).dropna()
        assert 0.0 < up.mean() < 0.06, arm
        assert up.quantile(0.99) < 0.3, arm
    best = max(_uplift(exp, arm).quantile(0.95) for arm in INCENTIVES)
    assert best > 0.08


# -- command line ------------------------------------------------------------------------------------------------


def test_generate_command_writes_files_and_prints_json(tmp_path: Path) -> None:
    out = tmp_path / "shop"
    result = CliRunner().invoke(
        app, ["generate", "--out", str(out), "--customers", "300", "--days", "7", "--seed", "3", "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    for name in ("events", "orders", "email_events", "customers", "experiments"):
        path = out / f"{name}.parquet"
        assert path.exists()
        assert summary["rows"][name] == len(pd.read_parquet(path))
    for name in ("snapshots", "experiments", "carts", "customers"):
        assert (out / "truth" / f"{name}.parquet").exists()
    assert summary["customers"] == 300 and summary["seed"] == 3
    assert summary["carts"] > 0 and 0 <= summary["abandonment_rate"] <= 1
    assert summary["seconds"] >= 0


def test_generate_command_prints_a_summary_and_rejects_bad_input(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["generate", "--out", str(tmp_path / "x"), "--customers", "200",
                                 "--days", "5"])
    assert result.exit_code == 0, result.output
    assert "carts" in result.stdout and "abandoned" in result.stdout
    bad = runner.invoke(app, ["generate", "--out", str(tmp_path / "y"), "--start", "2026-02-31"])
    assert bad.exit_code == 2
    assert not (tmp_path / "y").exists()
    with pytest.raises(ValueError):
        generate_shop(0, 10, 1)
