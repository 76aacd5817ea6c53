"""The online customer profile store: one snapshot of every customer's profile, read per request.

A profile is what :func:`features.profiles.compute_profiles` gives for a customer (the fields of
:data:`features.profiles.PROFILE_FIELDS`); the scoring service reads it by customer id and passes it to
:func:`features.online.cart_features`. ``cartrisk profiles sync`` (:func:`sync_profiles`) writes the snapshot.

Two back ends, chosen by URL (:func:`open_store`):

* ``sqlite:///path/to/profiles.db`` - the embedded default (``Settings.profile_store_uri``): one table keyed by
  customer id, WAL mode; a sync replaces the table's contents in one transaction.
* ``redis://host:port/db`` (or ``rediss://``; optional ``?prefix=name``, default ``cartrisk:profiles``): one
  string key per customer in a versioned namespace, ``<prefix>:v:<version>:c:<customer id>``, plus
  ``<prefix>:v:<version>:shop``; the key ``<prefix>:current`` names the live version. A sync writes a new
  version, switches the pointer and then deletes every other version. Reads go through a small Lua script that
  follows the pointer and fetches the profile in one round trip, so a reader never sees half a sync.

Both store a profile as compact JSON (missing values left out). Reading gives back a dict with every field of
:data:`PROFILE_FIELDS`: numbers as ``float``, ``city`` as ``str``, and ``None`` for a missing value (NaN in the
profile frame) - :mod:`features.online` reads ``None`` as NaN.

Any failure of the store (connection refused, timeout, server gone, no snapshot written yet, unreadable data)
raises :class:`StoreUnavailable`, whose message names the store URL (password redacted).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self, runtime_checkable
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

import numpy as np
import pandas as pd

from features.profiles import PROFILE_FIELDS

if TYPE_CHECKING:
    from features.io import Dataset

Profile = dict[str, float | str | None]
"""A stored profile: every field of :data:`PROFILE_FIELDS`; numbers as float, ``city`` as str, None = missing."""

NUMERIC_FIELDS: tuple[str, ...] = tuple(f for f in PROFILE_FIELDS if f != "city")
DEFAULT_REDIS_PREFIX = "cartrisk:profiles"
SYNC_TIMEOUT_MS = 30_000.0
"""Store timeout used by :func:`sync_profiles`: a bulk write may take a while, a lookup may not."""

_CHUNK = 2_000  # profiles per Redis pipeline / SQLite batch
_READ_CHUNK = 500  # ids per multi-get
_SQLITE_WRITE_BUSY_MS = 30_000
_LOCK_TTL_MS = 60_000  # Redis sync lock; refreshed with every chunk written

log = logging.getLogger(__name__)


class StoreUnavailable(Exception):
    """The profile store cannot answer now. ``reason`` is a short tag for counting (``connection``,
    ``timeout``, ``missing``, ``empty``, ``corrupt``, ``busy``, ``error``); ``url`` the store (redacted)."""

    def __init__(self, message: str, url: str, reason: str = "error") -> None:
        super().__init__(f"profile store {url}: {message}")
        self.url = url
        self.reason = reason


@runtime_checkable
class ProfileStore(Protocol):
    """What the service and the sync need from a profile store."""

    url: str
    """The store's URL with any password redacted (for messages)."""

    def get(self, customer_id: str) -> Profile | None:
        """The profile of one customer; None when the snapshot has no record of them."""
        ...

    def get_many(self, customer_ids: Iterable[str]) -> dict[str, Profile]:
        """Profiles of the customers found (unknown ids are left out)."""
        ...

    def write(self, profiles: pd.DataFrame, shop: Mapping[str, object]) -> int:
        """Replace the whole snapshot atomically; ``profiles`` holds ``customer_id`` + :data:`PROFILE_FIELDS`.
        Returns the number of profiles written."""
        ...

    def shop_stats(self) -> dict[str, Any]:
        """Shop-level values of the snapshot: at least ``shop_aov`` and ``as_of_us`` (floats, NaN if unknown)."""
        ...

    def ping(self) -> None:
        """Raise :class:`StoreUnavailable` unless the store answers."""
        ...

    def close(self) -> None:
        """Release connections; safe to call twice."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


# --------------------------------------------------------------------------------------------- codec


def encode_profile(values: Mapping[str, object]) -> str:
    """Compact JSON of one profile: missing values (None, NaN, pd.NA) are left out."""
    out: dict[str, object] = {}
    for name in PROFILE_FIELDS:
        v = values.get(name)
        if v is None or v is pd.NA:
            continue
        if name == "city":
            out[name] = str(v)
            continue
        x = _compact(float(v))  # type: ignore[arg-type]
        if x is not None:
            out[name] = x
    return json.dumps(out, separators=(",", ":"), allow_nan=False)


def _compact(x: float) -> int | float | None:
    """None for NaN; whole numbers as int (shorter JSON; read back as float)."""
    if x != x:
        return None
    return int(x) if x.is_integer() and abs(x) < 2**53 else x


def decode_profile(raw: str | bytes) -> Profile:
    """A profile from :func:`encode_profile`: every field present, numbers as float, None when missing."""
    data = json.loads(raw)
    out: Profile = {}
    for name in NUMERIC_FIELDS:
        v = data.get(name)
        out[name] = None if v is None else float(v)
    city = data.get("city")
    out["city"] = None if city is None else str(city)
    return out


def _encode_frame(profiles: pd.DataFrame) -> Iterator[tuple[str, str]]:
    """(customer id, JSON) for every row of a profile frame; NaN / NA become missing."""
    missing = [f for f in ("customer_id", *PROFILE_FIELDS) if f not in profiles.columns]
    if missing:
        raise ValueError(f"profile frame lacks columns {missing}")
    if profiles["customer_id"].duplicated().any():
        raise ValueError("profile frame has duplicate customer ids")
    ids = profiles["customer_id"].astype("string").tolist()
    numeric = {f: profiles[f].to_numpy(dtype=np.float64, na_value=np.nan) for f in NUMERIC_FIELDS}
    city = profiles["city"].astype("string").tolist()
    dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
    for i, cid in enumerate(ids):
        if cid is pd.NA:
            raise ValueError("profile frame has a missing customer_id")
        rec: dict[str, object] = {}
        for name, col in numeric.items():
            x = _compact(float(col[i]))
            if x is not None:
                rec[name] = x
        if city[i] is not pd.NA:
            rec["city"] = str(city[i])
        yield str(cid), dumps(rec)


def _shop_record(shop: Mapping[str, object], customers: int, version: str) -> str:
    rec: dict[str, object] = {}
    for k, v in shop.items():
        if isinstance(v, float) and math.isnan(v):
            rec[k] = None
        elif hasattr(v, "item"):  # numpy scalar
            item = v.item()
            rec[k] = None if isinstance(item, float) and math.isnan(item) else item
        else:
            rec[k] = v
    rec["customers"] = customers
    rec["version"] = version
    rec["written_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return json.dumps(rec, separators=(",", ":"), allow_nan=False, default=str)


def _decode_shop(raw: str | bytes) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(raw)
    for key in ("shop_aov", "as_of_us"):
        v = data.get(key)
        data[key] = math.nan if v is None else float(v)
    return data


def _new_version() -> str:
    """Sortable by time, unique enough for concurrent writers."""
    return f"{time.time_ns() // 1000:d}-{secrets.token_hex(3)}"


# --------------------------------------------------------------------------------------------- URLs


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def open_store(url: str, timeout_ms: float = 5.0) -> ProfileStore:
    """Open the profile store at ``url`` (nothing is contacted yet).

    ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` or ``redis[s]://host:port/db[?prefix=p]``.
    ``timeout_ms`` bounds every store call (Redis socket and connect timeouts, SQLite busy wait); a call that
    takes longer raises :class:`StoreUnavailable`. Raises ValueError for any other URL.
    """
    if not isinstance(url, str) or not url.strip():
        raise ValueError("profile store URL is empty; use sqlite:///path/to/profiles.db or redis://host:port/db")
    if timeout_ms <= 0:
        raise ValueError(f"timeout_ms must be positive, got {timeout_ms}")
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "sqlite":
        return SqliteProfileStore(url, timeout_ms)
    if scheme in ("redis", "rediss"):
        return RedisProfileStore(url, timeout_ms)
    raise ValueError(
        f"unsupported profile store URL {redact_url(url)!r}: use sqlite:///path/to/profiles.db or redis://host:port/db"
    )


class _StoreBase:
    """Context-manager support shared by the stores."""

    url: str

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"


# --------------------------------------------------------------------------------------------- SQLite


class SqliteProfileStore(_StoreBase):
    """Profiles in an SQLite file: ``profiles(customer_id PRIMARY KEY, data JSON)`` plus a ``meta`` table.

    One connection shared by all threads behind a lock (a lookup holds it for a few microseconds). Reading
    never creates the file: a missing file or table is :class:`StoreUnavailable` (run a sync first).
    """

    def __init__(self, url: str, timeout_ms: float = 5.0) -> None:
        if not url.lower().startswith("sqlite:///"):
            raise ValueError(f"bad SQLite URL {url!r}: expected sqlite:///path/to/profiles.db")
        path = unquote(url[len("sqlite:///") :].split("?", 1)[0])
        if not path or path == ":memory:":
            raise ValueError(f"bad SQLite URL {url!r}: expected a file path (sqlite:///path/to/profiles.db)")
        self.path = Path(path)
        self.url = url
        self.timeout_s = timeout_ms / 1000.0
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _fail(self, exc: Exception) -> StoreUnavailable:
        text = str(exc)
        if "unable to open" in text:
            if not self.path.exists():
                return StoreUnavailable(
                    f"no profile database at {self.path} (run `cartrisk profiles sync`)", self.url, "missing"
                )
            return StoreUnavailable(f"cannot open {self.path}: {text}", self.url, "error")
        if "no such table" in text:
            return StoreUnavailable(
                f"no profile snapshot in {self.path} (run `cartrisk profiles sync`)", self.url, "empty"
            )
        if "locked" in text or "busy" in text:
            return StoreUnavailable(f"database busy beyond the timeout: {text}", self.url, "timeout")
        return StoreUnavailable(text, self.url, "error")

    def _connect(self, create: bool) -> sqlite3.Connection:
        """The shared connection (call with the lock held). ``create``: make the folder and file if needed."""
        if self._conn is not None:
            return self._conn
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        mode = "rwc" if create else "rw"
        uri = f"file:{quote(self.path.resolve().as_posix())}?mode={mode}"
        conn = sqlite3.connect(uri, uri=True, timeout=self.timeout_s, isolation_level=None, check_same_thread=False)
        self._conn = conn
        return conn

    def _run(self, action: Callable[[sqlite3.Connection], Any], create: bool = False) -> Any:
        with self._lock:
            try:
                return action(self._connect(create))
            except (sqlite3.Error, OSError) as exc:
                raise self._fail(exc) from exc

    def get(self, customer_id: str) -> Profile | None:
        """One profile by customer id (None when unknown)."""
        row = self._run(
            lambda c: c.execute("SELECT data FROM profiles WHERE customer_id = ?", (customer_id,)).fetchone()
        )
        if row is None:
            return None
        return self._decode(row[0])

    def get_many(self, customer_ids: Iterable[str]) -> dict[str, Profile]:
        """Profiles of the customers found."""
        ids = list(dict.fromkeys(customer_ids))
        out: dict[str, Profile] = {}
        for start in range(0, len(ids), _READ_CHUNK):
            chunk = ids[start : start + _READ_CHUNK]
            sql = f"SELECT customer_id, data FROM profiles WHERE customer_id IN ({','.join('?' * len(chunk))})"

            def fetch(conn: sqlite3.Connection, q: str = sql, args: list[str] = chunk) -> list[Any]:
                return conn.execute(q, args).fetchall()

            for cid, data in self._run(fetch):
                out[cid] = self._decode(data)
        return out

    def _decode(self, raw: str) -> Profile:
        try:
            return decode_profile(raw)
        except (ValueError, TypeError, AttributeError) as exc:
            raise StoreUnavailable(f"unreadable profile record: {exc}", self.url, "corrupt") from exc

    def write(self, profiles: pd.DataFrame, shop: Mapping[str, object]) -> int:
        """Replace the snapshot in one transaction (readers see the old one until it commits)."""
        records = list(_encode_frame(profiles))
        version = _new_version()
        shop_json = _shop_record(shop, len(records), version)

        def replace(conn: sqlite3.Connection) -> int:
            conn.execute(f"PRAGMA busy_timeout = {_SQLITE_WRITE_BUSY_MS}")
            try:
                conn.execute("PRAGMA journal_mode=WAL")  # readers keep reading the old snapshot meanwhile
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS profiles "
                    "(customer_id TEXT PRIMARY KEY, data TEXT NOT NULL) WITHOUT ROWID"
                )
                conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
                conn.execute("BEGIN IMMEDIATE")
                try:
                    conn.execute("DELETE FROM profiles")
                    for start in range(0, len(records), _CHUNK):
                        conn.executemany(
                            "INSERT OR REPLACE INTO profiles (customer_id, data) VALUES (?, ?)",
                            records[start : start + _CHUNK],
                        )
                    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('shop', ?)", (shop_json,))
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            finally:
                conn.execute(f"PRAGMA busy_timeout = {int(self.timeout_s * 1000)}")
            return len(records)

        result: int = self._run(replace, create=True)
        return result

    def shop_stats(self) -> dict[str, Any]:
        """The shop record of the snapshot (``shop_aov``, ``as_of_us``, ``customers``, ``version``, ...)."""
        row = self._run(lambda c: c.execute("SELECT value FROM meta WHERE key = 'shop'").fetchone())
        if row is None:
            raise StoreUnavailable(
                f"no profile snapshot in {self.path} (run `cartrisk profiles sync`)", self.url, "empty"
            )
        try:
            return _decode_shop(row[0])
        except (ValueError, TypeError) as exc:
            raise StoreUnavailable(f"unreadable shop record: {exc}", self.url, "corrupt") from exc

    def ping(self) -> None:
        """Open the file (it must exist) and run a trivial query."""
        self._run(lambda c: c.execute("SELECT 1").fetchone())

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.close()
                finally:
                    self._conn = None


# --------------------------------------------------------------------------------------------- Redis

# KEYS[1] = pointer key; ARGV[1] = "<prefix>:v:"; ARGV[2..] = key suffixes ("c:<id>", "shop").
# Returns false when no snapshot was ever written, else {version, value-or-false, ...}.
_READ_LUA = """
local v = redis.call('GET', KEYS[1])
if not v then return false end
local base = ARGV[1] .. v .. ':'
local keys = {}
for i = 2, #ARGV do keys[i - 1] = base .. ARGV[i] end
local out = {v}
if #keys == 1 then
  out[2] = redis.call('GET', keys[1])
elseif #keys > 1 then
  local vals = redis.call('MGET', unpack(keys))
  for i = 1, #vals do out[i + 1] = vals[i] end
end
return out
"""

# Switch the pointer (KEYS[2]) to ARGV[1] only while we still hold the sync lock (KEYS[1]).
_SWITCH_LUA = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[1])
return 1
"""

# Delete a key only if it still holds our token (releasing the sync lock).
_UNLOCK_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)


class RedisProfileStore(_StoreBase):
    """Profiles in Redis: one JSON string per customer in a versioned namespace behind a pointer key.

    The client fails fast: socket and connect timeouts are ``timeout_ms`` and there are no retries, so a
    lookup against a dead or slow server raises :class:`StoreUnavailable` within about ``timeout_ms``.
    """

    def __init__(self, url: str, timeout_ms: float = 5.0) -> None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        prefix = DEFAULT_REDIS_PREFIX
        rest: list[tuple[str, str]] = []
        for key, value in query:
            if key == "prefix":
                prefix = value
            else:
                rest.append((key, value))
        if not prefix:
            raise ValueError(f"bad Redis URL {redact_url(url)!r}: empty prefix")
        if not parts.hostname:
            raise ValueError(f"bad Redis URL {redact_url(url)!r}: expected redis://host:port/db")
        client_url = urlunsplit(parts._replace(query=urlencode(rest)))
        self.url = redact_url(url)
        self.prefix = prefix
        self.timeout_s = timeout_ms / 1000.0
        self._pointer = f"{prefix}:current"
        self._lock_key = f"{prefix}:sync-lock"
        self._base = f"{prefix}:v:"
        try:
            self._client = redis.Redis.from_url(
                client_url,
                socket_timeout=self.timeout_s,
                socket_connect_timeout=self.timeout_s,
                retry=Retry(NoBackoff(), 0),
                retry_on_timeout=False,
                health_check_interval=0,
                decode_responses=False,
            )
        except ValueError as exc:
            raise ValueError(f"bad Redis URL {self.url!r}: {exc}") from exc
        self._read = self._client.register_script(_READ_LUA)
        self._unlock = self._client.register_script(_UNLOCK_LUA)
        self._switch = self._client.register_script(_SWITCH_LUA)

    def _fail(self, exc: Exception) -> StoreUnavailable:
        import redis

        if isinstance(exc, redis.TimeoutError):
            return StoreUnavailable(f"timed out after {self.timeout_s * 1000:g} ms: {exc}", self.url, "timeout")
        if isinstance(exc, redis.ConnectionError):
            return StoreUnavailable(f"cannot reach Redis: {exc}", self.url, "connection")
        return StoreUnavailable(f"Redis error: {exc}", self.url, "error")

    def _call(self, action: Callable[[], Any]) -> Any:
        import redis

        try:
            return action()
        except (redis.RedisError, OSError) as exc:
            raise self._fail(exc) from exc

    def _read_keys(self, suffixes: list[str]) -> list[Any]:
        """Follow the pointer and read the suffixes in one round trip; values (bytes or None) in order."""
        result = self._call(lambda: self._read(keys=[self._pointer], args=[self._base, *suffixes]))
        if result is None:
            raise StoreUnavailable("no profile snapshot (run `cartrisk profiles sync`)", self.url, "empty")
        values = list(result[1:])
        values += [None] * (len(suffixes) - len(values))  # Lua drops trailing nils
        return values

    def _decode(self, raw: bytes) -> Profile:
        try:
            return decode_profile(raw)
        except (ValueError, TypeError, AttributeError) as exc:
            raise StoreUnavailable(f"unreadable profile record: {exc}", self.url, "corrupt") from exc

    def get(self, customer_id: str) -> Profile | None:
        """One profile by customer id (None when unknown): one round trip."""
        raw = self._read_keys([f"c:{customer_id}"])[0]
        return None if raw is None else self._decode(raw)

    def get_many(self, customer_ids: Iterable[str]) -> dict[str, Profile]:
        """Profiles of the customers found, read in chunks (each chunk one round trip, one snapshot)."""
        ids = list(dict.fromkeys(customer_ids))
        out: dict[str, Profile] = {}
        for start in range(0, len(ids), _READ_CHUNK):
            chunk = ids[start : start + _READ_CHUNK]
            for cid, raw in zip(chunk, self._read_keys([f"c:{c}" for c in chunk]), strict=True):
                if raw is not None:
                    out[cid] = self._decode(raw)
        return out

    def shop_stats(self) -> dict[str, Any]:
        """The shop record of the live snapshot."""
        raw = self._read_keys(["shop"])[0]
        if raw is None:
            raise StoreUnavailable("the live snapshot has no shop record", self.url, "corrupt")
        try:
            return _decode_shop(raw)
        except (ValueError, TypeError) as exc:
            raise StoreUnavailable(f"unreadable shop record: {exc}", self.url, "corrupt") from exc

    def write(self, profiles: pd.DataFrame, shop: Mapping[str, object]) -> int:
        """Write a new version, switch the pointer to it, then delete every other version.

        Only one sync may write at a time (a lock key guards it; a second writer gets StoreUnavailable
        with reason ``busy``). If the write fails before the switch, readers keep the old snapshot.
        """
        version = _new_version()
        lock_ms = _LOCK_TTL_MS  # extended with every chunk: a crashed sync frees the lock within a minute
        if not self._call(lambda: self._client.set(self._lock_key, version, nx=True, px=lock_ms)):
            raise StoreUnavailable(
                f"another sync is writing (lock key {self._lock_key!r}); try again later", self.url, "busy"
            )
        base = f"{self._base}{version}:"
        count = 0
        switched = False
        try:
            pipe = self._client.pipeline(transaction=False)
            for cid, data in _encode_frame(profiles):
                pipe.set(f"{base}c:{cid}", data)
                count += 1
                if count % _CHUNK == 0:
                    pipe.pexpire(self._lock_key, lock_ms)
                    self._call(pipe.execute)
            pipe.set(f"{base}shop", _shop_record(shop, count, version))
            self._call(pipe.execute)
            if not self._call(lambda: self._switch(keys=[self._lock_key, self._pointer], args=[version])):
                raise StoreUnavailable("lost the sync lock to another writer; snapshot not switched", self.url, "busy")
            switched = True
            try:
                self._delete_versions(keep=version)
            except StoreUnavailable as exc:  # the new snapshot is live; the next sync removes the old keys
                log.warning("new snapshot %s is live but old versions were not all deleted: %s", version, exc)
        except BaseException:
            if not switched:
                self._try_delete_prefix(base)
            raise
        finally:
            with contextlib.suppress(Exception):  # the lock expires by itself
                self._unlock(keys=[self._lock_key], args=[version])
        return count

    def _delete_versions(self, keep: str) -> None:
        """Delete every key of every version but ``keep`` (the old snapshot and leftovers of failed syncs)."""
        keep_prefix = f"{self._base}{keep}:".encode()
        pattern = _glob_escape(self._base) + "*"

        def sweep() -> None:
            batch: list[bytes] = []
            for key in self._client.scan_iter(match=pattern, count=1000):
                if not key.startswith(keep_prefix):
                    batch.append(key)
                    if len(batch) >= 1000:
                        self._client.unlink(*batch)
                        batch = []
            if batch:
                self._client.unlink(*batch)

        self._call(sweep)

    def _try_delete_prefix(self, base: str) -> None:
        try:
            keys = list(self._client.scan_iter(match=_glob_escape(base) + "*", count=1000))
            for start in range(0, len(keys), 1000):
                self._client.unlink(*keys[start : start + 1000])
        except Exception:
            pass  # best effort: the next sync removes leftovers

    def ping(self) -> None:
        """PING the server."""
        self._call(self._client.ping)

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a broken client must not raise
            self._client.close()


# --------------------------------------------------------------------------------------------- sync


def preflight(store_url: str, timeout_ms: float = SYNC_TIMEOUT_MS) -> str:
    """Check a sync target before the heavy work: the URL is valid (ValueError) and a Redis server answers
    (StoreUnavailable); an SQLite file is created by the write. Returns the redacted URL."""
    store = open_store(store_url, timeout_ms=timeout_ms)
    try:
        if isinstance(store, RedisProfileStore):
            store.ping()
        return store.url
    finally:
        store.close()


def profile_snapshot(
    ds: Dataset, as_of: datetime | None = None, label_window_hours: float | None = None
) -> tuple[pd.DataFrame, dict[str, float | str]]:
    """Profiles of every known customer and the shop record, as of ``as_of`` or the end of the data.

    The default moment is the data's end + 1 microsecond, so the last events count (only what happened
    strictly before the moment counts).
    """
    from features.online import datetime_to_us
    from features.profiles import compute_profiles, prepare_shop, shop_aov

    if label_window_hours is None:
        from cartrisk.settings import get_settings

        label_window_hours = get_settings().label_window_hours
    shop = prepare_shop(ds, label_window_hours)
    as_of_us = datetime_to_us(as_of) if as_of is not None else int(shop.end_us) + 1
    n = len(shop.customers)
    frame = compute_profiles(shop, np.arange(n, dtype=np.int64), np.full(n, as_of_us, dtype=np.int64))
    frame.insert(0, "customer_id", shop.customers.to_numpy(dtype=object))
    aov = float(shop_aov(shop, np.array([as_of_us], dtype=np.int64))[0])
    stats: dict[str, float | str] = {
        "shop_aov": aov,
        "as_of_us": float(as_of_us),
        "as_of": us_to_iso(as_of_us),
        "label_window_hours": float(label_window_hours),
    }
    return frame, stats


def us_to_iso(us: int) -> str:
    """Microseconds since the epoch as an ISO 8601 UTC time."""
    seconds, micro = divmod(int(us), 1_000_000)
    return datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=micro).isoformat()


def sync_profiles(
    data: Path | Dataset,
    store_url: str,
    as_of: datetime | None = None,
    *,
    label_window_hours: float | None = None,
    timeout_ms: float = SYNC_TIMEOUT_MS,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Compute every known customer's profile and replace the store's snapshot with them.

    ``data``: a data folder (loaded with the settings' bad-row limit) or a loaded Dataset. ``as_of``: the
    moment of the profiles (default: end of the data + 1 us). Returns a summary: customers, seconds, store,
    as_of, as_of_us, shop_aov. Raises ValueError (bad URL), StoreUnavailable, or the loader's errors.
    """
    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    preflight(store_url, timeout_ms)  # fail before the heavy work
    store = open_store(store_url, timeout_ms=timeout_ms)
    try:
        if isinstance(data, Path | str):
            from cartrisk.settings import get_settings
            from features.io import load_dataset

            say(f"loading {data}")
            ds = load_dataset(Path(data), max_bad_share=get_settings().max_bad_row_share)
        else:
            ds = data
        say("computing profiles")
        frame, shop = profile_snapshot(ds, as_of, label_window_hours)
        say(f"writing {len(frame):,} profiles to {store.url}")
        written = store.write(frame, shop)
    finally:
        store.close()
    return {
        "customers": written,
        "seconds": round(time.perf_counter() - started, 3),
        "store": store.url,
        "as_of": shop["as_of"],
        "as_of_us": int(float(shop["as_of_us"])),
        "shop_aov": None if math.isnan(aov := float(shop["shop_aov"])) else aov,
    }
