"""Simulated time and its servants: the order of events in an instant, named RNG streams, the decision batcher."""

from dmarl_des.kernel.batcher import DecisionBatcher
from dmarl_des.kernel.instants import (
    AFTER_DECISIONS,
    DECISIONS,
    NORMAL,
    URGENT,
    Instant,
    Periodic,
    call_at,
    every,
    trigger_later,
)
from dmarl_des.kernel.streams import RandomStreams

__all__ = [
    "AFTER_DECISIONS",
    "DECISIONS",
    "NORMAL",
    "URGENT",
    "DecisionBatcher",
    "Instant",
    "Periodic",
    "RandomStreams",
    "call_at",
    "every",
    "trigger_later",
]
