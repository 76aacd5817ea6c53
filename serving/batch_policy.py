"""Vectorised twins of the two per-cart incentive policies: a whole table of carts in a few numpy operations.

:func:`decide_rules_batch` gives every cart exactly what :func:`serving.policy.decide` gives it (code, channel,
message key, expected cost, risk band, rule and reason); :func:`decide_profit_batch` exactly what
:func:`serving.uplift_policy.decide_uplift` gives it without a budget (code, channel, expected cost, uplift and
profit of the chosen offer, the runner-up, the exploration flag and propensity, rule and reason).

How: both build an (incentives x carts) matrix of eligibility, cost if paid and expected cost (profit) with the
same floating-point operations, in the same order, as the scalar code, so every number is bit-identical. The
scalar functions sort each cart's options; here the incentives are laid out as rows in tie-break order once
(rules: priority, then file order; profit: code), so "the first option after sorting" is a masked
lexicographic arg-min over rows, ties going to the upper row. The rules then apply in their order as masks.

Reasons are the only per-cart Python: one ``%`` template filled per cart, with the numbers formatted from tables
exactly as the scalar f-strings format them (:func:`_fixed`). They take more time than the decisions themselves
(``reasons=False`` skips them; ``reason`` is then None). So do the exploration draws (one BLAKE2b per session).

Carts whose eligible costs are not finite (an infinite cart value or fee: the scalar sort order is then
ill-defined, NaN compares false) are decided by the scalar functions themselves, so the answer stays the same.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeAlias, TypeGuard

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from serving.policy import _EPS, NONE, CartContext, Catalogue, Incentive, PolicySettings, UpliftSettings, decide
from serving.uplift_policy import decide_uplift, exploration_draws

__all__ = [
    "PROFIT_RULES",
    "RULES",
    "CartColumns",
    "ProfitDecisions",
    "RuleDecisions",
    "cart_columns",
    "decide_profit_batch",
    "decide_rules_batch",
    "expected_fees",
    "exploration_draws_batch",
    "interruption_flags",
    "interruption_reasons",
    "risk_bands",
]

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.intp]
Objects = npt.NDArray[np.object_]
CartsLike = pd.DataFrame | Mapping[str, Any]
"""A DataFrame or a mapping of column name -> sequence, with (some of) the :class:`CartContext` fields."""

RULES = ("empty_cart", "low_risk", "account_step", "shipping_fee", "vip", "interrupted", "high_risk",
         "medium_risk", "no_eligible")
"""The rule ids of :func:`serving.policy.decide`."""
PROFIT_RULES = ("empty_cart", "no_eligible", "nothing_pays", "best_profit", "explore")
"""The rule ids :func:`serving.uplift_policy.decide_uplift` gives without a budget."""
BANDS = ("low", "medium", "high")

_EMPTY, _LOW, _ACCOUNT, _SHIPPING, _VIP, _INTERRUPTED, _HIGH, _MEDIUM, _NO_ELIGIBLE = range(len(RULES))
_P_EMPTY, _P_NO_ELIGIBLE, _P_NOTHING_PAYS, _P_BEST, _P_EXPLORE = range(len(PROFIT_RULES))
_UPLIFT_CAP_SLACK = 1e-9
"""The slack of the cost limit in :func:`serving.uplift_policy.is_eligible`."""
_NUMERALS = 10_000
"""Size of the tables of numerals :func:`_fixed` reads."""
_SALT = str(inspect.signature(exploration_draws).parameters["salt"].default)
"""The default salt of :func:`serving.uplift_policy.exploration_draws`."""


# ------------------------------------------------------------------------------------------- carts


@dataclass(frozen=True)
class CartColumns:
    """The :class:`CartContext` fields of n carts as arrays, read as :meth:`CartContext.from_features` reads them.

    NaN stands for None in the float arrays; ``device`` holds the text or None.
    """

    cart_value: Floats
    """Missing -> 0.0 (as ``from_features``)."""
    shipping_fee: Floats
    free_shipping_threshold: Floats
    account_required: Floats
    """NaN: not shown yet (None); 0: no account step; anything else: account step (True)."""
    is_guest: Bools
    """Missing counts as a guest."""
    seconds_since_prev_event: Floats
    device: Objects

    def __len__(self) -> int:
        return len(self.cart_value)

    @property
    def account_step(self) -> Bools:
        """``account_required is True`` per cart."""
        a = self.account_required
        return ~np.isnan(a) & (a != 0)

    def context(self, i: int) -> CartContext:
        """The :class:`CartContext` of cart ``i`` (for the scalar policies)."""
        account = float(self.account_required[i])
        device = self.device[i]
        return CartContext(
            cart_value=float(self.cart_value[i]),
            shipping_fee=_opt(self.shipping_fee[i]),
            free_shipping_threshold=_opt(self.free_shipping_threshold[i]),
            account_required=None if math.isnan(account) else account != 0,
            is_guest=bool(self.is_guest[i]),
            seconds_since_prev_event=_opt(self.seconds_since_prev_event[i]),
            device=device if isinstance(device, str) else None,
        )


def _opt(x: float) -> float | None:
    f = float(x)
    return None if math.isnan(f) else f


def _num(v: object) -> float:
    """``CartContext.from_features``' number reading of one value, NaN for None."""
    if v is None or isinstance(v, str):
        return math.nan
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def _numbers(column: object, n: int) -> Floats:
    """A column as float64, missing / text / unreadable values as NaN (absent column: all NaN)."""
    if column is None:
        return np.full(n, np.nan)
    arr = column.to_numpy() if isinstance(column, pd.Series) else np.asarray(column)
    if arr.dtype.kind in "biuf":
        out = arr.astype(np.float64)
    else:
        out = np.fromiter((_num(v) for v in arr.ravel()), dtype=np.float64, count=arr.size)
    if out.shape != (n,):
        raise ValueError(f"a cart column has {out.size} values for {n} carts")
    return out


def _texts(column: object, n: int) -> Objects:
    """A column as an object array of texts, None where the value is not a text (absent column: all None)."""
    out = np.full(n, None, dtype=object)
    if column is None:
        return out
    arr = np.asarray(column, dtype=object)
    if arr.shape != (n,):
        raise ValueError(f"a cart column has {arr.size} values for {n} carts")
    if pd.api.types.infer_dtype(arr, skipna=True) in ("string", "empty"):  # texts and missing values only
        is_text = pd.notna(arr)
    else:
        is_text = np.fromiter((isinstance(v, str) for v in arr), dtype=np.bool_, count=n)
    out[is_text] = arr[is_text]
    return out


def cart_columns(carts: CartsLike | CartColumns, n: int) -> CartColumns:
    """The policy fields of ``n`` carts from a DataFrame or mapping of columns (feature names), with the semantics
    of :meth:`CartContext.from_features`: NaN, None, text and absent columns are missing; a missing cart value is
    0; a missing ``is_guest`` is a guest; ``account_required`` counts as True when non-zero."""
    if isinstance(carts, CartColumns):
        if len(carts) != n:
            raise ValueError(f"{len(carts)} carts for {n} risks / rows")
        return carts
    get = carts.get
    value = _numbers(get("cart_value"), n)
    guest = _numbers(get("is_guest"), n)
    return CartColumns(
        cart_value=np.where(np.isnan(value), 0.0, value) + 0.0,  # `num(...) or 0.0`: NaN and -0.0 -> 0.0
        shipping_fee=_numbers(get("shipping_fee"), n),
        free_shipping_threshold=_numbers(get("free_shipping_threshold"), n),
        account_required=_numbers(get("account_required"), n),
        is_guest=np.isnan(guest) | (guest != 0),
        seconds_since_prev_event=_numbers(get("seconds_since_prev_event"), n),
        device=_texts(get("device"), n),
    )


# ------------------------------------------------------------------------------- shared pieces


def risk_bands(risk: npt.ArrayLike, settings: PolicySettings) -> Objects:
    """:func:`serving.policy.risk_band` of every risk: ``low``, ``medium`` or ``high``."""
    return np.array(BANDS, dtype=object)[_band_index(np.asarray(risk, dtype=np.float64), settings)]


def _band_index(risk: Floats, s: PolicySettings) -> Ints:
    return np.where(risk < s.medium_risk, 0, np.where(risk >= s.high_risk, 2, 1)).astype(np.intp)


def interruption_flags(carts: CartColumns, settings: PolicySettings) -> tuple[Bools, Bools]:
    """:func:`serving.policy.interruption_reason`'s two tests per cart: (a long enough pause, an interrupting
    device). The session is interrupted when either holds; the pause names the reason when both do."""
    pause = carts.seconds_since_prev_event
    if settings.interrupted_pause_seconds is None:
        by_pause = np.zeros(len(carts), dtype=np.bool_)
    else:
        by_pause = pause >= settings.interrupted_pause_seconds  # NaN (no pause known) -> False
    devices = list(settings.interrupted_devices)
    by_device = np.zeros_like(by_pause)
    if devices:
        by_device = pd.Series(carts.device, dtype=object).isin(devices).to_numpy(dtype=np.bool_)
    return by_pause, by_device


def interruption_reasons(carts: CartColumns, settings: PolicySettings) -> Objects:
    """:func:`serving.policy.interruption_reason` of every cart: the text, or None when not interrupted."""
    by_pause, by_device = interruption_flags(carts, settings)
    out = np.full(len(carts), None, dtype=object)
    rows = np.flatnonzero(by_pause)
    out[rows] = _objects(f"a {p:.0f}-second pause" for p in carts.seconds_since_prev_event[rows].tolist())
    rows = np.flatnonzero(by_device & ~by_pause)
    out[rows] = _objects(f"on {d}" for d in carts.device[rows])
    return out


def _objects(texts: Iterable[object]) -> Objects:
    items = list(texts)
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


def _members(flags: Bools, index: Mapping[str, int], wanted: Sequence[str]) -> Bools:
    """Per cart: in at least one of the ``wanted`` segments (names absent from the flags: in none)."""
    cols = [index[w] for w in wanted if w in index]
    if not cols:
        return np.zeros(flags.shape[0], dtype=np.bool_)
    return np.asarray(flags[:, cols].any(axis=1), dtype=np.bool_)


def _flags(flags: npt.ArrayLike, names: Sequence[str], n: int) -> tuple[Bools, dict[str, int]]:
    f = np.asarray(flags, dtype=np.bool_)
    if f.ndim != 2 or f.shape != (n, len(names)):
        raise ValueError(f"segment flags must be (carts x segments) = ({n}, {len(names)}), got {f.shape}")
    return f, {name: j for j, name in enumerate(names)}


def _eligibility(incs: Sequence[Incentive], flags: Bools, index: Mapping[str, int], guest: Bools, value: Floats,
                 lacks_fee: Bools, account_step: Bools, interrupted: Bools) -> Bools:
    """(incentives + 1) x carts: each incentive's eligibility conditions (not the cost limit), the extra last row
    (``none``) all False. ``lacks_fee`` is the ``requires_fee`` test of the policy at hand."""
    out = np.zeros((len(incs) + 1, len(value)), dtype=np.bool_)
    for j, inc in enumerate(incs):
        e = inc.eligibility
        ok = ~(value < e.min_cart_value)
        if e.known_customer_only or inc.channel == "email":
            ok &= ~guest
        if e.requires_fee:
            ok &= ~lacks_fee
        if e.requires_account_step:
            ok &= account_step
        if e.requires_interruption:
            ok &= interrupted
        if e.segments_any:
            ok &= _members(flags, index, e.segments_any)
        if e.segments_none:
            ok &= ~_members(flags, index, e.segments_none)
        out[j] = ok
    return out


def _amounts(incs: Sequence[Incentive], value: Floats, fee: Floats) -> Floats:
    """(incentives + 1) x carts: what each offer costs when paid (``cost_amount``), 0 in the ``none`` row."""
    out = np.zeros((len(incs) + 1, len(value)), dtype=np.float64)
    for j, inc in enumerate(incs):
        kind, amount = inc.cost.kind, inc.cost.value
        if kind == "percent_of_cart":
            out[j] = value * amount / 100.0
        elif kind == "shipping_fee":
            out[j] = fee
        else:
            out[j] = amount
    return out


def _first(mask: Bools, keys: Sequence[Floats], rows: Sequence[int] | None = None) -> Ints:
    """Per cart (column), the row that sorts first among the ``mask``ed rows by ``keys`` in turn, ties to the upper
    row; the last row (``none``) where no row is masked. ``rows`` restricts the search to those rows."""
    none = mask.shape[0] - 1
    if rows is not None:
        if not rows:
            return np.full(mask.shape[1], none, dtype=np.intp)
        if len(rows) == 1:
            return np.where(mask[rows[0]], rows[0], none).astype(np.intp)
        sub = list(rows)
        pad = np.zeros((1, mask.shape[1]))
        picked = _first(np.vstack([mask[sub], pad.astype(np.bool_)]), [np.vstack([k[sub], pad]) for k in keys])
        return np.append(np.asarray(sub, dtype=np.intp), none)[picked]
    cand = mask
    for key in keys:
        low = np.where(cand, key, np.inf).min(axis=0)
        cand = cand & (key == low)
    return np.where(mask.any(axis=0), cand.argmax(axis=0), none).astype(np.intp)


def _pick(matrix: Floats, idx: Ints) -> Floats:
    """``matrix[idx[c], c]`` for every cart c."""
    return np.take_along_axis(matrix, idx[None, :], axis=0)[0]


def _unbounded(eligible: Bools, *matrices: Floats) -> Bools:
    """Carts with an eligible option whose figures are not all finite (for the scalar fall-back)."""
    finite = np.ones(eligible.shape, dtype=np.bool_)
    for m in matrices:
        finite &= np.isfinite(m)
    return np.asarray((eligible & ~finite).any(axis=0), dtype=np.bool_)


def _rule_names(names: Sequence[str], rule: Ints) -> Objects:
    return np.array(names, dtype=object)[rule]


def _fill(out: Objects, rule: Ints, which: int, make: Callable[[Ints], Iterable[str]]) -> None:
    """Write the reasons of the carts decided by rule ``which``, made from their row numbers."""
    rows = np.flatnonzero(rule == which)
    if len(rows):
        out[rows] = _objects(make(rows))


# ------------------------------------------------------------------------------------ rule-based


@dataclass(frozen=True)
class RuleDecisions:
    """:func:`serving.policy.decide` for n carts, one array entry per cart."""

    code: Objects
    channel: Objects
    message_key: Objects
    expected_cost: Floats
    risk_band: Objects
    rule: Objects
    """One of :data:`RULES`."""
    n_considered: Ints
    """How many incentives were eligible (``len(Decision.considered)``)."""
    reason: Objects | None
    """``Decision.reason`` per cart; None when asked for no reasons."""

    def __len__(self) -> int:
        return len(self.code)


@dataclass(frozen=True)
class _RuleCarts:
    """Per cart, what ``decide`` works out before it looks at the incentives."""

    risk: Floats
    band: Ints
    """0 low, 1 medium, 2 high."""
    value: Floats
    guest: Bools
    fee_charged: Bools
    fee_amount: Floats
    threshold: Floats
    pause: Floats
    device: Objects
    by_pause: Bools
    interrupted: Bools
    account_step: Bools
    vip: Bools
    no_discount: Bools


def _rule_carts(risk: Floats, cols: CartColumns, flags: Bools, index: Mapping[str, int], s: PolicySettings
                ) -> _RuleCarts:
    """``decide``'s preamble for every cart: band, fee charged, interruption, account step, VIP, no discount."""
    value, fee, threshold = cols.cart_value, cols.shipping_fee, cols.free_shipping_threshold
    fee_charged = (fee > 0.0) & (np.isnan(threshold) | (value < threshold))  # NaN fee: not charged
    by_pause, by_device = interruption_flags(cols, s)
    vip = _members(flags, index, s.vip_segments)
    return _RuleCarts(
        risk=risk, band=_band_index(risk, s), value=value, guest=cols.is_guest, fee_charged=fee_charged,
        fee_amount=np.where(fee_charged, fee, 0.0), threshold=threshold, pause=cols.seconds_since_prev_event,
        device=cols.device, by_pause=by_pause, interrupted=by_pause | by_device, account_step=cols.account_step,
        vip=vip, no_discount=vip | ((risk < s.engaged_buy_threshold) & _members(flags, index, s.engaged_segments)),
    )


@dataclass(frozen=True)
class _RuleOptions:
    """The rules' (incentives + 1) x carts matrices, rows in tie-break order, the last row ``none``."""

    eligible: Bools
    amount: Floats
    """Cost if paid (the ``a[3]`` of ``decide``'s options)."""
    expected: Floats
    odd: Bools
    """Carts left to the scalar function (an eligible option with figures that are not finite)."""


def _rule_options(incs: Sequence[Incentive], x: _RuleCarts, flags: Bools, index: Mapping[str, int],
                  s: PolicySettings) -> _RuleOptions:
    """``decide``'s options for every cart: eligibility, the cost limit, no discount, expected cost."""
    with np.errstate(all="ignore"):
        eligible = _eligibility(incs, flags, index, x.guest, x.value, ~x.fee_charged, x.account_step, x.interrupted)
        discount = np.array([i.type == "discount" for i in incs] + [False])
        eligible &= ~(discount[:, None] & x.no_discount)
        amount = _amounts(incs, x.value, x.fee_amount)
        eligible &= ~(amount > s.max_cost_share_of_cart * x.value + _EPS)
        bought = np.array([i.cost.when == "bought" for i in incs] + [False])
        expected = np.where(bought[:, None], amount * (1.0 - x.risk), amount)
        odd = _unbounded(eligible, expected, amount)
    if odd.any():  # the scalar sort is ill-defined there: let decide() answer those carts
        eligible[:, odd] = False
    return _RuleOptions(eligible, amount, expected, odd)


def _apply_rules(incs: Sequence[Incentive], x: _RuleCarts, o: _RuleOptions, s: PolicySettings
                 ) -> tuple[Ints, Ints, Bools]:
    """Rules 1-6 in order, as masks: per cart the rule, the chosen row (``none``: the last) and whether a discount
    would offset the fee (rule 3's reason)."""
    none = len(incs)
    eligible, expected = o.eligible, o.expected

    def first_of(kind: str) -> Ints:
        return _first(eligible, [expected], [j for j, i in enumerate(incs) if i.type == kind])

    cheapest = _first(eligible, [expected])
    guest_checkout, free_shipping = first_of("guest_checkout"), first_of("free_shipping")
    reward, reminder = first_of("reward"), first_of("reminder")
    discount = np.array([i.type == "discount" for i in incs] + [False])
    offsets = eligible & discount[:, None] & (o.amount >= x.fee_amount - _EPS)
    rival = _EPS + np.where(offsets, expected, np.inf).min(axis=0)
    fs_cheaper = (free_shipping != none) & (_pick(expected, free_shipping) <= rival)

    n = len(x.risk)
    rule = np.full(n, _MEDIUM, dtype=np.intp)
    chosen = np.full(n, none, dtype=np.intp)
    open_ = np.ones(n, dtype=np.bool_)
    for which, applies, pick in (
        (_EMPTY, x.value == 0.0, None),
        (_LOW, (x.band == 0) | (x.risk < s.min_risk_for_incentive), None),
        (_ACCOUNT, x.account_step & (guest_checkout != none), guest_checkout),
        (_SHIPPING, x.fee_charged & ~np.isnan(x.threshold) & fs_cheaper, free_shipping),
        (_VIP, x.vip & (reward != none), reward),
        (_INTERRUPTED, x.interrupted & ~x.guest & (reminder != none), reminder),
        (_HIGH, (x.band == 2) & (cheapest != none), cheapest),
        (_NO_ELIGIBLE, x.band == 2, None),
    ):
        hit = open_ & applies
        rule[hit] = which
        if pick is not None:
            chosen[hit] = pick[hit]
        open_ &= ~hit
    return rule, chosen, np.isfinite(rival)


def _rules_order(catalogue: Catalogue) -> tuple[Incentive, ...]:
    """The incentives in the rule-based tie-break order: priority, then file order."""
    return tuple(sorted(catalogue.incentives, key=lambda i: (i.priority, i.order)))


def _check_rules_inputs(risk: Floats, value: Floats) -> None:
    bad = np.flatnonzero(~((risk >= 0.0) & (risk <= 1.0)))
    if len(bad):
        raise ValueError(f"risk must be a probability in [0, 1], got {risk[bad[0]]!r} (cart {bad[0]})")
    bad = np.flatnonzero(~(value >= 0.0))
    if len(bad):
        raise ValueError(f"cart_value must be a number >= 0, got {value[bad[0]]!r} (cart {bad[0]})")


def decide_rules_batch(risk: npt.ArrayLike, flags: npt.ArrayLike, segment_names: Sequence[str],
                       carts: CartsLike | CartColumns, catalogue: Catalogue, *, reasons: bool = True
                       ) -> RuleDecisions:
    """:func:`serving.policy.decide` for every cart at once, with the same answers.

    ``risk``: n abandonment probabilities; ``flags``: n x len(``segment_names``) segment membership; ``carts``: the
    :class:`CartContext` fields as columns (see :func:`cart_columns`). Raises ValueError, as ``decide`` does, for a
    risk outside [0, 1] or a negative cart value. ``reasons=False`` leaves ``reason`` None (3-4 times faster).
    """
    r = np.asarray(risk, dtype=np.float64).ravel()
    n = len(r)
    cols = cart_columns(carts, n)
    f, index = _flags(flags, segment_names, n)
    _check_rules_inputs(r, cols.cart_value)
    s = catalogue.settings
    incs = _rules_order(catalogue)
    x = _rule_carts(r, cols, f, index, s)
    options = _rule_options(incs, x, f, index, s)
    rule, chosen, rival_finite = _apply_rules(incs, x, options, s)

    none = len(incs)
    codes = np.array([i.code for i in incs] + [catalogue.none.code], dtype=object)
    channels = np.array([i.channel for i in incs] + [catalogue.none.channel], dtype=object)
    keys = np.array([i.message_key for i in incs] + [catalogue.none.message_key], dtype=object)
    cost = np.where(chosen == none, 0.0, _pick(options.expected, chosen))
    n_considered = options.eligible.sum(axis=0).astype(np.intp)
    out = RuleDecisions(
        code=codes[chosen], channel=channels[chosen], message_key=keys[chosen], expected_cost=cost,
        risk_band=np.array(BANDS, dtype=object)[x.band], rule=_rule_names(RULES, rule), n_considered=n_considered,
        reason=_rule_reasons(x, rule, codes[chosen], cost, n_considered, rival_finite, s) if reasons else None,
    )
    if options.odd.any():
        _rules_fallback(out, np.flatnonzero(options.odd), r, f, segment_names, cols, catalogue)
    return out


def _rules_fallback(out: RuleDecisions, rows: Ints, risk: Floats, flags: Bools, names: Sequence[str],
                    cols: CartColumns, catalogue: Catalogue) -> None:
    """Overwrite the answers of ``rows`` with :func:`decide`'s own."""
    seg_names = np.array(names, dtype=object)
    for i in rows.tolist():
        d = decide(float(risk[i]), frozenset(seg_names[flags[i]].tolist()), cols.context(i), catalogue)
        out.code[i], out.channel[i], out.message_key[i] = d.code, d.channel, d.message_key
        out.expected_cost[i], out.rule[i], out.n_considered[i] = d.expected_cost, d.rule, len(d.considered)
        if out.reason is not None:
            out.reason[i] = d.reason


def _rule_reasons(x: _RuleCarts, rule: Ints, code: Objects, cost: Floats, n_considered: Ints, rival_finite: Bools,
                  s: PolicySettings) -> Objects:
    """``Decision.reason`` of every cart, from the rule that decided it: ``%s`` templates filled with numbers
    formatted as the f-strings of ``decide`` format them (:func:`_fixed`)."""
    out = np.full(len(rule), None, dtype=object)
    notes = np.where(~x.no_discount, "", np.where(
        x.vip, " (no discount: a VIP)", " (no discount: an engaged customer likely to buy)")).astype(object)
    low = "Risk %s is " + _escape(f"low (under {s.medium_risk:.2f})") + _LIKELY_BOUGHT
    below = "Risk %s is " + _escape(f"below the minimum for an incentive (under {s.min_risk_for_incentive:.2f})")
    below += _LIKELY_BOUGHT
    no_eligible = ("Risk %s is high but no incentive is eligible for this cart within the "
                   + _escape(f"{s.max_cost_share_of_cart:.0%}") + " cost limit%s, so none.")

    def risk(rows: Ints) -> list[str]:
        return _fixed(x.risk[rows], 2)

    def offer(rows: Ints) -> tuple[list[str], list[str]]:
        return code[rows].tolist(), _fixed(cost[rows], 2)

    def why_interrupted(rows: Ints) -> list[str]:
        by_pause = x.by_pause[rows]
        pause = _fixed(np.where(by_pause, x.pause[rows], 0.0), 0)
        return [f"a {p}-second pause" if b else f"on {d}"
                for p, b, d in zip(pause, by_pause.tolist(), x.device[rows].tolist(), strict=True)]

    def fill(which: int, template: str, make: Callable[[Ints], Sequence[Sequence[Any]]]) -> None:
        _fill(out, rule, which, lambda rows: list(map(template.__mod__, zip(*make(rows), strict=True))))

    _fill(out, rule, _EMPTY, lambda rows: [_EMPTY_CART] * len(rows))
    _fill(out, rule, _LOW, lambda rows: [(low if b == 0 else below) % r
                                         for r, b in zip(risk(rows), x.band[rows].tolist(), strict=True)])
    fill(_ACCOUNT, _ACCOUNT_STEP, lambda rows: (
        np.where(x.guest[rows], "is a guest", "has never ordered").tolist(), *offer(rows)))
    fill(_SHIPPING, _SHIPPING_FEE, lambda rows: (
        _fixed(x.fee_amount[rows], 2), _fixed(x.value[rows], 2), _fixed(x.threshold[rows] - x.value[rows], 2),
        *offer(rows), np.where(rival_finite[rows], _OFFSETS, _NO_OFFSET).tolist()))
    fill(_VIP, _VIP_REWARD, offer)
    fill(_INTERRUPTED, _REMINDER, lambda rows: (why_interrupted(rows), *offer(rows)))
    fill(_HIGH, _CHEAPEST, lambda rows: (
        risk(rows), code[rows].tolist(), n_considered[rows].tolist(),
        np.where(n_considered[rows] > 1, "s", "").tolist(), _fixed(cost[rows], 2), notes[rows].tolist()))
    fill(_NO_ELIGIBLE, no_eligible, lambda rows: (risk(rows), notes[rows].tolist()))
    fill(_MEDIUM, _MEDIUM_RISK, lambda rows: (risk(rows), notes[rows].tolist()))
    return out


@lru_cache(maxsize=16)
def _numerals(decimals: int, sign: str) -> Objects:
    """``sign`` + the text of k / 10**decimals with ``decimals`` decimals, for k = 0 .. _NUMERALS."""
    scale = 10**decimals
    return np.array([sign + (f"{k // scale}.{k % scale:0{decimals}d}" if decimals else str(k))
                     for k in range(_NUMERALS + 1)], dtype=object)


def _numeral_index(v: Floats, decimals: int) -> tuple[Ints, Bools]:
    """Per value, its row in the numeral tables and whether the table holds its text (see :func:`_fixed`)."""
    with np.errstate(all="ignore"):
        scaled = np.abs(v) * float(10**decimals)
        ok = (scaled < _NUMERALS - 1) & (np.abs(scaled - np.floor(scaled) - 0.5) > 1e-6)
    return np.where(ok, np.rint(scaled), 0.0).astype(np.intp), np.asarray(ok, dtype=np.bool_)


def _fixed(values: Floats, decimals: int, plus: bool = False) -> list[str]:
    """``format(v, ".{decimals}f")`` (``"+.{decimals}f"`` with ``plus``) of every value, exactly, mostly by table.

    Python rounds the exact binary value to ``decimals`` decimals, half to even. ``|v| x 10**decimals`` is that
    value to within 1e-12 below 10**4, so away from a half (1e-6) ``rint`` of it is the same integer, read from a
    table of numerals (the sign from the sign bit, so -0.001 gives -0.00 as in Python). Halves, large and
    non-finite values go through ``format`` itself.
    """
    v = np.asarray(values, dtype=np.float64)
    k, ok = _numeral_index(v, decimals)
    out = np.where(np.signbit(v), _numerals(decimals, "-")[k], _numerals(decimals, "+" if plus else "")[k])
    rest = np.flatnonzero(~ok)
    if len(rest):
        spec = f"{'+' if plus else ''}.{decimals}f"
        out[rest] = _objects(format(x, spec) for x in v[rest].tolist())
    return list(out.tolist())


@lru_cache(maxsize=16)
def _arrow_numerals(decimals: int, plus: bool) -> pa.Array:
    """The numerals without (or with ``+``) sign, then those with ``-``, as one Arrow array."""
    return pa.array([*_numerals(decimals, "+" if plus else "").tolist(), *_numerals(decimals, "-").tolist()],
                    pa.large_string())


def _fixed_arrow(values: Floats, decimals: int, plus: bool = False) -> pa.Array:
    """:func:`_fixed` as an Arrow array: the numerals taken from the table by Arrow, not one Python text each."""
    v = np.asarray(values, dtype=np.float64)
    k, ok = _numeral_index(v, decimals)
    k = k + np.where(np.signbit(v), _NUMERALS + 1, 0)
    out = pa.DictionaryArray.from_arrays(pa.array(k.astype(np.int32)), _arrow_numerals(decimals, plus))
    texts = out.cast(pa.large_string())
    if not ok.all():
        spec = f"{'+' if plus else ''}.{decimals}f"
        rest = [format(x, spec) for x in v[~ok].tolist()]
        texts = pc.replace_with_mask(texts, pa.array(~ok), pa.array(rest, pa.large_string()))
    return texts


_SLOT = re.compile(r"%[sd%]")


def _format_arrow(template: str, columns: Sequence[pa.Array], n: int) -> pa.Array:
    """``template % row`` for each of ``n`` rows, the i-th ``%s`` / ``%d`` slot filled from ``columns[i]`` (texts
    for ``%s``, whole numbers for ``%d``; no missing values), joined by Arrow."""
    slots = [m for m in _SLOT.finditer(template) if m.group() != "%%"]
    if len(slots) != len(columns):
        raise ValueError(f"the template has {len(slots)} slots for {len(columns)} columns")
    for m, column in zip(slots, columns, strict=True):
        if len(column) != n or column.null_count:
            raise ValueError(f"a {m.group()} column has {len(column)} values ({column.null_count} missing) "
                             f"for {n} rows")
        if m.group() == "%d" and not pa.types.is_integer(column.type):
            raise ValueError(f"a %d column holds {column.type}, not whole numbers")
    pieces: list[pa.Array | pa.Scalar] = []
    literal, at, slot = "", 0, 0
    for m in _SLOT.finditer(template):
        literal += template[at:m.start()]
        at = m.end()
        if m.group() == "%%":
            literal += "%"
            continue
        if literal:
            pieces.append(pa.scalar(literal, pa.large_string()))
        literal = ""
        pieces.append(pc.cast(columns[slot], pa.large_string()))
        slot += 1
    literal += template[at:]
    if not columns:
        return pa.array([literal] * n, pa.large_string())
    if literal:
        pieces.append(pa.scalar(literal, pa.large_string()))
    if len(pieces) == 1:
        return pieces[0]
    return pc.binary_join_element_wise(*pieces, pa.scalar("", pa.large_string()))


def _escape(text: str) -> str:
    """Literal text for a ``%`` template."""
    return text.replace("%", "%%")


# the reasons of serving.policy.decide, as % templates
_EMPTY_CART = "The cart is empty: there is nothing to recover, so no incentive."
_LIKELY_BOUGHT = ": the cart is likely to be bought without help, so no incentive."
_ACCOUNT_STEP = "Checkout forces account creation and this shopper %s: offer %s (expected cost %s)."
_SHIPPING_FEE = ("A shipping fee of %s is charged on this %s cart, %s below free shipping: %s costs %s expected, "
                 "%s.")
_OFFSETS = "no more than a discount that would offset the fee"
_NO_OFFSET = "and no eligible discount would offset the fee"
_VIP_REWARD = "A VIP customer gets %s rather than a discount (expected cost %s)."
_REMINDER = "The session looks interrupted (%s) and the customer can be reached: send %s (cost %s)."
_CHEAPEST = ("Risk %s is high and no specific cause applies: %s is the cheapest of %d eligible incentive%s "
             "(expected cost %s)%s.")
_MEDIUM_RISK = ("Risk %s is medium and no specific cause (account step, shipping fee, VIP, interruption) applies, "
                "so no incentive%s.")


# ---------------------------------------------------------------------------------------- profit


@dataclass(frozen=True)
class ProfitDecisions:
    """:func:`serving.uplift_policy.decide_uplift` (no budget) for n carts, one array entry per cart."""

    code: Objects
    channel: Objects
    message_key: Objects
    expected_cost: Floats
    """Of the chosen offer; 0 for ``none`` (``UpliftDecision.expected_cost``)."""
    expected_uplift: Floats
    """Of the chosen offer; 0 for ``none``."""
    expected_profit: Floats
    """Of the chosen offer; 0 for ``none``."""
    explored: Bools
    propensity: Floats
    rule: Objects
    """One of :data:`PROFIT_RULES`."""
    runner_up: Objects
    """``UpliftDecision.runner_up.code``, None where it is None."""
    runner_up_profit: Floats
    """``UpliftDecision.runner_up.expected_profit``, NaN where there is no runner-up."""
    n_considered: Ints
    reason: pa.Array | None
    """``UpliftDecision.reason`` per cart (Arrow texts); None when asked for no reasons."""

    def __len__(self) -> int:
        return len(self.code)


Texts: TypeAlias = Sequence[str] | pa.Array | pa.ChunkedArray
"""Texts as a sequence of Python strings or as an Arrow array."""


def _arrow(values: Texts) -> TypeGuard[pa.Array | pa.ChunkedArray]:
    return isinstance(values, pa.Array | pa.ChunkedArray)


def exploration_draws_batch(session_ids: Texts) -> Floats:
    """n x 2: :func:`serving.uplift_policy.exploration_draws` of every session (texts), bit for bit.

    The same BLAKE2b digests, computed by compiled code over the ids' bytes on every core
    (:func:`serving.blake.blake2b_draws`); the first sessions are checked against ``exploration_draws`` itself, and
    should that ever differ (its salt or hash changed), every session goes through ``exploration_draws``.
    """
    from serving.blake import blake2b_draws  # numba: loaded by the batch path only

    out = blake2b_draws(session_ids, f"{_SALT}:".encode())
    head = session_ids[:16].to_pylist() if _arrow(session_ids) else session_ids[:16]
    if all(tuple(out[k].tolist()) == exploration_draws(sid) for k, sid in enumerate(head)):
        return out
    ids = session_ids.to_pylist() if _arrow(session_ids) else session_ids
    return np.array([exploration_draws(sid) for sid in ids], dtype=np.float64).reshape(len(ids), 2)


def expected_fees(cols: CartColumns, value: Floats, s: UpliftSettings) -> Floats:
    """:func:`serving.uplift_policy.expected_fee` of every cart, ``value`` being its expected order value."""
    fee, threshold, cart = cols.shipping_fee, cols.free_shipping_threshold, cols.cart_value
    shown = ~np.isnan(fee)
    below = np.isnan(threshold) | (cart < threshold)
    from_shown = np.where(below & (fee > 0), fee, 0.0)
    if s.shipping_fee is None or s.shipping_fee <= 0:
        standard = np.zeros_like(value)
    else:
        t = np.where(np.isnan(threshold), np.nan if s.free_shipping_threshold is None else s.free_shipping_threshold,
                     threshold)
        standard = np.where(np.isnan(t) | (value < t), s.shipping_fee, 0.0)
    return np.where(shown, from_shown, standard)


def _probabilities(probabilities: pd.DataFrame, codes: Sequence[str], n: int) -> Floats:
    """(codes + 1) x carts: P(bought) under each of ``codes``, then under ``none``; every column is checked to be
    in [0, 1] as ``decide_uplift`` checks every value of its mapping."""
    if len(probabilities) != n:
        raise ValueError(f"{len(probabilities)} rows of probabilities for {n} carts")
    if NONE not in probabilities.columns:
        raise ValueError("probabilities must include 'none' (the purchase probability without incentive)")
    columns = {c: probabilities[c].to_numpy(dtype=np.float64) for c in probabilities.columns}
    for name, p in columns.items():
        bad = np.flatnonzero(~((p >= 0.0) & (p <= 1.0)))
        if len(bad):
            raise ValueError(f"probability of {name!r} must be in [0, 1], got {p[bad[0]]!r} (cart {bad[0]})")
    out = np.empty((len(codes) + 1, n), dtype=np.float64)
    for j, code in enumerate([*codes, NONE]):
        out[j] = columns[code]
    return out


def _drawn(eligible: Bools, explore: Bools, slot: Ints) -> Ints:
    """Per cart, the option exploration drew: slot 0 is ``none`` (the last row), slot j the j-th eligible row."""
    out = np.full(len(slot), eligible.shape[0] - 1, dtype=np.intp)
    rows = np.flatnonzero(explore & (slot > 0))
    if len(rows):
        sub = eligible[:, rows]
        out[rows] = (sub & (np.cumsum(sub, axis=0) == slot[rows])).argmax(axis=0)
    return out


def decide_profit_batch(probabilities: pd.DataFrame, order_value: npt.ArrayLike, flags: npt.ArrayLike,
                        segment_names: Sequence[str], carts: CartsLike | CartColumns, catalogue: Catalogue,
                        session_ids: Texts | None = None, *, reasons: bool = True) -> ProfitDecisions:
    """:func:`serving.uplift_policy.decide_uplift` for every cart at once, with the same answers, WITHOUT a budget.

    ``probabilities``: one row per cart, columns ``none`` and incentive codes (P(bought)); ``order_value``: the
    expected order values; ``flags`` / ``segment_names`` / ``carts`` as in :func:`decide_rules_batch`;
    ``session_ids``: None for no exploration, else each cart's session (texts, or an Arrow array of them), whose
    :func:`~serving.uplift_policy.exploration_draws` decide exploration as in the service. Raises ValueError as
    ``decide_uplift`` does (a probability outside [0, 1], a negative or non-finite order value).

    No daily budget and no segment caps: the budget is spent across carts in order of profit, so a caller with a
    budget (``uplift.daily_budget`` or ``uplift.segment_caps`` set) must call ``decide_uplift`` per cart with
    what is left. ``reasons=False`` leaves ``reason`` None.
    """
    ov = np.asarray(order_value, dtype=np.float64).ravel()
    n = len(ov)
    incs = tuple(sorted((i for i in catalogue.incentives if i.code in probabilities.columns), key=lambda i: i.code))
    p_with = _probabilities(probabilities, [i.code for i in incs], n)  # checked first, as decide_uplift does
    bad = np.flatnonzero(~((ov >= 0.0) & np.isfinite(ov)))
    if len(bad):
        raise ValueError(f"order_value must be a finite number >= 0, got {ov[bad[0]]!r} (cart {bad[0]})")
    if session_ids is not None and len(session_ids) != n:
        raise ValueError(f"{len(session_ids)} session ids for {n} carts")
    cols = cart_columns(carts, n)
    f, index = _flags(flags, segment_names, n)
    cart = cols.cart_value
    value = np.where(cart > ov, cart, ov)  # max(order_value, cart_value)
    offers = _offers(incs, p_with, value, cols, f, index, catalogue)
    empty = cart <= 0.0
    draws, share = _exploration(session_ids, empty, offers, catalogue.uplift.exploration_share)
    choice = _choose(offers, empty, draws, share, catalogue.uplift.min_expected_profit)
    out = _profit_answers(incs, catalogue, offers, choice, value, reasons)
    if offers.odd.any():
        rows = np.flatnonzero(offers.odd)
        reasons_of = _profit_fallback(out, rows, probabilities, ov, f, segment_names, cols, catalogue, draws,
                                      session_ids is not None)
        if out.reason is not None:
            mask = np.zeros(n, dtype=np.bool_)
            mask[rows] = True
            out = dataclasses.replace(out, reason=pc.replace_with_mask(out.reason, pa.array(mask),
                                                                       pa.array(reasons_of, pa.large_string())))
    return out


@dataclass(frozen=True)
class _Offers:
    """The profit policy's (modelled incentives + 1) x carts matrices, rows by code, the last row ``none``."""

    eligible: Bools
    cost: Floats
    """Expected cost (``Offer.expected_cost``); 0 for ``none``."""
    uplift: Floats
    profit: Floats
    odd: Bools
    """Carts left to the scalar function (an eligible offer with figures that are not finite)."""

    @property
    def n_offers(self) -> Ints:
        return self.eligible.sum(axis=0).astype(np.intp)


def _offers(incs: Sequence[Incentive], p_with: Floats, value: Floats, cols: CartColumns, flags: Bools,
            index: Mapping[str, int], catalogue: Catalogue) -> _Offers:
    """Eligibility (``is_eligible``) and economics (``offer_of``) of every modelled incentive for every cart."""
    s, settings = catalogue.uplift, catalogue.settings
    k = len(incs)
    fee = expected_fees(cols, value, s)
    by_pause, by_device = interruption_flags(cols, settings)
    with np.errstate(all="ignore"):
        eligible = _eligibility(incs, flags, index, cols.is_guest, value, fee <= 0, cols.account_step,
                                by_pause | by_device)
        pay = _amounts(incs, value, fee)
        eligible &= pay <= settings.max_cost_share_of_cart * value + _UPLIFT_CAP_SLACK
        bought = np.array([i.cost.when == "bought" for i in incs] + [False])
        cost = np.where(bought[:, None], pay * p_with, pay)
        uplift = p_with - p_with[k]
        profit = uplift * s.margin * value - cost
        cost[k], uplift[k], profit[k] = 0.0, 0.0, 0.0  # the `none` row: Offer(none, ..., 0.0, 0.0, 0.0)
        odd = _unbounded(eligible, cost, profit)
    if odd.any():  # the scalar sort is ill-defined there: let decide_uplift() answer those carts
        eligible[:, odd] = False
    return _Offers(eligible, cost, uplift, profit, odd)


def _exploration(session_ids: Texts | None, empty: Bools, offers: _Offers, share: float) -> tuple[Floats, Floats]:
    """Per cart, the two exploration draws (inf where none are needed) and the share explored (``decide_uplift``:
    the catalogue's share when there are draws and eligible offers, else 0)."""
    n = len(empty)
    draws = np.full((n, 2), np.inf)
    shares = np.zeros(n)
    if session_ids is not None:  # draws only where they can matter (and for the scalar fall-back)
        n_offers = offers.n_offers
        may = np.flatnonzero(~empty & ((n_offers > 0) | offers.odd))
        draws[may] = exploration_draws_batch(
            session_ids.take(pa.array(may)) if _arrow(session_ids) else [session_ids[i] for i in may.tolist()])
        shares[n_offers > 0] = share
    return draws, shares


@dataclass(frozen=True)
class _Choice:
    """What the profit policy chose per cart: rows of :class:`_Offers` (the last one ``none``)."""

    rule: Ints
    chosen: Ints
    runner: Ints
    """-1 where ``runner_up`` is None."""
    best: Ints
    explored: Bools
    propensity: Floats
    n_options: Ints


def _choose(o: _Offers, empty: Bools, draws: Floats, share: Floats, min_profit: float) -> _Choice:
    """``decide_uplift`` after its offers are known: the greedy answer (``_exploit`` without budget), then
    exploration where the first draw is below the share, then empty carts."""
    k = o.eligible.shape[0] - 1
    n_offers = o.n_offers
    best = _first(o.eligible, [-o.profit, o.cost])
    second = _first(o.eligible & (np.arange(k + 1)[:, None] != best), [-o.profit, o.cost])
    best_profit, second_profit = _pick(o.profit, best), _pick(o.profit, second)
    n_options = n_offers + 1
    rule = np.where(n_offers == 0, _P_NO_ELIGIBLE,
                    np.where(best_profit <= min_profit, _P_NOTHING_PAYS, _P_BEST)).astype(np.intp)
    chosen = np.where(rule == _P_BEST, best, k).astype(np.intp)
    runner = np.where(rule == _P_BEST, np.where((second != k) & (second_profit > 0), second, k),
                      np.where(rule == _P_NOTHING_PAYS, best, -1)).astype(np.intp)
    propensity = np.where(rule == _P_NO_ELIGIBLE, 1.0, (1.0 - share) + share / n_options)

    explore = ~empty & (draws[:, 0] < share)
    slot = np.minimum(np.floor(np.where(explore, draws[:, 1], 0.0) * n_options), n_options - 1).astype(np.intp)
    drawn = _drawn(o.eligible, explore, slot)
    propensity = np.where(explore, share / n_options + (1 - share) * (chosen == drawn), propensity)
    rule[explore], chosen[explore], runner[explore] = _P_EXPLORE, drawn[explore], -1
    rule[empty], chosen[empty], runner[empty], propensity[empty] = _P_EMPTY, k, -1, 1.0
    return _Choice(rule, chosen, runner, best, explore, propensity, n_options)


def _profit_answers(incs: Sequence[Incentive], catalogue: Catalogue, o: _Offers, c: _Choice, value: Floats,
                    reasons: bool) -> ProfitDecisions:
    """The per-cart answers of a choice: the chosen offer's figures, the runner-up, the reasons."""
    k = len(incs)
    codes = np.array([i.code for i in incs] + [catalogue.none.code], dtype=object)
    channels = np.array([i.channel for i in incs] + [catalogue.none.channel], dtype=object)
    keys = np.array([i.message_key for i in incs] + [catalogue.none.message_key], dtype=object)
    has_runner = c.runner >= 0
    runner_at = np.where(has_runner, c.runner, k)
    runner_codes = codes[runner_at]
    runner_codes[~has_runner] = None
    return ProfitDecisions(
        code=codes[c.chosen], channel=channels[c.chosen], message_key=keys[c.chosen],
        expected_cost=_pick(o.cost, c.chosen), expected_uplift=_pick(o.uplift, c.chosen),
        expected_profit=_pick(o.profit, c.chosen), explored=c.explored, propensity=c.propensity,
        rule=_rule_names(PROFIT_RULES, c.rule), runner_up=runner_codes,
        runner_up_profit=np.where(has_runner, _pick(o.profit, runner_at), np.nan), n_considered=o.n_offers,
        reason=_profit_reasons(c, codes, runner_at, o, value, catalogue.uplift) if reasons else None,
    )


def _profit_fallback(out: ProfitDecisions, rows: Ints, probabilities: pd.DataFrame, ov: Floats, flags: Bools,
                     names: Sequence[str], cols: CartColumns, catalogue: Catalogue, draws: Floats,
                     explore: bool) -> list[str]:
    """Overwrite the answers of ``rows`` with :func:`decide_uplift`'s own; returns its reasons for them."""
    seg_names = np.array(names, dtype=object)
    columns = [str(c) for c in probabilities.columns]
    p = probabilities.iloc[rows].to_numpy(dtype=np.float64)
    reasons: list[str] = []
    for j, i in enumerate(rows.tolist()):
        d = decide_uplift(dict(zip(columns, p[j].tolist(), strict=True)), float(ov[i]),
                          frozenset(seg_names[flags[i]].tolist()), cols.context(i), catalogue, None,
                          (float(draws[i, 0]), float(draws[i, 1])) if explore and math.isfinite(draws[i, 0]) else None)
        chosen, runner = d.chosen, d.runner_up
        out.code[i], out.channel[i], out.message_key[i] = d.code, d.channel, d.message_key
        out.expected_cost[i] = d.expected_cost
        out.expected_uplift[i] = chosen.uplift if chosen is not None else 0.0
        out.expected_profit[i] = chosen.expected_profit if chosen is not None else 0.0
        out.explored[i], out.propensity[i], out.rule[i] = d.explored, d.propensity, d.rule
        out.runner_up[i] = runner.code if runner is not None else None
        out.runner_up_profit[i] = runner.expected_profit if runner is not None else math.nan
        out.n_considered[i] = len(d.considered)
        reasons.append(d.reason)
    return reasons


def _profit_reasons(c: _Choice, codes: Objects, runner: Ints, o: _Offers, value: Floats, s: UpliftSettings
                    ) -> pa.Array:
    """``UpliftDecision.reason`` of every cart, from the rule that decided it (``%s`` templates, as for the rules),
    put together by Arrow: the numbers' texts are taken from tables, no Python text is made per cart."""
    rule, chosen, best, n_options = c.rule, c.chosen, c.best, c.n_options
    uplift, cost, profit = o.uplift, o.cost, o.profit
    best_profit = _BEST_PROFIT.replace("{margin}", _escape(f"{s.margin:.0%}"))
    explored = _EXPLORED.replace("{share}", _escape(f"{s.exploration_share:.0%}"))
    code_texts = pa.array(codes.tolist(), pa.large_string())

    def code(at: Ints) -> pa.Array:
        return code_texts.take(pa.array(at))

    def offer(at: Ints, rows: Ints) -> list[pa.Array]:
        """Code, uplift, expected cost and profit of the offer ``at`` of each cart in ``rows``."""
        idx = at[rows]
        return [code(idx), _fixed_arrow(uplift[idx, rows], 3, plus=True), _fixed_arrow(cost[idx, rows], 2),
                _fixed_arrow(profit[idx, rows], 2, plus=True)]

    def best_offer(rows: Ints) -> pa.Array:
        name, up, c, pr = offer(chosen, rows)
        idx = runner[rows]
        return _format_arrow(best_profit, [name, up, _fixed_arrow(value[rows], 2), c, pr, code(idx),
                                           _fixed_arrow(profit[idx, rows], 2, plus=True)], len(rows))

    makers: dict[int, Callable[[Ints], pa.Array]] = {
        _P_EMPTY: lambda rows: pa.array([_EMPTY_CART_PROFIT] * len(rows), pa.large_string()),
        _P_NO_ELIGIBLE: lambda rows: pa.array([_NO_ELIGIBLE_PROFIT] * len(rows), pa.large_string()),
        _P_NOTHING_PAYS: lambda rows: _format_arrow(_NOTHING_PAYS, offer(best, rows), len(rows)),
        _P_BEST: best_offer,
        _P_EXPLORE: lambda rows: _format_arrow(explored, [code(chosen[rows]), pa.array(n_options[rows])],
                                               len(rows)),
    }
    parts, where = [], []
    for which, make in makers.items():
        rows = np.flatnonzero(rule == which)
        if len(rows):
            parts.append(make(rows))
            where.append(rows)
    if not parts:
        return pa.array([None] * len(rule), pa.large_string())
    order = np.concatenate(where)
    at = np.full(len(rule), -1, dtype=np.int64)
    at[order] = np.arange(len(order))
    return pa.concat_arrays(parts).take(pa.array(at, mask=at < 0))  # a cart no rule decided: missing


# the reasons of serving.uplift_policy.decide_uplift (no budget), as % templates
_EMPTY_CART_PROFIT = "The cart is empty: nothing to recover, so no incentive."
_NO_ELIGIBLE_PROFIT = "No incentive with a measured effect is eligible for this cart."
_NOTHING_PAYS = ("No incentive pays: the best, %s, would lift the purchase probability by %s for an expected cost "
                 "of %s, an expected profit of %s.")
_BEST_PROFIT = ("%s has the best expected profit: uplift %s x margin {margin} x order %s - cost %s = %s; "
                "runner-up %s (%s).")
_EXPLORED = "Exploration: %s drawn at random among %d options ({share} of carts are explored, to keep learning)."
