"""The traffic world's observation layout and its two classic controllers: fixed-time and max-pressure.

Both controllers are decentralized: each signal decides from its own observation only — its
phase, its own queues and the downstream queues its neighbours reported over the network — so
the max-pressure controller sees a lost report as a stale downstream queue.
"""

from __future__ import annotations

import numpy as np

from dmarl_des.worlds.traffic_grid import N_PHASES, PHASE_SIDES
from dmarl_des.worlds.traffic_signals import Timings

# ------------------------------------------------------------------ observation layout (float32)
PHASE = slice(0, N_PHASES)
"""One-hot of the phase that is green (all zero at the start and after a crash)."""
ELAPSED = N_PHASES
"""Green time of that phase so far / max_green."""
HALTING = slice(N_PHASES + 1, N_PHASES + 5)
"""Vehicles halting at each of the signal's stop lines (sides n, e, s, w) / obs_scale."""
APPROACHING = slice(N_PHASES + 5, N_PHASES + 9)
"""Vehicles on each incoming link still driving to the stop line / obs_scale."""
DOWNSTREAM = slice(N_PHASES + 9, N_PHASES + 13)
"""Per exit side (n, e, s, w): the halting vehicles the neighbour there last reported at the stop
line this signal feeds / obs_scale (0 where the side is an exit of the network)."""
AGE = slice(N_PHASES + 13, N_PHASES + 17)
"""Per exit side: age of that report / AGE_SCALE, capped at 1 (1: none received yet; 0 for an
exit of the network, which is known empty)."""
OBS_DIM = N_PHASES + 17
AGE_SCALE = 60.0
"""Seconds of report age that map to 1 in the observation."""


def current_phase(obs: np.ndarray) -> np.ndarray:
    """The green phase of each observation (-1 when none is green)."""
    onehot = obs[:, PHASE]
    return np.where(onehot.max(axis=1) > 0.5, onehot.argmax(axis=1), -1)


def phase_pressures(obs: np.ndarray, turns: np.ndarray) -> np.ndarray:
    """[B, phases] max-pressure weights: per green approach, its halting vehicles minus the
    downstream queue its vehicles join (weighted by the turning probabilities), summed over the
    phase's approaches. ``turns[d, e]``: probability of leaving by side ``e`` coming from ``d``."""
    side = obs[:, HALTING].astype(np.float64) - obs[:, DOWNSTREAM].astype(np.float64) @ turns.T
    return np.stack([side[:, list(sides)].sum(axis=1) for sides in PHASE_SIDES], axis=1)


class FixedTime:
    """Fixed-time control: the phases in turn, each for its own green (``fixed_greens``)."""

    def __init__(self, timings: Timings, fixed_greens: tuple[float, ...]) -> None:
        self.timings = timings
        self.green_index = np.array([timings.greens.index(g) for g in fixed_greens])

    def act(
        self, obs: np.ndarray, agent_idx: np.ndarray, mask: np.ndarray, *, explore: bool = True
    ) -> np.ndarray:
        phase = current_phase(obs)
        nxt = np.where(phase >= 0, (phase + 1) % N_PHASES, 0)
        return self.timings.action(nxt, self.green_index[nxt])

    def reset(self, agent_idx: np.ndarray | None = None) -> None:
        """Stateless."""


class MaxPressure:
    """Max-pressure control (Varaiya 2013): every decision, green for the phase of largest
    pressure, for the shortest green time; on a tie the current phase goes on. Pressures use the
    downstream queues as last reported by the neighbours."""

    def __init__(self, timings: Timings, turns: np.ndarray) -> None:
        self.timings = timings
        self.turns = turns
        phase, _ = timings.decode(np.arange(timings.n_actions))
        self.action_phase = phase
        self.action_rank = np.tile(np.arange(len(timings.greens)), N_PHASES)

    def act(
        self, obs: np.ndarray, agent_idx: np.ndarray, mask: np.ndarray, *, explore: bool = True
    ) -> np.ndarray:
        pressure = phase_pressures(obs, self.turns)
        current = current_phase(obs)
        score = pressure[:, self.action_phase]
        score = score + 1e-6 * (self.action_phase[None, :] == current[:, None])
        score = score - 1e-9 * self.action_rank[None, :]
        score[~mask] = -np.inf
        return score.argmax(axis=1).astype(np.int64)

    def reset(self, agent_idx: np.ndarray | None = None) -> None:
        """Stateless."""


def adversarial_choice(pressure: np.ndarray, mask: np.ndarray, timings: Timings) -> np.ndarray:
    """What a Byzantine signal does: green for the phase of *least* pressure, as long as
    allowed (the longest green; ties to the lowest index)."""
    phase, _ = timings.decode(np.arange(timings.n_actions))
    rank = np.tile(np.arange(len(timings.greens)), N_PHASES)
    score = -pressure[:, phase] + 1e-6 * rank[None, :]
    score[~mask] = -np.inf
    return score.argmax(axis=1).astype(np.int64)
