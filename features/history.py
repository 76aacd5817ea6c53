"""Frequency, value and engagement features from a stored profile, in batch (arrays).

The single-cart path has the same formulas on plain floats in :mod:`features.online`; a parity test keeps the
two equal. ``t_us`` is the snapshot time; the profile was taken as of the session start.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from features.sessions import US_PER_DAY


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    ok = np.isfinite(den) & (den > 0) & np.isfinite(num)
    np.divide(num, den, out=out, where=ok)
    return out


def _days(t_us: np.ndarray, then_us: np.ndarray) -> np.ndarray:
    return (np.asarray(t_us, dtype=np.float64) - np.asarray(then_us, dtype=np.float64)) / US_PER_DAY


def history_features(
    profile: Mapping[str, np.ndarray],
    t_us: np.ndarray,
    cart_value: np.ndarray,
    shop_aov: np.ndarray,
) -> dict[str, np.ndarray]:
    """History features of :data:`features.definitions.FEATURES`, from profile columns (NaN for guests)."""
    orders = np.asarray(profile["orders_count"], dtype=np.float64)
    aov = _ratio(profile["lifetime_value"], orders)
    return {
        "sessions_7d": np.asarray(profile["sessions_7d"], dtype=np.float64),
        "sessions_30d": np.asarray(profile["sessions_30d"], dtype=np.float64),
        "sessions_90d": np.asarray(profile["sessions_90d"], dtype=np.float64),
        "past_carts": np.asarray(profile["past_carts"], dtype=np.float64),
        "past_carts_abandoned": np.asarray(profile["past_carts_abandoned"], dtype=np.float64),
        "past_abandon_rate": _ratio(profile["past_carts_abandoned"], profile["past_carts_settled"]),
        "days_since_last_visit": _days(t_us, profile["last_visit_us"]),
        "days_since_first_visit": _days(t_us, profile["first_visit_us"]),
        "orders_count": orders,
        "days_since_last_order": _days(t_us, profile["last_order_us"]),
        "lifetime_value": np.asarray(profile["lifetime_value"], dtype=np.float64),
        "avg_order_value": aov,
        "cart_vs_customer_aov": _ratio(cart_value, aov),
        "cart_vs_shop_aov": _ratio(cart_value, shop_aov),
        "days_since_last_open": _days(t_us, profile["last_open_us"]),
        "days_since_last_click": _days(t_us, profile["last_click_us"]),
        "newsletter_subscriber": np.asarray(profile["newsletter_subscriber"], dtype=np.float64),
        "customer_age_days": _days(t_us, profile["created_at_us"]),
    }
