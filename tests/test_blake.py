"""The compiled BLAKE2b draws against hashlib's, and the batch exploration draws against the service's."""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pytest

from serving.batch_policy import exploration_draws_batch
from serving.blake import blake2b_draws
from serving.uplift_policy import exploration_draws


def _hashlib_draws(texts: list[str], prefix: bytes) -> np.ndarray:
    out = []
    for t in texts:
        d = hashlib.blake2b(prefix + t.encode(), digest_size=16).digest()
        out.append((int.from_bytes(d[:8], "big") / 2**64, int.from_bytes(d[8:], "big") / 2**64))
    return np.array(out, dtype=np.float64).reshape(len(texts), 2)


# every length class: empty, short, one byte under / exactly / one over a 128-byte block, several blocks,
# multi-byte UTF-8 across a block edge
TEXTS = ["", "a", "s-123456", "x" * 111, "x" * 112, "x" * 113, "y" * 127, "y" * 128, "y" * 129, "z" * 256,
         "z" * 300, "é" * 70, "日本語のセッション" * 9, "sess\x00ion"]


@pytest.mark.parametrize("prefix", [b"", b"cartrisk-explore:", b"p" * 130])
def test_draws_equal_hashlib_for_every_length(prefix: bytes) -> None:
    assert np.array_equal(blake2b_draws(TEXTS, prefix), _hashlib_draws(TEXTS, prefix))


def test_draws_of_many_random_ids_and_of_arrow_arrays_with_an_offset() -> None:
    rng = np.random.default_rng(3)
    ids = [f"{rng.integers(0, 10**12)}-{'q' * int(rng.integers(0, 200))}" for _ in range(3000)]
    want = _hashlib_draws(ids, b"s:")
    assert np.array_equal(blake2b_draws(ids, b"s:"), want)
    for kind in (pa.string(), pa.large_string()):  # slices: the offsets do not start at the array's start
        sliced = pa.array(ids, kind).slice(1000, 500)
        assert np.array_equal(blake2b_draws(sliced, b"s:"), want[1000:1500])
    chunked = pa.chunked_array([pa.array(ids[:10]), pa.array(ids[10:20])])
    assert np.array_equal(blake2b_draws(chunked, b"s:"), want[:20])
    assert blake2b_draws([], b"s:").shape == (0, 2)


def test_missing_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="1 missing texts"):
        blake2b_draws(pa.array(["a", None]), b"s:")


def test_batch_exploration_draws_are_the_services_from_the_compiled_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    import serving.batch_policy

    calls: list[str] = []

    def counted(session_id: str) -> tuple[float, float]:
        calls.append(session_id)
        return exploration_draws(session_id)

    # the batch checks its first draws against the service's function and falls back to it when they differ:
    # more than those few calls would mean the compiled hash is wrong
    monkeypatch.setattr(serving.batch_policy, "exploration_draws", counted)
    ids = [f"session-{k}" for k in range(500)] + ["", "é" * 80]
    for given in (ids, pa.array(ids), pa.chunked_array([pa.array(ids[:7]), pa.array(ids[7:])])):
        calls.clear()
        batch = exploration_draws_batch(given)
        assert len(calls) <= 16
        assert batch.shape == (len(ids), 2)
        for k, sid in enumerate(ids):
            assert tuple(batch[k].tolist()) == exploration_draws(sid)
