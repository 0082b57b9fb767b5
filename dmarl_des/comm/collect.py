"""What agents combine at a round: the latest vector from each neighbour that arrived, with its age.

``collect`` drains the inboxes of one exchange for the agents combining now and keeps, per
(receiver, sender) pair, the message with the latest send time (ties: the later sent); the older
ones of the pair are *superseded*. A kept message from a sender that is not the receiver's
neighbour in the network's current graph is *unlinked* and not used. For every combining agent,
each current neighbour without a kept message is *missing* (lost, late, rejected, crashed,
cut off: the learner's gossip rule gives its weight to the agent itself). A kept message's *age*
is the number of rounds of its exchange since the one it was sent at: 0 is *fresh*, more is
*stale* (used as it is).
"""

from __future__ import annotations

import numpy as np

from dmarl_des.learn.exchange import Arrived
from dmarl_des.net import Network

__all__ = ["collect"]


def _latest_per_pair(key: np.ndarray, t_sent: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """Positions of the latest message of each distinct key, ordered by key."""
    order = np.lexsort((seq, t_sent, key))
    sorted_key = key[order]
    last = np.ones(key.size, dtype=bool)
    last[:-1] = sorted_key[1:] != sorted_key[:-1]
    return order[last]


def collect(
    network: Network,
    name: str,
    agents: np.ndarray,
    round_index: int,
    time: float,
    round_times: np.ndarray,
) -> Arrived:
    """Drain exchange ``name`` for ``agents`` (ascending, distinct) at the round ``round_index``
    of the run (``round_times``: the send times of this exchange's rounds in the episode, the
    current one last) and return what they combine (see the module docstring)."""
    n = network.n
    topology = network.topology
    indptr, indices = topology.indptr, topology.indices
    got = network.drain_refs(agents, inbox=name)
    key = got.receiver * n + got.sender
    keep = _latest_per_pair(key, got.t_sent, got.seq) if key.size else key
    superseded = int(key.size - keep.size)
    entry = np.empty(0, dtype=np.int64)
    unlinked = 0
    if keep.size:
        rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
        csr_key = rows * n + indices  # ascending: rows ascend, each row's indices are sorted
        pos = np.minimum(np.searchsorted(csr_key, key[keep]), max(csr_key.size - 1, 0))
        linked = csr_key[pos] == key[keep] if csr_key.size else np.zeros(keep.size, dtype=bool)
        unlinked = int(keep.size - np.count_nonzero(linked))
        keep, entry = keep[linked], pos[linked]
    receiver = got.receiver[keep]
    sent_round = np.searchsorted(round_times, got.t_sent[keep], side="right") - 1
    age = (len(round_times) - 1 - sent_round).astype(np.int64)
    degree = np.diff(indptr)[agents]
    used_per = np.bincount(receiver, minlength=n)[agents] if receiver.size else 0 * degree
    stale = int(np.count_nonzero(age > 0))
    counts = {
        "used": int(keep.size),
        "fresh": int(keep.size) - stale,
        "stale": stale,
        "missing": int((degree - used_per).sum()),
        "superseded": superseded,
        "unlinked": unlinked,
    }
    return Arrived(
        name=name,
        size=int(network.kinds[name].shape[0]),
        round=round_index,
        time=time,
        agents=agents,
        indptr=indptr,
        indices=indices,
        receiver=receiver,
        sender=got.sender[keep],
        entry=entry,
        age=age,
        sources=got.sources,
        source=got.source[keep],
        row=got.row[keep],
        counts=counts,
    )
