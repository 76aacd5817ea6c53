"""One compiled pass over the events for what pandas and numpy would do in many.

The event log is put in canonical order (session, time, file position) by :func:`canonical_events`, the per-session
facts of :func:`features.sessions.session_table` come from :func:`session_facts`, and every session signal of a
cart snapshot (running counts and values, the furthest funnel step, the latest shipping terms) from
:func:`snapshot_scan`: one loop each, in the events' order, adding one event at a time as the single-cart path
(:func:`features.online.session_features`) does, so both give the same numbers bit for bit.
"""

from __future__ import annotations

import numpy as np

from features.compiled import compiled

SCAN_COLUMNS: tuple[str, ...] = (
    "added_qty", "removed_qty", "n_adds", "n_removes", "n_item_views", "n_products_viewed", "n_events",
    "net_value", "max_step", "shipping_fee", "free_shipping_threshold", "account_required",
)
"""The columns of :func:`snapshot_scan`'s matrix, in order."""


@compiled(nogil=True)
def bucket_starts(key: np.ndarray, n_keys: int) -> np.ndarray:  # pragma: no cover - compiled
    """Where each key's items start once sorted by key (``n_keys + 1`` bounds; 0 <= key < n_keys): the first half
    of a counting sort."""
    start = np.zeros(n_keys + 1, dtype=np.int64)
    for i in range(key.shape[0]):
        start[key[i] + 1] += 1
    for c in range(n_keys):
        start[c + 1] += start[c]
    return start


@compiled(nogil=True)
def canonical_events(code: np.ndarray, time_us: np.ndarray, event_code: np.ndarray, customer_code: np.ndarray,
                     start: np.ndarray, code_lo: int, code_hi: int, order: np.ndarray, out_code: np.ndarray,
                     out_time: np.ndarray, out_event: np.ndarray,
                     out_customer: np.ndarray) -> None:  # pragma: no cover - compiled
    """Put the events in canonical order (session code, time, position): fill ``order`` with the positions that
    sort them (``np.lexsort((arange, time, code))``) and the ``out_*`` arrays with their codes, times, event
    codes and customer codes in that order. Codes are dense (0 to n_codes - 1, each used), so the sorted codes
    are 0, 0, 1, 2, 2, ...; ``start`` is where each code's events go (:func:`bucket_starts`).

    Only the events of codes ``code_lo <= code < code_hi`` are placed (their part of the outputs), so two threads
    can each place half of the sessions. A counting sort by code (stable, so each session keeps its file order)
    that reads the events in file order and writes each where it goes (the caller picks narrow types: less
    memory to write), then each session whose times go back somewhere is sorted by time with a stable insertion
    sort (logs are mostly in time order)."""
    n = code.shape[0]
    fill = start[:-1].copy()
    for i in range(n):
        c = code[i]
        if c < code_lo or c >= code_hi:
            continue
        p = fill[c]
        fill[c] = p + 1
        order[p] = i
        out_time[p] = time_us[i]
        out_event[p] = event_code[i]
        out_customer[p] = customer_code[i]
    for c in range(code_lo, code_hi):
        lo, hi = start[c], start[c + 1]
        for j in range(lo, hi):
            out_code[j] = c
        in_order = True
        for j in range(lo + 1, hi):  # the sorted times, read in sequence: cheap when nothing is to be done
            if out_time[j] < out_time[j - 1]:
                in_order = False
                break
        if in_order:
            continue
        for j in range(lo + 1, hi):  # a stable insertion sort of the session by time
            pos, t = order[j], out_time[j]
            k = j - 1
            while k >= lo and out_time[k] > t:  # strictly later only: ties keep the file order
                order[k + 1] = order[k]
                out_time[k + 1] = out_time[k]
                k -= 1
            order[k + 1] = pos
            out_time[k + 1] = t
        for j in range(lo, hi):
            r = order[j]
            out_event[j] = event_code[r]
            out_customer[j] = customer_code[r]


@compiled(nogil=True)
def session_facts(code: np.ndarray, time_us: np.ndarray, event_code: np.ndarray, customer_code: np.ndarray,
                  n_sessions: int, add: int, purchase: int) -> tuple[np.ndarray, ...]:  # pragma: no cover
    """Per session (events in canonical order): start, end, first purchase time and first add-to-cart time
    (float, inf when none), and the customer code of its first event that names one (-1 when none)."""
    start = np.empty(n_sessions, dtype=np.int64)
    end = np.empty(n_sessions, dtype=np.int64)
    purchase_us = np.full(n_sessions, np.inf)
    first_cart = np.full(n_sessions, np.inf)
    customer = np.full(n_sessions, -1, dtype=np.int64)
    for i in range(code.shape[0]):
        s = code[i]
        if i == 0 or code[i - 1] != s:
            start[s] = time_us[i]
        end[s] = time_us[i]
        e = event_code[i]
        if e == purchase and purchase_us[s] == np.inf:
            purchase_us[s] = time_us[i]
        elif e == add and first_cart[s] == np.inf:
            first_cart[s] = time_us[i]
        if customer[s] < 0 and customer_code[i] >= 0:
            customer[s] = customer_code[i]
    return start, end, purchase_us, first_cart, customer


@compiled(nogil=True)
def snapshot_scan(code: np.ndarray, event_code: np.ndarray, source: np.ndarray, quantity: np.ndarray,
                  quantity_missing: np.ndarray, price: np.ndarray, product: np.ndarray, n_products: int,
                  fee: np.ndarray, threshold: np.ndarray, account: np.ndarray, account_missing: np.ndarray,
                  step_of: np.ndarray, is_snapshot: np.ndarray, add: int, remove: int, view: int, purchase: int,
                  latest_only: bool) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """The cart snapshots of a shop's events (canonical order, sessions contiguous): the positions of the
    snapshot events, and per snapshot the columns of :data:`SCAN_COLUMNS`, each the running value over the
    session's events up to and including the snapshot event.

    ``code`` and ``event_code`` are in canonical order; the other event columns in the source's order, and event
    ``i`` of the canonical order is ``source[i]`` of the source (reading them there costs no reordered copies).
    A snapshot is an event of a snapshot type (``is_snapshot[event code]``) once the session has an
    add-to-cart; with ``latest_only``, only each session's last snapshot with a positive net cart value.
    ``product`` is a product code (-1 when none, else below ``n_products``): a product counts once, at its first
    ``view_item`` in the session. ``code``, ``event_code`` and ``source`` may be a part of the events that holds
    whole sessions (two threads scan one part each). ``price``, ``fee`` and ``threshold`` are NaN where the event
    does not say; ``quantity`` (whole numbers) and ``account`` (booleans) are read as they are held, beside a mask
    of the rows where they are missing (no float copy of either). A missing quantity counts as one unit and a
    missing price as zero; for ``fee``, ``threshold`` and ``account`` the latest said counts.
    """
    n = code.shape[0]
    bound = 0
    for i in range(n):
        if is_snapshot[event_code[i]]:
            bound += 1
    seen_in = np.full(n_products, -1, dtype=np.int64)  # the session that last viewed each product
    rows = np.empty(bound, dtype=np.int64)
    out = np.empty((bound, 12), dtype=np.float64)
    k = 0
    pending = False  # latest_only: a snapshot of the current session is kept at row k
    added_qty = removed_qty = added_value = removed_value = max_step = 0.0
    n_adds = n_removes = n_views = n_viewed = n_events = 0
    fee_now = threshold_now = account_now = np.nan
    for i in range(n):
        s = code[i]
        if i == 0 or code[i - 1] != s:
            if pending:
                k += 1
                pending = False
            added_qty = removed_qty = added_value = removed_value = max_step = 0.0
            n_adds = n_removes = n_views = n_viewed = n_events = 0
            fee_now = threshold_now = account_now = np.nan
        e = event_code[i]
        r = source[i]
        n_events += 1
        if e in (add, remove):
            q = 1.0 if quantity_missing[r] else np.float64(quantity[r])  # missing: one unit
            p = price[r]
            if p != p:  # missing: free
                p = 0.0
            if e == add:
                n_adds += 1
                added_qty += q
                added_value += p * q
            else:
                n_removes += 1
                removed_qty += q
                removed_value += p * q
        elif e == view:
            n_views += 1
            item = product[r]
            if item >= 0 and seen_in[item] != s:
                seen_in[item] = s
                n_viewed += 1
        if e != purchase and step_of[e] > max_step:
            max_step = step_of[e]
        if fee[r] == fee[r]:
            fee_now = fee[r]
        if threshold[r] == threshold[r]:
            threshold_now = threshold[r]
        if not account_missing[r]:
            account_now = 1.0 if account[r] else 0.0
        if not is_snapshot[e] or n_adds == 0:
            continue
        net = added_value - removed_value
        if latest_only:
            if net <= 0:
                continue
            pending = True
        rows[k] = i
        row = out[k]
        row[0] = added_qty
        row[1] = removed_qty
        row[2] = n_adds
        row[3] = n_removes
        row[4] = n_views
        row[5] = n_viewed
        row[6] = n_events
        row[7] = net
        row[8] = max_step
        row[9] = fee_now
        row[10] = threshold_now
        row[11] = account_now
        if not latest_only:
            k += 1
    if pending:
        k += 1
    return rows[:k].copy(), out[:k].copy()


@compiled(nogil=True)
def key_time_order(key: np.ndarray, time: np.ndarray, n_keys: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Positions that sort items by (key, time), where each key's items start in that order (``n_keys + 1``
    bounds) and the items' times in that order. Keys are 0 <= key < n_keys. A counting sort by key that carries
    the times along (so that checking a key's items are in time order reads them in sequence), then each key's
    items sorted by time where they are not in time order already (a stable merge sort)."""
    n = key.shape[0]
    start = bucket_starts(key, n_keys)
    fill = start[:-1].copy()
    order = np.empty(n, dtype=np.int64)
    sorted_time = np.empty(n, dtype=time.dtype)
    for i in range(n):
        c = key[i]
        p = fill[c]
        order[p] = i
        sorted_time[p] = time[i]
        fill[c] = p + 1
    for c in range(n_keys):
        lo, hi = start[c], start[c + 1]
        for j in range(lo + 1, hi):
            if sorted_time[j] < sorted_time[j - 1]:
                by_time = np.argsort(sorted_time[lo:hi], kind="mergesort")
                order[lo:hi] = order[lo:hi][by_time]
                sorted_time[lo:hi] = sorted_time[lo:hi][by_time]
                break
    return order, start, sorted_time


@compiled(nogil=True)
def as_of_bounds(start: np.ndarray, sorted_time: np.ndarray, query_key: np.ndarray, query_time: np.ndarray,
                 inclusive: bool) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """For each query, the sorted positions (the order of :func:`key_time_order`, whose ``start`` this is; the
    items' times in that order: ``sorted_time``) of the first item of its key and just after the last item of its
    key that is before the query time (at or before, ``inclusive``). The search reads the times in sorted order,
    one read per step, not the items' positions and then their times (two reads, the second anywhere)."""
    q = query_key.shape[0]
    first = np.empty(q, dtype=np.int64)
    stop = np.empty(q, dtype=np.int64)
    for j in range(q):
        k = query_key[j]
        lo, hi = start[k], start[k + 1]
        first[j] = lo
        t = query_time[j]
        while lo < hi:  # the first item at (strict) or after (inclusive) the query time
            mid = (lo + hi) >> 1
            it = sorted_time[mid]
            if it < t or (inclusive and it == t):
                lo = mid + 1
            else:
                hi = mid
        stop[j] = lo
    return first, stop


@compiled(nogil=True)
def plain_text(offsets: np.ndarray, data: np.ndarray, valid: np.ndarray) -> bool:  # pragma: no cover - compiled
    """True when no present string of an Arrow text array (its offsets and data; ``valid``: which rows are
    present) is empty or could start or end with whitespace: its first and last bytes are printable ASCII other
    than a space. Any other byte there (a control character, a space, or the start
    or end of a multi-byte character, which may be Unicode whitespace) answers False, and the caller strips the
    text."""
    for r in range(offsets.shape[0] - 1):
        if not valid[r]:
            continue
        lo, hi = offsets[r], offsets[r + 1]
        if hi <= lo:
            return False
        a, b = data[lo], data[hi - 1]
        if a <= 0x20 or a >= 0x7F or b <= 0x20 or b >= 0x7F:
            return False
    return True
