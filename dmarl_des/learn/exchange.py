"""What a learner exchanges over the network: declared per-agent vectors, and what arrives at a round.

A learner that learns with its neighbours (``Exchanging``) declares its *exchanges*: named
per-agent float32 vectors of a fixed size — a critic's parameters, a reward model's, a learned
message, an announced action — each sent at a declared cadence (every ``period`` of simulated
time, or every ``every_updates`` learner updates). The simulator carries them as messages of a
kind of the same name through the world's network (``dmarl_des.comm``); at each round it asks the
learner for the vectors its agents send (``outgoing``) and hands it, per exchange, what arrived
(``Arrived``) to combine (``combine``). Nothing here knows the network: an ``Arrived`` record is
plain arrays.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from dmarl_des.errors import ConfigError

__all__ = ["Arrived", "Exchange", "Exchanging"]


@dataclass(frozen=True, slots=True)
class Exchange:
    """One per-agent vector a learner sends to its neighbours.

    ``name`` is also the message kind's name; each message is ``size`` float32 entries
    (``4 · size`` bytes on the link) of magnitude at most ``bound`` (receivers reject larger
    values as ``out_of_bound``). Cadence: exactly one of ``period`` (> 0: a round at every
    multiple of it in simulated time) and ``every_updates`` (> 0: a round after every
    ``every_updates`` learner updates).
    """

    name: str
    size: int
    bound: float = 1e3
    period: float = 0.0
    every_updates: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError("exchange.name", self.name, "a non-empty name")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 1:
            raise ConfigError(f"exchange[{self.name}].size", self.size, "an integer >= 1")
        if not (isinstance(self.bound, int | float) and self.bound > 0):
            raise ConfigError(f"exchange[{self.name}].bound", self.bound, "a number > 0")
        period_ok = isinstance(self.period, int | float) and 0 <= self.period < math.inf
        every_ok = isinstance(self.every_updates, int) and self.every_updates >= 0
        if not period_ok or not every_ok or (self.period > 0) == (self.every_updates > 0):
            raise ConfigError(
                f"exchange[{self.name}].cadence",
                (self.period, self.every_updates),
                "exactly one of a period > 0 and every_updates > 0",
            )

    @property
    def cadence(self) -> tuple[float, int]:
        """(period, every_updates): exchanges with equal cadences share their rounds."""
        return (float(self.period), int(self.every_updates))


@dataclass(frozen=True, slots=True)
class Arrived:
    """The vectors of one exchange (``size`` entries each) that agents combine at one round.

    ``agents`` [A] (ascending) combine now: the agents that are up. Neighbourhoods are the
    network's at this instant as CSR arrays: agent ``i`` hears ``indices[indptr[i]:indptr[i+1]]``.
    Message ``m`` is the latest vector ``sender[m]`` sent to ``receiver[m]`` that arrived since
    the receiver's previous combine (at most one per pair; a neighbour with none is *missing*);
    ``entry[m]`` is the position of ``sender[m]`` in ``indices`` (within the receiver's row) and
    ``age[m]`` the number of rounds since it was sent (0: sent at this round; more: *stale*,
    used as it is). The vectors themselves are rows of read-only float32 arrays: vector ``m`` is
    ``sources[source[m]][row[m]]`` (no copy per message; ``vectors()`` gathers them).
    """

    name: str
    size: int
    round: int
    time: float
    agents: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    receiver: np.ndarray
    sender: np.ndarray
    entry: np.ndarray
    age: np.ndarray
    sources: tuple[np.ndarray, ...]
    source: np.ndarray
    row: np.ndarray
    counts: Mapping[str, int] = field(default_factory=dict)
    """What the round found: ``used``, ``fresh``, ``stale``, ``missing``, ``superseded``
    (older messages of a pair with a newer one), ``unlinked`` (from a sender that is no longer a
    neighbour: not used)."""

    def __len__(self) -> int:
        return int(self.receiver.shape[0])

    def vectors(self, sel: np.ndarray | None = None) -> np.ndarray:
        """The vectors of messages ``sel`` (None: all) as a new float32 array [M', size]."""
        source, row = (self.source, self.row) if sel is None else (self.source[sel], self.row[sel])
        out = np.empty((source.shape[0], self.size), dtype=np.float32)
        for k, src in enumerate(self.sources):
            at = np.flatnonzero(source == k)
            if at.size:
                out[at] = src[row[at]]
        return out


@runtime_checkable
class Exchanging(Protocol):
    """A learner whose agents exchange vectors with their neighbours over the network.

    ``round_metrics`` names the metrics ``combine`` may return (columns of the `rounds` table).
    """

    round_metrics: tuple[str, ...]

    def exchanges(self) -> Sequence[Exchange]:
        """What the agents exchange (fixed for the learner's lifetime)."""
        ...

    def outgoing(self, name: str, agents: np.ndarray) -> np.ndarray:
        """The vectors of exchange ``name`` that ``agents`` [S] send now: a new float32 array
        [S, size] that the simulator keeps as the messages' payloads (never a view of live
        parameters: the learner must not write it afterwards)."""
        ...

    def combine(self, arrived: Arrived) -> Mapping[str, float]:
        """Combine what arrived at a round (every exchange of the round in the order declared);
        returns metrics of the round (for the `rounds` table)."""
        ...
