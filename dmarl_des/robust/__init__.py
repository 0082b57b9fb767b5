"""Robust aggregation rules: mean, median, trimmed mean, W-MSR, Krum, clipped gossip, clipped mean."""

from dmarl_des.robust.aggregate import RULES, aggregate, counted_rule, make_aggregator
from dmarl_des.robust.clipped_gossip import ClippedGossip
from dmarl_des.robust.clipped_mean import ClippedMean
from dmarl_des.robust.coordinatewise import Median, TrimmedMean
from dmarl_des.robust.krum import Krum
from dmarl_des.robust.mean import Mean
from dmarl_des.robust.neighbourhood import Array, NeighbourBlock, Neighbourhoods
from dmarl_des.robust.rule import AggregationRule
from dmarl_des.robust.wmsr import WMSR

__all__ = [
    "RULES",
    "WMSR",
    "AggregationRule",
    "Array",
    "ClippedGossip",
    "ClippedMean",
    "Krum",
    "Mean",
    "Median",
    "NeighbourBlock",
    "Neighbourhoods",
    "TrimmedMean",
    "aggregate",
    "counted_rule",
    "make_aggregator",
]
