"""The rule-based incentive policy: per cart, which incentive (if any) recovers it at the least cost.

The catalogue (``serving/incentives.yaml``, packaged; its comments document the format for marketers) lists
the incentives the shop may offer (code, type, channel, cost model, eligibility, priority) and the policy
settings (risk bands, thresholds, the cost limit). :func:`load_catalogue` validates it up front and raises
:class:`PolicyError` naming the file, the item (``policy`` or ``incentive 'code'``) and the field of every
problem, with a suggestion for misspelt names.

:func:`decide` is the policy, called once per scoring request: pure Python over a few small tuples, no I/O
and no pandas (a few microseconds). An empty cart (value 0) gets ``none``; otherwise, in order, the first rule
that applies decides:

1. risk below ``min_risk_for_incentive`` (never in the low band) -> ``none``;
2. checkout forces an account and the shopper is a guest or never ordered -> guest checkout;
3. a shipping fee is charged and the cart is below the free-shipping threshold -> free shipping, when it costs
   no more than every eligible discount large enough to offset the fee (a smaller discount leaves the extra
   cost in place, and a reward does not remove it, so neither is an alternative);
4. a VIP -> the cheapest reward (early access, gift); VIPs never get a discount;
5. an interrupted session of a known customer -> a reminder e-mail;
6. high risk -> the cheapest eligible incentive (ties: lower priority number, then file order);
   medium risk -> ``none``.

Always: only incentives whose eligibility holds for the cart and whose cost if bought is at most
``max_cost_share_of_cart`` of the cart value; e-mail only to known customers; no discount to an engaged
customer whose risk is below ``engaged_buy_threshold``.

Expected cost (shop currency) is what the shop expects to pay: a cost paid only when the cart is bought
(a discount, free shipping, a gift) times ``1 - risk``; a cost paid anyway (an e-mail) in full.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, NamedTuple

from features.config_file import ConfigError, Problem, Problems, describe, read_yaml, suggest
from features.schema import DEVICES

__all__ = [
    "CHANNELS",
    "COST_KINDS",
    "INCENTIVE_TYPES",
    "Alternative",
    "CartContext",
    "Catalogue",
    "Cost",
    "Decision",
    "Eligibility",
    "Incentive",
    "PolicyError",
    "PolicyProblem",
    "PolicySettings",
    "UpliftSettings",
    "catalogue_summary",
    "decide",
    "default_catalogue",
    "interruption_reason",
    "load_catalogue",
    "parse_catalogue",
    "risk_band",
]

DEFAULT_CATALOGUE_RESOURCE = "incentives.yaml"
NONE = "none"

CostKind = Literal["percent_of_cart", "shipping_fee", "fixed"]
CostWhen = Literal["bought", "always"]
Channel = Literal["onsite", "email", "none"]
IncentiveType = Literal["discount", "free_shipping", "reward", "reminder", "guest_checkout", "none"]
RiskBand = Literal["low", "medium", "high"]

COST_KINDS: tuple[str, ...] = ("percent_of_cart", "shipping_fee", "fixed")
COST_WHEN: tuple[str, ...] = ("bought", "always")
CHANNELS: tuple[str, ...] = ("onsite", "email", "none")
INCENTIVE_TYPES: tuple[str, ...] = ("discount", "free_shipping", "reward", "reminder", "guest_checkout", "none")

_TOP_KEYS = ("version", "policy", "uplift", "incentives")
_POLICY_KEYS = (
    "risk_bands",
    "min_risk_for_incentive",
    "max_cost_share_of_cart",
    "engaged_buy_threshold",
    "engaged_segments",
    "vip_segments",
    "interrupted",
)
_INCENTIVE_KEYS = ("code", "type", "channel", "message_key", "description", "cost", "eligibility", "priority")
_COST_KEYS = ("kind", "value", "when")
_ELIGIBILITY_KEYS = (
    "segments_any",
    "segments_none",
    "known_customer_only",
    "min_cart_value",
    "requires_fee",
    "requires_account_step",
    "requires_interruption",
)
_BAND_KEYS = ("medium", "high")
_UPLIFT_KEYS = (
    "margin",
    "min_expected_profit",
    "exploration_share",
    "daily_budget",
    "segment_caps",
    "shipping_fee",
    "free_shipping_threshold",
)
_CODE_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_INTERRUPTED_KEYS = ("min_pause_seconds", "devices")

# Money amounts are compared with this slack, so that e.g. a 20% discount passes a 0.20 cost limit whatever
# the rounding of the two products.
_EPS = 1e-9


# ------------------------------------------------------------------------------------------ errors


PolicyProblem = Problem
"""One thing wrong in a catalogue: ``item`` is ``policy``, ``uplift`` or ``incentive 'x'``, ``field`` the key."""


class PolicyError(ConfigError):
    """The catalogue is invalid; ``problems`` lists every problem found (file, item, field, message)."""

    kind = "incentive catalogue"


# ---------------------------------------------------------------------------------------- catalogue


@dataclass(frozen=True, slots=True)
class Cost:
    """What one incentive costs the shop: ``kind`` and ``value``, paid when ``when`` says."""

    kind: CostKind
    value: float
    """Percent (0-100) for ``percent_of_cart``, money for ``fixed``, unused (0) for ``shipping_fee``."""
    when: CostWhen = "bought"
    """``bought``: paid only when the cart is bought; ``always``: paid whatever happens (an e-mail)."""

    def text(self) -> str:
        """The cost model in words, for people."""
        what = {
            "percent_of_cart": f"{self.value:g}% of the cart value",
            "shipping_fee": "the shipping fee shown to the cart",
            "fixed": f"{self.value:.2f} per offer",
        }[self.kind]
        return what + (", paid only when the cart is bought" if self.when == "bought" else ", paid in any case")


@dataclass(frozen=True, slots=True)
class Eligibility:
    """Conditions a cart must meet to be offered an incentive; all of them must hold."""

    segments_any: tuple[str, ...] = ()
    segments_none: tuple[str, ...] = ()
    known_customer_only: bool = False
    min_cart_value: float = 0.0
    requires_fee: bool = False
    requires_account_step: bool = False
    requires_interruption: bool = False

    def text(self) -> str:
        """The conditions in words, for people."""
        parts: list[str] = []
        if self.segments_any:
            parts.append("in a segment among " + ", ".join(self.segments_any))
        if self.segments_none:
            parts.append("in none of " + ", ".join(self.segments_none))
        if self.known_customer_only:
            parts.append("known customers only")
        if self.min_cart_value > 0:
            parts.append(f"cart worth at least {self.min_cart_value:.2f}")
        if self.requires_fee:
            parts.append("a shipping fee is charged")
        if self.requires_account_step:
            parts.append("checkout forces account creation")
        if self.requires_interruption:
            parts.append("the session looks interrupted")
        return "; ".join(parts) if parts else "every cart"


@dataclass(frozen=True, slots=True)
class Incentive:
    """One entry of the catalogue."""

    code: str
    type: IncentiveType
    channel: Channel
    message_key: str
    description: str
    cost: Cost
    eligibility: Eligibility
    priority: int
    """Tie-break between offers of equal expected cost: lower first."""
    order: int = 0
    """Position in the file (last tie-break)."""


@dataclass(frozen=True, slots=True)
class PolicySettings:
    """The thresholds of the rule-based policy (the ``policy:`` section)."""

    medium_risk: float
    """Risk at which the medium band starts (low below it)."""
    high_risk: float
    """Risk at which the high band starts."""
    min_risk_for_incentive: float
    max_cost_share_of_cart: float
    engaged_buy_threshold: float
    engaged_segments: tuple[str, ...]
    vip_segments: tuple[str, ...]
    interrupted_pause_seconds: float | None
    """A pause of at least this many seconds before the latest event means interrupted; None: ignored."""
    interrupted_devices: tuple[str, ...]
    """Sessions on these devices count as interrupted."""


@dataclass(frozen=True, slots=True)
class UpliftSettings:
    """The settings of the profit policy (the ``uplift:`` section), used when uplift models are registered."""

    margin: float = 0.30
    """Share of the order value the shop keeps before any incentive cost (gross margin)."""
    min_expected_profit: float = 0.0
    """An incentive is chosen only when its expected profit is above this (shop currency)."""
    exploration_share: float = 0.0
    """Share of carts that get a random eligible incentive (or none), flagged, to keep learning."""
    daily_budget: float | None = None
    """Expected cost allowed per day over all carts; None: no limit."""
    segment_caps: tuple[tuple[str, float], ...] = ()
    """Expected cost allowed per day for the carts of each listed segment."""
    shipping_fee: float | None = None
    """The shop's standard shipping fee, for carts whose checkout has not shown one yet."""
    free_shipping_threshold: float | None = None
    """Order value from which shipping is free, for carts whose checkout has not shown it yet."""


_KIND_CODE = {"percent_of_cart": 0, "shipping_fee": 1, "fixed": 2}
_Row = tuple[
    str, str, int, float, bool, bool, float, bool, bool, bool, frozenset[str] | None, frozenset[str] | None, bool,
    int, int, Incentive,
]  # fmt: skip
"""One incentive flattened for :func:`decide` (see ``Catalogue.__post_init__``)."""


@dataclass(frozen=True)
class Catalogue:
    """A validated catalogue: the incentives (``none`` kept apart) and the policy settings."""

    incentives: tuple[Incentive, ...]
    """Every incentive except ``none``, in file order."""
    none: Incentive
    settings: PolicySettings
    source: str = "<catalogue>"
    version: int = 1
    uplift: UpliftSettings = dc_field(default_factory=UpliftSettings)
    _rows: tuple[_Row, ...] = dc_field(default=(), init=False, repr=False, compare=False)
    _vip: frozenset[str] = dc_field(default=frozenset(), init=False, repr=False, compare=False)
    _engaged: frozenset[str] = dc_field(default=frozenset(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # decide() runs per request: flatten each incentive once into the plain values its loop tests
        rows = tuple(
            (
                i.code,
                i.type,
                _KIND_CODE[i.cost.kind],
                i.cost.value,
                i.cost.when == "bought",
                i.eligibility.known_customer_only or i.channel == "email",
                i.eligibility.min_cart_value,
                i.eligibility.requires_fee,
                i.eligibility.requires_account_step,
                i.eligibility.requires_interruption,
                frozenset(i.eligibility.segments_any) or None,
                frozenset(i.eligibility.segments_none) or None,
                i.type == "discount",
                i.priority,
                i.order,
                i,
            )
            for i in self.incentives
        )
        object.__setattr__(self, "_rows", rows)
        object.__setattr__(self, "_vip", frozenset(self.settings.vip_segments))
        object.__setattr__(self, "_engaged", frozenset(self.settings.engaged_segments))

    @property
    def codes(self) -> list[str]:
        """Codes of every entry, ``none`` first."""
        return [self.none.code, *(i.code for i in self.incentives)]

    def get(self, code: str) -> Incentive:
        """The incentive with this code (``none`` included)."""
        if code == self.none.code:
            return self.none
        for inc in self.incentives:
            if inc.code == code:
                return inc
        raise KeyError(f"no incentive {code!r} in {self.source}; codes: {', '.join(self.codes)}")


# ------------------------------------------------------------------------------------ cart, decision


@dataclass(frozen=True, slots=True)
class CartContext:
    """What the policy needs to know about one cart at scoring time (money in the shop currency)."""

    cart_value: float
    shipping_fee: float | None = None
    """Latest shipping fee shown; None before checkout showed one."""
    free_shipping_threshold: float | None = None
    """Cart value from which shipping is free; None when not shown or the shop has none."""
    account_required: bool | None = None
    """Checkout forces account creation; None before checkout showed it."""
    is_guest: bool = False
    """No customer account (so no e-mail address)."""
    funnel_step: int | None = None
    """1 add to cart .. 5 payment info (not read by the rule-based policy; kept for logs and other policies)."""
    seconds_since_prev_event: float | None = None
    device: str | None = None

    @classmethod
    def from_features(cls, row: Mapping[str, object]) -> CartContext:
        """Build from a feature row (names of :mod:`features.definitions`); NaN and absent keys are None.

        A row without ``is_guest`` counts as a guest (no e-mail is sent to an unknown address).
        """

        def num(name: str) -> float | None:
            v = row.get(name)
            if v is None or isinstance(v, str):
                return None
            try:
                f = float(v)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                return None
            return None if math.isnan(f) else f

        account = num("account_required")
        guest = num("is_guest")
        step = num("funnel_step")
        device = row.get("device")
        return cls(
            cart_value=num("cart_value") or 0.0,
            shipping_fee=num("shipping_fee"),
            free_shipping_threshold=num("free_shipping_threshold"),
            account_required=None if account is None else account != 0,
            is_guest=True if guest is None else guest != 0,
            funnel_step=None if step is None else int(step),
            seconds_since_prev_event=num("seconds_since_prev_event"),
            device=device if isinstance(device, str) else None,
        )


class Alternative(NamedTuple):
    """An incentive that was eligible for the cart, with its expected cost."""

    code: str
    channel: str
    expected_cost: float


@dataclass(frozen=True, slots=True)
class Decision:
    """The incentive chosen for one cart, and why."""

    code: str
    """Incentive code, or ``none``."""
    channel: str
    message_key: str
    expected_cost: float
    """What the shop expects to pay for this offer (shop currency)."""
    risk_band: RiskBand
    reason: str
    """One plain-English sentence: why this incentive, or why none."""
    considered: tuple[Alternative, ...]
    """Every eligible incentive (the chosen one included, ``none`` excluded), cheapest first."""
    rule: str
    """Short id of the rule that decided: empty_cart, low_risk, account_step, shipping_fee, vip, interrupted,
    high_risk, medium_risk, no_eligible."""

    def to_dict(self) -> dict[str, object]:
        """A JSON-able dict (``considered`` as a list of dicts)."""
        return {
            "code": self.code,
            "channel": self.channel,
            "message_key": self.message_key,
            "expected_cost": self.expected_cost,
            "risk_band": self.risk_band,
            "reason": self.reason,
            "rule": self.rule,
            "considered": [a._asdict() for a in self.considered],
        }


# ------------------------------------------------------------------------------------------ policy


def risk_band(risk: float, settings: PolicySettings) -> RiskBand:
    """``low`` below ``medium_risk``, ``high`` from ``high_risk``, else ``medium``."""
    if risk < settings.medium_risk:
        return "low"
    return "high" if risk >= settings.high_risk else "medium"


def interruption_reason(cart: CartContext, s: PolicySettings) -> str | None:
    """Why the session looks interrupted (for the reason), or None."""
    pause = cart.seconds_since_prev_event
    if s.interrupted_pause_seconds is not None and pause is not None and pause >= s.interrupted_pause_seconds:
        return f"a {pause:.0f}-second pause"
    if cart.device is not None and cart.device in s.interrupted_devices:
        return f"on {cart.device}"
    return None


Option = tuple[float, int, int, float, Incentive]
"""(expected cost, priority, file order, cost if bought, incentive): sorts cheapest first, then the tie-breaks."""


def _first(options: list[Option], kind: str) -> Option | None:
    for o in options:
        if o[4].type == kind:
            return o
    return None


def decide(risk: float, segments: Collection[str], cart: CartContext, catalogue: Catalogue) -> Decision:
    """The incentive for one cart (see the module docstring for the rules, in order).

    ``risk`` is the predicted abandonment probability; ``segments`` the cart's segment names. Raises
    ValueError when ``risk`` is not in [0, 1] or the cart value is negative or NaN.
    """
    if not 0.0 <= risk <= 1.0:
        raise ValueError(f"risk must be a probability in [0, 1], got {risk!r}")
    value = cart.cart_value
    if not value >= 0.0:
        raise ValueError(f"cart_value must be a number >= 0, got {value!r}")
    s = catalogue.settings
    band: RiskBand = "low" if risk < s.medium_risk else ("high" if risk >= s.high_risk else "medium")
    # isinstance with a tuple of types: faster than with set | frozenset
    segs = segments if isinstance(segments, (set, frozenset)) else frozenset(segments)
    guest = cart.is_guest
    fee = cart.shipping_fee
    threshold = cart.free_shipping_threshold
    fee_charged = fee is not None and fee > 0.0 and (threshold is None or value < threshold)
    fee_amount = fee if fee_charged and fee is not None else 0.0
    why_interrupted = interruption_reason(cart, s)
    account_step = cart.account_required is True
    cap = s.max_cost_share_of_cart * value + _EPS
    keep = 1.0 - risk
    vip = not catalogue._vip.isdisjoint(segs)
    no_discount = vip or (risk < s.engaged_buy_threshold and not catalogue._engaged.isdisjoint(segs))

    # -- eligible incentives, with their expected cost
    options: list[Option] = []
    for (
        _code,
        _type,
        kind,
        cost_value,
        bought,
        known_only,
        min_value,
        req_fee,
        req_account,
        req_interruption,
        seg_any,
        seg_none,
        is_discount,
        priority,
        order,
        inc,
    ) in catalogue._rows:
        if (
            (known_only and guest)
            or value < min_value
            or (req_fee and not fee_charged)
            or (req_account and not account_step)
            or (req_interruption and why_interrupted is None)
            or (is_discount and no_discount)
            or (seg_any is not None and seg_any.isdisjoint(segs))
            or (seg_none is not None and not seg_none.isdisjoint(segs))
        ):
            continue
        amount = value * cost_value / 100.0 if kind == 0 else (fee_amount if kind == 1 else cost_value)
        if amount > cap:
            continue
        options.append((amount * keep if bought else amount, priority, order, amount, inc))
    options.sort()  # file order is unique, so the incentives themselves are never compared
    new_alt = tuple.__new__
    considered = tuple(new_alt(Alternative, (o[4].code, o[4].channel, o[0])) for o in options)

    def give(o: Option, rule: str, reason: str) -> Decision:
        inc = o[4]
        return Decision(inc.code, inc.channel, inc.message_key, o[0], band, reason, considered, rule)

    def nothing(rule: str, reason: str) -> Decision:
        n = catalogue.none
        return Decision(n.code, n.channel, n.message_key, 0.0, band, reason, considered, rule)

    if value == 0.0:
        return nothing("empty_cart", "The cart is empty: there is nothing to recover, so no incentive.")

    # 1. low risk
    if band == "low" or risk < s.min_risk_for_incentive:
        limit = s.medium_risk if band == "low" else s.min_risk_for_incentive
        what = "low" if band == "low" else "below the minimum for an incentive"
        return nothing(
            "low_risk",
            f"Risk {risk:.2f} is {what} (under {limit:.2f}): the cart is likely to be bought without help, "
            "so no incentive.",
        )

    # 2. account step
    if account_step:
        o = _first(options, "guest_checkout")
        if o is not None:
            who = "is a guest" if guest else "has never ordered"
            return give(
                o,
                "account_step",
                f"Checkout forces account creation and this shopper {who}: offer {o[4].code} "
                f"(expected cost {o[0]:.2f}).",
            )

    # 3. shipping fee below the free-shipping threshold
    if fee_charged and threshold is not None:
        o = _first(options, "free_shipping")
        if o is not None:
            # alternatives: discounts that offset the fee (a smaller one leaves the extra cost in place)
            rival = _EPS + min(
                (a[0] for a in options if a[4].type == "discount" and a[3] >= fee_amount - _EPS),
                default=math.inf,
            )
            if o[0] <= rival:
                than = (
                    "no more than a discount that would offset the fee"
                    if rival < math.inf
                    else "and no eligible discount would offset the fee"
                )
                return give(
                    o,
                    "shipping_fee",
                    f"A shipping fee of {fee_amount:.2f} is charged on this {value:.2f} cart, "
                    f"{threshold - value:.2f} below free shipping: {o[4].code} costs {o[0]:.2f} expected, {than}.",
                )

    # 4. VIP: a reward rather than a discount
    if vip:
        o = _first(options, "reward")
        if o is not None:
            return give(o, "vip", f"A VIP customer gets {o[4].code} rather than a discount (expected cost {o[0]:.2f}).")

    # 5. interrupted session of a known customer: a reminder
    if why_interrupted is not None and not guest:
        o = _first(options, "reminder")
        if o is not None:
            return give(
                o,
                "interrupted",
                f"The session looks interrupted ({why_interrupted}) and the customer can be reached: "
                f"send {o[4].code} (cost {o[0]:.2f}).",
            )

    note = ""
    if no_discount:
        note = " (no discount: a VIP)" if vip else " (no discount: an engaged customer likely to buy)"
    # 6. high risk: the cheapest eligible incentive
    if band == "high":
        if options:
            o = options[0]
            n = len(options)
            return give(
                o,
                "high_risk",
                f"Risk {risk:.2f} is high and no specific cause applies: {o[4].code} is the cheapest of "
                f"{n} eligible incentive{'s' if n > 1 else ''} (expected cost {o[0]:.2f}){note}.",
            )
        return nothing(
            "no_eligible",
            f"Risk {risk:.2f} is high but no incentive is eligible for this cart within the "
            f"{s.max_cost_share_of_cart:.0%} cost limit{note}, so none.",
        )
    return nothing(
        "medium_risk",
        f"Risk {risk:.2f} is medium and no specific cause (account step, shipping fee, VIP, interruption) "
        f"applies, so no incentive{note}.",
    )


# -------------------------------------------------------------------------------------------- summary


def _rules_text(s: PolicySettings) -> list[str]:
    pause = (
        f"a pause of at least {s.interrupted_pause_seconds:g} seconds"
        if s.interrupted_pause_seconds is not None
        else None
    )
    devices = f"a session on {' or '.join(s.interrupted_devices)}" if s.interrupted_devices else None
    interrupted = " or ".join(p for p in (pause, devices) if p) or "never (both tests are switched off)"
    return [
        f"Risk bands: low under {s.medium_risk:g}, medium from {s.medium_risk:g} to under {s.high_risk:g}, "
        f"high from {s.high_risk:g}.",
        f"1. Risk under {max(s.min_risk_for_incentive, s.medium_risk):g}, or an empty cart: no incentive.",
        "2. Checkout forces account creation and the shopper is eligible for guest checkout: guest checkout.",
        "3. A shipping fee is charged and the cart is below the free-shipping threshold: free shipping, unless "
        "an eligible discount at least as large as the fee would cost less.",
        f"4. VIP ({', '.join(s.vip_segments)}): the cheapest eligible reward; never a discount.",
        f"5. Interrupted session ({interrupted}) of a known customer: the reminder e-mail.",
        "6. Otherwise high risk: the cheapest eligible incentive (ties: lower priority number); "
        "medium risk: no incentive.",
        f"Always: only eligible incentives costing at most {s.max_cost_share_of_cart:.0%} of the cart value if "
        "the cart is bought; e-mail to known customers only; no discount to "
        f"{', '.join(s.engaged_segments)} customers with risk under {s.engaged_buy_threshold:g}.",
        "Expected cost: the cost if bought x (1 - risk) for costs paid on purchase; the full cost for costs "
        "paid in any case.",
    ]


def catalogue_summary(catalogue: Catalogue) -> dict[str, Any]:
    """What the service will do, as a JSON-able dict: the settings, the rules in words, the incentives."""
    s = catalogue.settings

    def incentive(inc: Incentive) -> dict[str, Any]:
        e = inc.eligibility
        return {
            "code": inc.code,
            "type": inc.type,
            "channel": inc.channel,
            "message_key": inc.message_key,
            "description": inc.description,
            "priority": inc.priority,
            "cost": {"kind": inc.cost.kind, "value": inc.cost.value, "when": inc.cost.when, "text": inc.cost.text()},
            "eligibility": {
                "segments_any": list(e.segments_any),
                "segments_none": list(e.segments_none),
                "known_customer_only": e.known_customer_only or inc.channel == "email",
                "min_cart_value": e.min_cart_value,
                "requires_fee": e.requires_fee,
                "requires_account_step": e.requires_account_step,
                "requires_interruption": e.requires_interruption,
                "text": e.text(),
            },
        }

    return {
        "source": catalogue.source,
        "version": catalogue.version,
        "policy": {
            "risk_bands": [
                {"band": "low", "from": 0.0, "to": s.medium_risk},
                {"band": "medium", "from": s.medium_risk, "to": s.high_risk},
                {"band": "high", "from": s.high_risk, "to": 1.0},
            ],
            "min_risk_for_incentive": s.min_risk_for_incentive,
            "max_cost_share_of_cart": s.max_cost_share_of_cart,
            "engaged_buy_threshold": s.engaged_buy_threshold,
            "engaged_segments": list(s.engaged_segments),
            "vip_segments": list(s.vip_segments),
            "interrupted": {
                "min_pause_seconds": s.interrupted_pause_seconds,
                "devices": list(s.interrupted_devices),
            },
        },
        "rules": _rules_text(s),
        "incentives": [incentive(catalogue.none), *(incentive(i) for i in catalogue.incentives)],
    }


# ----------------------------------------------------------------------------------------- parsing


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


class _Section:
    """Reads the fields of one mapping, reporting problems against ``item`` and a field prefix."""

    def __init__(self, out: Problems, item: str | None, raw: dict[Any, Any], prefix: str = "") -> None:
        self.out = out
        self.item = item
        self.raw = raw
        self.prefix = prefix
        self.ok = True

    def where(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def report(self, name: str, message: str) -> None:
        self.ok = False
        self.out.add(self.item, self.where(name), message)

    def unknown_keys(self, allowed: Sequence[str], what: str) -> None:
        for k in self.raw:
            if k not in allowed:
                self.report(
                    str(k),
                    f"unknown key {str(k)!r} in {what}{suggest(k, allowed)} (keys: {', '.join(allowed)})",
                )

    def number(
        self,
        name: str,
        *,
        required: bool = True,
        default: float | None = None,
        low: float | None = None,
        high: float | None = None,
        low_open: bool = False,
        hint: str = "",
    ) -> float | None:
        if name not in self.raw or self.raw[name] is None:
            if required:
                self.report(name, f"missing {name!r}: {hint or 'give a number'}")
            return default
        v = self.raw[name]
        if not _is_number(v):
            self.report(name, f"{name!r} must be a number, got {describe(v)}")
            return default
        f = float(v)
        if low is not None and (f < low or (low_open and f == low)):
            sign = "above" if low_open else "at least"
            negative = "negative value: " if f < 0 <= low else ""
            self.report(name, f"{negative}{name!r} must be {sign} {low:g}, got {v!r}")
            return default
        if high is not None and f > high:
            self.report(name, f"{name!r} must be at most {high:g}, got {v!r}")
            return default
        return f

    def flag(self, name: str) -> bool:
        v = self.raw.get(name, False)
        if not isinstance(v, bool):
            self.report(name, f"{name!r} must be true or false, got {describe(v)}")
            return False
        return v

    def text(self, name: str) -> str | None:
        v = self.raw.get(name)
        if not isinstance(v, str) or not v.strip():
            self.report(name, f"{name!r} must be a non-empty text, got {describe(v)}")
            return None
        return " ".join(v.split())

    def choice(self, name: str, choices: Sequence[str], what: str) -> str | None:
        v = self.raw.get(name)
        if v is None:
            self.report(name, f"missing {name!r}: one of {', '.join(choices)}")
            return None
        if v not in choices:
            self.report(name, f"unknown {what} {describe(v)}{suggest(v, choices)} ({what}s: {', '.join(choices)})")
            return None
        return str(v)

    def names(self, name: str, known: Sequence[str], what: str, *, required: bool = False) -> tuple[str, ...]:
        v = self.raw.get(name)
        if v is None:
            if required:
                self.report(name, f"missing {name!r}: a list of {what} names like [a, b]")
            return ()
        if not isinstance(v, list):
            self.report(name, f"{name!r} must be a list of {what} names like [a, b], got {describe(v)}")
            return ()
        out: list[str] = []
        for i, x in enumerate(v):
            if not isinstance(x, str) or x not in known:
                hint = suggest(x, known) or f" ({what}s: {', '.join(known)})"
                self.report(f"{name}[{i}]", f"unknown {what} {describe(x)}{hint}")
            else:
                out.append(x)
        return tuple(out)

    def mapping(self, name: str, *, required: bool = True) -> dict[Any, Any] | None:
        v = self.raw.get(name)
        if v is None:
            if required:
                self.report(name, f"missing {name!r} section")
            return None
        if not isinstance(v, dict):
            self.report(name, f"{name!r} must be a mapping (key: value lines), got {describe(v)}")
            return None
        return v


def _parse_settings(raw: object, out: Problems, segment_names: Sequence[str]) -> PolicySettings | None:
    item = "policy"
    if not isinstance(raw, dict):
        out.add(item, "", f"'policy' must be a mapping of settings, got {describe(raw)}")
        return None
    p = _Section(out, item, raw)
    p.unknown_keys(_POLICY_KEYS, "'policy'")
    medium = high = None
    bands_raw = p.mapping("risk_bands")
    if bands_raw is not None:
        b = _Section(out, item, bands_raw, "risk_bands.")
        b.unknown_keys(_BAND_KEYS, "'risk_bands'")
        medium = b.number("medium", low=0.0, high=1.0, low_open=True, hint="risk where the medium band starts")
        high = b.number("high", low=0.0, high=1.0, low_open=True, hint="risk where the high band starts")
        if medium is not None and high is not None and medium >= high:
            p.report(
                "risk_bands",
                f"band thresholds out of order: medium ({medium:g}) must be below high ({high:g})",
            )
        p.ok = p.ok and b.ok
    min_risk = p.number("min_risk_for_incentive", low=0.0, high=1.0, hint="a risk between 0 and 1, e.g. 0.35")
    if min_risk is not None and medium is not None and min_risk < medium:
        p.report(
            "min_risk_for_incentive",
            f"min_risk_for_incentive ({min_risk:g}) is below the medium band ({medium:g}): low-risk carts never "
            "get an incentive; raise it or lower risk_bands.medium",
        )
    share = p.number(
        "max_cost_share_of_cart", low=0.0, high=1.0, low_open=True, hint="a share of the cart value, e.g. 0.20"
    )
    engaged_buy = p.number("engaged_buy_threshold", low=0.0, high=1.0, hint="a risk between 0 and 1, e.g. 0.8")
    engaged = p.names("engaged_segments", segment_names, "segment", required=True)
    vip = p.names("vip_segments", segment_names, "segment", required=True)
    pause: float | None = None
    devices: tuple[str, ...] = ()
    inter_raw = p.mapping("interrupted")
    if inter_raw is not None:
        it = _Section(out, item, inter_raw, "interrupted.")
        it.unknown_keys(_INTERRUPTED_KEYS, "'interrupted'")
        if "min_pause_seconds" not in inter_raw:
            it.report("min_pause_seconds", "missing 'min_pause_seconds': seconds, or null to ignore pauses")
        pause = it.number("min_pause_seconds", required=False, low=0.0, low_open=True)
        if "devices" not in inter_raw:
            it.report("devices", "missing 'devices': a list like [mobile], or [] to use the pause only")
        devices = it.names("devices", DEVICES, "device")
        p.ok = p.ok and it.ok
    if not p.ok or None in (medium, high, min_risk, share, engaged_buy):
        return None
    assert medium is not None and high is not None and min_risk is not None
    assert share is not None and engaged_buy is not None
    return PolicySettings(
        medium_risk=medium,
        high_risk=high,
        min_risk_for_incentive=min_risk,
        max_cost_share_of_cart=share,
        engaged_buy_threshold=engaged_buy,
        engaged_segments=engaged,
        vip_segments=vip,
        interrupted_pause_seconds=pause,
        interrupted_devices=devices,
    )


def _parse_uplift(raw: object, out: Problems, segment_names: Sequence[str]) -> UpliftSettings | None:
    item = "uplift"
    if not isinstance(raw, dict):
        out.add(item, "", f"'uplift' must be a mapping of settings, got {describe(raw)}")
        return None
    u = _Section(out, item, raw)
    u.unknown_keys(_UPLIFT_KEYS, "'uplift'")
    margin = u.number("margin", low=0.0, high=1.0, low_open=True, hint="gross margin as a share, e.g. 0.30")
    min_profit = u.number("min_expected_profit", required=False, default=0.0, low=0.0)
    explore = u.number("exploration_share", required=False, default=0.0, low=0.0, high=0.5)
    budget = u.number("daily_budget", required=False, low=0.0, low_open=True)
    fee = u.number("shipping_fee", required=False, low=0.0)
    threshold = u.number("free_shipping_threshold", required=False, low=0.0, low_open=True)
    caps: list[tuple[str, float]] = []
    caps_raw = u.mapping("segment_caps", required=False)
    if caps_raw is not None:
        c = _Section(out, item, caps_raw, "segment_caps.")
        for name in caps_raw:
            if name not in segment_names:
                c.report(str(name), f"unknown segment {str(name)!r}{suggest(name, segment_names)}")
                continue
            cap = c.number(str(name), low=0.0, hint="expected cost per day for this segment")
            if cap is not None:
                caps.append((str(name), cap))
        u.ok = u.ok and c.ok
    if not u.ok or margin is None:
        return None
    return UpliftSettings(margin=margin, min_expected_profit=min_profit or 0.0, exploration_share=explore or 0.0,
                          daily_budget=budget, segment_caps=tuple(caps), shipping_fee=fee,
                          free_shipping_threshold=threshold)


def _parse_cost(raw: object, s: _Section) -> Cost | None:
    if not isinstance(raw, dict):
        s.report("cost", f"'cost' must be a mapping like {{kind: percent_of_cart, value: 10}}, got {describe(raw)}")
        return None
    c = _Section(s.out, s.item, raw, "cost.")
    c.unknown_keys(_COST_KEYS, "'cost'")
    kind = raw.get("kind")
    when = raw.get("when", "bought")
    if when not in COST_WHEN:
        c.report("when", f"unknown 'when' {describe(when)}{suggest(when, COST_WHEN)} (bought or always)")
    value = 0.0
    if kind not in COST_KINDS:
        c.report(
            "kind",
            f"unknown cost kind {describe(kind)}{suggest(kind, COST_KINDS)} (kinds: {', '.join(COST_KINDS)})",
        )
    elif kind == "shipping_fee":
        if raw.get("value") is not None:
            c.report("value", "a 'shipping_fee' cost takes no value (it is the fee shown to the cart); remove it")
    elif kind == "percent_of_cart":
        value = c.number("value", low=0.0, high=100.0, hint="a percentage of the cart value, e.g. 10") or 0.0
    else:
        value = c.number("value", low=0.0, hint="an amount in the shop currency, e.g. 0.05") or 0.0
    s.ok = s.ok and c.ok
    if not c.ok:
        return None
    return Cost(kind=kind, value=value, when=when)  # type: ignore[arg-type]


def _parse_eligibility(raw: object, s: _Section, segment_names: Sequence[str]) -> Eligibility | None:
    if raw is None:
        return Eligibility()
    if not isinstance(raw, dict):
        s.report("eligibility", f"'eligibility' must be a mapping of conditions, got {describe(raw)}")
        return None
    e = _Section(s.out, s.item, raw, "eligibility.")
    e.unknown_keys(_ELIGIBILITY_KEYS, "'eligibility'")
    result = Eligibility(
        segments_any=e.names("segments_any", segment_names, "segment"),
        segments_none=e.names("segments_none", segment_names, "segment"),
        known_customer_only=e.flag("known_customer_only"),
        min_cart_value=e.number("min_cart_value", required=False, default=0.0, low=0.0) or 0.0,
        requires_fee=e.flag("requires_fee"),
        requires_account_step=e.flag("requires_account_step"),
        requires_interruption=e.flag("requires_interruption"),
    )
    both = sorted(set(result.segments_any) & set(result.segments_none))
    if both:
        e.report("segments_none", f"segment(s) {', '.join(both)} in both segments_any and segments_none")
    s.ok = s.ok and e.ok
    return result if e.ok else None


def _parse_incentive(
    raw: object, index: int, out: Problems, seen: dict[str, int], segment_names: Sequence[str]
) -> Incentive | None:
    item = f"incentive #{index + 1}"
    if not isinstance(raw, dict):
        out.add(item, "", f"expected a mapping with code, type, channel, ..., got {describe(raw)}")
        return None
    code = raw.get("code")
    if isinstance(code, str) and code:
        item = f"incentive {code!r}"
    s = _Section(out, item, raw)
    s.unknown_keys(_INCENTIVE_KEYS, "an incentive")
    if not isinstance(code, str) or not _CODE_RE.match(code):
        s.report("code", f"code must be snake_case (lower-case letters, digits and _), got {describe(code)}")
    elif code in seen:
        s.report("code", f"duplicate code {code!r} (also incentive #{seen[code]})")
    else:
        seen[code] = index + 1
    kind = s.choice("type", INCENTIVE_TYPES, "type")
    channel = s.choice("channel", CHANNELS, "channel")
    message_key = s.text("message_key")
    description = s.text("description")
    cost = _parse_cost(raw.get("cost"), s) if "cost" in raw else None
    if "cost" not in raw:
        s.report("cost", "missing 'cost', e.g. {kind: percent_of_cart, value: 10} or {kind: fixed, value: 0}")
    eligibility = _parse_eligibility(raw.get("eligibility"), s, segment_names)
    priority = raw.get("priority")
    if not isinstance(priority, int) or isinstance(priority, bool) or priority < 0:
        s.report("priority", f"'priority' must be a whole number >= 0 (lower first), got {describe(priority)}")
    # consistency between fields
    if (kind == NONE) != (code == NONE):
        s.report("type", "type 'none' is for the entry with code 'none' only, and that entry has type 'none'")
    if (channel == NONE) != (code == NONE) and channel is not None:
        s.report("channel", "channel 'none' is for the entry with code 'none' only; use onsite or email")
    if code == NONE:
        if cost is not None and (cost.kind != "fixed" or cost.value != 0):
            s.report("cost", "the 'none' entry costs nothing: write {kind: fixed, value: 0}")
        if eligibility is not None and eligibility != Eligibility():
            s.report("eligibility", "the 'none' entry is always possible: remove its eligibility")
    if channel == "email" and eligibility is not None and not eligibility.known_customer_only:
        s.report(
            "eligibility.known_customer_only",
            "an e-mail needs an address, which guests do not have: set known_customer_only: true",
        )
    if cost is not None and cost.kind == "shipping_fee" and eligibility is not None and not eligibility.requires_fee:
        s.report(
            "eligibility.requires_fee",
            "a 'shipping_fee' cost needs requires_fee: true (without a fee there is nothing to waive)",
        )
    if not s.ok:
        return None
    assert isinstance(code, str) and kind is not None and channel is not None
    assert message_key is not None and description is not None and cost is not None and eligibility is not None
    assert isinstance(priority, int)
    return Incentive(
        code=code,
        type=kind,  # type: ignore[arg-type]
        channel=channel,  # type: ignore[arg-type]
        message_key=message_key,
        description=description,
        cost=cost,
        eligibility=eligibility,
        priority=priority,
        order=index,
    )


def _segment_names() -> list[str]:
    from features.segments import default_rules  # imported here: pandas is not needed to decide

    return default_rules().names


def parse_catalogue(
    data: object, source: str = "<catalogue>", segment_names: Collection[str] | None = None
) -> Catalogue:
    """Validate a catalogue already read from YAML; raise :class:`PolicyError` listing every problem.

    Segment names are checked against ``segment_names`` (default: the packaged ``features/segments.yaml``).
    """
    names = sorted(segment_names) if segment_names is not None else _segment_names()
    out = Problems(source)
    if not isinstance(data, dict):
        out.add(None, "", f"expected a mapping with 'policy' and 'incentives' at the top, got {describe(data)}")
        raise PolicyError(out.problems)
    for k in data:
        if k not in _TOP_KEYS:
            out.add(
                None,
                str(k),
                f"unknown top-level key {str(k)!r}{suggest(k, _TOP_KEYS)} (keys: version, policy, uplift, incentives)",
            )
    version = data.get("version", 1)
    if version != 1:
        out.add(None, "version", f"unsupported version {version!r}; this code reads version 1")
    settings = _parse_settings(data.get("policy"), out, names) if "policy" in data else None
    uplift = _parse_uplift(data["uplift"], out, names) if data.get("uplift") is not None else UpliftSettings()
    if "policy" not in data:
        out.add(None, "policy", "missing the 'policy' section")
    raw_incentives = data.get("incentives")
    incentives: list[Incentive] = []
    if not isinstance(raw_incentives, list) or not raw_incentives:
        out.add(None, "incentives", f"'incentives' must be a non-empty list, got {describe(raw_incentives)}")
    else:
        seen: dict[str, int] = {}
        for i, raw in enumerate(raw_incentives):
            inc = _parse_incentive(raw, i, out, seen, names)
            if inc is not None:
                incentives.append(inc)
        if NONE not in seen:
            out.add(None, "incentives", "no entry with code 'none' (the no-incentive answer); add one")
    if out.problems:
        raise PolicyError(out.problems)
    assert settings is not None
    none = next(i for i in incentives if i.code == NONE)
    return Catalogue(
        incentives=tuple(i for i in incentives if i.code != NONE),
        none=none,
        settings=settings,
        source=source,
        version=1,
        uplift=uplift or UpliftSettings(),
    )


def load_catalogue(path: Path | None = None, segment_names: Collection[str] | None = None) -> Catalogue:
    """Load and validate a catalogue; ``None`` loads the packaged ``serving/incentives.yaml``.

    Raises :class:`PolicyError` for an invalid catalogue, unreadable YAML or a missing file.
    """
    data, source = read_yaml(path, "serving", DEFAULT_CATALOGUE_RESOURCE, PolicyError)
    return parse_catalogue(data, source=source, segment_names=segment_names)


@lru_cache(maxsize=1)
def default_catalogue() -> Catalogue:
    """The packaged catalogue, loaded and validated once."""
    return load_catalogue(None)
