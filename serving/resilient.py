"""Profile lookups that never hold up scoring: a circuit breaker in front of the profile store.

The scoring service asks :class:`ResilientProfiles` for a customer's profile. When the store answers, the
lookup gives the profile (or "unknown customer"). When the store fails (:class:`StoreUnavailable`: refused,
timed out, gone, empty) the lookup answers *degraded* at once - no profile, the service scores the cart
without history and flags it - counts the failure by reason and opens the circuit: for ``retry_after_s`` no
lookup touches the store (each answers degraded in about a microsecond). After that one lookup probes the store
again; if it answers, the circuit closes and lookups are normal again, with nobody restarting anything.

The time budget of a store call is set by the store itself (``open_store(url, timeout_ms=budget_ms)``: socket
timeouts, no retries); lookups that still take longer than ``budget_ms`` are counted as ``over_budget``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from serving.profile_store import Profile, ProfileStore, StoreUnavailable, open_store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Lookup:
    """The answer for one customer.

    * ``profile`` - the stored profile, or None (unknown customer, or store unavailable);
    * ``degraded`` - True when the store could not be asked or did not answer: score without history and say so;
    * ``known`` - True when the store has a profile of the customer.
    """

    profile: Profile | None
    degraded: bool
    known: bool


_DEGRADED = Lookup(profile=None, degraded=True, known=False)
_UNKNOWN = Lookup(profile=None, degraded=False, known=False)


class ResilientProfiles:
    """Thread-safe profile lookups with a circuit breaker and a cached copy of the shop statistics.

    ``degraded_count`` counts degraded answers; :meth:`stats` gives every counter, including failures per
    reason (``connection``, ``timeout``, ``empty``, ..., and ``circuit_open`` for answers given without asking
    the store).
    """

    def __init__(
        self,
        store: ProfileStore,
        budget_ms: float = 5.0,
        retry_after_s: float = 1.0,
        shop_refresh_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if budget_ms <= 0 or retry_after_s < 0 or shop_refresh_s < 0:
            raise ValueError("budget_ms must be positive; retry_after_s and shop_refresh_s not negative")
        self.store = store
        self.budget_ms = float(budget_ms)
        self.retry_after_s = float(retry_after_s)
        self.shop_refresh_s = float(shop_refresh_s)
        self._clock = clock
        self._lock = threading.Lock()
        self._open_until: float | None = None  # None: circuit closed
        self._probing = False
        self._last_error: str | None = None
        self.lookups = 0
        self.degraded_count = 0
        self.unknown_count = 0
        self.over_budget_count = 0
        self.reasons: Counter[str] = Counter()
        self._shop: dict[str, Any] | None = None
        self._shop_loaded_at = -math.inf
        self._shop_refreshing = False
        self.shop_failures = 0

    @classmethod
    def open(
        cls, url: str, budget_ms: float = 5.0, retry_after_s: float = 1.0, shop_refresh_s: float = 60.0
    ) -> ResilientProfiles:
        """Open the store at ``url`` with a timeout of ``budget_ms`` (ValueError for a bad URL; the store is
        not contacted, so the service starts even while it is down)."""
        return cls(open_store(url, timeout_ms=budget_ms), budget_ms, retry_after_s, shop_refresh_s)

    # ------------------------------------------------------------------------------------------ lookups

    @property
    def circuit_open(self) -> bool:
        """True while lookups are answered degraded without asking the store."""
        return self._open_until is not None

    def lookup(self, customer_id: str) -> Lookup:
        """The customer's profile, "unknown", or a degraded answer; never raises for store failures."""
        started = time.perf_counter()
        with self._lock:
            self.lookups += 1
            probing = False
            if self._open_until is not None:
                if self._probing or self._clock() < self._open_until:
                    self.degraded_count += 1
                    self.reasons["circuit_open"] += 1
                    return _DEGRADED
                self._probing = probing = True  # this call tries the store; others stay degraded meanwhile
        try:
            profile = self.store.get(customer_id)
        except StoreUnavailable as exc:
            self._failed(exc.reason, str(exc))
            return _DEGRADED
        except Exception as exc:  # a bug or an unexpected client error: degrade, but say it loudly
            log.exception("profile lookup failed unexpectedly")
            self._failed("unexpected", f"{type(exc).__name__}: {exc}")
            return _DEGRADED
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        with self._lock:
            if self._open_until is not None or probing:
                log.warning("profile store %s answers again; lookups recovered", self.store.url)
                self._open_until = None
                self._shop_loaded_at = -math.inf  # the store may hold a new snapshot: refresh shop stats
            self._probing = False
            if elapsed_ms > self.budget_ms:
                self.over_budget_count += 1
            if profile is None:
                self.unknown_count += 1
                return _UNKNOWN
        return Lookup(profile=profile, degraded=False, known=True)

    def _failed(self, reason: str, message: str) -> None:
        with self._lock:
            self.degraded_count += 1
            self.reasons[reason] += 1
            was_open = self._open_until is not None
            self._open_until = self._clock() + self.retry_after_s
            self._probing = False
            self._last_error = message
        if not was_open:
            log.warning(
                "profile store unavailable (%s); answering degraded for %.1f s: %s", reason, self.retry_after_s, message
            )

    # ------------------------------------------------------------------------------------------ shop stats

    def shop_stats(self) -> dict[str, Any]:
        """The snapshot's shop statistics, refreshed every ``shop_refresh_s``; the last good copy while the
        store is down; ``shop_aov``/``as_of_us`` NaN if never loaded."""
        now = self._clock()
        with self._lock:
            due = (
                now - self._shop_loaded_at >= self.shop_refresh_s
                and not self._shop_refreshing
                and (self._open_until is None or now >= self._open_until)
            )
            if due:
                self._shop_refreshing = True
        if due:
            try:
                fresh = self.store.shop_stats()
            except Exception as exc:  # StoreUnavailable or unexpected: keep the last good copy
                with self._lock:
                    self.shop_failures += 1
                    self._shop_refreshing = False
                    self._shop_loaded_at = now - self.shop_refresh_s + min(self.retry_after_s, self.shop_refresh_s)
                log.warning("cannot refresh shop statistics: %s", exc)
            else:
                with self._lock:
                    self._shop = fresh
                    self._shop_loaded_at = now
                    self._shop_refreshing = False
        shop = self._shop
        if shop is None:
            return {"shop_aov": math.nan, "as_of_us": math.nan}
        return dict(shop)

    @property
    def shop_aov(self) -> float:
        """The shop's average order value for the feature code (NaN when unknown)."""
        value = self.shop_stats().get("shop_aov")
        return math.nan if value is None else float(value)

    # ------------------------------------------------------------------------------------------ reporting

    def stats(self) -> dict[str, Any]:
        """Counters for health and metrics endpoints."""
        with self._lock:
            return {
                "store": self.store.url,
                "lookups": self.lookups,
                "degraded": self.degraded_count,
                "unknown": self.unknown_count,
                "over_budget": self.over_budget_count,
                "reasons": dict(self.reasons),
                "circuit_open": self._open_until is not None,
                "last_error": self._last_error,
                "shop_loaded": self._shop is not None,
                "shop_failures": self.shop_failures,
            }

    def close(self) -> None:
        """Close the underlying store."""
        self.store.close()
