"""Payload rows of an inbox store's blocks laid end to end, so one gather reads rows of many calls."""

from __future__ import annotations

import numpy as np

from dmarl_des.net.payloads import PayloadBlock

__all__ = ["PayloadArena"]


class PayloadArena:
    """Copies of the stacked payload rows of registered blocks, in registration order.

    Blocks are registered in the order of their numbers in the store. While every registered
    block is a plain numeric stack of one shape and dtype, ``gather`` reads the payloads of any
    rows with one fancy index; after a block that is not (objects, other shape or dtype) it
    answers None until the next ``rebuild``.
    """

    __slots__ = ("_base", "_count", "_rows", "_size", "uniform")

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        """Forget every block."""
        self._rows: np.ndarray | None = None
        self._size = 0  # rows used in _rows
        self._base = np.empty(64, dtype=np.int64)  # block number -> its first row
        self._count = 0  # blocks registered
        self.uniform = True

    def register(self, block: PayloadBlock) -> None:
        """Add the next block (numbered ``count`` before the call)."""
        if not self.uniform:
            return
        stack = block.stack
        rows = self._rows
        if (
            stack is None
            or block.objects
            or stack.dtype == object
            or (
                rows is not None
                and (stack.shape[1:] != rows.shape[1:] or stack.dtype != rows.dtype)
            )
        ):
            self.uniform = False
            self._rows = None
            return
        k, base, need = self._count, self._size, self._size + stack.shape[0]
        if rows is None or need > rows.shape[0]:
            grown = np.empty((max(need, 2 * base, 256), *stack.shape[1:]), dtype=stack.dtype)
            if rows is not None:
                grown[:base] = rows[:base]
            self._rows = rows = grown
        rows[base:need] = stack
        if k == self._base.size:
            self._base = np.concatenate([self._base, np.empty(k, dtype=np.int64)])
        self._base[k] = base
        self._size = need
        self._count = k + 1

    def rebuild(self, blocks: list[PayloadBlock]) -> None:
        """Start over with ``blocks`` (numbered in list order)."""
        self.clear()
        for block in blocks:
            self.register(block)

    def renumber(self, used: np.ndarray, blocks: list[PayloadBlock]) -> None:
        """The store kept the blocks numbered ``used`` (ascending) as ``blocks`` 0, 1, ...: their
        rows stay where they are until the rows of dropped blocks outnumber the kept ones."""
        kept = sum(b.rows for b in blocks)
        if not self.uniform or self._size > 2 * kept + 4096:
            self.rebuild(blocks)
            return
        self._base[: used.size] = self._base[used]
        self._count = used.size

    def gather(self, blocks: np.ndarray, entries: np.ndarray) -> np.ndarray | None:
        """The payloads of entries ``entries`` of blocks ``blocks`` as a new ``[M, ...]`` array,
        or None when the blocks are not uniform."""
        if not self.uniform or self._rows is None:
            return None
        return self._rows[self._base[blocks] + entries]
