"""A learner's declared exchanges as message kinds: a float32 vector's real size, shape and bound."""

from __future__ import annotations

import numpy as np

from dmarl_des.learn.exchange import Exchange
from dmarl_des.net import MessageKind, Topology

__all__ = ["LEARNING_TRAFFIC", "exchange_kind", "learning_inbox_limit"]

LEARNING_TRAFFIC = "learning"
"""The traffic label of exchanged vectors in the per-kind accounting (world kinds: ``world``)."""

MIN_INBOX = 64
"""Fewest messages a learning inbox holds."""


def exchange_kind(exchange: Exchange) -> MessageKind:
    """The message kind of an exchange: name, shape ``(size,)``, float32, ``4 · size`` bytes
    (what ``net.bandwidth.capacity`` serializes), and the exchange's value bound."""
    return MessageKind(
        exchange.name,
        (exchange.size,),
        "float32",
        max_bytes=4 * exchange.size,
        bound=exchange.bound,
    )


def learning_inbox_limit(topology: Topology) -> int:
    """Messages an agent's inbox of one exchange holds: four rounds' worth from its most
    connected neighbourhood, at least ``MIN_INBOX`` (an agent drains it at every round it
    combines at; the oldest are evicted first)."""
    degree = np.diff(topology.indptr)
    return max(MIN_INBOX, 4 * int(degree.max(initial=0)))
