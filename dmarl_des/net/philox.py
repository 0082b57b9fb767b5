"""Counter-based random draws (Philox4x32-10), vectorized over counters with numpy."""

from __future__ import annotations

import numpy as np

_MULT = np.array([[0xD2511F53], [0xCD9E8D57]], dtype=np.uint64)
_BUMP = np.array([[0x9E3779B9], [0xBB67AE85]], dtype=np.uint64)
_MASK = np.uint64(0xFFFFFFFF)
_SHIFT = np.uint64(32)
_ROUNDS = 10


def philox4x32(counter: np.ndarray, key: tuple[int, int]) -> np.ndarray:
    """Apply Philox4x32-10 to ``counter`` ([4, m] words < 2**32) under a two-word ``key``.

    Returns a [4, m] uint64 array of 32-bit output words. Equal (counter, key) give equal output;
    the function is a bijection of the counter for a fixed key.
    """
    x = np.asarray(counter, dtype=np.uint64) & _MASK
    if x.ndim != 2 or x.shape[0] != 4:
        raise ValueError(f"counter must have shape [4, m], got {x.shape}")
    k = np.array([[int(key[0]) & 0xFFFFFFFF], [int(key[1]) & 0xFFFFFFFF]], dtype=np.uint64)
    even = x[0::2]  # words 0 and 2 are multiplied
    odd = x[1::2]
    for r in range(_ROUNDS):
        if r:
            k = (k + _BUMP) & _MASK
        prod = _MULT * even
        # word0 = hi(M1*c2) ^ c1 ^ k0, word2 = hi(M0*c0) ^ c3 ^ k1,
        # word1 = lo(M1*c2), word3 = lo(M0*c0)
        even = (prod >> _SHIFT)[::-1] ^ odd ^ k
        odd = (prod & _MASK)[::-1]
    out = np.empty_like(x)
    out[0::2] = even
    out[1::2] = odd
    return out


def split64(values: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
    """Split signed or unsigned 64-bit integers into (low, high) 32-bit words."""
    v = np.asarray(values).astype(np.int64).view(np.uint64)
    return v & _MASK, v >> _SHIFT


def philox_uniform(
    key: tuple[int, int],
    c0: np.ndarray | int,
    c1: np.ndarray | int,
    c2: np.ndarray | int,
    c3: np.ndarray | int,
) -> np.ndarray:
    """Uniform floats in [0, 1) with 53 random bits, one per counter (c0, c1, c2, c3), broadcast."""
    parts = np.broadcast_arrays(*(np.asarray(c, dtype=np.uint64) for c in (c0, c1, c2, c3)))
    out = philox4x32(np.stack([np.ravel(p) for p in parts]), key)
    hi = (out[0] >> np.uint64(5)).astype(np.float64)
    lo = (out[1] >> np.uint64(6)).astype(np.float64)
    u = (hi * 67108864.0 + lo) / 9007199254740992.0
    return u.reshape(parts[0].shape)
