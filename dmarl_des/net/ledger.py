"""Message accounting: counters, latencies and the optional per-message trace columns."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

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
_SEND_CAUSES = ("", "cut", "overflow", "loss")  # indexed by the channel's fate codes
_CAUSE_COUNTER = {
    "loss": "dropped_loss",
    "crash": "dropped_crash",
    "overflow": "dropped_overflow",
    "inbox": "dropped_inbox",
    "cut": "dropped_cut",
    "pending": "dropped_pending",
    "invalid": "rejected_invalid",
}


class Ledger:
    """Counts what happens to every message; with ``trace`` also keeps one row per message.

    Invariant: ``sent == sum(FATES counters) + in_flight``.
    """

    def __init__(self, trace: bool = False) -> None:
        self.trace = trace
        self.restart(next_seq=0)

    def restart(
        self,
        next_seq: int,
        in_flight: Iterable[int] = (),
        resident: Iterable[int] = (),
    ) -> None:
        """Open a new window. Messages still in flight and messages waiting in inboxes (by seq)
        are carried over: counted as sent (and the latter as delivered), their trace rows kept."""
        in_flight = sorted(in_flight)
        resident = sorted(resident)
        old_cols = getattr(self, "_cols", None)
        old_row = self._row if old_cols is not None else None
        self.counts = dict.fromkeys(COUNTERS, 0)
        self.rejections: dict[str, int] = {}
        self.in_flight = len(in_flight)
        self.counts["sent"] = len(in_flight) + len(resident)
        self.counts["delivered"] = len(resident)
        self._latencies: list[float] = []
        self._cols: dict[str, list] = {name: [] for name in TRACE_SCHEMA}
        self._carried: dict[int, int] = {}
        if self.trace and old_cols is not None and old_row is not None:
            for seq in sorted([*in_flight, *resident]):
                row = old_row(seq)
                if row is None:
                    continue
                self._carried[seq] = len(self._cols["seq"])
                for name, col in self._cols.items():
                    col.append(old_cols[name][row])
        self._base_seq = next_seq
        self._base_row = len(self._cols["seq"])

    # -- rows ----------------------------------------------------------------------------------

    def _row(self, seq: int) -> int | None:
        if seq >= self._base_seq:
            return self._base_row + seq - self._base_seq
        return self._carried.get(seq)

    def _set(self, seq: int, column: str, value: object) -> None:
        row = self._row(seq)
        if row is not None:
            self._cols[column][row] = value

    # -- events --------------------------------------------------------------------------------

    def omitted(self, count: int) -> None:
        """Recipients removed by an outgoing filter (never sent)."""
        self.counts["omitted"] += count

    def sent(
        self,
        seq0: int,
        t_sent: float,
        src: int,
        dsts: np.ndarray,
        kind: str,
        sizes: np.ndarray,
        cause: np.ndarray,
        attempts: np.ndarray,
        delay: np.ndarray,
        t_due: np.ndarray,
    ) -> None:
        """A batch of messages left the sender; ``cause`` holds the fates decided at send time."""
        m = dsts.size
        c = self.counts
        c["sent"] += m
        tally = np.bincount(cause, minlength=4)
        self.in_flight += int(tally[0])
        c["dropped_cut"] += int(tally[1])
        c["dropped_overflow"] += int(tally[2])
        c["dropped_loss"] += int(tally[3])
        c["retransmissions"] += int(np.maximum(attempts - 1, 0).sum())
        if not self.trace:
            return
        cols = self._cols
        cols["seq"].extend(range(seq0, seq0 + m))
        cols["t_sent"].extend([float(t_sent)] * m)
        cols["src"].extend([int(src)] * m)
        cols["dst"].extend(dsts.tolist())
        cols["kind"].extend([kind] * m)
        cols["bytes"].extend(sizes.tolist())
        cols["attempts"].extend(attempts.tolist())
        cols["delay"].extend(delay.tolist())
        cols["t_due"].extend(t_due.tolist())
        cols["delivered"].extend([False] * m)
        cols["t_delivered"].extend([math.nan] * m)
        cols["drop_cause"].extend([_SEND_CAUSES[k] for k in cause.tolist()])

    def dropped(self, seq: int, cause: str) -> None:
        """A message in flight was dropped (e.g. discarded as pending)."""
        self.in_flight -= 1
        self.counts[_CAUSE_COUNTER[cause]] += 1
        if self.trace:
            self._set(seq, "drop_cause", cause)

    def settle(
        self,
        t: float,
        crashed: list[int],
        rejected: list[tuple[int, str]],
        refused: list[int],
        arrived: list[int],
        latencies: list[float],
        evicted: list[int],
    ) -> None:
        """Outcomes of one delivery event, by seq: receiver down, failed the payload check,
        refused by a full inbox, entered an inbox (with latency), pushed out of an inbox."""
        c = self.counts
        self.in_flight -= len(crashed) + len(rejected) + len(refused) + len(arrived)
        c["dropped_crash"] += len(crashed)
        c["rejected_invalid"] += len(rejected)
        c["dropped_inbox"] += len(refused) + len(evicted)
        c["delivered"] += len(arrived) - len(evicted)
        self._latencies.extend(latencies)
        for _, reason in rejected:
            self.rejections[reason] = self.rejections.get(reason, 0) + 1
        if not self.trace:
            return
        for seq in crashed:
            self._set(seq, "drop_cause", "crash")
        for seq, _ in rejected:
            self._set(seq, "drop_cause", "invalid")
        for seq in refused:
            self._set(seq, "drop_cause", "inbox")
        delivered, t_delivered = self._cols["delivered"], self._cols["t_delivered"]
        for seq in arrived:
            row = self._row(seq)
            if row is not None:
                delivered[row] = True
                t_delivered[row] = t
        for seq in evicted:
            row = self._row(seq)
            if row is not None:
                delivered[row] = False
                self._cols["drop_cause"][row] = "inbox"

    # -- reading -------------------------------------------------------------------------------

    def stats(self) -> dict[str, float | int]:
        """Counters, messages in flight and latency summary of arrivals (nan when none)."""
        out: dict[str, float | int] = dict(self.counts)
        out["in_flight"] = self.in_flight
        lat = np.asarray(self._latencies, dtype=np.float64)
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
        """Copies of the trace columns (empty lists when tracing is off)."""
        return {name: list(col) for name, col in self._cols.items()}
