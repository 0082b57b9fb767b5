"""Message accounting: counters, latencies and the optional per-message trace columns."""

from __future__ import annotations

import math

import numpy as np

from dmarl_des.net.payloads import REASON_CODES

__all__ = ["COUNTERS", "TRACE_SCHEMA", "Ledger"]

#: Every sent message ends in exactly one of these (or is still in flight).
FATES = (
    "delivered",
    "dropped_loss",
    "dropped_crash",
    "dropped_overflow",
    "dropped_inbox",
    "dropped_cut",
    "dropped_pending",
    "rejected_invalid",
)
COUNTERS = ("sent", *FATES, "retransmissions", "omitted")

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

    Invariant: ``sent == sum(FATES counters) + in_flight``.
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
        self.restart(next_seq=0)

    def restart(
        self,
        next_seq: int,
        in_flight: np.ndarray | None = None,
        resident: np.ndarray | None = None,
    ) -> None:
        """Open a new window. Messages still in flight and messages waiting in inboxes (by seq)
        are carried over: counted as sent (and the latter as delivered), their trace rows kept."""
        in_flight = np.empty(0, np.int64) if in_flight is None else np.asarray(in_flight)
        resident = np.empty(0, np.int64) if resident is None else np.asarray(resident)
        self.counts = dict.fromkeys(COUNTERS, 0)
        self.rejections: dict[str, int] = {}
        self.in_flight = int(in_flight.size)
        self.counts["sent"] = int(in_flight.size + resident.size)
        self.counts["delivered"] = int(resident.size)
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

    # -- events --------------------------------------------------------------------------------

    def omitted(self, count: int) -> None:
        """Recipients removed by an outgoing filter (never sent)."""
        self.counts["omitted"] += count

    def sent(
        self,
        seq0: int,
        t_sent: float,
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
        c = self.counts
        c["sent"] += m
        in_flight, cut, overflow, loss = np.bincount(cause, minlength=4).tolist()
        self.in_flight += in_flight
        c["dropped_cut"] += cut
        c["dropped_overflow"] += overflow
        c["dropped_loss"] += loss
        c["retransmissions"] += int(np.maximum(attempts - 1, 0).sum())
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

    def dropped(self, seqs: np.ndarray, cause: str) -> None:
        """Messages in flight were dropped (e.g. discarded as pending)."""
        self.in_flight -= seqs.size
        self.counts[_CAUSE_COUNTER[cause]] += seqs.size
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
    ) -> None:
        """Outcomes of one delivery event, by seq: receiver down, failed the payload check (with
        its reason code), refused by a full inbox, entered an inbox (with latency), pushed out of
        an inbox."""
        c = self.counts
        self.in_flight -= crashed.size + rejected.size + refused.size + arrived.size
        c["dropped_crash"] += crashed.size
        c["rejected_invalid"] += rejected.size
        c["dropped_inbox"] += refused.size + evicted.size
        c["delivered"] += arrived.size - evicted.size
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
        evicted: int = -1,
    ) -> None:
        """``settle`` for one message: ``outcome`` is "arrived" (with its latency and the seq of
        the message it evicted, or -1), "crash", "invalid" (with its reason code) or "inbox"
        (refused by a full inbox)."""
        c = self.counts
        self.in_flight -= 1
        row = self._row(seq)
        if outcome == "arrived":
            c["delivered"] += 1
            self._latency_values.append(latency)
            if row is not None:
                self._table.cols["delivered"][row] = True
                self._table.cols["t_delivered"][row] = t
            if evicted >= 0:
                c["delivered"] -= 1
                c["dropped_inbox"] += 1
                out = self._row(evicted)
                if out is not None:
                    self._table.cols["delivered"][out] = False
                    self._table.cols["drop_cause"][out] = _CAUSE_CODE["inbox"]
            return
        c[_CAUSE_COUNTER[outcome]] += 1
        if outcome == "invalid":
            name = REASON_CODES[reason]
            self.rejections[name] = self.rejections.get(name, 0) + 1
        if row is not None:
            self._table.cols["drop_cause"][row] = _CAUSE_CODE[outcome]

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
