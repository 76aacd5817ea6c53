"""BLAKE2b digests of many short texts at once, compiled: the exploration draws of a whole batch of carts.

The service draws a cart's exploration numbers from ``hashlib.blake2b(f"{salt}:{session_id}", digest_size=16)``
(:func:`serving.uplift_policy.exploration_draws`). Asking ``hashlib`` once per cart costs about a microsecond of
Python per cart under the interpreter lock; here the same function (RFC 7693, unkeyed, 16-byte digest) runs over
the texts' UTF-8 bytes straight from an Arrow array, on every core. ``tests/test_blake.py`` checks it against
``hashlib`` on texts of every length class (empty, one block, exactly one block, several blocks, non-ASCII).

Only the batch path imports this (numba); the scoring service does not.
"""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np
import pyarrow as pa

from features.compiled import compiled

__all__ = ["blake2b_draws"]

_IV = np.array([0x6A09E667F3BCC908, 0xBB67AE8584CAA73B, 0x3C6EF372FE94F82B, 0xA54FF53A5F1D36F1,
                0x510E527FADE682D1, 0x9B05688C2B3E6C1F, 0x1F83D9ABFB41BD6B, 0x5BE0CD19137E2179], dtype=np.uint64)
_SIGMA = np.array([
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
    [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
    [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
    [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
    [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
    [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
    [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
    [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
    [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
], dtype=np.int64)
_BLOCK = 128
_DIGEST = 16


def blake2b_draws(texts: Sequence[str] | pa.Array | pa.ChunkedArray, prefix: bytes) -> np.ndarray:
    """n x 2: per text ``t``, the 16-byte BLAKE2b digest of ``prefix + t.encode()`` read as two big-endian
    unsigned 64-bit integers, each divided by 2**64 (what ``exploration_draws`` returns). Missing texts are
    refused (a draw needs a session id; :meth:`serving.batch.BatchScorer.score` refuses carts without one)."""
    arr = texts if isinstance(texts, pa.Array | pa.ChunkedArray) else pa.array(list(texts), pa.large_string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks else pa.array([], pa.large_string())
    arr = arr.cast(pa.large_string())
    if arr.null_count:
        raise ValueError(f"{arr.null_count} missing texts: every cart needs its session id for its draws")
    _, offsets, data = arr.buffers()
    off = np.frombuffer(offsets, dtype=np.int64)[arr.offset: arr.offset + len(arr) + 1]
    raw = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, dtype=np.uint8)
    return _draws(raw, off, np.frombuffer(prefix, dtype=np.uint8))


@compiled(nogil=True)
def _rotr(x: np.uint64, n: int) -> np.uint64:  # pragma: no cover - compiled
    return (x >> np.uint64(n)) | (x << np.uint64(64 - n))


@compiled(nogil=True)
def _compress(h: np.ndarray, block: np.ndarray, v: np.ndarray, m: np.ndarray, counted: int,
              last: bool) -> None:  # pragma: no cover - compiled
    for i in range(16):
        w = np.uint64(0)
        for b in range(8):
            w |= np.uint64(block[8 * i + b]) << np.uint64(8 * b)
        m[i] = w
    for i in range(8):
        v[i] = h[i]
        v[i + 8] = _IV[i]
    v[12] ^= np.uint64(counted)
    if last:
        v[14] = ~v[14]
    for r in range(12):
        s = _SIGMA[r]
        for g in range(8):
            # columns (0,4,8,12) ... then diagonals (0,5,10,15) ...
            if g < 4:
                a, b, c, d = g, g + 4, g + 8, g + 12
            else:
                a, b, c, d = g - 4, (g - 3) % 4 + 4, (g - 2) % 4 + 8, (g - 1) % 4 + 12
            x, y = m[s[2 * g]], m[s[2 * g + 1]]
            v[a] = v[a] + v[b] + x
            v[d] = _rotr(v[d] ^ v[a], 32)
            v[c] = v[c] + v[d]
            v[b] = _rotr(v[b] ^ v[c], 24)
            v[a] = v[a] + v[b] + y
            v[d] = _rotr(v[d] ^ v[a], 16)
            v[c] = v[c] + v[d]
            v[b] = _rotr(v[b] ^ v[c], 63)
    for i in range(8):
        h[i] ^= v[i] ^ v[i + 8]


@compiled(nogil=True)
def _bswap(x: np.uint64) -> np.uint64:  # pragma: no cover - compiled
    out = np.uint64(0)
    for b in range(8):
        out = (out << np.uint64(8)) | ((x >> np.uint64(8 * b)) & np.uint64(0xFF))
    return out


@compiled(parallel=True, nogil=True)
def _draws(data: np.ndarray, offsets: np.ndarray, prefix: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    n = offsets.shape[0] - 1
    out = np.empty((n, 2))
    p = prefix.shape[0]
    scale = 1.0 / 18446744073709551616.0  # 2**-64: exact, so int / 2**64 rounds once, as Python's does
    for i in numba.prange(n):
        h = _IV.copy()
        h[0] ^= np.uint64(0x01010000 | _DIGEST)  # no key, 16-byte digest
        block = np.zeros(_BLOCK, dtype=np.uint8)
        v = np.empty(16, dtype=np.uint64)
        m = np.empty(16, dtype=np.uint64)
        start = offsets[i]
        length = p + (offsets[i + 1] - start)
        done = 0
        while True:
            take = min(_BLOCK, length - done)
            for k in range(take):
                q = done + k
                block[k] = prefix[q] if q < p else data[start + q - p]
            for k in range(take, _BLOCK):
                block[k] = 0
            done += take
            last = done >= length
            _compress(h, block, v, m, done, last)
            if last:
                break
        out[i, 0] = np.float64(_bswap(h[0])) * scale
        out[i, 1] = np.float64(_bswap(h[1])) * scale
    return out
