"""The targets of search and rescue: random walkers in the square, and who found and confirmed them.

Each target walks in a straight line at ``speed`` and draws a new heading, uniform on the circle,
at every multiple of ``turn_period`` (a run-and-tumble random walk: over ``k`` periods, far from
the walls, its mean squared displacement is ``k·(speed·turn_period)²``). It reflects off the walls
of ``[0, size]²`` like a billiard ball. Positions are advanced lazily: ``advance(now)`` moves every
target from the last time it was advanced, exactly (straight lines with reflections), so it can be
called at any instant, any number of times. ``speed = 0`` gives static targets.
"""

from __future__ import annotations

import numpy as np


def reflect(u: np.ndarray, size: float) -> tuple[np.ndarray, np.ndarray]:
    """Fold coordinates ``u`` into ``[0, size]`` (mirror walls); also says where the direction of
    travel is reversed (an odd number of reflections)."""
    m = np.mod(u, 2.0 * size)
    back = m > size
    return np.where(back, 2.0 * size - m, m), back


class Targets:
    """Positions, headings and search state of ``m`` targets (arrays by target index)."""

    def __init__(self, m: int, size: float, speed: float, turn_period: float) -> None:
        self.m = int(m)
        self.size = float(size)
        self.speed = float(speed)
        self.turn_period = float(turn_period)
        self.pos = np.zeros((self.m, 2))
        self.heading = np.zeros((self.m, 2))
        """Unit direction of travel of each target."""
        self.t = 0.0
        """The time ``pos`` refers to."""
        self.moves = 0
        """Counts the changes of ``pos`` (a cache of anything derived from it may key on it)."""
        self.found = np.zeros(self.m, dtype=bool)
        self.finder = np.full(self.m, -1, dtype=np.int64)
        """Slot of the UAV that found each target first (-1: not found)."""
        self.t_found = np.full(self.m, np.nan)
        self.confirmed = np.zeros(self.m, dtype=bool)
        self.confirmer = np.full(self.m, -1, dtype=np.int64)
        self.t_confirmed = np.full(self.m, np.nan)

    def reset(self, positions: np.ndarray, rng: np.random.Generator) -> None:
        """Targets at ``positions`` [m, 2] at time 0, nobody found, headings drawn from ``rng``."""
        self.place(positions)
        self.t = 0.0
        self.turn(rng)
        self.found[:] = False
        self.finder[:] = -1
        self.t_found[:] = np.nan
        self.confirmed[:] = False
        self.confirmer[:] = -1
        self.t_confirmed[:] = np.nan

    def place(self, positions: np.ndarray) -> None:
        """Put the targets at ``positions`` [m, 2] (now)."""
        self.pos[:] = positions
        self.moves += 1

    def turn(self, rng: np.random.Generator) -> None:
        """New headings, uniform on the circle (call ``advance`` first: they apply from now)."""
        if self.speed <= 0.0 or self.m == 0:
            return
        angle = rng.uniform(0.0, 2.0 * np.pi, size=self.m)
        self.heading[:, 0] = np.cos(angle)
        self.heading[:, 1] = np.sin(angle)

    def advance(self, now: float) -> np.ndarray:
        """Move every target to time ``now`` (straight, reflecting off the walls); returns ``pos``."""
        dt = now - self.t
        if dt > 0.0 and self.speed > 0.0 and self.m:
            folded, back = reflect(self.pos + self.heading * (self.speed * dt), self.size)
            self.pos[:] = folded
            self.heading[back] *= -1.0
            self.moves += 1
        self.t = max(self.t, now)
        return self.pos

    @property
    def n_found(self) -> int:
        return int(np.count_nonzero(self.found))

    @property
    def n_confirmed(self) -> int:
        return int(np.count_nonzero(self.confirmed))
