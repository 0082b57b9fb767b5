"""One send call as (sender, recipient) pairs: neighbour lists, per-sender filters, repeated senders."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from dmarl_des.errors import ConfigError
from dmarl_des.net.messages import MessageKind
from dmarl_des.net.payloads import PayloadBlock, check_rows, payload_list
from dmarl_des.net.topology import Topology

__all__ = [
    "PairVerdicts",
    "PayloadRows",
    "apply_verdicts",
    "filter_pairs",
    "link_verdicts",
    "neighbour_pairs",
    "repeat_passes",
]

# In this module the senders of a call are ``ids`` (agent ids, in call order) and each pair
# names its sender by position in ``ids`` (``sender``, non-decreasing: sender after sender).


def neighbour_pairs(topology: Topology, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sender, dsts): each sender's current neighbours (sorted), sender after sender."""
    d = topology.uniform_degree
    if d > 0 and ids.size == 1:  # one sender: its row of the [N, d] array (a copy)
        i = int(ids[0])
        return np.zeros(d, dtype=np.int64), topology.indices[i * d : (i + 1) * d].copy()
    if d > 0:  # every neighbour list has d entries: the lists are the rows of an [N, d] array
        return np.arange(ids.size * d) // d, topology.indices.reshape(-1, d)[ids].ravel()
    first = topology.indptr[ids]
    degree = topology.indptr[ids + 1] - first
    total = int(degree.sum())
    sender = np.repeat(np.arange(ids.size), degree)
    starts = np.cumsum(degree) - degree
    dsts = topology.indices[np.repeat(first - starts, degree) + np.arange(total)]
    return sender, dsts


def repeat_passes(ids: np.ndarray, sender: np.ndarray, n: int) -> np.ndarray | None:
    """For a call in which some agent sends more than once: the occurrence number of each pair's
    sender (0 for its first broadcast, 1 for its second, ...), so that its links can serve the
    occurrences in order; None when no sender repeats."""
    if ids.size < 2 or np.bincount(ids, minlength=n).max() < 2:
        return None
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    starts = np.flatnonzero(np.concatenate(([True], sorted_ids[1:] != sorted_ids[:-1])))
    lens = np.diff(np.append(starts, ids.size))
    occurrence = np.empty(ids.size, dtype=np.int64)
    occurrence[order] = np.arange(ids.size) - np.repeat(starts, lens)
    return occurrence[sender]


def link_verdicts(
    fn: Callable[[Any, np.ndarray], Any],
    pairwise: bool,
    ids: np.ndarray,
    sender: np.ndarray,
    srcs: np.ndarray,
    dsts: np.ndarray,
) -> np.ndarray:
    """The link filter's verdict per pair: one call ``fn(srcs, dsts)`` when ``pairwise``, else
    one call ``fn(src, dsts)`` per sender that has recipients."""
    m = dsts.size
    if pairwise or ids.size == 1:
        src = srcs.copy() if pairwise else int(ids[0])
        allowed = np.asarray(fn(src, dsts.copy()), dtype=bool).ravel()
        if allowed.shape != (m,):
            raise ConfigError("link_filter", allowed.shape, f"a bool array of shape [{m}]")
        return allowed
    allowed = np.ones(m, dtype=bool)
    bounds = np.searchsorted(sender, np.arange(ids.size + 1))
    for i in np.flatnonzero(np.diff(bounds)).tolist():
        a, b = int(bounds[i]), int(bounds[i + 1])
        got = np.asarray(fn(int(ids[i]), dsts[a:b].copy()), dtype=bool).ravel()
        if got.shape != (b - a,):
            raise ConfigError("link_filter", got.shape, f"a bool array of shape [{b - a}]")
        allowed[a:b] = got
    return allowed


class PayloadRows(NamedTuple):
    """The payload of each sender of a call: its entry in ``block``, check code and size."""

    block: PayloadBlock
    entry: np.ndarray
    reason: np.ndarray
    size: np.ndarray
    kind: MessageKind | None  # for payloads a filter substitutes
    declared_size: int | None


#: fn(src, dsts, offered payloads) -> (kept dsts, their payloads); see Network._apply_outgoing.
ApplyFilter = Callable[[int, np.ndarray, list], tuple[np.ndarray, list]]


def filter_pairs(
    ids: np.ndarray,
    filtered: np.ndarray,
    sender: np.ndarray,
    dsts: np.ndarray,
    rows: PayloadRows,
    apply: ApplyFilter,
) -> tuple[np.ndarray, ...]:
    """Pass the pairs of the senders marked in ``filtered`` through the outgoing filter, one
    sender at a time, in call order; the other senders' pairs are kept as they are.

    A kept recipient offered the sender's row keeps that entry; a substituted payload is added to
    the block and checked on its own. Returns the new (sender, dsts, entries, reasons, sizes).
    """
    bounds = np.searchsorted(sender, np.arange(ids.size + 1))
    parts: list[tuple[np.ndarray, ...]] = []

    def keep(lo: int, hi: int) -> None:
        s = sender[lo:hi]
        parts.append((s, dsts[lo:hi], rows.entry[s], rows.reason[s], rows.size[s]))

    done = 0  # pairs before this position are in parts
    for i in np.flatnonzero(filtered).tolist():
        a, b = int(bounds[i]), int(bounds[i + 1])
        if a > done:
            keep(done, a)
        row = rows.block.get(int(rows.entry[i]))
        out, payloads = apply(int(ids[i]), dsts[a:b], [row] * (b - a))
        entries = np.full(out.size, rows.entry[i], dtype=np.int64)
        reasons = np.full(out.size, rows.reason[i], dtype=np.uint8)
        sizes = np.full(out.size, rows.size[i], dtype=np.int64)
        other = np.flatnonzero([p is not row for p in payloads])
        if other.size:
            e, r, z = payload_list(
                rows.block, rows.kind, [payloads[k] for k in other], rows.declared_size
            )
            entries[other], reasons[other], sizes[other] = e, r, z
        parts.append((np.full(out.size, i, dtype=np.int64), out, entries, reasons, sizes))
        done = b
    if done < sender.size:
        keep(done, sender.size)
    return tuple(np.concatenate([p[c] for p in parts]) for c in range(5))


class PairVerdicts(NamedTuple):
    """What a vectorized outgoing filter decided for the pairs of one send call.

    ``keep`` [P] marks the pairs sent (False: omitted, never sent; None: every pair kept);
    ``tampered`` holds the positions (among all P pairs, ascending) of kept pairs whose payload
    is replaced, and ``rows`` [T, *row shape] (the stack's dtype) their replacements.
    """

    keep: np.ndarray | None
    tampered: np.ndarray
    rows: np.ndarray | None


def apply_verdicts(
    sender: np.ndarray, dsts: np.ndarray, rows: PayloadRows, verdicts: PairVerdicts
) -> tuple[PayloadBlock, int, tuple[np.ndarray, ...]]:
    """The send call after a vectorized filter: (block, omitted count, (sender, dsts, entries,
    reasons, sizes)). Replacement rows are appended to the block's stack (so the call stays one
    numeric stack) and checked as rows, as the per-sender path checks each payload it adds."""
    keep = verdicts.keep
    if keep is not None and keep.all():
        keep = None
    if keep is not None:
        pairs = np.flatnonzero(keep)
        sender, dsts = sender[pairs], dsts[pairs]
    entries, reasons, sizes = rows.entry[sender], rows.reason[sender], rows.size[sender]
    block = rows.block
    t = verdicts.tampered
    if t.size:
        assert block.stack is not None and verdicts.rows is not None
        if keep is not None:  # positions among the kept pairs (tampered pairs are kept)
            t = np.searchsorted(pairs, t)
        new = verdicts.rows
        stack = np.concatenate([block.stack, new])
        stack.flags.writeable = False
        block = PayloadBlock(stack)
        entries[t] = rows.block.rows + np.arange(t.size)
        reasons[t] = check_rows(rows.kind, new, rows.declared_size)
        declared = rows.declared_size
        sizes[t] = new.dtype.itemsize * math.prod(new.shape[1:]) if declared is None else declared
    omitted = 0 if keep is None else int(keep.size - pairs.size)
    return block, omitted, (sender, dsts, entries, reasons, sizes)
