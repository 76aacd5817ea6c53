"""A synthetic shop whose cart abandonment has a known cause, and the exact truth behind it.

:func:`generate_shop` simulates a shop and returns its five tables (``events``, ``orders``, ``email_events``,
``customers``, ``experiments``) as a :class:`features.io.Dataset`, plus truth tables that no real shop has;
:func:`write_shop` writes them as Parquet (the truth under ``truth/``). The same seed gives the same bytes.

The world
    Customers come in the kinds marketers name (VIP, recurring, one-time buyer, never purchased, frequent visitor
    who rarely buys, big spender) plus guests (sessions without a customer id). Past orders go back up to ~2 years
    and weekly campaign e-mails (sent / open / click) a year before the first session, so customers are engaged,
    semi-engaged or unengaged by their own e-mail history. Eight cities, one dominant. The kind shapes that
    history (how many orders and how dear, how often the customer visits, how they read e-mails) and nothing
    else: a session depends on its customer only through what the shop can see when it starts, the *covariates*
    (:class:`training.synthetic_funnel.Covariates`): the orders placed before the event window and their mean
    value (which sets the price sensitivity and how much cart lines lean to dear products), the e-mail engagement
    score, the visits of the last 30 days, plus the session's device and traffic source.

    A session has a latent intent (browse / consider / buy) drawn from a prior over those covariates
    (:func:`training.synthetic_sessions.intent_prior`); the intent sets the chance of building a cart and the
    number of product views before it (buyers go straight to the product). From the first ``add_to_cart`` the cart
    follows a plan (its lines, drawn independently from the catalogue; an optional removal; the account step;
    the time of every step) through the GA4 funnel ``add_to_cart .. view_cart, begin_checkout, add_shipping_info,
    add_payment_info, purchase``. Before each step the shopper leaves with probability
    ``q + (1 - q) * sigmoid(logit)`` (:mod:`training.synthetic_funnel`): interruptions ``q`` (more on mobile and
    at a forced account step) and decisions driven by intent, the covariates, and on the checkout steps the cart's
    price band, the account step (hurts guests and customers without orders most), the shipping fee shown at
    ``add_shipping_info`` (worst just under the free-shipping threshold) and the incentive. What the model cannot
    see is the intent, the incentive arm, the rest of the plan, and the randomness of each step (interruptions,
    decisions) and of the come-back: an interrupted known customer may come back within the label window in a new
    session and buy the same cart (more often after a reminder e-mail). There is no other hidden per-session or
    per-customer state: noise is fresh at every step, i.e. it is the Bernoulli draw itself.

Label
    A cart is abandoned when its session has no purchase and its customer places no order within the label
    window after the session's last event (guests: only the in-session purchase counts), as in
    :mod:`features.definitions`. A known customer's carts are spaced so that no other order of theirs can fall in
    a cart's window (:func:`training.synthetic_sessions.separate_carts`: a cart starting inside an earlier cart's
    window is dropped and its session stays as a visit without a cart); the realised label therefore depends on
    that cart's own draws only.

Truth (``truth/snapshots.parquet``)
    For every snapshot event (``add_to_cart``, ``view_cart`` and the checkout steps of sessions with a cart), two
    exact probabilities that the cart is abandoned, computed from the same hazards that drew the outcome (sums and
    suffix products, no simulation):

    ``p_abandon_observable``
        P(abandoned | everything observable up to and including the snapshot event): the customer's tables before
        the session start (through the covariates), the session's events so far (views, lines added, from
        ``view_cart`` the whole cart, from ``begin_checkout`` the account step, from ``add_shipping_info`` the fee
        shown) and nothing else. This is the Bayes limit of a risk model on the tables: the best any model can do.
        It sums over what is not seen with the generator's own probabilities
        (:mod:`training.synthetic_observable`): the intent and the arm by Bayes' rule (prior x cart x views x
        surviving every step so far x the fee shown), the account step before checkout, and at an
        ``add_to_cart`` the rest of the plan (lines still to come, their values from the catalogue, the removal).
        To make that sum exact the funnel was built for it: customer latents act only through observable
        covariates, noise is per step, and the value acts through price bands only on the checkout steps, where
        the whole cart is known, so the future lines enter through the exact distribution of their sum.
    ``p_abandon``
        The oracle: the same probability given also the generator's latent state at that event, the session's
        intent, the incentive arm and the cart's whole plan (hence its final value and whether checkout will show
        a fee); before ``begin_checkout`` it averages over the account step, and it does not know any draw of
        whether the shopper leaves or comes back. No model on the tables can reach it; it is an upper bound.
        Averaged over what the tables show it gives ``p_abandon_observable`` back.

Experiments (``experiments.parquet``, ``truth/experiments.parquet``)
    At the first add of EXPERIMENT_SHARE of carts an arm is drawn uniformly from the eligible ones ('none' and the
    seven incentives; guests cannot get reminder_email or early_access). The truth gives, per experiment cart and
    for every arm, the oracle probability that the cart is bought and the order value if it is. Effects differ by
    segment through the covariates: discounts barely move engaged customers, free shipping moves carts just under
    the threshold, VIPs (ten or more past orders) respond to early access and gifts.

Times are UTC; money is in the shop currency.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from features.io import Dataset, write_atomic_parquet
from features.schema import DEVICES, EMAIL_EVENT_TYPES, EVENT_TYPES, SNAPSHOT_EVENTS, TRAFFIC_SOURCES
from training import synthetic_params as P
from training.synthetic_events import (
    DIRECT_SOURCE,
    EMAIL_SOURCE,
    ReturnSessions,
    Rows,
    browsing_rows,
    cart_rows,
    emitted_slots,
    last_event_s,
    return_sessions,
)
from training.synthetic_funnel import (
    CartState,
    Covariates,
    Outcome,
    Truth,
    draw_outcome,
    shown_fee,
    to_cents,
    truth,
)
from training.synthetic_observable import LineValues, Observed, line_values, observable_truth
from training.synthetic_population import (
    CLICK,
    DAY,
    OPEN,
    SENT,
    Customers,
    Emails,
    Orders,
    Profiles,
    draw_campaign_emails,
    draw_customers,
    draw_history_orders,
    profiles,
)
from training.synthetic_sessions import (
    CartPlan,
    Catalog,
    Sessions,
    cart_tilt_level,
    draw_browsing,
    draw_cart_plans,
    draw_catalog,
    draw_sessions,
    drop_carts,
    separate_carts,
    show_first_line,
)
from training.synthetic_tables import (
    category,
    id_strings,
    id_width,
    labels,
    nullable_bool,
    nullable_int,
    strings,
    table,
    text_categories,
    times,
)

DEFAULT_START = "2026-01-05"
TABLE_NAMES: tuple[str, ...] = ("events", "orders", "email_events", "customers", "experiments")
SEGMENTS: tuple[str, ...] = (*P.KINDS, "guest")
REMINDER_DELAY_S = 1800
"""The reminder e-mail goes out this many seconds after the session's last event."""
SNAPSHOT_SLOT = np.array([e in SNAPSHOT_EVENTS for e in P.SLOT_EVENTS])


@dataclass
class SyntheticShop:
    """A generated shop: its tables and the truth behind them."""

    dataset: Dataset
    snapshots: pd.DataFrame
    """One row per snapshot event of a cart: ``snapshot_id``, ``session_id``, ``customer_id``, ``snapshot_time``,
    ``event_type``, ``p_abandon`` (exact, given the generator's latent state: an upper bound),
    ``p_abandon_observable`` (exact, given what the tables show: the Bayes limit of a model), ``p_session_purchase``
    (oracle) and the realised label ``abandoned`` (0/1)."""
    experiments: pd.DataFrame
    """One row per experiment cart: the arm given, cart value, fee, and per arm ``p_purchase_<arm>`` and
    ``order_value_<arm>`` (NaN for arms the cart could not get)."""
    carts: pd.DataFrame
    """One row per cart session: segment, intent, plan, incentive, how the session ended and the label."""
    customers: pd.DataFrame
    """One row per customer: latent segment, engagement level at the window start, price sensitivity and tilt (from
    the orders before the window)."""
    seed: int
    start: str
    days: int
    label_window_hours: float

    def truth_tables(self) -> dict[str, pd.DataFrame]:
        return {"snapshots": self.snapshots, "experiments": self.experiments, "carts": self.carts,
                "customers": self.customers}

    def summary(self) -> dict[str, Any]:
        """Row counts per table, sessions, carts, realised abandonment rate and experiment carts."""
        rows = {name: len(t) for name in TABLE_NAMES if (t := self.dataset.table(name)) is not None}
        return {
            "rows": rows,
            "sessions": int(self.dataset.events["session_id"].nunique()),
            "carts": len(self.carts),
            "abandonment_rate": float(self.carts["abandoned"].mean()) if len(self.carts) else float("nan"),
            "experiment_carts": len(self.experiments),
            "return_orders": int(self.carts["returned"].sum()),
            "snapshots": len(self.snapshots),
        }


def _rngs(seed: int, n: int) -> list[np.random.Generator]:
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n)]


def covariates(sessions: Sessions, prof: Profiles, session: np.ndarray) -> Covariates:
    """What the shop knows about the shopper of each session in ``session`` when it starts."""
    owner = sessions.customer[session]
    known = owner >= 0
    safe = np.maximum(owner, 0)
    return Covariates(
        known=known,
        n_prior=np.where(known, prof.n_prior[safe], 0),
        engagement=sessions.engagement[session],
        visits=sessions.visits[session],
        device=sessions.device[session].astype(np.int64),
        source=sessions.source[session].astype(np.int64),
        price_sens=np.where(known, prof.price_sens[safe], P.PRICE_SENSITIVITY_GUEST),
    )


def cart_state(sessions: Sessions, prof: Profiles, plan: CartPlan) -> CartState:
    """The generator's state of each cart at its first add: covariates, latent intent and plan."""
    return CartState(
        cov=covariates(sessions, prof, plan.session),
        intent=sessions.intent[plan.session].astype(np.int64),
        value=plan.value,
        active=plan.active,
    )


def observed(sessions: Sessions, prof: Profiles, plan: CartPlan, catalog: Catalog, state: CartState,
             fee: np.ndarray) -> Observed:
    """What the tables show of each cart, for :func:`training.synthetic_observable.observable_truth`."""
    lines = np.arange(P.MAX_ITEMS)[None, :] < plan.n_lines[:, None]
    unit = to_cents(catalog.price[plan.product])
    return Observed(
        cov=state.cov,
        tilt_level=cart_tilt_level(sessions, prof, plan.session),
        views=sessions.n_views[plan.session],
        line_cents=np.where(lines, unit * plan.quantity, 0),
        n_lines=plan.n_lines,
        removed=plan.removed,
        account=plan.account_required,
        fee_shown=fee,
    )


def eligible(known: np.ndarray, arm: int) -> np.ndarray:
    """Whether each cart can be given ``arm`` (guests get no reminder e-mail and no early access)."""
    return np.asarray(known | np.isin(arm, P.GUEST_ARMS))


def assign_arms(rng: np.random.Generator, known: np.ndarray, share: float = P.EXPERIMENT_SHARE
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arm (index into ARMS), its propensity, and the experiment mask (``share`` of the carts); carts outside the
    test get 'none'."""
    n = len(known)
    in_test = rng.random(n) < share
    u = rng.random(n)
    guest_arms = np.asarray(P.GUEST_ARMS)
    known_arm = np.minimum((u * len(P.ARMS)).astype(np.int64), len(P.ARMS) - 1)
    guest_arm = guest_arms[np.minimum((u * len(guest_arms)).astype(np.int64), len(guest_arms) - 1)]
    arm = np.where(in_test, np.where(known, known_arm, guest_arm), P.NONE)
    propensity = np.where(known, 1.0 / len(P.ARMS), 1.0 / len(guest_arms))
    return arm, np.where(in_test, propensity, np.nan), in_test


def order_value(value: np.ndarray, fee: np.ndarray, arm: np.ndarray) -> np.ndarray:
    """Order total: cart value after the arm's discount plus the shipping fee shown."""
    rate = np.zeros(len(value))
    for a, r in P.DISCOUNT_RATE.items():
        rate = np.where(arm == a, r, rate)
    return np.asarray(np.round(value * (1.0 - rate) + fee, 2))


@dataclass(frozen=True)
class _World:
    """Everything drawn, before it becomes tables."""

    cust: Customers
    history: Orders
    prof: Profiles
    emails: Emails
    catalog: Catalog
    sessions: Sessions
    n_browsing: np.ndarray
    plan: CartPlan
    state: CartState
    arm: np.ndarray
    propensity: np.ndarray
    in_test: np.ndarray
    outcome: Outcome
    fee: np.ndarray
    returns: ReturnSessions
    lines: LineValues
    experiment_share: float


def _reminder_emails(w_plan: CartPlan, outcome: Outcome, arm: np.ndarray, owner: np.ndarray,
                     returns: ReturnSessions) -> Emails:
    """A reminder is sent after each unbought reminder_email cart; a comeback after it opens and clicks it."""
    sent_mask = (arm == P.REMINDER) & ~outcome.purchased & (owner >= 0)
    carts = np.flatnonzero(sent_mask)
    sent = last_event_s(w_plan, outcome)[carts] + REMINDER_DELAY_S
    send_time = np.full(len(w_plan), -1, dtype=np.int64)
    send_time[carts] = sent
    back = returns.cart
    via_mail = (send_time[back] >= 0) & (returns.start_s - 60 > send_time[back])
    opened = back[via_mail]
    start = returns.start_s[via_mail]
    return Emails(
        customer=np.concatenate([owner[carts], owner[opened], owner[opened]]),
        time_s=np.concatenate([sent, start - 60, start - 30]),
        kind=np.concatenate([np.full(len(carts), SENT), np.full(len(opened), OPEN),
                             np.full(len(opened), CLICK)]).astype(np.int8),
    )


def _simulate(customers: int, days: int, seed: int, start_s: int, window_s: float,
              bar: tqdm[Any], experiment_share: float = P.EXPERIMENT_SHARE) -> tuple[_World, Rows, Emails]:
    """Draw the whole shop as arrays: the world, its event rows (unsorted) and the reminder e-mails."""
    r = _rngs(seed, 12)
    cust = draw_customers(r[0], customers, start_s, days)
    history = draw_history_orders(r[1], cust, start_s)
    prof = profiles(cust, history)
    emails = draw_campaign_emails(r[2], cust, start_s, start_s + days * DAY)
    catalog = draw_catalog(r[3])
    bar.update()
    sessions = draw_sessions(r[4], cust, prof, emails, start_s, days)
    browsing = draw_browsing(r[5], sessions, catalog)
    plan = draw_cart_plans(r[6], sessions, prof, catalog, browsing)
    keep = separate_carts(sessions, plan, int(window_s))
    sessions, plan = drop_carts(keep, sessions, plan)
    browsing = show_first_line(browsing, plan)
    bar.update()
    state = cart_state(sessions, prof, plan)
    arm, propensity, in_test = assign_arms(r[8], state.cov.known, experiment_share)
    hz, inc, ret = P.Hazards(), P.Incentives(), P.Returns()
    outcome = draw_outcome(r[9], state, arm, plan.account_required, window_s, hz, inc, ret)
    fee = shown_fee(state.band, arm)
    returns = return_sessions(r[10], plan, outcome, fee, len(sessions))
    n_browsing = np.bincount(browsing.session, minlength=len(sessions))
    rows = Rows.concat([browsing_rows(browsing), cart_rows(plan, outcome, n_browsing, fee), returns.rows])
    bar.update()
    owner = sessions.customer[plan.session]
    reminders = _reminder_emails(plan, outcome, arm, owner, returns)
    world = _World(cust=cust, history=history, prof=prof, emails=emails, catalog=catalog, sessions=sessions,
                   n_browsing=n_browsing, plan=plan, state=state, arm=arm, propensity=propensity,
                   in_test=in_test, outcome=outcome, fee=fee, returns=returns, lines=line_values(catalog),
                   experiment_share=experiment_share)
    return world, rows, reminders


@dataclass(frozen=True)
class _Ids:
    """Session numbering (by start time) and the id widths."""

    session_rank: np.ndarray
    session_customer: np.ndarray
    session_device: np.ndarray
    session_source: np.ndarray
    session_width: int
    customer_width: int

    def session_ids(self, session: np.ndarray) -> pd.Series:
        return strings(id_strings("s", self.session_rank[session] + 1, self.session_width))

    def customer_ids(self, customer: np.ndarray) -> pd.Series:
        return strings(id_strings("c", customer, self.customer_width, valid=customer >= 0))


def _ids(w: _World) -> _Ids:
    plan, ret = w.plan, w.returns
    owner = w.sessions.customer[plan.session]
    start = np.concatenate([w.sessions.start_s, ret.start_s])
    order = np.lexsort((np.arange(len(start)), start))
    rank = np.empty(len(start), dtype=np.int64)
    rank[order] = np.arange(len(start))
    back_source = np.where(w.arm[ret.cart] == P.REMINDER, EMAIL_SOURCE, DIRECT_SOURCE)
    return _Ids(
        session_rank=rank,
        session_customer=np.concatenate([w.sessions.customer, owner[ret.cart]]),
        session_device=np.concatenate([w.sessions.device, w.sessions.device[plan.session[ret.cart]]]),
        session_source=np.concatenate([w.sessions.source, back_source]),
        session_width=id_width(len(start), 8),
        customer_width=id_width(len(w.cust), 7),
    )


def _sort_events(rows: Rows, rank: np.ndarray) -> np.ndarray:
    """Order of the rows by (time, session number, position in session)."""
    t = rows.time_s - rows.time_s.min(initial=0)
    srank = rank[rows.session]
    bits_t = int(t.max(initial=0)).bit_length()
    bits_s = int(srank.max(initial=0)).bit_length()
    bits_p = int(rows.position.max(initial=0)).bit_length()
    if bits_t + bits_s + bits_p <= 62:
        key = (t << (bits_s + bits_p)) | (srank << bits_p) | rows.position
        return np.argsort(key, kind="stable")
    return np.lexsort((rows.position, srank, t))


def _events_table(rows: Rows, catalog: Catalog, ids: _Ids) -> pd.DataFrame:
    """The events table sorted by time; columns are built one at a time to bound memory."""
    order = _sort_events(rows, ids.session_rank)
    session = rows.session[order]
    product = rows.product[order]
    has_product = product >= 0
    safe = np.maximum(product, 0)
    fee = rows.fee[order]
    quantity = rows.quantity[order]
    return table({
        "event_time": times(rows.time_s[order]),
        "session_id": ids.session_ids(session),
        "customer_id": ids.customer_ids(ids.session_customer[session]),
        "event_type": category(EVENT_TYPES, rows.event[order]),
        "product_id": text_categories(id_strings("p", np.arange(len(catalog.price)), 5).to_pylist(),
                                      np.where(has_product, product, -1)),
        "category": text_categories(list(P.CATEGORY_MEDIAN_PRICE),
                                    np.where(has_product, catalog.category[safe], -1)),
        "price": np.where(has_product, catalog.price[safe], np.nan),
        "quantity": nullable_int(quantity, quantity == 0),
        "device": category(DEVICES, ids.session_device[session]),
        "traffic_source": category(TRAFFIC_SOURCES, ids.session_source[session]),
        "shipping_fee": np.where(fee < 0, np.nan, np.where(fee == 1, P.SHIPPING_FEE, 0.0)),
        "free_shipping_threshold": np.where(fee < 0, np.nan, P.FREE_SHIPPING_THRESHOLD),
        "account_required": nullable_bool(rows.account[order]),
    }, "events")


def _orders_table(w: _World, ids: _Ids) -> pd.DataFrame:
    plan, out, ret = w.plan, w.outcome, w.returns
    owner = w.sessions.customer[plan.session]
    value = order_value(plan.value, w.fee, w.arm)
    bought = np.flatnonzero(out.purchased)
    customer = np.concatenate([w.history.customer, owner[bought], owner[ret.cart]])
    time_s = np.concatenate([w.history.time_s, plan.time_s[bought, P.PURCHASE], ret.order_s])
    total = np.concatenate([w.history.value, value[bought], value[ret.cart]])
    first_return = len(w.sessions)
    session = np.concatenate([w.history.session, plan.session[bought],
                              first_return + np.arange(len(ret.cart))])
    order = np.lexsort((np.arange(len(time_s)), time_s))
    customer, time_s, total, session = customer[order], time_s[order], total[order], session[order]
    has_session = session >= 0
    session_rank = np.where(has_session, ids.session_rank[np.maximum(session, 0)] + 1, 0)
    return table({
        "order_id": strings(id_strings("o", np.arange(1, len(order) + 1), id_width(len(order), 8))),
        "customer_id": ids.customer_ids(customer),
        "order_time": times(time_s),
        "total_value": total,
        "session_id": strings(id_strings("s", session_rank, ids.session_width, valid=has_session)),
    }, "orders")


def _emails_table(emails: Emails, ids: _Ids) -> pd.DataFrame:
    order = np.lexsort((emails.kind, emails.customer, emails.time_s))
    return table({
        "customer_id": ids.customer_ids(emails.customer[order]),
        "event_time": times(emails.time_s[order]),
        "type": category(EMAIL_EVENT_TYPES, emails.kind[order]),
    }, "email_events")


def _customers_table(cust: Customers, ids: _Ids) -> pd.DataFrame:
    return table({
        "customer_id": ids.customer_ids(np.arange(len(cust))),
        "created_at": times(cust.created_s),
        "city": labels(P.CITIES, cust.city),
        "newsletter_subscriber": pd.array(cust.subscriber, dtype="boolean"),
    }, "customers")


def _experiments_table(w: _World, ids: _Ids) -> pd.DataFrame:
    carts = np.flatnonzero(w.in_test)
    decision = w.plan.time_s[carts, 0]
    order = np.lexsort((ids.session_rank[w.plan.session[carts]], decision))
    carts, decision = carts[order], decision[order]
    return table({
        "session_id": ids.session_ids(w.plan.session[carts]),
        "customer_id": ids.customer_ids(w.sessions.customer[w.plan.session[carts]]),
        "decision_time": times(decision),
        "incentive": category(P.ARMS, w.arm[carts]),
        "propensity": w.propensity[carts],
    }, "experiments")


def _truths(w: _World, window_s: float) -> tuple[Truth, dict[int, Truth], np.ndarray, np.ndarray]:
    """Oracle truth under the arm each cart got, per arm for the experiment carts, and the observable truth."""
    hz, inc, ret = P.Hazards(), P.Incentives(), P.Returns()
    actual = truth(w.state, w.arm, w.plan.account_required, window_s, hz, inc, ret)
    seen = observed(w.sessions, w.prof, w.plan, w.catalog, w.state, w.fee)
    p_observable = observable_truth(seen, w.lines, window_s, hz, inc, ret, w.experiment_share)
    carts = np.flatnonzero(w.in_test)
    sub = w.state.take(carts)
    account = w.plan.account_required[carts]
    per_arm = {
        a: truth(sub, np.full(len(carts), a), account, window_s, hz, inc, ret) for a in range(len(P.ARMS))
    }
    return actual, per_arm, carts, p_observable


def _snapshot_truth(w: _World, ids: _Ids, actual: Truth, p_observable: np.ndarray) -> pd.DataFrame:
    emitted = emitted_slots(w.plan, w.outcome)
    cart, slot = np.nonzero(emitted & SNAPSHOT_SLOT[None, :])
    rank = np.cumsum(emitted, axis=1)[cart, slot] - 1
    session = w.plan.session[cart]
    position = w.n_browsing[session] + rank + 1
    order = np.lexsort((position, ids.session_rank[session]))
    cart, slot, session, position = cart[order], slot[order], session[order], position[order]
    session_id = ids.session_ids(session)
    snapshot_id = session_id + "#" + pd.Series(position).astype("string")
    code = np.array([EVENT_TYPES.index(e) for e in P.SLOT_EVENTS])[slot]
    return pd.DataFrame({
        "snapshot_id": snapshot_id,
        "session_id": session_id,
        "customer_id": ids.customer_ids(w.sessions.customer[session]),
        "snapshot_time": times(w.plan.time_s[cart, slot]),
        "event_type": category(EVENT_TYPES, code),
        "p_abandon": 1.0 - actual.p_purchase[cart, slot],
        "p_abandon_observable": p_observable[cart, slot],
        "p_session_purchase": actual.p_session_purchase[cart, slot],
        "abandoned": w.outcome.abandoned[cart].astype(np.int8),
    })


def _experiment_truth(w: _World, ids: _Ids, per_arm: dict[int, Truth], carts: np.ndarray) -> pd.DataFrame:
    st = w.state.take(carts)
    order = np.lexsort((ids.session_rank[w.plan.session[carts]], w.plan.time_s[carts, 0]))
    session = w.plan.session[carts]
    frame: dict[str, Any] = {
        "session_id": ids.session_ids(session),
        "customer_id": ids.customer_ids(w.sessions.customer[session]),
        "incentive": category(P.ARMS, w.arm[carts]),
        "segment": category(SEGMENTS, _segment(w, session)),
        "orders_before": st.cov.n_prior,
        "engagement_score": st.cov.engagement,
        "device": category(DEVICES, st.cov.device),
        "cart_value": st.value,
        "shipping_fee": st.fee,
    }
    for a, name in enumerate(P.ARMS):
        ok = eligible(st.cov.known, a)
        arm = np.full(len(carts), a)
        frame[f"p_purchase_{name}"] = np.where(ok, per_arm[a].p_purchase[:, 0], np.nan)
        frame[f"order_value_{name}"] = np.where(ok, order_value(st.value, shown_fee(st.band, arm), arm), np.nan)
    return pd.DataFrame(frame).iloc[order].reset_index(drop=True)


def _segment(w: _World, session: np.ndarray) -> np.ndarray:
    """Latent kind of each session's customer (len(KINDS) for guests): for the truth tables only."""
    owner = w.sessions.customer[session]
    return np.where(owner >= 0, w.cust.kind[np.maximum(owner, 0)], len(P.KINDS))


def _cart_truth(w: _World, ids: _Ids, actual: Truth, p_observable: np.ndarray) -> pd.DataFrame:
    st, out, plan = w.state, w.outcome, w.plan
    exit_code = np.array([EVENT_TYPES.index(e) for e in P.SLOT_EVENTS])[np.minimum(out.exit_slot,
                                                                                   P.N_SLOTS - 1)]
    order = np.argsort(ids.session_rank[plan.session], kind="stable")
    frame = pd.DataFrame({
        "session_id": ids.session_ids(plan.session),
        "customer_id": ids.customer_ids(w.sessions.customer[plan.session]),
        "segment": category(SEGMENTS, _segment(w, plan.session)),
        "intent": category(P.INTENTS, st.intent),
        "engagement_score": st.cov.engagement,
        "orders_before": st.cov.n_prior,
        "visits_30d": st.cov.visits,
        "price_sensitivity": st.cov.price_sens,
        "lines": plan.kept_lines.sum(axis=1),
        "cart_value": plan.value,
        "shipping_fee": st.fee,
        "account_required": plan.account_required,
        "in_experiment": w.in_test,
        "incentive": category(P.ARMS, w.arm),
        "p_abandon_first_add": 1.0 - actual.p_purchase[:, 0],
        "p_abandon_observable_first_add": p_observable[:, 0],
        "purchased": out.purchased,
        "exit_event": category(EVENT_TYPES, np.where(out.purchased, -1, exit_code)),
        "interrupted": out.interrupted,
        "returned": out.returned,
        "abandoned": out.abandoned.astype(np.int8),
        "order_value": np.where(out.abandoned, np.nan, order_value(plan.value, w.fee, w.arm)),
    })
    return frame.iloc[order].reset_index(drop=True)


def _customer_truth(cust: Customers, prof: Profiles, ids: _Ids) -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": ids.customer_ids(np.arange(len(cust))),
        "segment": category(SEGMENTS, cust.kind),
        "orders_before_window": cust.n_prior,
        "newsletter_subscriber": cust.subscriber,
        "engagement_at_start": category(P.ENGAGEMENT_LEVELS, cust.engagement),
        "price_sensitivity": prof.price_sens,
        "tilt": P.TILT_LEVELS[prof.tilt_level],
    })


def generate_shop(
    customers: int,
    days: int,
    seed: int,
    start: str = DEFAULT_START,
    *,
    label_window_hours: float = 24.0,
    progress: bool = False,
    experiment_share: float = P.EXPERIMENT_SHARE,
) -> SyntheticShop:
    """Simulate a shop of ``customers`` known customers (plus guests) over ``days`` days from ``start``
    (a UTC date); history reaches back before ``start``. ``label_window_hours`` is the label window;
    ``experiment_share`` the share of carts in the randomised incentive test. A progress bar goes to stderr when
    ``progress`` is set."""
    if customers < 1 or days < 1:
        raise ValueError("customers and days must be at least 1")
    if not 0.0 <= experiment_share <= 1.0:
        raise ValueError(f"experiment_share must be in [0, 1], got {experiment_share}")
    start_s = int(pd.Timestamp(start, tz="UTC").timestamp())
    window_s = float(label_window_hours) * 3600.0
    with tqdm(total=6, desc="generate", unit="step", file=sys.stderr, disable=not progress,
              leave=False) as bar:
        w, rows, reminders = _simulate(customers, days, seed, start_s, window_s, bar, experiment_share)
        ids = _ids(w)
        events = _events_table(rows, w.catalog, ids)
        del rows
        bar.update()
        emails = Emails(
            customer=np.concatenate([w.emails.customer, reminders.customer]),
            time_s=np.concatenate([w.emails.time_s, reminders.time_s]),
            kind=np.concatenate([w.emails.kind, reminders.kind]),
        )
        dataset = Dataset(
            events=events,
            orders=_orders_table(w, ids),
            email_events=_emails_table(emails, ids),
            customers=_customers_table(w.cust, ids),
            experiments=_experiments_table(w, ids),
        )
        bar.update()
        actual, per_arm, test_carts, p_observable = _truths(w, window_s)
        shop = SyntheticShop(
            dataset=dataset,
            snapshots=_snapshot_truth(w, ids, actual, p_observable),
            experiments=_experiment_truth(w, ids, per_arm, test_carts),
            carts=_cart_truth(w, ids, actual, p_observable),
            customers=_customer_truth(w.cust, w.prof, ids),
            seed=seed,
            start=start,
            days=days,
            label_window_hours=float(label_window_hours),
        )
        bar.update()
    return shop


def write_shop(shop: SyntheticShop, out_dir: Path, progress: bool = False) -> list[Path]:
    """Write the tables as ``<out_dir>/<table>.parquet`` and the truth as ``<out_dir>/truth/<name>.parquet``;
    return the paths written."""
    out_dir = Path(out_dir)
    jobs: list[tuple[pd.DataFrame, Path]] = []
    for name in TABLE_NAMES:
        table = shop.dataset.table(name)
        if table is not None:
            jobs.append((table, out_dir / f"{name}.parquet"))
    for name, table in shop.truth_tables().items():
        jobs.append((table, out_dir / "truth" / f"{name}.parquet"))
    written = []
    for table, path in tqdm(jobs, desc="write", unit="file", file=sys.stderr, disable=not progress,
                            leave=False):
        write_atomic_parquet(table, path)
        written.append(path)
    return written
