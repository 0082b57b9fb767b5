"""The payloads of one send call: a snapshotted stack of rows plus single payloads, checked in bulk."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dmarl_des.net.messages import (
    REJECT_REASONS,
    MessageKind,
    check_payload,
    payload_nbytes,
    snapshot,
)

__all__ = [
    "OK",
    "REASON_CODES",
    "PayloadBlock",
    "check_rows",
    "one_payload",
    "payload_list",
    "payload_rows",
]

#: Payload check outcomes as small integer codes: 0 is "ok", then REJECT_REASONS in check order.
REASON_CODES = ("ok", *REJECT_REASONS)
OK = 0
_CODE = {name: code for code, name in enumerate(REASON_CODES)}


class PayloadBlock:
    """Payload entries shared by the messages of one send call.

    Entry ``k < rows`` is row ``k`` of ``stack`` (a read-only snapshot, one row per sender); entry
    ``rows + j`` is ``objects[j]`` (a snapshotted single payload). Each message refers to its entry
    by number, so recipients of one payload share it.
    """

    __slots__ = ("objects", "rows", "stack")

    def __init__(self, stack: np.ndarray | None = None) -> None:
        self.stack = stack
        self.rows = 0 if stack is None else int(stack.shape[0])
        self.objects: list[Any] = []

    def add(self, payload: Any) -> int:
        """Append a (snapshotted) single payload; returns its entry number."""
        self.objects.append(payload)
        return self.rows + len(self.objects) - 1

    def get(self, entry: int) -> Any:
        """The payload of one entry (a row is a read-only array view, also for 0-d rows)."""
        if self.stack is not None and entry < self.rows:
            return self.stack[entry, ...]
        return self.objects[entry - self.rows]


def snapshot_rows(payloads: np.ndarray) -> np.ndarray:
    """A read-only copy of a stack of payload rows (later changes by the senders do not travel)."""
    stack = np.array(payloads, copy=True)
    stack.flags.writeable = False
    return stack


def check_rows(kind: MessageKind | None, stack: np.ndarray, size: int | None) -> np.ndarray:
    """Reason codes for every row of a numeric (non-object) stack, as ``check_payload`` gives them.

    ``size`` is the declared size of each message (None: the row's own bytes). Only finiteness
    and the bound differ between rows; the other checks hold for the stack as a whole.
    """
    s = stack.shape[0]
    row_bytes = stack.dtype.itemsize * math.prod(stack.shape[1:])
    nbytes = row_bytes if size is None else size
    if kind is None:
        reason = "unknown_kind"
    elif max(nbytes, row_bytes) > kind.max_bytes:
        reason = "oversize"
    elif kind.shape is not None and tuple(stack.shape[1:]) != kind.shape:
        reason = "wrong_shape"
    elif stack.dtype != kind.np_dtype:
        reason = "wrong_dtype"
    else:
        return _entry_codes(stack, kind.bound)
    return np.full(s, _CODE[reason], dtype=np.uint8)


def _entry_codes(stack: np.ndarray, bound: float) -> np.ndarray:
    """Per row: "not_finite" if an entry is NaN or infinite, else "out_of_bound" if an integer
    or float entry exceeds ``bound`` in magnitude, else "ok" (one pass when all rows are fine)."""
    s = stack.shape[0]
    codes = np.zeros(s, dtype=np.uint8)
    if not s:
        return codes
    if bound == math.inf or stack.dtype.kind not in "iuf":
        if stack.dtype.kind == "f" and not np.isfinite(stack).all():
            finite = np.isfinite(stack.reshape(s, -1)).all(axis=1)
            codes[~finite] = _CODE["not_finite"]
        return codes
    rows = stack.reshape(s, -1)
    if rows.shape[1] == 0:
        return codes
    # a row's entries all lie in [-bound, bound] iff its largest and smallest do (NaN spreads to
    # both and fails the test); converting them to float64 is exact, so the comparison is the one
    # of every entry in float64, at the cost of two passes and no float64 copy of the stack
    high = rows.max(axis=1).astype(np.float64)
    low = rows.min(axis=1).astype(np.float64)
    within = (high <= bound) & (low >= -bound)  # False for NaN
    if within.all():
        return codes
    codes[~within] = _CODE["out_of_bound"]
    if stack.dtype.kind == "f":
        outside = np.flatnonzero(~within)
        finite = np.isfinite(rows[outside]).all(axis=1)
        codes[outside[~finite]] = _CODE["not_finite"]
    return codes


# -- preparing the payloads of a send call ------------------------------------------------------
# Each returns the block and, per entry, the payload check code and the size in bytes (the
# declared ``size``, or the payload's own bytes when None).


def one_payload(
    kind: MessageKind | None, payload: Any, size: int | None
) -> tuple[PayloadBlock, int, int]:
    """One payload shared by all recipients: (block with entry 0, reason code, size)."""
    shot = snapshot(payload)
    nbytes = payload_nbytes(shot) if size is None else size
    if isinstance(shot, np.ndarray):
        block = PayloadBlock(shot[None])
    else:
        block = PayloadBlock()
        block.add(shot)
    return block, _CODE[check_payload(kind, shot, nbytes)], nbytes


def payload_list(
    block: PayloadBlock, kind: MessageKind | None, payloads: list, size: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Add single payloads to ``block`` (one snapshot per distinct object); returns the entry,
    reason code and size of each."""
    entries, codes, sizes = [], [], []
    seen: dict[int, tuple[int, int, int]] = {}
    for p in payloads:
        hit = seen.get(id(p))
        if hit is None:
            shot = snapshot(p)
            nbytes = payload_nbytes(shot) if size is None else size
            hit = seen[id(p)] = (block.add(shot), _CODE[check_payload(kind, shot, nbytes)], nbytes)
        entries.append(hit[0])
        codes.append(hit[1])
        sizes.append(hit[2])
    return (
        np.asarray(entries, dtype=np.int64),
        np.asarray(codes, dtype=np.uint8),
        np.asarray(sizes, dtype=np.int64),
    )


def payload_rows(
    kind: MessageKind | None, payloads: np.ndarray, size: int | None, copy: bool = True
) -> tuple[PayloadBlock, np.ndarray, np.ndarray, np.ndarray]:
    """A stack with one payload row per sender: (block, entry, reason code and size per row).

    A numeric stack is snapshotted and checked as a whole (entry i is row i); an object array
    falls back to one payload at a time (its rows are heterogeneous payloads). With ``copy =
    False`` a numeric stack is its own snapshot (a read-only view of it: its owner hands it over
    and never writes it again).
    """
    s = payloads.shape[0]
    if payloads.dtype == object:
        block = PayloadBlock()
        entries, codes, sizes = payload_list(block, kind, [payloads[i] for i in range(s)], size)
        return block, entries, codes, sizes
    if copy:
        stack = snapshot_rows(payloads)
    else:
        stack = payloads.view()
        stack.flags.writeable = False
    nbytes = stack.dtype.itemsize * math.prod(stack.shape[1:]) if size is None else size
    return (
        PayloadBlock(stack),
        np.arange(s, dtype=np.int64),
        check_rows(kind, stack, size),
        np.full(s, nbytes, dtype=np.int64),
    )
