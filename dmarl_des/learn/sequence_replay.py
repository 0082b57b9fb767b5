"""Replay of macro-transitions linked into each agent's episode, sampled as short sequences.

Rows are stored in a ring buffer like `ReplayBuffer`; each row also points to the same agent's
next macro-transition in the same episode. A sample is ``n`` segments of up to ``length``
consecutive transitions of one agent, each starting at a uniformly drawn row; a segment stops
early where the agent's episode ended or its next row has been overwritten.
"""

from __future__ import annotations

import numpy as np

from dmarl_des.learn.replay import ReplayBuffer


class SequenceReplay:
    """A ring buffer of squeezed transitions that remembers each agent's order within an episode."""

    def __init__(
        self, capacity: int, columns: dict[str, tuple[tuple[int, ...], type]], n_agents: int
    ) -> None:
        links = {
            "agent": ((), np.int64),
            "serial": ((), np.int64),
            "next": ((), np.int64),
            "next_serial": ((), np.int64),
        }
        self.rows = ReplayBuffer(capacity, columns | links)
        self.serial = 0  # serial number of the next row added
        self.episode: int | None = None
        self.last_row = np.full(n_agents, -1, dtype=np.int64)  # each agent's latest open row
        self.last_serial = np.full(n_agents, -1, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, episode: int, agent: np.ndarray, done: np.ndarray, **rows: np.ndarray) -> None:
        """Append one transition per row, in time order per agent; ``done`` closes its episode."""
        if episode != self.episode:
            self.episode = episode
            self.last_row[:] = -1
        agent = np.asarray(agent, dtype=np.int64)
        done = np.asarray(done, dtype=bool)
        rows_buffer = self.rows
        extra = len(agent) - rows_buffer.capacity
        if extra > 0:  # only the newest rows fit: the older ones end their agents' chains
            self.last_row[agent[:extra]] = -1
            agent, done = agent[extra:], done[extra:]
            rows = {k: v[extra:] for k, v in rows.items()}
        n = len(agent)
        if n == 0:
            return
        where = (rows_buffer.cursor + np.arange(n)) % rows_buffer.capacity
        serials = self.serial + np.arange(n, dtype=np.int64)
        links = {
            "agent": agent,
            "serial": serials,
            "next": np.full(n, -1, dtype=np.int64),
            "next_serial": np.full(n, -1, dtype=np.int64),
        }
        rows_buffer.add(**(rows | links))
        # link after writing: a predecessor overwritten by this batch no longer has its serial, and
        # one written earlier in this batch (the same agent twice, in time order) already has it
        if np.unique(agent).size == n:  # the usual batch: each agent once, linked at once
            self._link(agent, where, serials, done)
        else:  # an agent twice: row after row, in time order
            for k in range(n):
                self._link(agent[k : k + 1], where[k : k + 1], serials[k : k + 1], done[k : k + 1])
        self.serial += n

    def _link(
        self, agent: np.ndarray, where: np.ndarray, serials: np.ndarray, done: np.ndarray
    ) -> None:
        """Point each (distinct) agent's open row at its new row, then open or close the new one."""
        columns = self.rows.columns
        prev = self.last_row[agent]
        linked = prev >= 0
        linked[linked] = columns["serial"][prev[linked]] == self.last_serial[agent[linked]]
        columns["next"][prev[linked]] = where[linked]
        columns["next_serial"][prev[linked]] = serials[linked]
        self.last_row[agent] = np.where(done, -1, where)
        self.last_serial[agent] = serials

    def sample(self, n: int, length: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``n`` segments as columns [n, length, …] plus ``valid`` [n, length] (False = padding)."""
        columns = self.rows.columns
        index = np.zeros((n, length), dtype=np.int64)
        valid = np.zeros((n, length), dtype=bool)
        index[:, 0] = rng.integers(0, len(self.rows), size=n)
        valid[:, 0] = True
        for k in range(1, length):
            prev = index[:, k - 1]
            following = columns["next"][prev]
            linked = valid[:, k - 1] & (following >= 0)
            following = np.where(linked, following, 0)
            linked &= columns["serial"][following] == columns["next_serial"][prev]
            index[:, k] = np.where(linked, following, 0)
            valid[:, k] = linked
        out = {name: column[index] for name, column in columns.items() if name not in _LINKS}
        out["valid"] = valid
        return out


_LINKS = frozenset({"serial", "next", "next_serial"})
