"""What a communicating learner keeps: heard batches, decision records, spoken messages, communication cost.

Shared by the graph-attention learners (``gnn_ippo``, ``gnn_iql``). Per decision batch the
simulator calls ``hear`` (what the batch heard), the learner acts on ``take(agent_idx)`` (the
same batch, its messages capped to ``max_heard`` per agent, the freshest) and writes a record
(``record``), then the simulator asks ``spoken`` and reports ``transmitted``.

Transitions are tied to records: the one an agent's macro-action was chosen at (``current``,
when the transition closes) and the next one of that agent (linked when it is written:
``pending`` holds, per agent, the transition waiting for it). The communication cost — bytes an
agent put on the air since its latest decision, times ``comm_cost`` — is charged to the
transition of the macro-action it was running (``charge``).
"""

from __future__ import annotations

import numpy as np

from dmarl_des.learn.heard_log import HeardLog
from dmarl_des.learn.messaging import Heard, Spoken

__all__ = ["Conversation"]


class Conversation:
    """Heard batches, records, spoken messages and costs of one learner (module docstring)."""

    def __init__(self, n_agents: int, log: HeardLog, msg_size: int, comm_cost: float) -> None:
        self.n = int(n_agents)
        self.log = log
        self.msg_size = int(msg_size)
        self.comm_cost = float(comm_cost)
        self._heard: Heard | None = None
        self._kept: tuple[Heard, tuple[np.ndarray, np.ndarray]] | None = None
        """The batch ``take`` handed out and its kept messages (``HeardLog.kept``)."""
        self._spoken: tuple[np.ndarray, Spoken] | None = None
        self.current = np.full(self.n, -1, dtype=np.int64)
        """[N] record of each agent's latest decision (-1: none this episode)."""
        self.pending = np.full(self.n, -1, dtype=np.int64)
        """[N] the transition (learner's row id) waiting for the agent's next record (-1: none)."""
        self.bytes = np.zeros(self.n)
        """[N] bytes each agent transmitted since its latest decision."""
        self.heard_total = 0
        self.decisions = 0

    def reset(self, agents: np.ndarray | None = None) -> None:
        """A new episode (None) or agents that start over: no record, nothing pending."""
        if agents is None:
            self.current[:] = -1
            self.pending[:] = -1
            self.bytes[:] = 0.0
            self.log.forget_history()
        else:
            self.current[agents] = -1
            self.pending[agents] = -1
            self.bytes[agents] = 0.0
            self.log.forget_history(agents)

    # ---------------------------------------------------------------- one decision batch
    def hear(self, heard: Heard) -> None:
        self._heard = heard

    def take(self, agent_idx: np.ndarray, offsets: bool) -> tuple[Heard, np.ndarray]:
        """What ``agent_idx`` heard (empty when the simulator handed nothing for this batch)
        and the messages kept (indices into it, at most ``max_heard`` per agent)."""
        heard = self._heard
        self._heard = None
        if heard is None or not np.array_equal(heard.agents, agent_idx):
            heard = Heard.empty(0.0, agent_idx, self.msg_size, offsets)
        self._kept = (heard, self.log.kept(heard))
        return heard, np.sort(self._kept[1][0])

    def record(self, heard: Heard, **columns: np.ndarray) -> np.ndarray:
        """Write the batch's records (``HeardLog.add``); returns their ids."""
        kept = self._kept[1] if self._kept is not None and self._kept[0] is heard else None
        self._kept = None
        ids = self.log.add(heard, kept=kept, **columns)
        self.decisions += heard.agents.size
        self.heard_total += len(heard)
        return ids

    def link(self, agent_idx: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The new records ``ids`` of ``agent_idx`` become current; returns the transitions
        that were waiting for them (rows) and those records."""
        waiting = self.pending[agent_idx]
        has = waiting >= 0
        self.pending[agent_idx] = -1
        self.current[agent_idx] = ids
        self.bytes[agent_idx] = 0.0
        return waiting[has], ids[has]

    def said(self, agent_idx: np.ndarray, spoken: Spoken) -> None:
        self._spoken = (agent_idx.copy(), spoken)

    def spoken(self, agents: np.ndarray) -> Spoken:
        """The messages of ``agents`` (the batch just served)."""
        if self._spoken is None or not np.array_equal(self._spoken[0], agents):
            return Spoken(np.zeros((len(agents), self.msg_size), dtype=np.float32))
        return self._spoken[1]

    def transmitted(self, agents: np.ndarray, sent_bytes: np.ndarray) -> None:
        self.bytes[agents] += sent_bytes

    def charge(self, agent_idx: np.ndarray) -> np.ndarray:
        """The communication cost of ``agent_idx``'s closing transitions (``comm_cost`` × bytes
        transmitted during them); their counts restart."""
        cost = self.comm_cost * self.bytes[agent_idx]
        self.bytes[agent_idx] = 0.0
        return cost

    def started_at(self, agent_idx: np.ndarray) -> np.ndarray:
        """The record each closing transition started at: its agent's latest decision (-1 when
        no longer held)."""
        rec = self.current[agent_idx]
        return np.where(self.log.valid(rec), rec, -1)
