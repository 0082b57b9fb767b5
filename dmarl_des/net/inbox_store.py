"""The inboxes of all agents, stored column-wise: batched arrivals, evictions and drains."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from dmarl_des.errors import ConfigError
from dmarl_des.net.grouping import stable_order
from dmarl_des.net.inbox_wait import InboxWait
from dmarl_des.net.messages import Message
from dmarl_des.net.payload_arena import PayloadArena
from dmarl_des.net.payloads import PayloadBlock

__all__ = ["INBOX_POLICIES", "Drained", "DrainedRefs", "InboxStore", "Incoming"]

INBOX_POLICIES = ("drop_oldest", "drop_newest")

# A message row is 8 integers and 2 times, kept in two column-major matrices ([8, capacity] and
# [2, capacity]): columns are written and read contiguously.
_INTS = (
    "recv",
    "seq",
    "src",
    "size",
    "attempts",
    "kind",  # code in the store's kind names
    "block",  # number in the store's payload blocks
    "entry",  # payload entry in that block
)
_TIMES = ("t_sent", "t_delivered")
_COLUMN = {name: (True, j) for j, name in enumerate(_INTS)} | {
    name: (False, j) for j, name in enumerate(_TIMES)
}
_MIN_DEAD = 1024  # compaction waits until at least this many rows are dead
_DEAD_PER_LIVE = 3
_NONE = np.empty(0, dtype=np.int64)
_NONE.flags.writeable = False


class Incoming(NamedTuple):
    """A batch of arriving messages as aligned columns; ``call`` numbers each message's send call
    in the list of payload blocks given with the batch, ``entry`` its payload in that block."""

    recv: np.ndarray
    seq: np.ndarray
    src: np.ndarray
    t_sent: np.ndarray
    size: np.ndarray
    attempts: np.ndarray
    kind: np.ndarray  # code from InboxStore.kind_code
    call: np.ndarray
    entry: np.ndarray


class Drained(NamedTuple):
    """Messages taken out of several inboxes at once, as aligned columns (see drain_many)."""

    receiver: np.ndarray  # int64 agent id of the receiver
    sender: np.ndarray  # int64 agent id of the sender
    t_delivered: np.ndarray  # float64 time the message entered the inbox
    payloads: np.ndarray  # [M, ...] stacked payloads, or an object array of M payloads


class DrainedRefs(NamedTuple):
    """Messages taken out of several inboxes, their payloads by reference (see drain_refs):
    payload ``m`` is ``sources[source[m]][row[m]]``, rows of read-only arrays (no copy per
    message)."""

    receiver: np.ndarray  # int64 agent id of the receiver
    sender: np.ndarray  # int64 agent id of the sender
    seq: np.ndarray  # int64 network-wide send order
    t_sent: np.ndarray  # float64
    t_delivered: np.ndarray  # float64
    sources: tuple[np.ndarray, ...]
    source: np.ndarray  # int64 index into sources
    row: np.ndarray  # int64 row of that source


class InboxStore:
    """Bounded FIFO inboxes of agents ``0..n-1`` over one table of message rows.

    Each agent's inbox is a ring of row numbers (an ``[n, W]`` array with a head and a count per
    agent; ``W`` grows up to ``limit`` as needed). A batch of arrivals, the evictions it causes
    and a drain of many inboxes are a few numpy operations; ``Message`` objects are only built
    when a single inbox is read. Rows left behind by drains and evictions are reclaimed by
    compaction once they outnumber the live ones.

    When a message arrives to a full inbox, ``drop_oldest`` evicts the oldest message and keeps
    the new one; ``drop_newest`` refuses the new one. With ``arena`` (the default) the payload
    rows of arriving send calls are also copied end to end, so that ``payloads`` gathers small
    payloads of many calls with one index; a store of large payloads read by reference
    (``payload_refs``) goes without.
    """

    def __init__(
        self, n: int, limit: int = 64, policy: str = "drop_oldest", *, arena: bool = True
    ) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigError("inbox_limit", limit, "an integer >= 1")
        if policy not in INBOX_POLICIES:
            raise ConfigError("inbox_policy", policy, " | ".join(INBOX_POLICIES))
        self.n = n
        self.limit = limit
        self.policy = policy
        self._use_arena = arena
        self._waiters: dict[int, list[InboxWait]] = {}
        self.clear_all()

    # -- bookkeeping ---------------------------------------------------------------------------

    def clear_all(self) -> None:
        """Empty every inbox and detach every waiter."""
        for waiters in self._waiters.values():
            for w in waiters:
                w.detach()
        self._waiters = {}
        self._width = min(self.limit, 8)
        self._ring = np.zeros((self.n, self._width), dtype=np.int64)
        self._head = np.zeros(self.n, dtype=np.int64)
        self._wrapped = False  # True once a ring may start past slot 0 (after an eviction)
        self._count = np.zeros(self.n, dtype=np.int64)
        self._size = 0  # rows used in the table
        self._compact_at = _MIN_DEAD  # rows used at which to look for dead rows again
        self._ints = np.empty((len(_INTS), 0), dtype=np.int64)
        self._times = np.empty((len(_TIMES), 0), dtype=np.float64)
        self._kind_names: list[str] = []
        self._kind_codes: dict[str, int] = {}
        self._blocks: list[PayloadBlock] = []
        self._block_numbers: dict[int, int] = {}
        self._arena = PayloadArena()
        if not self._use_arena:
            self._arena.uniform = False  # gathers go through the blocks themselves

    def kind_code(self, name: str) -> int:
        """The store's code for a kind name."""
        code = self._kind_codes.get(name)
        if code is None:
            code = self._kind_codes[name] = len(self._kind_names)
            self._kind_names.append(name)
        return code

    def _block_number(self, block: PayloadBlock) -> int:
        """The store's number for a payload block (registered on first use)."""
        number = self._block_numbers.get(id(block))
        if number is None:
            number = self._block_numbers[id(block)] = len(self._blocks)
            self._blocks.append(block)
            if self._use_arena:
                self._arena.register(block)
        return number

    def count(self, i: int) -> int:
        """Messages in inbox ``i``."""
        return int(self._count[i])

    # -- waiters -------------------------------------------------------------------------------

    def add_waiter(self, i: int, ev: InboxWait) -> None:
        self._waiters.setdefault(i, []).append(ev)

    def remove_waiter(self, i: int, ev: InboxWait) -> None:
        waiters = self._waiters.get(i)
        if waiters and ev in waiters:
            waiters.remove(ev)
            if not waiters:
                del self._waiters[i]

    def waiting(self, i: int) -> int:
        """Waits pending on inbox ``i``."""
        return len(self._waiters.get(i, ()))

    # -- arrivals ------------------------------------------------------------------------------

    def arrive(
        self, t: float, batch: Incoming, blocks: list[PayloadBlock]
    ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
        """Put a batch of messages (in arrival order) into their receivers' inboxes at time ``t``.

        Returns ``(arrived, evicted_rows, evicted_new)``: the mask of messages that entered an
        inbox (None when all did), the rows of older messages evicted by ``drop_oldest`` (valid
        until the next arrival), and the positions of messages of this batch that entered and were
        evicted by later ones of the batch. Waits on an inbox fire with its first arrival.
        """
        m = batch.recv.size
        if m == 0:
            return None, _NONE, _NONE
        if self._size >= self._compact_at:
            self._maybe_compact()
        numbers = np.array([self._block_number(b) for b in blocks], dtype=np.int64)
        recv = batch.recv
        # group the batch by receiver (stable: arrival order within a receiver)
        # agent ids fit 16 bits in most runs: one radix sort, no shifting
        order = (
            np.argsort(recv.astype(np.uint16), kind="stable")
            if self.n <= 65536
            else stable_order(recv)
        )
        by_recv = recv[order]
        edge = np.empty(m, dtype=bool)
        edge[0] = True
        np.not_equal(by_recv[1:], by_recv[:-1], out=edge[1:])
        starts = edge.nonzero()[0]
        lens = np.empty_like(starts)
        np.subtract(starts[1:], starts[:-1], out=lens[:-1])
        lens[-1] = m - starts[-1]
        receivers = by_recv[starts]
        firsts = order[starts]
        held = self._count[receivers]
        final = held + lens
        most = int(final.max())
        if most <= self.limit:
            # nothing overflows: every message enters, after its receiver's residents
            if most > self._width:
                self._grow(most)
            base = self._size
            self._append(t, batch, numbers)
            # message k of the receiver order goes to slot head + held + its rank (k - start)
            if self._wrapped:
                first = self._head[receivers] + held - starts
                slots = (np.repeat(first, lens) + np.arange(m)) % self._width
            else:  # every ring starts at slot 0 and has room for its arrivals: no wrapping
                slots = np.repeat(held - starts, lens) + np.arange(m)
            self._ring[by_recv, slots] = order + base
            self._count[receivers] = final
            if self._waiters:
                self._wake(t, receivers, firsts, lens, batch, blocks)
            return None, _NONE, _NONE
        group = np.empty(m, dtype=np.int64)
        group[order] = np.repeat(np.arange(starts.size), lens)
        rank = np.empty(m, dtype=np.int64)
        rank[order] = np.arange(m) - np.repeat(starts, lens)
        if self.policy == "drop_newest":
            taken = np.minimum(lens, np.maximum(self.limit - held, 0))
            evict_old = np.zeros_like(held)
            skip = np.zeros_like(held)  # leading arrivals of the batch that are not kept
            arrived_per = taken
            keep = rank < taken[group]
        else:
            over = np.maximum(held + lens - self.limit, 0)
            evict_old = np.minimum(over, held)
            skip = over - evict_old
            taken = lens - skip
            arrived_per = lens
            keep = rank >= skip[group]
        evicted_rows = self._pop_oldest(receivers, evict_old)
        final = held - evict_old + taken
        if final.max() > self._width:
            self._grow(int(final.max()))
        everyone_kept = bool(keep.all())
        kept = np.arange(m) if everyone_kept else np.flatnonzero(keep)
        if kept.size:
            # append the kept messages as rows and link them into the rings, after the residents
            part = batch if everyone_kept else Incoming(*(col[kept] for col in batch))
            r = part.recv
            rows = self._append(t, part, numbers)
            offset = rank if everyone_kept else rank[kept]
            if skip.any():
                offset = offset - skip[group if everyone_kept else group[kept]]
            slots = (self._head[r] + self._count[r] + offset) % self._width
            self._ring[r, slots] = rows
            self._count[receivers] += taken
        evicted_new = _NONE
        if self.policy == "drop_oldest" and not everyone_kept:
            evicted_new = np.flatnonzero(~keep)
        if self._waiters:
            self._wake(t, receivers, firsts, arrived_per, batch, blocks)
        arrived = None if self.policy == "drop_oldest" or everyone_kept else keep
        return arrived, evicted_rows, evicted_new

    def put_one(
        self,
        t: float,
        recv: int,
        seq: int,
        src: int,
        t_sent: float,
        size: int,
        attempts: int,
        kind: int,
        block: PayloadBlock,
        entry: int,
    ) -> tuple[bool, int]:
        """``arrive`` for a single message, with scalar bookkeeping.

        Returns (entered the inbox, row of the message it evicted or -1).
        """
        if self._size >= self._compact_at:
            self._maybe_compact()
        held = self._count.item(recv)
        evicted = -1
        if held >= self.limit:
            if self.policy == "drop_newest":
                return False, -1
            head = self._head.item(recv)
            evicted = self._ring.item(recv, head)
            self._head[recv] = (head + 1) % self._width
            self._wrapped = True
            held -= 1
        elif held + 1 > self._width:
            self._grow(held + 1)
        row = self._size
        if row >= self._ints.shape[1]:
            self._reserve(row + 1)
        number = self._block_number(block)
        self._ints[:, row] = (recv, seq, src, size, attempts, kind, number, entry)
        self._times[:, row] = (t_sent, t)
        self._size = row + 1
        self._ring[recv, (self._head.item(recv) + held) % self._width] = row
        self._count[recv] = held + 1
        waiters = self._waiters.pop(recv, None)
        if waiters:
            message = Message(
                src, recv, self._kind_names[kind], block.get(entry), size, t_sent, t, attempts, seq
            )
            for w in waiters:
                w.detach()
                w.succeed(message)
        return True, evicted

    def _pop_oldest(self, receivers: np.ndarray, k: np.ndarray) -> np.ndarray:
        """Remove the ``k[j]`` oldest messages of inbox ``receivers[j]``; returns their rows."""
        if not k.any():
            return _NONE
        sel = k > 0
        who, many = receivers[sel], k[sel]
        rows = self._ring_rows(who, many)
        self._head[who] = (self._head[who] + many) % self._width
        self._wrapped = True
        self._count[who] -= many
        return rows

    def _ring_rows(self, who: np.ndarray, many: np.ndarray) -> np.ndarray:
        """Rows of the ``many[j]`` oldest messages of each inbox ``who[j]``, inbox after inbox."""
        if not self._wrapped:  # every ring starts at slot 0: its oldest messages come first
            return self._ring[who][np.arange(self._width) < many[:, None]]
        total = int(many.sum())
        rep = np.repeat(who, many)
        k = np.arange(total) - np.repeat(np.cumsum(many) - many, many)
        return self._ring[rep, (self._head[rep] + k) % self._width]

    def _grow(self, need: int) -> None:
        width = min(self.limit, max(need, 2 * self._width))
        k = np.arange(self._width)
        ring = np.zeros((self.n, width), dtype=np.int64)
        ring[:, : self._width] = self._ring[
            np.arange(self.n)[:, None], (self._head[:, None] + k) % self._width
        ]
        self._ring = ring
        self._head[:] = 0
        self._wrapped = False
        self._width = width

    def _reserve(self, need: int) -> None:
        cap = self._ints.shape[1]
        if need > cap:
            cap = max(need, 2 * cap, 256)
            ints = np.empty((len(_INTS), cap), dtype=np.int64)
            times = np.empty((len(_TIMES), cap), dtype=np.float64)
            ints[:, : self._size] = self._ints[:, : self._size]
            times[:, : self._size] = self._times[:, : self._size]
            self._ints, self._times = ints, times

    def _append(self, t: float, batch: Incoming, numbers: np.ndarray) -> np.ndarray:
        """Write the messages of ``batch``, delivered at ``t``, as new rows; returns the rows."""
        base, need = self._size, self._size + batch.recv.size
        self._reserve(need)
        ints, times = self._ints[:, base:need], self._times[:, base:need]
        for j, column in enumerate(
            (batch.recv, batch.seq, batch.src, batch.size, batch.attempts, batch.kind)
        ):
            ints[j] = column
        ints[6] = numbers[batch.call]
        ints[7] = batch.entry
        times[0] = batch.t_sent
        times[1] = t
        self._size = need
        return np.arange(base, need, dtype=np.int64)

    def _maybe_compact(self) -> None:
        if self._size < self._compact_at:
            return
        live = int(self._count.sum())
        # compact once dead rows reach _DEAD_PER_LIVE per live row: each compaction moves the
        # live rows, so its cost per arrival falls as 1 / _DEAD_PER_LIVE
        dead_needed = max(_DEAD_PER_LIVE * live, _MIN_DEAD)
        self._compact_at = self._size + dead_needed
        if self._size - live < dead_needed:
            return
        self._compact_at = live + dead_needed
        everyone = np.arange(self.n)
        rows = self._ring_rows(everyone, self._count)
        self._ints[:, :live] = self._ints.take(rows, axis=1)  # the capacity is kept
        self._times[:, :live] = self._times.take(rows, axis=1)
        self._size = live
        blocks = self._ints[_INTS.index("block"), :live]
        used = np.flatnonzero(np.bincount(blocks, minlength=len(self._blocks)))
        renumber = np.zeros(len(self._blocks), dtype=np.int64)
        renumber[used] = np.arange(used.size)
        blocks[:] = renumber[blocks]
        self._blocks = [self._blocks[b] for b in used.tolist()]
        self._block_numbers = {id(b): j for j, b in enumerate(self._blocks)}
        if self._use_arena:
            self._arena.renumber(used, self._blocks)
        rep = np.repeat(everyone, self._count)
        k = np.arange(live) - np.repeat(np.cumsum(self._count) - self._count, self._count)
        self._head[:] = 0
        self._wrapped = False
        self._ring[rep, k] = np.arange(live)

    def _wake(
        self,
        t: float,
        receivers: np.ndarray,
        firsts: np.ndarray,
        arrived: np.ndarray,
        batch: Incoming,
        blocks: list[PayloadBlock],
    ) -> None:
        """Fire the waits of inboxes that got a message with their first arrival, in arrival order."""
        fire = [
            (p, r)
            for r, p, a in zip(receivers.tolist(), firsts.tolist(), arrived.tolist())
            if a and r in self._waiters
        ]
        for p, r in sorted(fire):
            message = Message(
                int(batch.src[p]),
                r,
                self._kind_names[int(batch.kind[p])],
                blocks[int(batch.call[p])].get(int(batch.entry[p])),
                int(batch.size[p]),
                float(batch.t_sent[p]),
                t,
                int(batch.attempts[p]),
                int(batch.seq[p]),
            )
            for w in self._waiters.pop(r):
                w.detach()
                w.succeed(message)

    # -- reading -------------------------------------------------------------------------------

    def rows_of(self, receivers: np.ndarray) -> np.ndarray:
        """Rows of all messages of the given inboxes: inbox after inbox, oldest first."""
        return self._ring_rows(receivers, self._count[receivers])

    def rows_of_one(self, i: int) -> np.ndarray:
        """Rows of the messages of inbox ``i``, oldest first."""
        count = self._count.item(i)
        head = self._head.item(i)
        ring = self._ring[i]
        if head + count <= self._width:
            return ring[head : head + count].copy()
        return np.concatenate((ring[head:], ring[: head + count - self._width]))

    def take_one(self, i: int) -> np.ndarray:
        """Empty inbox ``i``; returns the rows it held, oldest first."""
        if self._count.item(i) == 0:
            return _NONE
        rows = self.rows_of_one(i)
        self._count[i] = 0
        self._head[i] = 0
        return rows

    def take(self, receivers: np.ndarray) -> np.ndarray:
        """Empty the given (distinct) inboxes; returns the rows they held (see rows_of)."""
        rows = self.rows_of(receivers)
        self._count[receivers] = 0
        self._head[receivers] = 0
        return rows

    def value(self, name: str, row: int) -> int | float:
        """The value of one column at one row."""
        ints, j = _COLUMN[name]
        return (self._ints if ints else self._times).item(j, row)

    def column(self, name: str, rows: np.ndarray) -> np.ndarray:
        """Values of one column at ``rows``."""
        ints, j = _COLUMN[name]
        return (self._ints if ints else self._times)[j].take(rows)

    def messages(self, rows: np.ndarray) -> list[Message]:
        """The rows as Message objects."""
        if rows.size == 0:
            return []
        kinds, blocks = self._kind_names, self._blocks
        return [
            Message(src, dst, kinds[kind], blocks[b].get(e), size, t_sent, t_del, att, seq)
            for (dst, seq, src, size, att, kind, b, e), (t_sent, t_del) in zip(
                self._ints[:, rows].T.tolist(), self._times[:, rows].T.tolist()
            )
        ]

    def payloads(self, rows: np.ndarray) -> np.ndarray:
        """Payloads of the rows stacked into one array when they share a shape and dtype,
        else as an object array."""
        m = rows.size
        if m == 0:
            return np.empty(0, dtype=object)
        blocks = self.column("block", rows)
        entries = self.column("entry", rows)
        stacked = self._arena.gather(blocks, entries)
        if stacked is not None:  # every block a numeric stack of one shape and dtype
            return stacked
        low = int(blocks.min())
        counts = np.bincount(blocks - low)
        used = np.flatnonzero(counts)
        chosen = [self._blocks[low + b] for b in used.tolist()]
        stacks = [b.stack for b in chosen if b.stack is not None and not b.objects]
        if len(stacks) == len(chosen) and len({(s.shape[1:], s.dtype) for s in stacks}) == 1:
            if len(stacks) == 1:
                return stacks[0][entries]
            # one gather from the stacks laid end to end
            first = np.zeros(counts.size, dtype=np.int64)
            offset, starts = 0, []
            for st in stacks:
                starts.append(offset)
                offset += st.shape[0]
            first[used] = starts
            return np.concatenate(stacks)[first[blocks - low] + entries]
        items = [self._blocks[b].get(e) for b, e in zip(blocks.tolist(), entries.tolist())]
        arrays = items and all(isinstance(x, np.ndarray) for x in items)
        if arrays and len({(x.shape, x.dtype) for x in items}) == 1:
            return np.stack(items)
        out = np.empty(m, dtype=object)
        for j, x in enumerate(items):
            out[j] = x
        return out

    def payload_refs(
        self, rows: np.ndarray
    ) -> tuple[tuple[np.ndarray, ...], np.ndarray, np.ndarray]:
        """(sources, source, row) of the rows' payloads: the stacked rows of their send calls'
        blocks as they are, and the single payloads of a block stacked into one new array (they
        must share a shape and dtype, as payloads of one kind that passed the check do)."""
        m = rows.size
        source = np.empty(m, dtype=np.int64)
        row = np.empty(m, dtype=np.int64)
        sources: list[np.ndarray] = []
        if not m:
            return (), source, row
        blocks = self.column("block", rows)
        entries = self.column("entry", rows)
        for b in np.unique(blocks).tolist():
            at = np.flatnonzero(blocks == b)
            block = self._blocks[b]
            ent = entries[at]
            in_stack = ent < block.rows
            if in_stack.any():
                source[at[in_stack]] = len(sources)
                row[at[in_stack]] = ent[in_stack]
                sources.append(block.stack)
            if not in_stack.all():
                singles, local = np.unique(ent[~in_stack], return_inverse=True)
                source[at[~in_stack]] = len(sources)
                row[at[~in_stack]] = local.ravel()
                stacked = np.stack([np.asarray(block.get(e)) for e in singles.tolist()])
                stacked.flags.writeable = False
                sources.append(stacked)
        return tuple(sources), source, row

    def clear(self, i: int) -> list[Message]:
        """Empty inbox ``i`` and detach its waiters; returns the removed messages."""
        for w in self._waiters.pop(i, []):
            w.detach()
        return self.messages(self.take_one(i))

    def resident_seqs(self) -> np.ndarray:
        """Sequence numbers of every message in every inbox."""
        return self.column("seq", self.rows_of(np.arange(self.n)))

    def resident(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(seqs, kind names, sizes in bytes) of every message in every inbox, aligned."""
        rows = self.rows_of(np.arange(self.n))
        return self.column("seq", rows), self.kind_names(rows), self.column("size", rows)

    def kind_names(self, rows: np.ndarray) -> np.ndarray:
        """The kind name of each row (an object array)."""
        names = np.array(self._kind_names, dtype=object)
        return names[self.column("kind", rows)] if rows.size else np.empty(0, dtype=object)
