"""Scripted policies of search and rescue: frontier (default), lawnmower, and random tracks.

* ``frontier`` — confirm a report of another UAV's find when the nearest is within
  ``confirm_reach``; else fly to the compass waypoint whose footprint the UAV knows least searched
  (the coverage world's greedy choice, same tie-breaking); when every waypoint's footprint is
  known searched, fly to the frontier sector.
* ``lawnmower`` — boustrophedon lanes: the area's ``L = ⌊size / step⌋`` horizontal lanes at
  ``y = (ℓ + ½)·step`` are dealt out in contiguous blocks, UAV ``i`` of ``N`` taking lanes
  ``⌊i·L/N⌋ … ⌊(i+1)·L/N⌋ − 1``. On its first lane a UAV flies east to the wall, moves north one
  lane, flies west, and so on (start ``lanes`` puts each UAV at the west end of its first lane).
  With ``sensor_range = step / 2`` the lanes' footprints tile the band exactly. A UAV off its lanes
  (it has none, it finished them, or it was moved) follows ``frontier``.
* ``random_tracks`` — random search: each UAV keeps a compass heading and turns by −45°, 0 or
  +45° (equally likely) at each waypoint; a flight the walls would shorten is mirrored off them.
  Turns of at most 45° make a track that hardly sweeps its own strip twice (the theory's random
  track, see search_rescue_sensor).

Random choices are SplitMix64 hashes of (seed, episode, UAV, its decision count), as in the
coverage policy: they do not depend on which UAVs share a batch, nor on others' crashes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dmarl_des.worlds.coverage_policy import greedy_choice, tie_noise
from dmarl_des.worlds.search_rescue_layout import CONFIRM, FRONTIER
from dmarl_des.worlds.uav_waypoints import DIRECTIONS, HOVER, KNOWN, LENGTH, N_CANDIDATES

NORTH, EAST, WEST = 0, 2, 6
MIRROR_X = np.array([0, 7, 6, 5, 4, 3, 2, 1])
"""Compass index mirrored at a vertical wall (east/west components reversed)."""
MIRROR_Y = np.array([4, 3, 2, 1, 0, 7, 6, 5])
"""Compass index mirrored at a horizontal wall (north/south components reversed)."""


def lane_blocks(n_uavs: int, size: float, step: float) -> tuple[np.ndarray, np.ndarray]:
    """First lane [N] and one-past-last lane [N] of each UAV's block (empty when lo == hi)."""
    lanes = int(np.floor(size / step + 1e-9))
    i = np.arange(n_uavs + 1)
    edges = (i * lanes) // n_uavs
    return edges[:-1], edges[1:]


def lane_y(lane: np.ndarray | int, step: float) -> np.ndarray:
    """Height of lane ``lane``."""
    return (np.asarray(lane, dtype=np.float64) + 0.5) * step


def start_points(params: Any, rng: np.random.Generator, n: int, size: float) -> np.ndarray:
    """Where the UAVs start (``world.start``): ``cluster`` — uniform in a disc at the centre with
    ``cluster_spacing²`` of area per UAV (capped at the area); ``uniform`` — over the area;
    ``lanes`` — at the west end of each UAV's first lawnmower lane (a UAV without lanes: lane
    ``i mod L``)."""
    if params.start == "uniform":
        return rng.uniform(0.0, size, size=(n, 2))
    if params.start == "lanes":
        lo, hi = lane_blocks(n, size, params.step)
        lanes = max(1, int(np.floor(size / params.step + 1e-9)))
        first = np.where(hi > lo, lo, np.arange(n) % lanes)
        y = np.minimum(lane_y(first, params.step), size)
        return np.stack([np.zeros(n), y], axis=1)
    radius = min(params.cluster_spacing * math.sqrt(n / math.pi), size / 2)
    r = radius * np.sqrt(rng.uniform(size=n))
    a = rng.uniform(0.0, 2 * math.pi, size=n)
    disc = np.stack([r * np.cos(a), r * np.sin(a)], axis=1)
    return np.clip(size / 2 + disc, 0.0, size)


class ScriptedSearch:
    """The scripted policy of the search and rescue world (its ``world.scripted`` mode)."""

    def __init__(self, world: Any, mode: str) -> None:
        self.world = world
        self.mode = mode
        n = len(world.sim_agents)
        self.heading = np.full(n, -1, dtype=np.int64)
        p = world.params
        self.lane_lo, self.lane_hi = lane_blocks(n, world.size, p.step)

    def reset(self, agent_idx: np.ndarray | None = None) -> None:
        """Random tracks start a new heading (all UAVs, or the ones given)."""
        if agent_idx is None:
            self.heading[:] = -1
        else:
            self.heading[agent_idx] = -1

    def act(
        self, obs: np.ndarray, agent_idx: np.ndarray, mask: np.ndarray, *, explore: bool = True
    ) -> np.ndarray:
        w = self.world
        idx = np.asarray(agent_idx, dtype=np.int64)
        noise = tie_noise(w.streams.seed, w.episode, idx, w.decisions[idx])
        if self.mode == "random_tracks":
            return self._random_tracks(obs, idx, mask, noise)
        action = self._frontier(obs, idx, mask, noise)
        if self.mode == "lawnmower":
            action = self._lawnmower(idx, mask, action)
        return action

    # ------------------------------------------------------------------ modes
    def _frontier(
        self, obs: np.ndarray, idx: np.ndarray, mask: np.ndarray, noise: np.ndarray
    ) -> np.ndarray:
        w = self.world
        greedy = greedy_choice(obs, mask[:, :N_CANDIDATES], noise)
        rows = np.arange(len(idx))
        known = obs[rows, KNOWN.start + np.minimum(greedy, HOVER)]
        done_here = (greedy == HOVER) | (known >= 1.0 - 1e-6)
        confirm = mask[:, CONFIRM] & (w.report_distance[idx] <= w.params.confirm_reach)
        frontier = ~confirm & mask[:, FRONTIER] & done_here
        return np.where(confirm, CONFIRM, np.where(frontier, FRONTIER, greedy)).astype(np.int64)

    def _lawnmower(self, idx: np.ndarray, mask: np.ndarray, fallback: np.ndarray) -> np.ndarray:
        w = self.world
        step, size = w.params.step, w.size
        x, y = w.pos[idx, 0], w.pos[idx, 1]
        lo, hi = self.lane_lo[idx], self.lane_hi[idx]
        lane = np.rint(y / step - 0.5).astype(np.int64)
        on_lane = (np.abs(y - lane_y(lane, step)) <= 1e-6 * step) & (lane >= lo) & (lane < hi)
        east = (lane - lo) % 2 == 0
        tol = 1e-9 * size
        at_end = np.where(east, x >= size - tol, x <= tol)
        sweep = np.where(east, EAST, WEST)
        action = np.where(at_end, NORTH, sweep)
        use = on_lane & (~at_end | (lane + 1 < hi))
        use &= mask[np.arange(len(idx)), action]
        return np.where(use, action, fallback).astype(np.int64)

    def _random_tracks(
        self, obs: np.ndarray, idx: np.ndarray, mask: np.ndarray, noise: np.ndarray
    ) -> np.ndarray:
        w = self.world
        head = self.heading[idx]
        fresh = head < 0
        turn = np.minimum((noise[:, 1] * 3).astype(np.int64), 2) - 1
        head = np.where(fresh, np.minimum((noise[:, 0] * 8).astype(np.int64), 7), (head + turn) % 8)
        # mirror off the walls a flight would reach
        pos, step, size = w.pos[idx], w.params.step, w.size
        dest = pos + step * DIRECTIONS[head]
        head = np.where((dest[:, 0] < 0) | (dest[:, 0] > size), MIRROR_X[head], head)
        dest = pos + step * DIRECTIONS[head]
        head = np.where((dest[:, 1] < 0) | (dest[:, 1] > size), MIRROR_Y[head], head)
        rows = np.arange(len(idx))
        ok = mask[rows, head] & (obs[rows, LENGTH.start + head] > 0.0)
        head = np.where(ok, head, greedy_choice(obs, mask[:, :N_CANDIDATES], noise))
        head = np.minimum(head, HOVER)
        self.heading[idx] = np.where(head < HOVER, head, -1)
        return head.astype(np.int64)
