"""Stable grouping of messages by small integer keys (receivers, delivery buckets) with radix passes."""

from __future__ import annotations

import numpy as np

__all__ = ["stable_order"]

_WORD = 1 << 16


def stable_order(keys: np.ndarray) -> np.ndarray:
    """The permutation that sorts integer ``keys`` stably (equal keys keep their order).

    numpy sorts 16-bit integers stably with a radix sort, far faster than its stable sort of
    64-bit integers; keys spanning up to 2**32 values take two such passes (low word first).
    """
    if keys.size < 2:
        return np.arange(keys.size)
    low = keys.min()
    span = int(keys.max() - low)
    shifted = keys - low
    if span < _WORD:
        return np.argsort(shifted.astype(np.uint16), kind="stable")
    if span < _WORD * _WORD:
        order = np.argsort((shifted & (_WORD - 1)).astype(np.uint16), kind="stable")
        high = (shifted[order] >> 16).astype(np.uint16)
        return order[np.argsort(high, kind="stable")]
    return np.argsort(keys, kind="stable")
