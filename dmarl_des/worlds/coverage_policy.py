"""The scripted greedy coverage policy, batched over all deciding UAVs, and its tie-breaking noise.

Each UAV flies to the allowed waypoint whose footprint it knows least covered; among equally
known ones it prefers the one farthest from what it knows, then a pseudo-random one. Hover is
chosen only when no waypoint is allowed. The tie-breaking noise is a hash of (seed, episode, UAV,
its decision count, waypoint), so it does not depend on which UAVs share a batch, on the decision
period, or on other UAVs crashing: common random numbers per UAV without any generator state.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from dmarl_des.kernel import RandomStreams
from dmarl_des.worlds.uav_waypoints import HOVER, KNOWN, N_CANDIDATES, NEAREST


class CoverageState(Protocol):
    """What the greedy policy reads of the coverage world."""

    streams: RandomStreams
    episode: int
    decisions: np.ndarray  # [N] macro-actions each UAV started this episode


_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser on uint64 arrays (wrapping arithmetic)."""
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def tie_noise(seed: int, episode: int, agent_idx: np.ndarray, decisions: np.ndarray) -> np.ndarray:
    """Uniform [0, 1) noise [B, 9] keyed by (seed, episode, UAV, decision count, candidate)."""
    key = _mix(np.array([seed & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64) + np.uint64(episode))
    row = _mix(key ^ (agent_idx.astype(np.uint64) * _GOLDEN))
    row = _mix(row + decisions.astype(np.uint64))
    h = _mix(row[:, None] + np.arange(N_CANDIDATES, dtype=np.uint64) * _GOLDEN)
    return (h >> np.uint64(11)).astype(np.float64) / float(2**53)


def greedy_choice(obs: np.ndarray, mask: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """The greedy waypoints [B] for observations [B, D], masks [B, 9] and noise [B, 9].

    Score (lower is better): known share (steps of 1/13) + 0.01·closeness to known points +
    0.001·noise; hover +2; disallowed +inf. The weights keep the order lexicographic.
    """
    score = obs[:, KNOWN].astype(np.float64) + 0.01 * (1.0 - obs[:, NEAREST]) + 0.001 * noise
    score[:, HOVER] += 2.0
    score[~mask] = np.inf
    return np.argmin(score, axis=1).astype(np.int64)


class GreedyCoverage:
    """The scripted policy of the coverage world (see the module docstring)."""

    def __init__(self, world: CoverageState) -> None:
        self.world = world

    def act(
        self, obs: np.ndarray, agent_idx: np.ndarray, mask: np.ndarray, *, explore: bool = True
    ) -> np.ndarray:
        w = self.world
        noise = tie_noise(w.streams.seed, w.episode, agent_idx, w.decisions[agent_idx])
        return greedy_choice(obs, mask, noise)

    def reset(self, agent_idx: np.ndarray | None = None) -> None:
        """Stateless."""
