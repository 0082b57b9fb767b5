"""Messages in flight: filed by delivery instant (or bucket), each key served by one SimPy timeout."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import numpy as np
import simpy

from dmarl_des.net.grouping import stable_order
from dmarl_des.net.payloads import PayloadBlock

__all__ = ["Arrival", "Arrivals", "InFlight", "SendCall"]


class SendCall(NamedTuple):
    """What the messages of one send call share (their send times are a table column)."""

    kind: str
    block: PayloadBlock


class Arrival(NamedTuple):
    """A delivery key's only message, as plain Python values (see Arrivals)."""

    call: SendCall
    seq: int
    src: int
    dst: int
    size: int
    attempts: int
    reason: int
    entry: int
    t_sent: float


# The in-flight table: one row per message, 8 integers (a column-major matrix [8, capacity]: a
# column is written in one contiguous go, and one gather reads every column of a set of rows)
# and the exact delivery time. ``reason`` is the payload check code (0 = ok), ``entry`` the
# payload's entry in its call's block, ``call`` the send call's number.
_INTS = ("seq", "src", "dst", "size", "attempts", "reason", "entry", "call")
_CALL = _INTS.index("call")
_SMALL = 16  # send calls up to this many messages are filed one message at a time
_FAR_BUCKET = 2.0**62
"""Largest bucket key: messages due later share it (an int64 key, far past any horizon)."""
_MIN_DEAD = 16384  # compaction waits until at least this many rows (about 1 MB) are dead


def bucket_keys(t: np.ndarray, r: float) -> np.ndarray:
    """The bucket ``b`` (int64) of each delivery time: ``(b - 1) * r < t <= b * r``."""
    # computed on whole floats in place: integers this small convert exactly
    q = t / r
    np.ceil(q, out=q)
    np.minimum(q, _FAR_BUCKET, out=q)  # due past any episode: one far bucket, no overflow
    q += q * r < t  # guard the rounding of t / r: (key - 1) * r < t <= key * r
    q -= (q - 1.0) * r >= t
    return q.astype(np.int64)


def bucket_key(t: float, r: float) -> int:
    """``bucket_keys`` of one time on Python floats: the same IEEE operations, the same key."""
    q = t / r
    q = _FAR_BUCKET if not q < _FAR_BUCKET else float(math.ceil(q))
    q += q * r < t
    q -= (q - 1.0) * r >= t
    return int(q)


@dataclass(slots=True, eq=False)
class Arrivals:
    """The messages of one delivery key, in arrival order, as aligned columns.

    ``call`` numbers each message's send call in ``calls`` (its kind and payloads);
    ``t_sent`` is each message's send time (the senders of one call may each have their own).
    """

    calls: list[SendCall]
    call: np.ndarray
    seq: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    t_due: np.ndarray
    size: np.ndarray
    attempts: np.ndarray
    reason: np.ndarray
    entry: np.ndarray
    t_sent: np.ndarray

    def take(self, sel: np.ndarray) -> Arrivals:
        """The arrivals at positions ``sel`` (same calls)."""
        return Arrivals(
            self.calls,
            self.call[sel],
            self.seq[sel],
            self.src[sel],
            self.dst[sel],
            self.t_due[sel],
            self.size[sel],
            self.attempts[sel],
            self.reason[sel],
            self.entry[sel],
            self.t_sent[sel],
        )


#: Row numbers filed under one delivery key, in filing order (hence ascending): runs of single
#: rows (lists) and ranges of rows (arrays).
_Due = list[list[int] | np.ndarray]


def _due_rows(due: _Due) -> np.ndarray:
    if len(due) == 1:
        return np.asarray(due[0], dtype=np.int64)
    return np.concatenate(due).astype(np.int64, copy=False)


def _put(out: np.ndarray, column: np.ndarray, pick: np.ndarray | None) -> None:
    """Write ``column`` (at the valid positions ``pick``; None: all; a number: the same value
    everywhere) into the table row ``out``; a column of the table's dtype is gathered straight
    into it."""
    if pick is None or not isinstance(column, np.ndarray):
        out[:] = column
    elif column.dtype == out.dtype:
        column.take(pick, out=out, mode="clip")
    else:
        out[:] = column[pick]


def _timer_delay(now: float, t_event: float) -> float:
    """The delay of a timeout made at ``now`` for a key due at ``t_event``: the event must never
    fall before ``t_event`` by rounding, so ``dt`` grows by doubling steps from one unit in its
    last place (a single ulp of dt may be far below one ulp of now)."""
    dt = max(t_event - now, 0.0)
    step = math.ulp(dt)
    while now + dt < t_event:
        dt += step
        step *= 2
    return dt


def _time_order(t: np.ndarray, width: float) -> np.ndarray:
    """The stable sorting permutation of delivery times ``t`` that span about ``width``.

    A radix pass on 16-bit quantized times leaves the times nearly sorted, which makes the exact
    stable sort that follows much cheaper; ties of exact times keep their order throughout.
    """
    if t.size < 256:  # below this a plain stable sort is cheaper (measured on fresh data)
        return np.argsort(t, kind="stable")
    q = (t - t.min()) * (65535.0 / width)  # >= 0
    np.minimum(q, 65535.0, out=q)
    first = np.argsort(q.astype(np.uint16), kind="stable")
    return first[np.argsort(t[first], kind="stable")]


class InFlight:
    """The table of messages in flight, keyed by delivery instant (exact) or bucket.

    Exact (``resolution == 0``): the key is the exact delivery time. Bucketed (``resolution =
    r > 0``): the key is the bucket ``b`` with ``(b - 1) * r < t_due <= b * r``, delivered at
    ``b * r``. A key's SimPy timeout (priority NORMAL) is created when its first message is filed;
    when it fires, ``deliver`` gets the key's messages in order of exact delivery time, then send
    order (``deliver_one`` gets a key's only message). Messages live as rows of one table (row
    numbers grow with the send order); a key holds row numbers only.
    """

    def __init__(
        self,
        env: simpy.Environment,
        resolution: float,
        deliver: Callable[[Arrivals], None],
        deliver_one: Callable[[Arrival], None],
    ) -> None:
        self.env = env
        self.resolution = resolution
        self._deliver = deliver
        self._deliver_one = deliver_one
        self._pending: dict[float | int, _Due] = {}
        self._ints = np.empty((len(_INTS), 0), dtype=np.int64)
        self._t_due = np.empty(0, dtype=np.float64)
        self._t_sent = np.empty(0, dtype=np.float64)
        self._size = 0  # rows used
        self._live = 0  # rows still in flight
        self._calls: list[SendCall] = []

    # -- filing --------------------------------------------------------------------------------

    def add(self, call: SendCall, sel: np.ndarray | None, **columns: np.ndarray) -> None:
        """File messages of one send call under their delivery keys: the positions ``sel``
        (None: all) of the aligned ``columns`` (every table column but ``call``; ``t_sent`` may
        be one number for all)."""
        t = columns["t_due"] if sel is None else columns["t_due"][sel]
        m = t.size
        self._maybe_compact()
        r = self.resolution
        if m <= _SMALL:
            self._add_small(call, m, t, columns, sel)
            return
        keys = bucket_keys(t, r) if r > 0 else t
        base = self._size
        self._calls.append(call)
        self._live += m
        pending = self._pending
        # rows are written grouped by key (stable), so that each key gets a range of rows
        order = stable_order(keys) if r > 0 else np.argsort(keys, kind="stable")
        self._append(m, columns, order if sel is None else sel[order])
        sorted_keys = keys[order]
        cuts = (sorted_keys[1:] != sorted_keys[:-1]).nonzero()[0] + 1
        bounds = [0, *cuts.tolist(), m]
        firsts = sorted_keys[bounds[:-1]].tolist()
        for key, a, b in zip(firsts, bounds[:-1], bounds[1:]):
            due = pending.get(key)
            rows = np.arange(base + a, base + b)
            if due is None:
                pending[key] = due = [rows]
                self._start_timer(key, due, key * r if r > 0 else key, base + a)
            else:
                due.append(rows)

    def _add_small(
        self,
        call: SendCall,
        m: int,
        t: np.ndarray,
        columns: dict[str, np.ndarray],
        sel: np.ndarray | None,
    ) -> None:
        """``add`` for a call of at most ``_SMALL`` messages, filed one message at a time; the
        bucket keys are computed on Python floats (the same IEEE operations as ``bucket_keys``)."""
        r = self.resolution
        base = self._size
        self._calls.append(call)
        self._live += m
        pending = self._pending
        self._append(m, columns, sel)
        for row, due_at in enumerate(t.tolist(), base):
            key = bucket_key(due_at, r) if r > 0 else due_at
            due = pending.get(key)
            if due is None:
                due = pending[key] = [[row]]
                self._start_timer(key, due, key * r if r > 0 else key, row)
            elif isinstance(due[-1], list):
                due[-1].append(row)
            else:
                due.append([row])

    def _append(self, m: int, columns: dict[str, np.ndarray], pick: np.ndarray | None) -> None:
        """Write rows for the messages at ``pick`` (None: all) of ``columns``."""
        base, need = self._size, self._size + m
        cap = self._t_due.size
        if need > cap:
            cap = max(need, 2 * cap, 1024)
            ints = np.empty((len(_INTS), cap), dtype=np.int64)
            ints[:, :base] = self._ints[:, :base]
            t_due = np.empty(cap, dtype=np.float64)
            t_due[:base] = self._t_due[:base]
            t_sent = np.empty(cap, dtype=np.float64)
            t_sent[:base] = self._t_sent[:base]
            self._ints, self._t_due, self._t_sent = ints, t_due, t_sent
        rows = self._ints[:, base:need]
        for j, name in enumerate(_INTS[:_CALL]):
            _put(rows[j], columns[name], pick)
        rows[_CALL] = len(self._calls) - 1
        _put(self._t_due[base:need], columns["t_due"], pick)
        _put(self._t_sent[base:need], columns["t_sent"], pick)
        self._size = need

    def _maybe_compact(self) -> None:
        """Drop the rows of delivered messages once they outnumber those in flight twice.

        The rows of each key are moved, in order, to one range: a key's rows stay in send order.
        """
        if self._size - self._live < 2 * self._live + _MIN_DEAD:
            return
        dues = list(self._pending.values())
        parts = [_due_rows(d) for d in dues]
        live = np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
        k = live.size
        self._ints[:, :k] = self._ints.take(live, axis=1)  # the capacity is kept
        self._t_due[:k] = self._t_due[live]
        self._t_sent[:k] = self._t_sent[live]
        start = 0
        for due, part in zip(dues, parts):
            # update in place: the key's timer holds this very list
            due[:] = [np.arange(start, start + part.size)]
            start += part.size
        calls = self._ints[_CALL, :k]
        used = np.flatnonzero(np.bincount(calls, minlength=len(self._calls)))
        renumber = np.zeros(len(self._calls), dtype=np.int64)
        renumber[used] = np.arange(used.size)
        self._ints[_CALL, :k] = renumber[calls]
        self._calls = [self._calls[c] for c in used.tolist()]
        self._size = self._live = k

    def _start_timer(self, key: float | int, due: _Due, t_event: float, row: int) -> None:
        """Start the timeout of a new key, filed by the message at ``row``. A message stamped
        ahead of now (``Network.sending_at``) gets the instant a timeout made when it was sent
        would have, or one a unit or so in the last place later when ``now + delay`` cannot
        land on it (never earlier)."""
        now = self.env.now
        t_sent = float(self._t_sent[row])
        # ahead of now: the instant from the send time, reached from now (at or just after it)
        at = t_event if t_sent == now else t_sent + _timer_delay(t_sent, t_event)
        ev = self.env.timeout(_timer_delay(now, at))
        ev.callbacks.append(partial(self._fire, key, due))

    # -- delivery ------------------------------------------------------------------------------

    def _fire(self, key: float | int, due: _Due, _ev: simpy.Event) -> None:
        if self._pending.get(key) is not due:
            return  # discarded by clear()
        del self._pending[key]
        if len(due) == 1 and len(due[0]) == 1:
            self._live -= 1
            self._deliver_one(self._gather_one(int(due[0][0])))
            return
        rows = _due_rows(due)  # ascending: send order
        self._live -= rows.size
        self._deliver(self._gather(rows))

    def _gather(self, rows: np.ndarray) -> Arrivals:
        """The messages at ``rows`` (in send order), ordered by exact delivery time, then send
        order."""
        t_due = self._t_due[rows]
        # a key's rows ascend and their send calls never decrease along them (rows are filed
        # in send order, and compaction keeps the order of each key's rows): the first and
        # last rows hold the lowest and highest call
        low, high = self._ints.item(_CALL, rows[0]), self._ints.item(_CALL, rows[-1])
        if self.resolution > 0:
            order = _time_order(t_due, self.resolution)
            rows, t_due = rows[order], t_due[order]
        t_sent = self._t_sent[rows]
        # one gather of every column: each column below is contiguous
        seq, src, dst, size, attempts, reason, entry, call = self._ints.take(rows, axis=1)
        if low == high:  # one send call
            calls, local = [self._calls[low]], np.zeros(rows.size, dtype=np.int64)
        else:
            present = np.bincount(call - low)
            if present.all():  # every call from low to high: local numbers are call - low
                calls, local = self._calls[low : high + 1], call - low
            else:
                used = np.flatnonzero(present)
                number = np.zeros(high - low + 1, dtype=np.int64)  # call - low -> local number
                number[used] = np.arange(used.size)
                calls, local = [self._calls[low + k] for k in used.tolist()], number[call - low]
        return Arrivals(
            calls,
            local,
            seq,
            src,
            dst,
            t_due,
            size,
            attempts,
            reason,
            entry,
            t_sent,
        )

    def _gather_one(self, row: int) -> Arrival:
        seq, src, dst, size, attempts, reason, entry, call = self._ints[:, row].tolist()
        call_ = self._calls[call]
        t_sent = float(self._t_sent[row])
        return Arrival(call_, seq, src, dst, size, attempts, reason, entry, t_sent)

    # -- reading and clearing ------------------------------------------------------------------

    def _rows(self) -> np.ndarray:
        parts = [_due_rows(d) for d in self._pending.values()]
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)

    def seqs(self) -> np.ndarray:
        """Sequence numbers of every message in flight."""
        return self._ints[0, self._rows()]

    def pending(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(seqs, kind names, sizes in bytes) of every message in flight, aligned."""
        rows = self._rows()
        kinds = np.array([c.kind for c in self._calls], dtype=object)
        calls = self._ints[_CALL, rows]
        names = kinds[calls] if rows.size else np.empty(0, dtype=object)
        return self._ints[0, rows], names, self._ints[_INTS.index("size"), rows]

    def clear(self) -> np.ndarray:
        """Discard every message in flight (their timeouts then fire without effect); returns
        their sequence numbers."""
        seqs = self.seqs()
        self._pending.clear()
        self._size = self._live = 0
        self._calls = []
        return seqs
