"""Event rows of the synthetic shop: browsing, the cart's funnel steps, purchases and return sessions.

Every row is placed by (session, position); times are int64 seconds since the Unix epoch and strictly increase
within a session (at least 1 s apart), so the position is also the order by time.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from features.schema import EVENT_TYPES, TRAFFIC_SOURCES
from training import synthetic_params as P
from training.synthetic_funnel import Outcome
from training.synthetic_sessions import Browsing, CartPlan

EVENT_CODE = {name: EVENT_TYPES.index(name) for name in EVENT_TYPES}
SLOT_CODE = np.array([EVENT_CODE[e] for e in P.SLOT_EVENTS], dtype=np.int8)
SLOT_LINE = np.full(P.N_SLOTS, -1, dtype=np.int64)
"""Cart line shown by each slot's event (-1 for none; the removal's line is in the plan)."""
for _line, _slot in enumerate(P.ADD_SLOTS):
    SLOT_LINE[_slot] = _line
for _line, _slot in enumerate(P.VIEW_SLOTS, start=1):
    SLOT_LINE[_slot] = _line
RETURN_STEPS: tuple[str, ...] = (
    "page_view", "view_cart", "begin_checkout", "add_shipping_info", "add_payment_info",
)
"""Events of a return session before its purchase rows."""
EMAIL_SOURCE = TRAFFIC_SOURCES.index("email")
DIRECT_SOURCE = TRAFFIC_SOURCES.index("direct")


@dataclass(frozen=True)
class Rows:
    """Event rows as compact arrays (int32 session, position and product; int8 codes).

    ``quantity`` 0 means null; ``fee`` -1 means no fee shown (and no threshold), 0 free shipping, 1 the
    SHIPPING_FEE; ``account`` -1 null, 0 false, 1 true.
    """

    session: np.ndarray
    position: np.ndarray
    time_s: np.ndarray
    event: np.ndarray
    product: np.ndarray
    quantity: np.ndarray
    fee: np.ndarray
    account: np.ndarray

    @staticmethod
    def make(session: np.ndarray, position: np.ndarray, time_s: np.ndarray, event: np.ndarray,
             product: np.ndarray, quantity: np.ndarray, fee: np.ndarray, account: np.ndarray) -> Rows:
        """Rows with the compact dtypes."""
        return Rows(session=session.astype(np.int32), position=position.astype(np.int32),
                    time_s=time_s.astype(np.int64), event=event.astype(np.int8),
                    product=product.astype(np.int32), quantity=quantity.astype(np.int8),
                    fee=fee.astype(np.int8), account=account.astype(np.int8))

    def __len__(self) -> int:
        return len(self.session)

    @staticmethod
    def concat(parts: list[Rows]) -> Rows:
        return Rows(**{f.name: np.concatenate([getattr(p, f.name) for p in parts])
                       for f in fields(Rows)})


def fee_code(fee: np.ndarray) -> np.ndarray:
    """Rows' fee code of a shown fee: 0 free shipping, 1 the shop's SHIPPING_FEE."""
    return np.where(fee > 0, 1, 0).astype(np.int8)


def browsing_rows(browsing: Browsing) -> Rows:
    """page_view and view_item rows; a view_item has quantity 1."""
    n = len(browsing.session)
    return Rows.make(
        session=browsing.session,
        position=browsing.position,
        time_s=browsing.time_s,
        event=browsing.event,
        product=browsing.product,
        quantity=(browsing.product >= 0),
        fee=np.full(n, -1, dtype=np.int8),
        account=np.full(n, -1, dtype=np.int8),
    )


def emitted_slots(plan: CartPlan, outcome: Outcome) -> np.ndarray:
    """[n, N_SLOTS] slots whose event happened, the purchase excluded."""
    slot = np.arange(P.N_SLOTS)[None, :]
    return np.asarray(plan.active & (slot < outcome.exit_slot[:, None]) & (slot < P.PURCHASE))


def last_event_s(plan: CartPlan, outcome: Outcome) -> np.ndarray:
    """Time of each cart session's last event."""
    emitted = emitted_slots(plan, outcome)
    last_slot = np.where(emitted, np.arange(P.N_SLOTS)[None, :], 0).max(axis=1)
    last = plan.time_s[np.arange(len(plan)), last_slot]
    return np.where(outcome.purchased, plan.end_s, last)


def _line_rows(carts: np.ndarray, plan: CartPlan, session: np.ndarray, first_time: np.ndarray,
               first_position: np.ndarray, fee: np.ndarray, account: np.ndarray) -> Rows:
    """One purchase row per kept line of each cart in ``carts``, 1 s apart from ``first_time``."""
    kept = plan.kept_lines[carts]
    which, line = np.nonzero(kept)
    rank = np.cumsum(kept, axis=1)[which, line] - 1
    cart = carts[which]
    n = len(cart)
    return Rows.make(
        session=session[which],
        position=first_position[which] + rank,
        time_s=first_time[which] + rank,
        event=np.full(n, EVENT_CODE["purchase"], dtype=np.int8),
        product=plan.product[cart, line],
        quantity=plan.quantity[cart, line],
        fee=fee_code(fee[which]),
        account=account[which],
    )


def cart_rows(plan: CartPlan, outcome: Outcome, n_browsing: np.ndarray, fee: np.ndarray) -> Rows:
    """The funnel rows of every cart session from its first add, and its purchase rows when bought.

    ``n_browsing`` is the number of browsing rows per session (the positions before the first add) and
    ``fee`` the shipping fee each cart is shown.
    """
    emitted = emitted_slots(plan, outcome)
    cart, slot = np.nonzero(emitted)
    rank = np.cumsum(emitted, axis=1)[cart, slot] - 1
    session = plan.session[cart]
    line = np.where(slot == P.REMOVE_SLOT, plan.removed[cart], SLOT_LINE[slot])
    has_line = line >= 0
    safe = np.maximum(line, 0)
    product = np.where(has_line, plan.product[cart, safe], -1)
    is_view = SLOT_CODE[slot] == EVENT_CODE["view_item"]
    quantity = np.where(has_line, np.where(is_view, 1, plan.quantity[cart, safe]), 0)
    shows_fee = (slot == P.ADD_SHIPPING) | (slot == P.ADD_PAYMENT)
    account = np.where(slot >= P.BEGIN_CHECKOUT, plan.account_required[cart], -1).astype(np.int8)
    steps = Rows.make(
        session=session,
        position=n_browsing[session] + rank,
        time_s=plan.time_s[cart, slot],
        event=SLOT_CODE[slot],
        product=product,
        quantity=quantity,
        fee=np.where(shows_fee, fee_code(fee[cart]), -1),
        account=account,
    )
    bought = np.flatnonzero(outcome.purchased)
    purchases = _line_rows(
        bought, plan, plan.session[bought], plan.time_s[bought, P.PURCHASE],
        n_browsing[plan.session[bought]] + emitted[bought].sum(axis=1), fee[bought],
        plan.account_required[bought],
    )
    return Rows.concat([steps, purchases])


@dataclass(frozen=True)
class ReturnSessions:
    """Sessions in which interrupted customers come back and buy their cart."""

    cart: np.ndarray
    """Index of the cart (into the plan) each return session buys."""
    start_s: np.ndarray
    order_s: np.ndarray
    """Time of the first purchase row (the order time)."""
    rows: Rows


def return_sessions(rng: np.random.Generator, plan: CartPlan, outcome: Outcome, fee: np.ndarray,
                    first_session: int) -> ReturnSessions:
    """A new session per returning cart: page_view, view_cart, checkout steps (no account step), purchase.

    The order comes ``outcome.delay_s`` after the cart session's last event; the return session's events are
    spaced backwards from it by at most ``Returns.gap_max`` seconds each, so it starts after the cart session.
    """
    ret = P.Returns()
    carts = np.flatnonzero(outcome.returned)
    n = len(carts)
    order_s = last_event_s(plan, outcome)[carts] + outcome.delay_s[carts]
    steps = len(RETURN_STEPS)
    gaps = 1 + np.minimum(np.floor(rng.exponential(ret.gap_mean, (n, steps))), ret.gap_max - 1)
    offset = np.cumsum(gaps[:, ::-1], axis=1)[:, ::-1].astype(np.int64)
    step_time = order_s[:, None] - offset
    session = first_session + np.arange(n, dtype=np.int64)
    codes = np.array([EVENT_CODE[e] for e in RETURN_STEPS], dtype=np.int8)
    step_no = np.tile(np.arange(steps), n)
    shows_fee = (step_no == 3) | (step_no == 4)
    who = np.repeat(np.arange(n), steps)
    head = Rows.make(
        session=session[who],
        position=step_no,
        time_s=step_time.ravel(),
        event=codes[step_no],
        product=np.full(n * steps, -1),
        quantity=np.zeros(n * steps),
        fee=np.where(shows_fee, fee_code(fee[carts][who]), -1),
        account=np.where(step_no >= 2, 0, -1),
    )
    tail = _line_rows(carts, plan, session, order_s, np.full(n, steps, dtype=np.int64), fee[carts],
                      np.zeros(n, dtype=np.int8))
    return ReturnSessions(cart=carts, start_s=step_time[:, 0], order_s=order_s,
                          rows=Rows.concat([head, tail]))
