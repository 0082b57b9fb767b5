"""Message accounting: counters, latencies and the optional per-message trace columns."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dmarl_des.net.kind_stats import COUNTERS, KindStats
from dmarl_des.net.payloads import REASON_CODES

__all__ = ["COUNTERS", "TRACE_SCHEMA", "Carried", "Ledger"]

#: Trace column name -> Python type of its values.
TRACE_SCHEMA: dict[str, type] = {
    "seq": int,
    "t_sent": float,
    "src": int,
    "dst": int,
    "kind": str,
    "bytes": int,
    "attempts": int,
    "delay": float,
    "t_due": float,
    "delivered": bool,
    "t_delivered": float,
    "drop_cause": str,
}
#: Drop causes by code; codes 0..3 are the channel's fate codes (in flight, cut, overflow, loss).
CAUSES = ("", "cut", "overflow", "loss", "crash", "inbox", "pending", "invalid")
_CAUSE_CODE = {name: code for code, name in enumerate(CAUSES)}
_CAUSE_COUNTER = {
    "loss": "dropped_loss",
    "crash": "dropped_crash",
    "overflow": "dropped_overflow",
    "inbox": "dropped_inbox",
    "cut": "dropped_cut",
    "pending": "dropped_pending",
    "invalid": "rejected_invalid",
}
# storage dtype of each trace column ("kind" and "drop_cause" hold codes)
_STORAGE = {
    "seq": np.int64,
    "t_sent": np.float64,
    "src": np.int64,
    "dst": np.int64,
    "kind": np.int32,
    "bytes": np.int64,
    "attempts": np.int64,
    "delay": np.float64,
    "t_due": np.float64,
    "delivered": np.bool_,
    "t_delivered": np.float64,
    "drop_cause": np.int8,
}


@dataclass(frozen=True, slots=True)
class Carried:
    """Messages a new accounting window carries over: in flight and waiting in inboxes, each by
    seq with its kind name and size in bytes (aligned arrays)."""

    in_flight: np.ndarray
    in_flight_kinds: np.ndarray
    in_flight_bytes: np.ndarray
    resident: np.ndarray
    resident_kinds: np.ndarray
    resident_bytes: np.ndarray


class _Trace:
    """Growable typed columns, one row per message."""

    def __init__(self) -> None:
        self.size = 0
        self.cols = {name: np.empty(0, dtype=dt) for name, dt in _STORAGE.items()}

    def append(self, **values: np.ndarray | float | int) -> None:
        k = int(np.size(values["seq"]))
        need = self.size + k
        cap = self.cols["seq"].size
        if need > cap:
            cap = max(need, 2 * cap, 256)
            for name, col in self.cols.items():
                grown = np.empty(cap, dtype=col.dtype)
                grown[: self.size] = col[: self.size]
                self.cols[name] = grown
        for name, col in self.cols.items():
            col[self.size : need] = values[name]
        self.size = need

    def column(self, name: str) -> np.ndarray:
        return self.cols[name][: self.size]


class Ledger:
    """Counts what happens to every message; with ``trace`` also keeps one row per message.

    Invariant: ``sent == sum(FATES counters) + in_flight``, in total and for each kind (``kinds``,
    a :class:`KindStats`: the callers of ``settle`` and ``dropped`` hand it the kinds of the
    messages once the window is split).
    """

    def __init__(self, trace: bool = False) -> None:
        self.trace = trace
        self._kind_names: list[str] = []
        self._kind_codes: dict[str, int] = {}
        self._table = _Trace()
        self._carried_seqs = np.empty(0, dtype=np.int64)  # sorted seqs of carried-over rows
        self._carried_rows = np.empty(0, dtype=np.int64)
        self._base_seq = 0  # the message with this seq has trace row _base_row; later ones follow
        self._base_row = 0
        self.kinds = KindStats()
        self.restart(next_seq=0)

    def restart(self, next_seq: int, carried: Carried | None = None) -> None:
        """Open a new window. Messages still in flight and messages waiting in inboxes are
        carried over: counted as sent (and the latter as delivered), their trace rows kept."""
        none = np.empty(0, np.int64)
        in_flight = none if carried is None else np.asarray(carried.in_flight, dtype=np.int64)
        resident = none if carried is None else np.asarray(carried.resident, dtype=np.int64)
        self.counts = dict.fromkeys(COUNTERS, 0)
        self.rejections: dict[str, int] = {}
        self.in_flight = int(in_flight.size)
        self.counts["sent"] = int(in_flight.size + resident.size)
        self.counts["delivered"] = int(resident.size)
        self.kinds.restart()
        if carried is not None:
            self.counts["bytes_sent"] = int(carried.in_flight_bytes.sum()) + int(
                carried.resident_bytes.sum()
            )
            self.counts["bytes_delivered"] = int(carried.resident_bytes.sum())
            self._carry_kinds(carried)
        self._latencies: list[np.ndarray] = []
        self._latency_values: list[float] = []  # from single-message settles
        old, table = self._table, _Trace()
        carried = np.sort(np.concatenate([in_flight, resident]).astype(np.int64))
        carried_rows = np.empty(0, dtype=np.int64)
        if self.trace and carried.size:
            rows, found = self._rows(carried)
            carried = carried[found]
            table.append(**{name: old.column(name)[rows[found]] for name in _STORAGE})
            carried_rows = np.arange(carried.size, dtype=np.int64)
        self._table = table
        self._carried_seqs = carried if self.trace else carried[:0]
        self._carried_rows = carried_rows
        self._base_seq = next_seq
        self._base_row = table.size

    # -- rows ----------------------------------------------------------------------------------

    def _rows(self, seqs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Trace rows of messages by seq, and the mask of those that have one."""
        seqs = np.asarray(seqs, dtype=np.int64)
        rows = self._base_row + seqs - self._base_seq
        found = seqs >= self._base_seq
        old = ~found
        if old.any() and self._carried_seqs.size:
            pos = np.searchsorted(self._carried_seqs, seqs[old])
            pos = np.minimum(pos, self._carried_seqs.size - 1)
            hit = self._carried_seqs[pos] == seqs[old]
            rows[old] = self._carried_rows[pos]
            found[old] = hit
        return rows, found

    def _set(self, seqs: np.ndarray, column: str, value: object) -> None:
        if not self.trace or seqs.size == 0:
            return
        rows, found = self._rows(seqs)
        col = self._table.cols[column]
        if isinstance(value, np.ndarray):
            col[rows[found]] = value[found]
        else:
            col[rows[found]] = value

    def _kind_code(self, kind: str) -> int:
        code = self._kind_codes.get(kind)
        if code is None:
            code = self._kind_codes[kind] = len(self._kind_names)
            self._kind_names.append(kind)
        return code

    # -- per kind ------------------------------------------------------------------------------

    def totals(self) -> dict[str, float]:
        """The window's counters, messages in flight and the latencies' sum and count."""
        lat = [*self._latencies, np.asarray(self._latency_values, dtype=float)]
        return {
            **self.counts,
            "in_flight": self.in_flight,
            "latency_sum": float(sum(float(x.sum()) for x in lat)),
            "latency_count": sum(int(x.size) for x in lat),
        }

    def note_kind(self, kind: str) -> int:
        """The window's code of ``kind``, noting that a message of it is about to be counted
        (the window splits by kind at its second kind, see KindStats)."""
        code = self.kinds._codes.get(kind)
        if code is not None and (code == 0 or self.kinds.split):
            return code
        return self.kinds.note(kind, self.totals())

    def kind_codes(self, names: np.ndarray) -> np.ndarray:
        """Codes of an array of kind names (each noted as in ``note_kind``)."""
        if names.size == 0:
            return np.empty(0, dtype=np.int64)
        unique, inverse = np.unique(names.astype(str), return_inverse=True)
        codes = np.array([self.note_kind(str(k)) for k in unique.tolist()], dtype=np.int64)
        return codes[inverse.ravel()]

    def _carry_kinds(self, carried: Carried) -> None:
        in_codes = self.kind_codes(np.asarray(carried.in_flight_kinds))
        res_codes = self.kind_codes(np.asarray(carried.resident_kinds))
        kinds = self.kinds
        if not kinds.split:  # one kind at most: its row is the totals
            return
        # split by the carried messages themselves: start the rows from zero
        kinds._table[:] = 0.0
        kinds.add_many("sent", in_codes)
        kinds.add_many("in_flight", in_codes)
        kinds.add_many("bytes_sent", in_codes, np.asarray(carried.in_flight_bytes, float))
        kinds.add_many("sent", res_codes)
        kinds.add_many("delivered", res_codes)
        kinds.add_many("bytes_sent", res_codes, np.asarray(carried.resident_bytes, float))
        kinds.add_many("bytes_delivered", res_codes, np.asarray(carried.resident_bytes, float))

    def settle_kinds(
        self,
        outcome: str,
        codes: np.ndarray,
        sizes: np.ndarray | None = None,
        latencies: np.ndarray | None = None,
    ) -> None:
        """Per kind, in a split window: messages of kinds ``codes`` left flight with ``outcome``
        ("crash", "invalid", "inbox" refused, "arrived" with their sizes and latencies) or were
        pushed out of an inbox ("evicted", with their sizes)."""
        kinds = self.kinds
        if not kinds.split or codes.size == 0:
            return
        if outcome == "evicted":
            kinds.add_many("delivered", codes, np.full(codes.size, -1.0))
            kinds.add_many("dropped_inbox", codes)
            kinds.add_many("bytes_delivered", codes, -np.asarray(sizes, dtype=float))
            return
        kinds.add_many("in_flight", codes, np.full(codes.size, -1.0))
        if outcome == "arrived":
            kinds.add_many("delivered", codes)
            kinds.add_many("bytes_delivered", codes, np.asarray(sizes, dtype=float))
            kinds.add_many("latency_sum", codes, np.asarray(latencies, dtype=float))
            kinds.add_many("latency_count", codes)
        else:
            kinds.add_many(_CAUSE_COUNTER[outcome], codes)

    # -- events --------------------------------------------------------------------------------

    def omitted(self, count: int, kind: str | None = None) -> None:
        """Recipients removed by an outgoing filter (never sent) from a send of ``kind``."""
        self.counts["omitted"] += count
        if kind is not None and count:
            code = self.note_kind(kind)
            if self.kinds.split:
                self.kinds.add("omitted", code, count)

    def sent(
        self,
        seq0: int,
        t_sent: float | np.ndarray,
        src: np.ndarray,
        dsts: np.ndarray,
        kind: str,
        sizes: np.ndarray,
        cause: np.ndarray,
        attempts: np.ndarray,
        delay: np.ndarray,
        t_due: np.ndarray,
    ) -> None:
        """A batch of messages left their senders; ``cause`` holds the fates decided at send time."""
        m = dsts.size
        code = self.note_kind(kind)
        c = self.counts
        c["sent"] += m
        in_flight, cut, overflow, loss = np.bincount(cause, minlength=4).tolist()
        self.in_flight += in_flight
        c["dropped_cut"] += cut
        c["dropped_overflow"] += overflow
        c["dropped_loss"] += loss
        # Σ max(a − 1, 0) over attempts a ≥ 0: every attempt but the first of each message
        retries = int(attempts.sum()) - int(np.count_nonzero(attempts))
        c["retransmissions"] += retries
        nbytes = int(sizes.sum()) if m > 1 else int(sizes[0]) if m else 0
        c["bytes_sent"] += nbytes
        if self.kinds.split:
            for name, value in (
                ("sent", m),
                ("in_flight", in_flight),
                ("dropped_cut", cut),
                ("dropped_overflow", overflow),
                ("dropped_loss", loss),
                ("retransmissions", retries),
                ("bytes_sent", nbytes),
            ):
                self.kinds.add(name, code, value)
        if not self.trace:
            return
        self._table.append(
            seq=np.arange(seq0, seq0 + m),
            t_sent=t_sent,
            src=src,
            dst=dsts,
            kind=self._kind_code(kind),
            bytes=sizes,
            attempts=attempts,
            delay=delay,
            t_due=t_due,
            delivered=False,
            t_delivered=math.nan,
            drop_cause=cause,
        )

    def dropped(self, seqs: np.ndarray, cause: str, kinds: np.ndarray | None = None) -> None:
        """Messages in flight were dropped (e.g. discarded as pending); ``kinds``: their kind
        names (needed in a split window)."""
        self.in_flight -= seqs.size
        self.counts[_CAUSE_COUNTER[cause]] += seqs.size
        if self.kinds.split and kinds is not None:
            self.settle_kinds(cause, self.kind_codes(np.asarray(kinds)))
        self._set(seqs, "drop_cause", _CAUSE_CODE[cause])

    def settle(
        self,
        t: float,
        crashed: np.ndarray,
        rejected: np.ndarray,
        reasons: np.ndarray,
        refused: np.ndarray,
        arrived: np.ndarray,
        latencies: np.ndarray,
        evicted: np.ndarray,
        arrived_bytes: int = 0,
        evicted_bytes: int = 0,
    ) -> None:
        """Outcomes of one delivery event, by seq: receiver down, failed the payload check (with
        its reason code), refused by a full inbox, entered an inbox (with latency and, in all,
        ``arrived_bytes``), pushed out of an inbox (``evicted_bytes`` in all; the pushed-out
        messages may have arrived earlier)."""
        c = self.counts
        self.in_flight -= crashed.size + rejected.size + refused.size + arrived.size
        c["dropped_crash"] += crashed.size
        c["rejected_invalid"] += rejected.size
        c["dropped_inbox"] += refused.size + evicted.size
        c["delivered"] += arrived.size - evicted.size
        c["bytes_delivered"] += arrived_bytes - evicted_bytes
        if latencies.size:
            self._latencies.append(latencies)
        if reasons.size:
            for code, count in enumerate(np.bincount(reasons).tolist()):
                if count:
                    name = REASON_CODES[code]
                    self.rejections[name] = self.rejections.get(name, 0) + count
        if not self.trace:
            return
        self._set(crashed, "drop_cause", _CAUSE_CODE["crash"])
        self._set(rejected, "drop_cause", _CAUSE_CODE["invalid"])
        self._set(refused, "drop_cause", _CAUSE_CODE["inbox"])
        self._set(arrived, "delivered", True)
        self._set(arrived, "t_delivered", t)
        self._set(evicted, "delivered", False)
        self._set(evicted, "drop_cause", _CAUSE_CODE["inbox"])

    def settle_one(
        self,
        t: float,
        seq: int,
        outcome: str,
        *,
        reason: int = 0,
        latency: float = 0.0,
        size: int = 0,
    ) -> None:
        """``settle`` for one message: ``outcome`` is "arrived" (with its latency and its size in
        bytes), "crash", "invalid" (with its reason code) or "inbox" (refused by a full inbox). A
        message it evicted is settled with :meth:`evict_one`."""
        c = self.counts
        self.in_flight -= 1
        row = self._row(seq)
        if outcome == "arrived":
            c["delivered"] += 1
            c["bytes_delivered"] += size
            self._latency_values.append(latency)
            if row is not None:
                self._table.cols["delivered"][row] = True
                self._table.cols["t_delivered"][row] = t
            return
        c[_CAUSE_COUNTER[outcome]] += 1
        if outcome == "invalid":
            name = REASON_CODES[reason]
            self.rejections[name] = self.rejections.get(name, 0) + 1
        if row is not None:
            self._table.cols["drop_cause"][row] = _CAUSE_CODE[outcome]

    def evict_one(self, seq: int, size: int) -> None:
        """A delivered message of ``size`` bytes was pushed out of its inbox (``drop_oldest``)."""
        c = self.counts
        c["delivered"] -= 1
        c["dropped_inbox"] += 1
        c["bytes_delivered"] -= size
        out = self._row(seq)
        if out is not None:
            self._table.cols["delivered"][out] = False
            self._table.cols["drop_cause"][out] = _CAUSE_CODE["inbox"]

    def _row(self, seq: int) -> int | None:
        """The trace row of one message (None without trace or row)."""
        if not self.trace:
            return None
        if seq >= self._base_seq:
            return self._base_row + seq - self._base_seq
        pos = int(np.searchsorted(self._carried_seqs, seq))
        if pos < self._carried_seqs.size and self._carried_seqs[pos] == seq:
            return int(self._carried_rows[pos])
        return None

    # -- reading -------------------------------------------------------------------------------

    def stats(self) -> dict[str, float | int]:
        """Counters, messages in flight and latency summary of arrivals (nan when none)."""
        out: dict[str, float | int] = dict(self.counts)
        out["in_flight"] = self.in_flight
        lat = np.concatenate([*self._latencies, np.asarray(self._latency_values, dtype=float)])
        if lat.size:
            p50, p90, p99 = np.quantile(lat, [0.5, 0.9, 0.99])
            out.update(
                latency_p50=float(p50),
                latency_p90=float(p90),
                latency_p99=float(p99),
                latency_mean=float(lat.mean()),
            )
        else:
            out.update(
                latency_p50=math.nan,
                latency_p90=math.nan,
                latency_p99=math.nan,
                latency_mean=math.nan,
            )
        return out

    def columns(self) -> dict[str, list]:
        """The trace as lists of Python values (empty lists when tracing is off)."""
        out = {}
        for name in TRACE_SCHEMA:
            col = self._table.column(name)
            if name == "kind":
                names = self._kind_names
                out[name] = [names[k] for k in col.tolist()]
            elif name == "drop_cause":
                out[name] = [CAUSES[k] for k in col.tolist()]
            else:
                out[name] = col.tolist()
        return out
