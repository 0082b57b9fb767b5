"""Simulated time and its servants: named RNG streams and the decision batcher."""

from dmarl_des.kernel.batcher import DecisionBatcher
from dmarl_des.kernel.streams import RandomStreams

__all__ = ["DecisionBatcher", "RandomStreams"]
