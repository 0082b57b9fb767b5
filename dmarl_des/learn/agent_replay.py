"""One ring buffer per agent: each agent keeps its own latest transitions and is sampled on its own."""

from __future__ import annotations

import numpy as np


class AgentReplay:
    """The latest ``capacity`` transitions of each of ``n_agents`` agents, in columns
    ``name -> [n_agents, capacity, *shape]``; a sample draws the same number of rows from every
    agent that has stored transitions, each from its own."""

    def __init__(
        self, n_agents: int, capacity: int, columns: dict[str, tuple[tuple[int, ...], type]]
    ) -> None:
        self.n_agents, self.capacity = int(n_agents), int(capacity)
        self.columns = {
            name: np.zeros((self.n_agents, self.capacity, *shape), dtype=dtype)
            for name, (shape, dtype) in columns.items()
            if name != "agent"
        }
        self.cursor = np.zeros(self.n_agents, dtype=np.int64)  # each agent's next slot
        self.size = np.zeros(self.n_agents, dtype=np.int64)  # each agent's stored transitions

    def __len__(self) -> int:
        return int(self.size.sum())

    @property
    def n_agents_with_data(self) -> int:
        return int(np.count_nonzero(self.size))

    def add(self, agent: np.ndarray, **rows: np.ndarray) -> None:
        """Append one transition per row to its agent's buffer, in row order (an agent's oldest
        transitions are overwritten first)."""
        agent = np.asarray(agent, dtype=np.int64)
        order = np.argsort(agent, kind="stable")
        ids, starts, counts = np.unique(agent[order], return_index=True, return_counts=True)
        rank = np.empty_like(agent)  # how many earlier rows of the batch have the same agent
        rank[order] = np.arange(len(agent)) - np.repeat(starts, counts)
        count = np.zeros(self.n_agents, dtype=np.int64)
        count[ids] = counts
        keep = count[agent] - rank <= self.capacity  # an agent's last `capacity` rows of the batch
        slot = (self.cursor[agent] + rank)[keep] % self.capacity
        for name, column in self.columns.items():
            column[agent[keep], slot] = np.asarray(rows[name])[keep]
        self.cursor[ids] = (self.cursor[ids] + counts) % self.capacity
        self.size[ids] = np.minimum(self.size[ids] + counts, self.capacity)

    def sample(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``n`` rows of each agent with data, drawn uniformly with replacement from its own
        transitions; rows grouped by agent (ascending), with their ``agent`` column."""
        agents = np.flatnonzero(self.size)
        slot = rng.integers(0, self.size[agents][:, None], size=(len(agents), n))
        at = (agents[:, None], slot)  # slots 0 .. size-1 hold an agent's transitions
        out = {
            name: column[at].reshape(-1, *column.shape[2:]) for name, column in self.columns.items()
        }
        out["agent"] = np.repeat(agents, n)
        return out
