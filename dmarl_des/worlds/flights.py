"""Straight flights at constant speed, kept in arrays: where each UAV is now and where it is going.

Shared by the UAV worlds (coverage, search and rescue). UAV i's current flight leaves ``origin[i]``
at ``t_depart[i]`` and reaches ``target[i]`` at ``t_arrive[i]``, moving in a straight line at
constant speed; before departure it is at the origin, after arrival at the target (it waits
there, e.g. for the next control tick). ``pos[i]`` is the last waypoint it reached (or where it
was stopped): the next flight starts there. A hover is a "flight" with ``target = origin`` and
``flying = False``. Durations are the world's: length / speed for a flight.
"""

from __future__ import annotations

import numpy as np


class Flights:
    """The flights of N UAVs (arrays by slot; updated in place, so views of them stay valid)."""

    def __init__(self, n: int) -> None:
        self.pos = np.zeros((n, 2))
        """The last waypoint each UAV reached (or where it stopped): its flights start here."""
        self.origin = np.zeros((n, 2))
        self.target = np.zeros((n, 2))
        self.t_depart = np.zeros(n)
        self.t_arrive = np.zeros(n)
        self.flying = np.zeros(n, dtype=bool)
        """True while a flight (not a hover) is under way: it ends by arriving at its target."""

    def reset(self, start: np.ndarray) -> None:
        """Every UAV at ``start`` [N, 2], stopped, at time 0."""
        for arr in (self.pos, self.origin, self.target):
            arr[:] = start
        self.t_depart[:] = 0.0
        self.t_arrive[:] = 0.0
        self.flying[:] = False

    def begin(
        self,
        idx: np.ndarray,
        dest: np.ndarray,
        duration: np.ndarray,
        flying: np.ndarray,
        now: float,
    ) -> None:
        """UAVs ``idx`` leave their ``pos`` now for ``dest`` [B, 2], arriving after ``duration``."""
        self.origin[idx] = self.pos[idx]
        self.target[idx] = dest
        self.t_depart[idx] = now
        self.t_arrive[idx] = now + duration
        self.flying[idx] = flying

    def positions(self, now: float) -> np.ndarray:
        """Positions [N, 2] at time ``now``, interpolated along the flights under way."""
        span = self.t_arrive - self.t_depart
        frac = np.clip((now - self.t_depart) / np.where(span > 0, span, 1.0), 0.0, 1.0)
        return self.origin + (self.target - self.origin) * frac[:, None]

    def stop_many(self, idx: np.ndarray, points: np.ndarray, now: float) -> None:
        """``stop`` for UAVs ``idx`` (distinct) at ``points`` [B, 2]."""
        self.pos[idx] = points
        self.origin[idx] = points
        self.target[idx] = points
        self.t_depart[idx] = now
        self.t_arrive[idx] = now
        self.flying[idx] = False

    def stop(self, i: int, point: np.ndarray, now: float) -> None:
        """UAV i is (now) at ``point`` and not moving: its next flight starts there."""
        self.pos[i] = point
        self.origin[i] = point
        self.target[i] = point
        self.t_depart[i] = self.t_arrive[i] = now
        self.flying[i] = False
