"""Agent slots in arrays: who is up, which macro-action each slot runs since when, and its counters.

A slot ``idx`` (0..N-1) is an agent's place: its row in every per-agent array, its index in the
network and in the policy's batches. It keeps its index when its agent leaves and a new agent
(with a new ``agent_id``) joins in it. The arrays are per episode (``reset``), except ``up``,
which lives as long as the world so that the network's "is the receiver up?" test can hold it.
"""

from __future__ import annotations

import numpy as np


class Slots:
    """Per-slot decision state and counters of one episode, as numpy arrays indexed by slot."""

    def __init__(self, n: int) -> None:
        self.up = np.ones(n, dtype=bool)
        """[N] the slot's agent is present and not crashed (read by the network for delivery)."""
        self.agent_id = np.arange(n, dtype=np.int64)
        """[N] id of the agent in each slot (a joiner takes a new id)."""
        self.reset(0, 0)

    @property
    def n(self) -> int:
        return self.up.size

    def reset(self, n_actions: int, obs_dim: int) -> None:
        """Fresh arrays for an episode: nothing running, every counter 0 (``up`` is left alone)."""
        n = self.n
        self.action = np.full(n, -1, dtype=np.int64)
        """[N] index of the running macro-action (-1: none open)."""
        self.t_start = np.zeros(n, dtype=np.float64)
        """[N] when the running macro-action was chosen."""
        self.obs = np.zeros((n, obs_dim), dtype=np.float32)
        """[N, obs_dim] the observation the running macro-action was chosen on."""
        self.mask = np.ones((n, n_actions), dtype=bool)
        """[N, A] the initiation set it was chosen under."""
        self.n_decisions = np.zeros(n, dtype=np.int64)
        self.n_done = np.zeros(n, dtype=np.int64)
        """[N] macro-actions closed this episode."""
        self.busy = np.zeros(n, dtype=np.float64)
        """[N] total duration of the closed macro-actions."""
        self.returns = np.zeros(n, dtype=np.float64)
        """[N] undiscounted reward of the closed macro-actions (the agent's return)."""
        self.generation = np.zeros(n, dtype=np.int64)
        """[N] bumped whenever a slot's running timed macro-action is cancelled (crash, interrupt),
        so that its filed end is recognised as stale."""

    def vacate(self, idx: int, agent_id: int) -> None:
        """Slot ``idx`` gets a new agent: nothing running, its counters back to 0."""
        self.action[idx] = -1
        for arr in (self.n_decisions, self.n_done, self.busy, self.returns):
            arr[idx] = 0
        self.agent_id[idx] = agent_id

    def stats(self, idx: int) -> tuple[float, int, float, int]:
        """(return, decisions, busy time, closed macro-actions) of slot ``idx`` this episode."""
        return (
            float(self.returns[idx]),
            int(self.n_decisions[idx]),
            float(self.busy[idx]),
            int(self.n_done[idx]),
        )
