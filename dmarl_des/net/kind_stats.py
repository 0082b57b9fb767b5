"""The network's counters split by message kind (world traffic beside learning traffic), with bytes.

A window that has seen messages of one kind only keeps nothing here: that kind's counters are
the window's totals, so a network carrying one kind pays nothing for the split. The first
message of a second kind *splits* the window: the totals so far become the first kind's row, and
from then on every event is counted in its kind's row as well (``add`` for one kind, ``add_many``
for a column of kind codes). At every moment, per kind::

    sent = delivered + dropped_loss + dropped_crash + dropped_overflow + dropped_inbox
           + dropped_cut + dropped_pending + rejected_invalid + in_flight
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["COUNTERS", "FATES", "KIND_COUNTERS", "KindStats"]

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
"""Every sent message ends in exactly one of these (or is still in flight)."""
COUNTERS = ("sent", *FATES, "retransmissions", "omitted", "bytes_sent", "bytes_delivered")
"""The network's counters, in total and per kind. ``bytes_sent`` adds up the sizes of sent
messages, ``bytes_delivered`` those of the messages counted in ``delivered`` (an eviction takes
its message's bytes out again)."""
KIND_COUNTERS = (*COUNTERS, "in_flight", "latency_sum", "latency_count")
"""Columns of a kind's row: the ledger's counters, messages in flight, and the sum and count of
the latencies of arrivals (for their mean)."""
_COLUMN = {name: j for j, name in enumerate(KIND_COUNTERS)}
_INTEGER = (*KIND_COUNTERS[:-2], "latency_count")


class KindStats:
    """Counters per message kind for one accounting window (see the module docstring)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._codes: dict[str, int] = {}
        self._table: np.ndarray | None = None  # [K, C] once split

    def restart(self) -> None:
        """A new window: no kind seen, nothing counted."""
        self.names = []
        self._codes = {}
        self._table = None

    @property
    def split(self) -> bool:
        """True once the window has seen two kinds: every event is then counted per kind."""
        return self._table is not None

    def code(self, kind: str) -> int:
        """The code of ``kind`` in this window (registered on first use)."""
        code = self._codes.get(kind)
        if code is None:
            code = self._codes[kind] = len(self.names)
            self.names.append(kind)
            if self._table is not None:
                self._table = np.vstack([self._table, np.zeros((1, len(KIND_COUNTERS)))])
        return code

    def note(self, kind: str, totals: dict[str, float]) -> int:
        """A message of ``kind`` is about to be counted; splits the window when it is the second
        kind (``totals``: the window's counters so far, in KIND_COUNTERS names). Returns its code."""
        first = not self.names
        code = self.code(kind)
        if not first and self._table is None and code > 0:
            table = np.zeros((len(self.names), len(KIND_COUNTERS)))
            for name, j in _COLUMN.items():
                table[0, j] = totals.get(name, 0)
            self._table = table
        return code

    def add(self, counter: str, code: int, amount: float = 1) -> None:
        """Add ``amount`` to ``counter`` of one kind (split windows only)."""
        assert self._table is not None
        self._table[code, _COLUMN[counter]] += amount

    def add_many(self, counter: str, codes: np.ndarray, amounts: np.ndarray | None = None) -> None:
        """Add ``amounts`` (None: 1 each) to ``counter`` of the kinds ``codes`` (split windows)."""
        assert self._table is not None
        if codes.size == 0:
            return
        k = len(self.names)
        summed = np.bincount(codes, weights=amounts, minlength=k)
        self._table[:, _COLUMN[counter]] += summed[:k]

    def rows(self, totals: dict[str, float]) -> list[dict[str, float | int | str]]:
        """One row per kind seen: ``kind``, every counter, and ``latency_mean`` (nan without
        arrivals). A window that never split has one row, its totals (none without messages)."""
        if self._table is None:
            if not self.names:
                return []
            values = [[totals.get(name, 0) for name in KIND_COUNTERS]]
        else:
            values = self._table.tolist()
        out = []
        for name, row in zip(self.names, values, strict=True):
            item: dict[str, float | int | str] = {"kind": name}
            for column, value in zip(KIND_COUNTERS, row, strict=True):
                item[column] = round(value) if column in _INTEGER else float(value)
            count = item.pop("latency_count")
            total = item.pop("latency_sum")
            item["latency_mean"] = float(total) / int(count) if count else math.nan
            out.append(item)
        return out
