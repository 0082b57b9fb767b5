"""Each agent's two latest decisions, so a macro-transition can be matched to the act that chose it.

``act`` knows no time, so a transition (agent, obs, action) is matched to the agent's latest act
with that observation and action, or to the one before it (the simulator may report a transition
after the same agent's next decision at the same instant).
"""

from __future__ import annotations

import numpy as np


class ActRecords:
    """Per-agent slots holding what was computed at act time (log-probability, recurrent state)."""

    def __init__(self, n_agents: int, obs_dim: int, fields: dict[str, tuple[int, ...]]) -> None:
        self.obs = np.zeros((2, n_agents, obs_dim), dtype=np.float32)
        self.action = np.full((2, n_agents), -1, dtype=np.int64)
        self.values = {
            k: np.zeros((2, n_agents, *shape), np.float32) for k, shape in fields.items()
        }
        self.latest = np.zeros(n_agents, dtype=np.int64)

    def record(
        self, agent_idx: np.ndarray, obs: np.ndarray, action: np.ndarray, **values: np.ndarray
    ) -> None:
        """Remember one act per row (the agent's older record is kept as the second slot)."""
        slot = 1 - self.latest[agent_idx]
        self.obs[slot, agent_idx] = obs
        self.action[slot, agent_idx] = action
        for key, value in values.items():
            self.values[key][slot, agent_idx] = value
        self.latest[agent_idx] = slot

    def lookup(
        self, agent_idx: np.ndarray, obs: np.ndarray, action: np.ndarray
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(found [B] bool, recorded values of the matching act; zeros where none matched)."""
        newest = self.latest[agent_idx]
        older = 1 - newest
        hit_new = self._matches(newest, agent_idx, obs, action)
        hit_old = self._matches(older, agent_idx, obs, action) & ~hit_new
        slot = np.where(hit_new, newest, older)
        found = hit_new | hit_old
        out = {}
        for key, table in self.values.items():
            got = table[slot, agent_idx]
            got[~found] = 0.0
            out[key] = got
        return found, out

    def _matches(self, slot, agent_idx, obs, action) -> np.ndarray:
        same_action = self.action[slot, agent_idx] == action
        return same_action & np.all(self.obs[slot, agent_idx] == obs, axis=1)
