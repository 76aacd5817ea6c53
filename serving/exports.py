"""Lists marketers import into their tools, from a batch scoring run, written atomically.

:func:`write_exports` writes into one folder:

* ``carts.csv``: the scored carts (one row each, :data:`serving.batch.BATCH_COLUMNS`);
* ``email_<incentive>.csv`` per e-mail incentive (the reminder): ``customer_id``, ``cart_id``, ``incentive``,
  ``products`` (the product ids in the cart, ``;``-separated), ``cart_value``, ``risk``: the shape e-mail tools
  import as a list with merge fields (the shop's tool matches ``customer_id`` to the address; no address leaves the
  shop's customer table). One row per customer: a customer with several such carts is sent one e-mail, about
  the latest cart;
* ``discount_<incentive>.csv`` per discount: ``customer_id`` (empty for a guest, shown on site), ``cart_id``,
  ``code`` (a single-use voucher code, stable for the cart), ``percent_off``, ``cart_value``;
* ``onsite_<incentive>.csv`` for the other incentives shown on the site (free shipping, gift, early access, guest
  checkout): ``cart_id``, ``customer_id``, ``incentive``, ``cart_value``;
* ``audience_retargeting.csv``: one ``customer_id`` per known customer with a medium- or high-risk cart (an ad
  platform's customer list);
* ``manifest.json``: what was written, with row counts.

Atomic: everything is written to a hidden folder next to the destination and moved into place only when all files
are complete; a run that fails leaves the previous export untouched and no half-written file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from features.ids import factorize_ids, take_increasing
from features.schema import EVENT_TYPES
from features.sessions import category_codes
from serving.policy import NONE, Catalogue

__all__ = ["cart_products", "voucher_code", "write_exports", "write_text_atomic"]

_CART_EVENT_CODES = [EVENT_TYPES.index("add_to_cart"), EVENT_TYPES.index("remove_from_cart")]


def cart_products(events: pd.DataFrame, sessions: Iterable[str] | None = None) -> pd.Series:
    """Per session, the product ids still in the cart (adds minus removes, in order of first add), ``;``-joined.

    ``sessions`` limits the work to those sessions (the carts being exported). Vectorised: one sort of the cart
    events, sums per (session, product) with ``bincount``, the joins in Arrow.
    """
    event_code = category_codes(events["event_type"], EVENT_TYPES, dtype=np.int8)  # per category, not per row
    keep = np.isin(event_code, _CART_EVENT_CODES) & events["product_id"].notna().to_numpy()
    rows = np.flatnonzero(keep)
    session = take_increasing(events["session_id"], rows).astype("string")
    if sessions is not None:  # only the cart events' session ids are looked up (a small share of the log)
        ids = pa.array(session)
        wanted = pa.array(pd.Series(sessions if isinstance(sessions, pd.Series | pd.Index) else list(sessions),
                                    dtype="string")).cast(ids.type)
        hit = pc.is_in(ids, value_set=wanted).to_numpy(zero_copy_only=False)
        rows, session = rows[hit], session[hit].reset_index(drop=True)
    # only the columns needed, only at the rows kept (not a filtered copy of the whole log)
    ev = pd.DataFrame({"session_id": session, **{
        name: take_increasing(events[name], rows)
        for name in ("product_id", "event_time", "event_type", "quantity") if name in events.columns}})
    scode, session_ids = pd.factorize(ev["session_id"].astype("string"))
    pcode, product_ids = factorize_ids(ev["product_id"])  # categorical (as loading makes it): through its codes
    order = np.lexsort((pd.to_datetime(ev["event_time"], utc=True).to_numpy(dtype="datetime64[us]"), scode))
    scode, pcode = scode[order], pcode[order]
    sign = np.where((ev["event_type"] == "add_to_cart").to_numpy(dtype=bool)[order], 1.0, -1.0)
    qty = (ev["quantity"].fillna(1).clip(lower=1).to_numpy(dtype=np.float64)[order] if "quantity" in ev
           else np.ones(len(ev)))
    # (session, product) pairs in order of first appearance: contiguous per session, products by first add
    n_products = max(len(product_ids), 1)
    pair, first = pd.factorize(scode.astype(np.int64) * n_products + pcode)
    held = np.flatnonzero(np.bincount(pair, weights=sign * qty, minlength=len(first)) > 0)
    held_session = (first[held] // n_products).astype(np.int64)
    starts = np.flatnonzero(np.r_[True, np.diff(held_session) != 0]) if len(held) else np.empty(0, np.int64)
    names = pa.array(np.asarray(product_ids, dtype=object)[first[held] % n_products], pa.string())
    lists = pa.ListArray.from_arrays(pa.array(np.r_[starts, len(held)], pa.int32()), names)
    joined = pc.binary_join(lists, ";").to_numpy(zero_copy_only=False)
    index = pd.Index(np.asarray(session_ids, dtype=object)[held_session[starts]], dtype=object, name="session_id")
    return pd.Series(joined, index=index, dtype=object, name="product_id")


def voucher_code(cart_id: str, incentive: str, salt: str = "cartrisk-voucher") -> str:
    """A voucher code, the same for a cart and incentive every run (so a re-export does not issue a second one)."""
    digest = hashlib.blake2b(f"{salt}:{incentive}:{cart_id}".encode(), digest_size=5).hexdigest().upper()
    return f"{incentive.replace('_', '').upper()[:12]}-{digest}"


@contextmanager
def _staging(out: Path) -> Iterator[Path]:
    """A hidden folder in ``out``; on success its files replace those of the previous export (files the previous
    manifest listed that this export does not write are removed, so the folder never mixes two runs)."""
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=out))
    try:
        yield tmp
        previous = out / "manifest.json"
        stale = set(json.loads(previous.read_text()).get("files", {})) if previous.exists() else set()
        for path in sorted(tmp.iterdir(), key=lambda p: p.name == "manifest.json"):  # the manifest last
            os.replace(path, out / path.name)
            stale.discard(path.name)
        for name in stale:
            (out / name).unlink(missing_ok=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _csv(frame: pd.DataFrame, path: Path) -> int:
    """Write ``frame`` as CSV with Arrow's writer (C++, several times faster than ``DataFrame.to_csv`` on wide
    tables): a header, text fields in double quotes, numbers bare, missing values (and NaN) as empty fields,
    booleans as ``true``/``false``, times as ISO 8601 in UTC."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pacsv.write_csv(table, path, write_options=pacsv.WriteOptions(quoting_style="needed"))
    return len(frame)


def _for_spreadsheets(scored: pd.DataFrame) -> pd.DataFrame:
    """The scored table as people read it: money to the cent, the risk to 4 decimals, snapshot times as
    ``YYYY-MM-DD HH:MM:SS`` (UTC, to the second), which spreadsheets read as dates."""
    text_dtype = pd.StringDtype("pyarrow", na_value=np.nan)
    return scored.assign(cart_value=scored["cart_value"].round(2), risk=scored["risk"].round(4),
                         snapshot_time=pd.array(utc_texts(scored["snapshot_time"]), dtype=text_dtype))


@lru_cache(maxsize=1)
def _clock() -> pa.Array:
    """``HH:MM:SS`` of every second of a day."""
    return pa.array([f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86_400)], pa.large_string())


def utc_texts(times: pd.Series) -> pa.Array:
    """``YYYY-MM-DD HH:MM:SS`` of each time in UTC (to the second, rounded down; missing stays missing): each day
    formatted once and each second of the day taken from a table, joined by Arrow (not one Python text each)."""
    stamps = pd.to_datetime(times, utc=True)
    missing = stamps.isna().to_numpy()
    seconds = np.where(missing, 0, stamps.to_numpy(dtype="datetime64[s]", na_value=np.datetime64(0, "s"))
                       .astype(np.int64))
    day, second = np.divmod(seconds, 86_400)
    day_code, days = pd.factorize(day)
    day_texts = pa.array(pd.to_datetime(np.asarray(days), unit="D").strftime("%Y-%m-%d").tolist(), pa.large_string())
    date = pa.DictionaryArray.from_arrays(pa.array(day_code.astype(np.int32)), day_texts).cast(pa.large_string())
    clock = pa.DictionaryArray.from_arrays(pa.array(second.astype(np.int32)), _clock()).cast(pa.large_string())
    out = pc.binary_join_element_wise(date, clock, pa.scalar(" ", pa.large_string()))
    return pc.if_else(pa.array(missing), pa.scalar(None, pa.large_string()), out) if missing.any() else out


def write_exports(scored: pd.DataFrame, products: pd.Series, out: Path, catalogue: Catalogue) -> dict[str, int]:
    """Write the scored carts and the per-incentive lists into ``out`` (see the module docstring); return the row
    count of every file written."""
    written: dict[str, int] = {}
    with _staging(out) as tmp:
        written["carts.csv"] = _csv(_for_spreadsheets(scored), tmp / "carts.csv")
        given = scored[scored["incentive"] != NONE]
        for code, rows in given.groupby("incentive", sort=True):
            inc = catalogue.get(str(code))
            cart_ids = rows["cart_id"].astype(str)
            if inc.channel == "email":  # one e-mail per customer, about their latest cart
                known = rows[rows["customer_id"].notna()].sort_values("snapshot_time", kind="stable")
                known = known.drop_duplicates("customer_id", keep="last").sort_index()
                frame = pd.DataFrame({
                    "customer_id": known["customer_id"].astype(str),
                    "cart_id": known["cart_id"].astype(str),
                    "incentive": str(code),
                    "products": known["cart_id"].astype(str).map(products).fillna(""),
                    "cart_value": known["cart_value"].round(2),
                    "risk": known["risk"].round(4),
                })
                written[f"email_{code}.csv"] = _csv(frame, tmp / f"email_{code}.csv")
            elif inc.type == "discount":
                frame = pd.DataFrame({
                    "customer_id": rows["customer_id"],
                    "cart_id": cart_ids,
                    "code": [voucher_code(c, str(code)) for c in cart_ids],
                    "percent_off": inc.cost.value,
                    "cart_value": rows["cart_value"].round(2),
                })
                written[f"discount_{code}.csv"] = _csv(frame, tmp / f"discount_{code}.csv")
            else:
                frame = pd.DataFrame({"cart_id": cart_ids, "customer_id": rows["customer_id"],
                                      "incentive": str(code), "cart_value": rows["cart_value"].round(2)})
                written[f"onsite_{code}.csv"] = _csv(frame, tmp / f"onsite_{code}.csv")
        at_risk = scored[scored["risk_band"].isin(["medium", "high"]) & scored["customer_id"].notna()]
        audience = pd.DataFrame({"customer_id": at_risk["customer_id"].astype(str).drop_duplicates()})
        written["audience_retargeting.csv"] = _csv(audience, tmp / "audience_retargeting.csv")
        (tmp / "manifest.json").write_text(json.dumps({"files": written, "carts": len(scored)}, indent=1))
    return written


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder: readers see the old file or the
    new one, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
