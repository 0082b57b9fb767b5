"""The latest message each agent received from each sender, kept between its decisions.

A receiver decides with what it knows of its neighbours: for each one, the latest message that
arrived from it this episode (by send time; a late message older than one already kept is
dropped as *superseded*). ``HeardTable`` keeps those entries as flat arrays sorted by the key
``receiver · N + sender``, merges each batch of arrivals with one sort, and answers for a
decision batch which of the receivers' *current* neighbours it has an entry for. An entry of a
sender that is no longer a neighbour is kept (it may come back into range) but not used.
"""

from __future__ import annotations

import numpy as np

from dmarl_des.net.inbox_store import DrainedRefs

__all__ = ["HeardTable", "Lookup"]


def _gather(got: DrainedRefs, width: int) -> np.ndarray:
    """The payloads of drained messages as one float32 array [M, width]."""
    out = np.empty((got.receiver.size, width), dtype=np.float32)
    for k, src in enumerate(got.sources):
        at = np.flatnonzero(got.source == k)
        if at.size:
            out[at] = src[got.row[at]]
    return out


class Lookup:
    """The entries found for a decision batch: message ``m`` is ``(row[m], sender[m])`` with
    ``t_sent``, ``t_arrived`` and ``payload`` [M, width]; ``degree`` [B] the current neighbours
    of each receiver of the batch; ``unheard`` the current neighbours with no entry (one per
    pair)."""

    __slots__ = ("degree", "payload", "row", "sender", "t_arrived", "t_sent", "unheard")

    def __init__(self, row, sender, t_sent, t_arrived, payload, degree, unheard) -> None:
        self.row, self.sender, self.t_sent = row, sender, t_sent
        self.t_arrived, self.payload, self.degree = t_arrived, payload, degree
        self.unheard = unheard


class HeardTable:
    """Per (receiver, sender) pair, the latest message that arrived (module docstring)."""

    def __init__(self, n: int, width: int) -> None:
        self.n = int(n)
        self.width = int(width)
        self.superseded = 0
        """Arrivals dropped because a later-sent message of the same pair was already kept."""
        self.clear()

    def clear(self) -> None:
        """Forget every entry (a new episode)."""
        self.key = np.zeros(0, dtype=np.int64)
        self.t_sent = np.zeros(0)
        self.t_arrived = np.zeros(0)
        self.payload = np.zeros((0, self.width), dtype=np.float32)

    def __len__(self) -> int:
        return int(self.key.size)

    def merge(self, got: DrainedRefs) -> int:
        """Add drained arrivals; per pair keep the latest sent (ties: the later arrival, then
        the later send call). Returns how many arrivals were added."""
        m = got.receiver.size
        if not m:
            return 0
        key = np.concatenate([self.key, got.receiver * self.n + got.sender])
        t_sent = np.concatenate([self.t_sent, got.t_sent])
        t_arrived = np.concatenate([self.t_arrived, got.t_delivered])
        payload = np.concatenate([self.payload, _gather(got, self.width)])
        order = np.lexsort((t_arrived, t_sent, key))
        sorted_key = key[order]
        last = np.ones(order.size, dtype=bool)
        last[:-1] = sorted_key[1:] != sorted_key[:-1]
        keep = order[last]
        self.superseded += int(order.size - keep.size)
        self.key, self.t_sent, self.t_arrived = key[keep], t_sent[keep], t_arrived[keep]
        self.payload = payload[keep]
        return m

    def forget(self, receivers: np.ndarray) -> None:
        """Drop every entry of ``receivers`` (an agent that recovers starts knowing nothing)."""
        if not self.key.size:
            return
        gone = np.isin(self.key // self.n, np.asarray(receivers, dtype=np.int64))
        if gone.any():
            keep = ~gone
            self.key, self.t_sent, self.t_arrived = (
                self.key[keep],
                self.t_sent[keep],
                self.t_arrived[keep],
            )
            self.payload = self.payload[keep]

    def lookup(self, agents: np.ndarray, indptr: np.ndarray, indices: np.ndarray) -> Lookup:
        """The entries of ``agents`` (a decision batch, any order) from their current
        neighbours (CSR ``indptr``/``indices``): rows follow the batch, senders ascend within a
        row as in the graph."""
        agents = np.asarray(agents, dtype=np.int64)
        starts, ends = indptr[agents], indptr[agents + 1]
        degree = (ends - starts).astype(np.int64)
        total = int(degree.sum())
        row = np.repeat(np.arange(agents.size, dtype=np.int64), degree)
        if total:
            offsets = np.arange(total) - np.repeat(np.cumsum(degree) - degree, degree)
            sender = indices[np.repeat(starts, degree) + offsets].astype(np.int64)
        else:
            sender = np.zeros(0, dtype=np.int64)
        if total and self.key.size:
            want = agents[row] * self.n + sender
            pos = np.minimum(np.searchsorted(self.key, want), self.key.size - 1)
            found = self.key[pos] == want
        else:
            pos = np.zeros(total, dtype=np.int64)
            found = np.zeros(total, dtype=bool)
        at = pos[found]
        return Lookup(
            row[found],
            sender[found],
            self.t_sent[at],
            self.t_arrived[at],
            self.payload[at],
            degree,
            sender[~found],
        )
