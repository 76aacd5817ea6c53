"""The numbers behind the synthetic shop: segment shares, visit rates, the catalogue and the funnel hazards.

Kept apart from the code so a reader can see the whole world the generator simulates on one page. Money is in the
shop currency, durations in seconds unless a name says otherwise, rates per day.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.schema import DEVICES, INCENTIVES, TRAFFIC_SOURCES

# -- customers -------------------------------------------------------------------------------------------------

KINDS: tuple[str, ...] = (
    "vip",
    "recurring",
    "one_time",
    "never_purchased",
    "frequent_visitor",
    "big_spender",
)
"""Latent customer kinds, named as marketers name them (a guest has kind -1)."""
VIP, RECURRING, ONE_TIME, NEVER_PURCHASED, FREQUENT_VISITOR, BIG_SPENDER = range(len(KINDS))

KIND_SHARE = np.array([0.04, 0.14, 0.22, 0.35, 0.15, 0.10])
VISIT_RATE_PER_DAY = np.array([0.12, 0.07, 0.035, 0.025, 0.25, 0.05])
"""Sessions per day inside the event window, by kind."""
SUBSCRIBER_SHARE = np.array([0.85, 0.75, 0.55, 0.90, 0.50, 0.60])
NEW_IN_WINDOW_SHARE = 0.3
"""Share of never-purchased customers whose record is created during the event window."""
AOV_MEDIAN = np.array([70.0, 60.0, 50.0, 50.0, 40.0, 190.0])
"""Median value of a customer's past orders, by kind."""
# What a session does depends on the customer only through what the shop can see before it starts: the number
# and the average value of the orders placed before the event window (the orders table), the e-mail engagement
# score (the e-mail table) and the visits of the last 30 days (the events table). The kind shapes that history
# (orders, values, visits, e-mails) and nothing else.
PRICE_SENSITIVITY_NO_ORDERS = 1.2
PRICE_SENSITIVITY_GUEST = 1.1
PRICE_SENSITIVITY_AOV_REFERENCE = 60.0
PRICE_SENSITIVITY_AOV_EXPONENT = 0.45
PRICE_SENSITIVITY_RANGE = (0.5, 1.6)
"""Price sensitivity (1 = average) of a customer with past orders: ``(aov / REFERENCE) ** -EXPONENT`` clipped to
RANGE, where ``aov`` is the mean value of the orders placed before the event window; fixed values for customers
without orders and for guests."""
TILT_AOV_EDGES = np.array([90.0, 150.0])
TILT_LEVELS = np.array([1.0, 0.65, 0.35])
"""Exponent of the catalogue draw of cart lines by the customer's average past order value (below 90, 90-150,
150 and more; no orders or guest: the first level): below 1 leans to dearer products."""

CITIES: tuple[str, ...] = (
    "Berlin", "Hamburg", "Munich", "Cologne", "Frankfurt", "Stuttgart", "Leipzig", "Dresden",
)
CITY_SHARE = np.array([0.36, 0.12, 0.11, 0.10, 0.09, 0.08, 0.07, 0.07])
CITY_MISSING_SHARE = 0.03

ORDER_HISTORY_DAYS = 700
"""Past orders (and customer records) go back up to this many days before the first session."""
EMAIL_HISTORY_DAYS = 365
"""Campaign e-mails are generated from this many days before the first session."""

# -- e-mail ----------------------------------------------------------------------------------------------------

ENGAGEMENT_LEVELS: tuple[str, ...] = ("engaged", "semi_engaged", "unengaged")
ENGAGEMENT_SHARE = np.array(
    [
        [0.65, 0.20, 0.15],  # vip
        [0.50, 0.25, 0.25],  # recurring
        [0.30, 0.30, 0.40],  # one_time
        [0.30, 0.25, 0.45],  # never_purchased
        [0.35, 0.30, 0.35],  # frequent_visitor
        [0.40, 0.30, 0.30],  # big_spender
    ]
)
"""Engagement level at the window start of a subscriber, by kind (rows sum to 1)."""
CAMPAIGN_EVERY_DAYS = 7
CAMPAIGN_TARGET_SHARE = 0.5
"""Each campaign goes to this share of subscribers (segmented sends)."""
OPEN_PROB = np.array([0.7, 0.6, 0.35])
"""Chance to open a campaign sent before the subscriber's lapse, by engagement level."""
OPEN_PROB_LAPSED = 0.01
CLICK_PROB = 0.3
"""Chance that an opened e-mail is clicked."""
NEVER_OPENED_SHARE = 0.4
"""Share of unengaged subscribers who never open anything."""
OPEN_DELAY_MEAN = 5 * 3600.0
ENGAGED_DAYS = 30.0
UNENGAGED_DAYS = 120.0
"""The engagement score (:func:`engagement_score`) is 1 up to ENGAGED_DAYS since the last open or click and 0
from UNENGAGED_DAYS on."""

# -- sessions --------------------------------------------------------------------------------------------------

GUEST_SESSION_SHARE = 0.35
DEVICE_SHARE = np.array([0.42, 0.48, 0.08, 0.02])
assert len(DEVICE_SHARE) == len(DEVICES)
SOURCE_SHARE = np.array([0.25, 0.30, 0.17, 0.08, 0.12, 0.06, 0.02])
SOURCE_SHARE_ENGAGED = np.array([0.22, 0.24, 0.12, 0.26, 0.10, 0.05, 0.01])
"""Traffic sources of engaged subscribers: e-mail brings them more often."""
assert len(SOURCE_SHARE) == len(TRAFFIC_SOURCES)
HOUR_WEIGHT = np.array(
    [2, 1, 1, 1, 1, 2, 3, 5, 6, 7, 8, 9, 10, 9, 8, 8, 8, 9, 10, 12, 13, 12, 8, 4], dtype=float
)
"""Relative number of sessions starting in each UTC hour."""

INTENTS: tuple[str, ...] = ("browse", "consider", "buy")
BROWSE, CONSIDER, BUY = range(len(INTENTS))
ORDER_GROUPS: tuple[str, ...] = ("guest", "no_orders", "one_order", "two_to_nine", "ten_plus")
"""Groups of customers by the orders they placed before the event window."""
INTENT_SHARE = np.array(
    [
        [0.60, 0.28, 0.12],  # guest
        [0.62, 0.28, 0.10],  # no orders
        [0.55, 0.30, 0.15],  # one order
        [0.45, 0.35, 0.20],  # 2-9 orders
        [0.35, 0.35, 0.30],  # 10 or more (VIP)
    ]
)
"""Intent shares of a session by order group, for an average engagement and no recent visits; the logits move
with the covariates below."""
INTENT_ENGAGEMENT = np.array([0.0, 0.3, 0.8])
"""Logit shift per unit of (engagement score - 0.5), by intent."""
INTENT_PER_VISIT = np.array([0.0, -0.05, -0.12])
"""Logit shift per visit of the last 30 days (at most VISITS_CAP): frequent visitors mostly browse."""
VISITS_CAP = 10
INTENT_SOURCE = np.array(
    [
        [0.0, 0.0, 0.2],    # direct
        [0.0, 0.0, 0.0],    # organic
        [0.0, 0.1, 0.3],    # paid
        [0.0, 0.2, 0.4],    # email
        [0.0, -0.2, -0.4],  # social
        [0.0, 0.0, 0.0],    # referral
        [0.0, 0.0, 0.0],    # unknown
    ]
)
"""Logit shift by traffic source (rows) and intent (columns)."""
CART_PROB = np.array([0.03, 0.15, 0.55])
"""Chance that a session builds a cart, by latent intent."""
VIEWS_MEAN = np.array([3.0, 4.5, 1.8])
"""Mean number of product views before the first add (or in the whole visit), by intent: buyers go straight to
the product, considerers compare."""
VIEWS_PER_VISIT = 0.1
"""Extra mean views per visit of the last 30 days (at most VISITS_CAP): habitual visitors look around more."""
PRE_CART_GAP_MEAN = 40.0

# -- catalogue -------------------------------------------------------------------------------------------------

CATEGORY_MEDIAN_PRICE: dict[str, float] = {
    "electronics.smartphone": 95.0,
    "electronics.audio.headphone": 45.0,
    "computers.peripherals.mouse": 22.0,
    "apparel.shoes": 55.0,
    "apparel.tshirt": 18.0,
    "home.kitchen.cookware": 32.0,
    "home.decor": 24.0,
    "beauty.skincare": 16.0,
    "sports.fitness": 28.0,
    "kids.toys": 20.0,
    "books": 12.0,
    "accessories.bag": 48.0,
}
N_PRODUCTS = 3000
PRICE_SPREAD = 0.45
"""Standard deviation of log price around the category median."""
POPULARITY_EXPONENT = 0.9

# -- cart plans ------------------------------------------------------------------------------------------------

MAX_ITEMS = 4
EXTRA_ITEMS_MEAN = 0.7
"""Items beyond the first: Poisson with this mean, capped at MAX_ITEMS - 1."""
QUANTITY_SHARE = np.array([0.8, 0.15, 0.05])
"""Chance of 1, 2 or 3 units per line."""
REMOVE_PROB = 0.15
"""Chance that a cart of several lines removes one of them."""

FREE_SHIPPING_THRESHOLD = 60.0
SHIPPING_FEE = 5.9
ACCOUNT_REQUIRED_PROB = 0.3

VALUE_EDGES = np.array([0.0, 20.0, 35.0, 45.0, 52.0, 56.0, 60.0, 75.0, 100.0, 150.0, 250.0, np.inf])
"""Price bands of the cart value at checkout: the shopper weighs a cart by its band, not to the cent. The bands
below FREE_SHIPPING_THRESHOLD are finer near it, where the shipping fee hurts most."""
VALUE_LEVEL = np.array([14.0, 27.0, 40.0, 48.5, 54.0, 58.0, 67.0, 87.0, 122.0, 195.0, 350.0])
"""The value the shopper has in mind for each band (its price reluctance, fee pain and discount size)."""
N_BANDS = len(VALUE_LEVEL)
assert len(VALUE_EDGES) == N_BANDS + 1 and FREE_SHIPPING_THRESHOLD in VALUE_EDGES

# -- funnel slots ----------------------------------------------------------------------------------------------
# A cart session walks these slots in order from its first add_to_cart; its plan says which are active.

SLOT_EVENTS: tuple[str, ...] = (
    "add_to_cart", "view_item", "add_to_cart", "view_item", "add_to_cart", "view_item", "add_to_cart",
    "remove_from_cart", "view_cart", "begin_checkout", "add_shipping_info", "add_payment_info", "purchase",
)
ADD_SLOTS: tuple[int, ...] = (0, 2, 4, 6)
VIEW_SLOTS: tuple[int, ...] = (1, 3, 5)
REMOVE_SLOT, VIEW_CART, BEGIN_CHECKOUT, ADD_SHIPPING, ADD_PAYMENT, PURCHASE = range(7, 13)
N_SLOTS = len(SLOT_EVENTS)
MAJOR = np.array([s >= VIEW_CART for s in range(N_SLOTS)])
"""Checkout-path slots, where the incentives act and the shopper weighs the whole purchase."""

SLOT_GAP_MEAN = np.array([25, 45, 25, 45, 25, 45, 25, 20, 20, 30, 70, 60, 40], dtype=float)
"""Mean seconds from the previous event to the event of each slot."""
ACCOUNT_EXTRA_SECONDS = 90.0
"""Extra mean time to reach add_shipping_info when an account must be created."""


@dataclass(frozen=True)
class Hazards:
    """Coefficients of the exit hazards; logits are log-odds of leaving before the slot's event."""

    base: tuple[float, ...] = (
        0.0, -3.0, -3.3, -3.0, -3.3, -3.0, -3.3, -3.3, -1.3, -1.0, -1.6, -1.8, -2.2,
    )
    weight_minor: float = 0.4
    """Weight of the shopper's general reluctance on the cart-building slots (where price does not act yet)."""
    intent: tuple[float, float, float] = (1.4, 0.3, -0.9)
    loyalty_per_log_order: float = -0.3
    no_orders: float = 0.35
    per_visit: float = 0.06
    """Per visit of the last 30 days (at most VISITS_CAP): habitual browsers leave more."""
    guest: float = 0.35
    device: tuple[float, ...] = (0.0, 0.3, 0.1, 0.15)
    source: tuple[float, ...] = (-0.15, 0.0, 0.2, -0.3, 0.4, 0.05, 0.0)
    unengaged: float = 0.5
    price_per_log_value: float = 0.3
    """On the checkout slots, per unit of log(band value / reference_value), times the price sensitivity."""
    reference_value: float = 50.0
    # account step, at add_shipping_info
    account_guest: float = 1.4
    account_new: float = 0.9
    account_known: float = 0.25
    # shipping fee, at add_payment_info (and half of it at purchase)
    fee_any: float = 0.5
    fee_near: float = 1.5
    fee_near_scale: float = 8.0
    """The near-threshold pain decays with the amount missing to free shipping, on this scale."""
    fee_at_purchase: float = 0.5
    # interruptions, per slot
    interrupt: tuple[float, ...] = (0.025, 0.05, 0.035, 0.03)
    interrupt_minor: float = 0.4
    interrupt_account: float = 0.03


@dataclass(frozen=True)
class Incentives:
    """True effects of the incentives (logit shifts on the checkout slots unless said otherwise)."""

    discount: tuple[float, float, float] = (0.12, 0.20, 0.26)
    """Shift per unit of discount responsiveness for 5, 10 and 15 % off."""
    discount_engaged_floor: float = 0.2
    """An engaged customer responds this much of an unengaged one."""
    discount_never_purchased: float = 1.3
    discount_vip: float = 0.6
    discount_mobile: float = 1.2
    discount_guest_engagement: float = 0.75
    discount_value_exponent: float = 0.25
    vip_orders: int = 10
    early_access_vip: float = 0.5
    early_access_other: float = 0.02
    gift_vip: float = 0.45
    gift_other: float = 0.04
    reminder_return_logit: float = 1.2
    discount_max: float = 2.5
    """Cap on discount responsiveness, so no shopper is moved implausibly far."""


ARMS: tuple[str, ...] = ("none", *INCENTIVES)
NONE, REMINDER, FREE_SHIPPING, DISCOUNT_5, DISCOUNT_10, DISCOUNT_15, EARLY_ACCESS, GIFT = range(len(ARMS))
DISCOUNT_RATE = {DISCOUNT_5: 0.05, DISCOUNT_10: 0.10, DISCOUNT_15: 0.15}
GUEST_ARMS: tuple[int, ...] = (NONE, FREE_SHIPPING, DISCOUNT_5, DISCOUNT_10, DISCOUNT_15, GIFT)
"""Arms a guest can get: no reminder (no address) and no early access (no account)."""
EXPERIMENT_SHARE = 0.3


@dataclass(frozen=True)
class Returns:
    """Come-back after an interruption: who returns, and how long after the session's last event."""

    base: float = -1.0
    per_log_order: float = 0.3
    engagement: float = 0.9
    intent: tuple[float, float, float] = (-0.6, 0.0, 0.5)
    min_delay: float = 900.0
    """Seconds; a return order comes at least this long after the last event."""
    delay_mean: float = 8 * 3600.0
    """Mean of the exponential part of the delay, in seconds."""
    gap_mean: float = 20.0
    gap_max: float = 150.0
    """Seconds between the events of a return session (capped, so it fits in ``min_delay``)."""
