"""Decision records of a communicating learner: what each deciding agent observed, heard, did and said.

Record ``r`` (ids count up over the learner's life) holds one decision: the agent, the time,
its observation, initiation set and macro-action, the message it computed (``said``) and the
messages it heard — at most ``max_heard`` (the freshest), each with the vector as received, the
sender's offset (worlds with positions) and the id of the sender's record that computed it
(``source``; -1 when unknown). Records live in a ring that grows up to ``capacity`` and then
overwrites the oldest: a record is *valid* while it is among the last ``capacity`` written.

The source of a heard message is the sender's latest decision at or before the send time (a
message changes only when its sender decides; a communication tick re-sends the latest one):
each agent's last ``HISTORY`` decisions are kept for that lookup. Training recomputes a heard
message from its source with the current encoder — the differentiable channel — as

    m_train = m_received + (msg_θ(o_source, a_source) − said_source)

so the forward value is exactly what arrived (tampered, stale or not) while the gradient flows
into the sender's message encoder; a message whose source is unknown or overwritten is used as
a constant.
"""

from __future__ import annotations

import numpy as np
import torch

from dmarl_des.learn.messaging import Heard

__all__ = ["HISTORY", "HeardLog"]

HISTORY = 8
"""Decisions per agent kept to find the record a heard message came from."""

INITIAL = 1024


class HeardLog:
    """A growing ring of decision records (module docstring)."""

    def __init__(
        self,
        capacity: int,
        n_agents: int,
        obs_dim: int,
        n_actions: int,
        msg_size: int,
        max_heard: int,
        offsets: bool,
        extras: dict[str, tuple[tuple[int, ...], type]] | None = None,
    ) -> None:
        self.capacity = int(capacity)
        self.n_agents = int(n_agents)
        self.max_heard = int(max_heard)
        self.offsets = offsets
        self.specs: dict[str, tuple[tuple[int, ...], type]] = {
            "agent": ((), np.int64),
            "time": ((), np.float64),
            "obs": ((obs_dim,), np.float32),
            "action": ((), np.int64),
            "mask": ((n_actions,), np.bool_),
            "said": ((msg_size,), np.float32),
            "heard_n": ((), np.int64),
            "source": ((max_heard,), np.int64),
            "vec": ((max_heard, msg_size), np.float32),
            "off": ((max_heard, 2), np.float32),
            **(extras or {}),
        }
        self.size = 0
        self.data: dict[str, np.ndarray] = {}
        self._allocate(min(INITIAL, self.capacity))
        self.count = 0
        self.hist_time = np.full((self.n_agents, HISTORY), -np.inf)
        self.hist_rec = np.full((self.n_agents, HISTORY), -1, dtype=np.int64)

    def _allocate(self, size: int) -> None:
        old, old_size = self.data, self.size
        self.data = {
            k: np.zeros((size, *shape), dtype=dtype) for k, (shape, dtype) in self.specs.items()
        }
        for k, arr in old.items():
            self.data[k][:old_size] = arr[:old_size]
        self.size = size

    # ---------------------------------------------------------------- writing
    def sources(self, senders: np.ndarray, t_sent: np.ndarray) -> np.ndarray:
        """The record of each sender's latest decision at or before its send time (-1: none
        kept)."""
        if not senders.size:
            return np.zeros(0, dtype=np.int64)
        times = self.hist_time[senders]
        ok = times <= t_sent[:, None] + 1e-9
        score = np.where(ok, times, -np.inf)
        best = score.argmax(axis=1)
        ties = ok & (times == score[np.arange(best.size), best][:, None])
        rec = np.where(ties, self.hist_rec[senders], -1).max(axis=1)
        return np.where(ok.any(axis=1), rec, -1)

    def add(
        self,
        heard: Heard,
        obs: np.ndarray,
        action: np.ndarray,
        mask: np.ndarray,
        said: np.ndarray,
        kept: tuple[np.ndarray, np.ndarray] | None = None,
        **extras: np.ndarray,
    ) -> np.ndarray:
        """Write one record per agent of ``heard.agents``; returns their ids. ``kept``:
        ``self.kept(heard)`` when the caller has it already."""
        agents = heard.agents
        b = agents.size
        if self.count + b > self.size and self.size < self.capacity:
            self._allocate(min(self.capacity, max(2 * self.size, self.count + b)))
        ids = self.count + np.arange(b, dtype=np.int64)
        at = ids % self.size
        d = self.data
        d["agent"][at] = agents
        d["time"][at] = heard.time
        d["obs"][at] = obs
        d["action"][at] = action
        d["mask"][at] = mask
        d["said"][at] = said
        for k, v in extras.items():
            d[k][at] = v
        keep, slot = self.kept(heard) if kept is None else kept
        d["heard_n"][at] = np.bincount(heard.row[keep], minlength=b)
        d["source"][at] = -1
        rows = at[heard.row[keep]]
        d["vec"][rows, slot] = heard.vectors[keep]
        if heard.offset is not None:
            d["off"][rows, slot] = heard.offset[keep]
        d["source"][rows, slot] = self.sources(heard.sender[keep], heard.time - heard.age[keep])
        self.count += b
        # each agent's decision history (for the source of messages it sends)
        col = self.count_per_agent(agents)
        self.hist_time[agents, col] = heard.time
        self.hist_rec[agents, col] = ids
        return ids

    def count_per_agent(self, agents: np.ndarray) -> np.ndarray:
        """The history column each agent writes next (its oldest entry)."""
        return self.hist_time[agents].argmin(axis=1)

    def kept(self, heard: Heard) -> tuple[np.ndarray, np.ndarray]:
        """The heard messages kept (at most ``max_heard`` per receiver, the freshest) and the
        slot of each: (indices into ``heard``, slots)."""
        m = len(heard)
        if not m:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        order = np.lexsort((heard.age, heard.row))
        row = heard.row[order]
        first = np.searchsorted(row, row, side="left")
        rank = np.arange(m) - first
        ok = rank < self.max_heard
        return order[ok], rank[ok]

    def forget_history(self, agents: np.ndarray | None = None) -> None:
        """Forget decision histories (all, or ``agents``'): a new episode starts."""
        if agents is None:
            self.hist_time[:] = -np.inf
            self.hist_rec[:] = -1
        else:
            self.hist_time[agents] = -np.inf
            self.hist_rec[agents] = -1

    # ---------------------------------------------------------------- reading
    def valid(self, ids: np.ndarray) -> np.ndarray:
        """True for record ids still held."""
        ids = np.asarray(ids, dtype=np.int64)
        return (ids >= 0) & (ids < self.count) & (self.count - ids <= self.size)

    def slot(self, ids: np.ndarray) -> np.ndarray:
        return np.asarray(ids, dtype=np.int64) % self.size

    def batch(self, ids: np.ndarray, device: torch.device) -> dict[str, torch.Tensor]:
        """The records ``ids`` (valid ones) as tensors, heard messages flattened: ``row`` [M]
        (position in ``ids``), ``vec`` [M, S], ``off`` [M, 2], and for the messages whose
        source is held, ``src_at`` (their positions among the M), ``src_obs``, ``src_action``
        and ``src_said``."""
        d = self.data
        at = self.slot(ids)
        n_heard = d["heard_n"][at]
        row = np.repeat(np.arange(at.size, dtype=np.int64), n_heard)
        slot = np.arange(row.size) - np.repeat(np.cumsum(n_heard) - n_heard, n_heard)
        src = d["source"][at[row], slot]
        held = self.valid(src)
        src_slot = self.slot(src[held])
        out = {
            "obs": d["obs"][at],
            "action": d["action"][at],
            "mask": d["mask"][at],
            "row": row,
            "vec": d["vec"][at[row], slot],
            "off": d["off"][at[row], slot],
            "src_at": np.flatnonzero(held),
            "src_obs": d["obs"][src_slot],
            "src_action": d["action"][src_slot],
            "src_said": d["said"][src_slot],
        }
        for k in self.specs:
            if k not in out and k not in ("source", "heard_n", "vec", "off"):
                out[k] = d[k][at]
        return {k: torch.from_numpy(np.ascontiguousarray(v)).to(device) for k, v in out.items()}
