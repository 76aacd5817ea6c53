"""The single-cart path gives the same features as the batch path, snapshot by snapshot."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from randomshop import random_shop

from features.definitions import FEATURE_NAMES
from features.io import Dataset
from features.online import LiveEvent, cart_features
from features.profiles import PROFILE_FIELDS, compute_profiles, prepare_shop, shop_aov
from features.sessions import session_bounds
from features.snapshots import snapshots_from_shop


def _plain(value: Any) -> Any:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def _live_events(frame: pd.DataFrame, times: np.ndarray) -> list[LiveEvent]:
    out = []
    for raw, t in zip(frame.to_dict("records"), times, strict=True):
        rec = {k: _plain(v) for k, v in raw.items()}
        val = rec.get
        out.append(
            LiveEvent(
                event_type=str(rec["event_type"]),
                time_us=int(t),
                product_id=val("product_id"),
                price=val("price"),
                quantity=val("quantity"),
                device=val("device"),
                traffic_source=val("traffic_source"),
                shipping_fee=val("shipping_fee"),
                free_shipping_threshold=val("free_shipping_threshold"),
                account_required=val("account_required"),
            )
        )
    return out


def assert_parity(ds: Dataset, limit: int | None = None) -> int:
    shop = prepare_shop(ds)
    snaps = snapshots_from_shop(shop)
    assert len(snaps) > 0
    code_of = {sid: i for i, sid in enumerate(shop.ordered.session_ids)}
    firsts, _ = session_bounds(shop.ordered.session_code)
    rows = snaps if limit is None else snaps.iloc[:limit]
    codes = np.array([code_of[s] for s in rows["session_id"]])
    starts = shop.sessions["start_us"].to_numpy()[codes]
    profiles = compute_profiles(shop, shop.session_customer[codes], starts)
    aov = shop_aov(shop, starts)
    checked = 0
    for i, (snap, code) in enumerate(zip(rows.to_dict("records"), codes, strict=True)):
        n = int(snap["n_events"])
        lo = firsts[code]
        events = _live_events(
            shop.ordered.events.iloc[lo : lo + n], shop.ordered.time_us[lo : lo + n]
        )
        guest = shop.session_customer[code] < 0
        prof = None if guest else {f: profiles[f].iloc[i] for f in PROFILE_FIELDS}
        online = cart_features(events, prof, is_guest=guest, shop_aov=float(aov[i]))
        for name in FEATURE_NAMES:
            b, o = snap[name], online[name]
            if isinstance(o, str):
                assert str(b) == o, (snap["snapshot_id"], name, b, o)
            elif math.isnan(o):
                assert b is None or math.isnan(b), (snap["snapshot_id"], name, b, o)
            else:
                assert b == o, (snap["snapshot_id"], name, b, o)  # the same arithmetic, in the same order
        checked += 1
    return checked


def test_parity_on_random_shop_with_ties_removes_and_guests() -> None:
    checked = assert_parity(random_shop(seed=1, sessions=900))
    assert checked >= 1000


def test_profiles_looked_up_on_threads_are_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    from features import profiles as profiles_module

    shop = prepare_shop(random_shop(seed=2, sessions=600))
    codes = shop.session_customer
    starts = shop.sessions["start_us"].to_numpy()
    monkeypatch.setattr(profiles_module, "PARALLEL_QUERIES", len(codes) + 1)
    serial = compute_profiles(shop, codes, starts)
    monkeypatch.setattr(profiles_module, "PARALLEL_QUERIES", 1)
    threaded = compute_profiles(shop, codes, starts)
    pd.testing.assert_frame_equal(serial, threaded)
    assert serial["sessions_30d"].notna().any()


def test_events_placed_and_scanned_on_threads_give_the_same_snapshots(monkeypatch: pytest.MonkeyPatch) -> None:
    """The canonical order and the snapshot scan split the sessions in two parts for two threads, and ids are
    numbered by the compiled pass: the same snapshots as one part on one thread with pandas' numbering, and still
    equal to the single-cart path."""
    from features import ids as ids_module
    from features import sessions as sessions_module
    from features import snapshots as snapshots_module
    from features.snapshots import build_snapshots

    ds = random_shop(seed=3, sessions=700)
    ds.events = ds.events.sample(frac=1.0, random_state=4).reset_index(drop=True)  # out of order: sorted
    monkeypatch.setattr(sessions_module, "PARALLEL_ROWS", 10**12)
    monkeypatch.setattr(snapshots_module, "PARALLEL_ROWS", 10**12)
    monkeypatch.setattr(ids_module, "MIN_ROWS", 10**12)  # every id hashed by pandas
    serial = build_snapshots(ds)
    monkeypatch.setattr(sessions_module, "PARALLEL_ROWS", 1)
    monkeypatch.setattr(snapshots_module, "PARALLEL_ROWS", 1)
    monkeypatch.setattr(ids_module, "MIN_ROWS", 0)  # every id numbered by the compiled pass where it can be
    threaded = build_snapshots(ds)
    pd.testing.assert_frame_equal(serial, threaded)
    assert len(threaded) > 500
    assert assert_parity(ds) >= 500
