"""Delivering the messages of one delivery key: receiver liveness, payload check, inbox, accounting."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import simpy

from dmarl_des.errors import ConfigError
from dmarl_des.net.inbox_store import InboxStore, Incoming
from dmarl_des.net.inflight import Arrival, Arrivals
from dmarl_des.net.ledger import Ledger
from dmarl_des.net.mailboxes import Mailboxes
from dmarl_des.net.payloads import OK

__all__ = ["Delivery"]

_NO_SEQS = np.empty(0, dtype=np.int64)
_NO_SEQS.flags.writeable = False
_NO_REASONS = np.empty(0, dtype=np.uint8)
_NO_REASONS.flags.writeable = False


class Delivery:
    """Settles the messages of a delivery key at the current time, in this order: receivers that
    are down drop them (``dropped_crash``, ``is_up`` evaluated now), invalid payloads are
    rejected (``rejected_invalid``), the rest enter the inbox of their kind (``Mailboxes``), which
    may refuse or evict (``dropped_inbox``); every outcome is counted in the ledger, in total and,
    in a window split by kind, per kind."""

    def __init__(
        self,
        env: simpy.Environment,
        mail: Mailboxes,
        ledger: Ledger,
        is_up: Callable[[np.ndarray], np.ndarray] | None,
    ) -> None:
        self.env = env
        self.mail = mail
        self.ledger = ledger
        self.is_up = is_up

    def deliver(self, a: Arrivals) -> None:
        """Deliver the messages of one delivery key (in arrival order) at the current time:
        receivers that are down drop them, invalid payloads are rejected, the rest arrive."""
        now = float(self.env.now)
        up = None if self.is_up is None else self.receivers_up(a.dst)
        every_up = up is None or bool(up.all())
        if every_up and not a.reason.any():  # the common case: every message arrives
            self._arrive(now, a, _NO_SEQS, _NO_SEQS, _NO_REASONS)
            return
        bad = a.reason != OK
        ok = ~bad
        down = None
        if not every_up:
            assert up is not None
            down = ~up
            bad &= up
            ok &= up
        codes = self._kind_codes(a) if self.ledger.kinds.split else None
        if codes is not None:
            if down is not None:
                self.ledger.settle_kinds("crash", codes[down])
            self.ledger.settle_kinds("invalid", codes[bad])
        crashed = _NO_SEQS if down is None else a.seq[down]
        rejected, reasons = a.seq[bad], a.reason[bad]
        if not ok.all():
            a = a.take(np.flatnonzero(ok))
        self._arrive(now, a, crashed, rejected, reasons)

    def _kind_codes(self, a: Arrivals) -> np.ndarray:
        """The ledger's kind code of every message of ``a`` (for a window split by kind)."""
        codes = np.array([self.ledger.note_kind(c.kind) for c in a.calls], dtype=np.int64)
        return codes[a.call]

    def deliver_one(self, a: Arrival) -> None:
        """``deliver`` for a key with a single message, in scalar steps."""
        now = float(self.env.now)
        ledger = self.ledger
        call = a.call
        split = ledger.kinds.split
        if self.is_up is not None and not self.receivers_up(np.array([a.dst]))[0]:
            ledger.settle_one(now, a.seq, "crash")
            if split:
                ledger.settle_kinds("crash", np.array([ledger.note_kind(call.kind)]))
            return
        if a.reason != OK:
            ledger.settle_one(now, a.seq, "invalid", reason=a.reason)
            if split:
                ledger.settle_kinds("invalid", np.array([ledger.note_kind(call.kind)]))
            return
        store = self.mail.of_kind(call.kind)
        entered, evicted = store.put_one(
            now,
            a.dst,
            a.seq,
            a.src,
            a.t_sent,
            a.size,
            a.attempts,
            store.kind_code(call.kind),
            call.block,
            a.entry,
        )
        code = np.array([ledger.note_kind(call.kind)]) if split else None
        if not entered:
            ledger.settle_one(now, a.seq, "inbox")
            if code is not None:
                ledger.settle_kinds("inbox", code)
            return
        latency = now - a.t_sent
        ledger.settle_one(now, a.seq, "arrived", latency=latency, size=a.size)
        if code is not None:
            ledger.settle_kinds("arrived", code, np.array([a.size]), np.array([latency]))
        if evicted >= 0:
            size = int(store.value("size", evicted))
            ledger.evict_one(int(store.value("seq", evicted)), size)
            if split:
                names = store.kind_names(np.array([evicted]))
                ledger.settle_kinds("evicted", ledger.kind_codes(names), np.array([size]))

    def receivers_up(self, dsts: np.ndarray) -> np.ndarray:
        """Whether each receiver in ``dsts`` is up now, by the liveness check (bool [len(dsts)])."""
        assert self.is_up is not None
        up = np.asarray(self.is_up(dsts.copy()), dtype=bool).ravel()
        if up.shape != dsts.shape:
            raise ConfigError("is_up", up.shape, f"a bool array of shape [{dsts.size}]")
        return up

    def _arrive(
        self,
        now: float,
        a: Arrivals,
        crashed: np.ndarray,
        rejected: np.ndarray,
        reasons: np.ndarray,
    ) -> None:
        """Put the checked messages ``a`` into the inboxes of their kinds (a store at a time,
        arrival order kept within each) and settle every outcome of the key."""
        ledger = self.ledger
        if not a.seq.size:
            ledger.settle(now, crashed, rejected, reasons, _NO_SEQS, _NO_SEQS, _NO_SEQS, _NO_SEQS)
            return
        codes = self._kind_codes(a) if ledger.kinds.split else None
        parts = []
        for store, pos in self.mail.groups(a.calls, a.call):
            part = a if pos is None else a.take(pos)
            parts.append(self._enter(store, now, part, codes if pos is None else codes[pos]))
        out = parts[0] if len(parts) == 1 else [np.concatenate(col) for col in zip(*parts)]
        refused, arrived, latency, arrived_size, evicted, evicted_size = out[:6]
        ledger.settle(
            now,
            crashed,
            rejected,
            reasons,
            refused,
            arrived,
            latency,
            evicted,
            int(arrived_size.sum()),
            int(evicted_size.sum()),
        )
        if codes is not None:
            refused_codes, arrived_codes, evicted_codes = out[6:]
            ledger.settle_kinds("inbox", refused_codes)
            ledger.settle_kinds("arrived", arrived_codes, arrived_size, latency)
            ledger.settle_kinds("evicted", evicted_codes, evicted_size)

    def _enter(
        self, store: InboxStore, now: float, a: Arrivals, codes: np.ndarray | None
    ) -> list[np.ndarray]:
        """Put messages ``a`` into ``store``; returns the seqs refused, the seqs arrived with
        their latencies and sizes, the seqs evicted with their sizes and, when ``codes`` (kind
        codes of ``a``) are given, the kind codes of the refused, arrived and evicted ones."""
        if len(a.calls) == 1:
            kinds = np.full(a.seq.size, store.kind_code(a.calls[0].kind), dtype=np.int64)
        else:
            kinds = np.array([store.kind_code(c.kind) for c in a.calls], dtype=np.int64)
            kinds = kinds[a.call]
        t_sent = a.t_sent
        batch = Incoming(a.dst, a.seq, a.src, t_sent, a.size, a.attempts, kinds, a.call, a.entry)
        entered, evicted_rows, evicted_new = store.arrive(now, batch, [c.block for c in a.calls])
        refused, arrived, size = _NO_SEQS, a.seq, a.size
        if entered is not None:
            refused, arrived, t_sent, size = (
                a.seq[~entered],
                a.seq[entered],
                t_sent[entered],
                a.size[entered],
            )
        evicted = a.seq[evicted_new] if evicted_new.size else _NO_SEQS
        evicted_size = a.size[evicted_new] if evicted_new.size else _NO_SEQS
        if evicted_rows.size:
            evicted = np.concatenate([store.column("seq", evicted_rows), evicted])
            evicted_size = np.concatenate([store.column("size", evicted_rows), evicted_size])
        out = [refused, arrived, now - t_sent, size, evicted, evicted_size]
        if codes is not None:
            ledger = self.ledger
            evicted_codes = codes[evicted_new] if evicted_new.size else _NO_SEQS
            if evicted_rows.size:
                old = ledger.kind_codes(store.kind_names(evicted_rows))
                evicted_codes = np.concatenate([old, evicted_codes])
            kept = codes if entered is None else codes[entered]
            out += [_NO_SEQS if entered is None else codes[~entered], kept, evicted_codes]
        return out
