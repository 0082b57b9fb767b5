"""Choosing faulty agents: explicit ids or a random draw, under F-total and F-local bounds.

Definitions (the usual ones of resilient consensus). With ``faulty`` the set of faulty agents and
the topology's CSR arrays (agent ``i`` sends to ``indices[indptr[i]:indptr[i+1]]``):

* **F-total**: ``|faulty| <= total``.
* **F-local**: every agent ``j`` *not* in ``faulty`` hears from at most ``local`` faulty agents,
  i.e. ``|{i in faulty : j in out(i)}| <= local``. Faulty agents' own neighbourhoods are not bounded.

The draw is a greedy random selection: the candidates are visited in a uniformly random order
(one permutation drawn from the rng) and each is taken when adding it keeps both bounds, until the
wanted number is reached or a whole pass adds nobody (a later pass can take an agent refused
earlier, because a faulty agent's own neighbourhood is not bounded). The result is maximal: no
remaining agent fits. It may therefore hold fewer agents than
asked for; it never breaks a bound. Explicit ids are taken as given and must keep the bounds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dmarl_des.errors import ConfigError
from dmarl_des.net import Topology


@dataclass(frozen=True, slots=True)
class FaultBounds:
    """F-total (``total``) and F-local (``local``) bounds; None = unbounded."""

    total: int | None = None
    local: int | None = None


class FaultySet:
    """The faulty agents chosen so far, with the in-neighbour counts the F-local bound needs."""

    def __init__(self, n: int, bounds: FaultBounds, topology: Topology | None = None) -> None:
        if topology is not None and topology.n != n:
            raise ConfigError("topology", topology.n, f"a topology over {n} agents")
        self.n = n
        self.bounds = bounds
        self.topology = topology
        self.faulty = np.zeros(n, dtype=bool)
        self.heard = np.zeros(n, dtype=np.int64)  # faulty in-neighbours of each agent

    @property
    def size(self) -> int:
        return int(self.faulty.sum())

    def _receivers(self, i: int) -> np.ndarray:
        if self.topology is None:
            return np.empty(0, dtype=np.int64)
        return self.topology.neighbors(i)

    def allows(self, i: int) -> bool:
        """Whether agent ``i`` can be added without breaking a bound."""
        if self.faulty[i]:
            return False
        total, local = self.bounds.total, self.bounds.local
        if total is not None and self.size + 1 > total:
            return False
        if local is not None:
            rec = self._receivers(i)
            honest = rec[~self.faulty[rec]]
            if honest.size and int(self.heard[honest].max()) + 1 > local:
                return False
        return True

    def add(self, i: int) -> None:
        """Mark ``i`` faulty (no bound check)."""
        self.faulty[i] = True
        self.heard[self._receivers(i)] += 1

    def take_ids(self, ids: tuple[int, ...], field: str) -> np.ndarray:
        """Add explicit ids; ConfigError (naming ``field``) when one breaks a bound."""
        for i in ids:
            if not 0 <= i < self.n:
                raise ConfigError(field, i, f"agent ids in [0, {self.n})")
            if not self.allows(i):
                raise ConfigError(
                    field, list(ids), f"ids that keep faults.bound ({_describe(self.bounds)})"
                )
            self.add(i)
        return np.asarray(ids, dtype=np.int64)

    def draw(self, wanted: int, rng: np.random.Generator) -> np.ndarray:
        """Greedy random selection of up to ``wanted`` more agents (see the module docstring)."""
        chosen: list[int] = []
        if wanted <= 0:
            return np.empty(0, dtype=np.int64)
        order = rng.permutation(self.n)
        if self.bounds.local is None or self.topology is None:
            room = wanted if self.bounds.total is None else self.bounds.total - self.size
            picked = order[~self.faulty[order]][: max(0, min(wanted, room))]
            for i in picked.tolist():
                self.add(i)
            return picked.astype(np.int64)
        # Under an F-local bound, making an agent faulty lifts the bound on its own in-neighbours,
        # so a candidate refused earlier in the pass may fit later: pass again until none fits.
        progress = True
        while progress and len(chosen) < wanted:
            progress = False
            for i in order.tolist():
                if len(chosen) >= wanted:
                    break
                if not self.faulty[i] and self.allows(i):
                    self.add(i)
                    chosen.append(i)
                    progress = True
        return np.asarray(chosen, dtype=np.int64)


def bounds_hold(faulty: np.ndarray, bounds: FaultBounds, topology: Topology | None) -> bool:
    """Check F-total and F-local for a boolean ``faulty`` mask (or an array of ids)."""
    faulty = np.asarray(faulty)
    n = topology.n if topology is not None else None
    if faulty.dtype != bool:
        mask = np.zeros(n if n is not None else int(faulty.max(initial=-1)) + 1, dtype=bool)
        mask[faulty] = True
        faulty = mask
    if bounds.total is not None and int(faulty.sum()) > bounds.total:
        return False
    if bounds.local is not None and topology is not None:
        src, dst = topology.edges()
        heard = np.bincount(dst[faulty[src]], minlength=topology.n)
        if np.any(heard[~faulty] > bounds.local):
            return False
    return True


def _describe(bounds: FaultBounds) -> str:
    return f"total={bounds.total}, local={bounds.local}"
