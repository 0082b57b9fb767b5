"""A minimal exchanging learner for the comm tests: it only gossips a vector per agent."""

from __future__ import annotations

import numpy as np
import torch

from dmarl_des.learn.consensus import consensus_step
from dmarl_des.learn.exchange import Arrived, Exchange


class Gossip:
    """Acts with the first allowed macro-action, updates once per observed batch (when
    ``learn``), and exchanges ``theta`` [N, size] (agent i starts with ``values[i]``), combined by
    the consensus step; every arrived record is kept in ``log``."""

    joint = False
    round_metrics = ("mean_self_weight",)

    def __init__(
        self,
        values: np.ndarray,
        *,
        period: float = 1.0,
        every_updates: int = 0,
        bound: float = 1e3,
        learn: bool = False,
    ) -> None:
        self.theta = torch.tensor(np.asarray(values, dtype=np.float32))
        self.exchange = Exchange(
            "theta", self.theta.shape[1], bound=bound, period=period, every_updates=every_updates
        )
        self.learn = learn
        self.pending = 0
        self.updates = 0
        self.log: list[Arrived] = []
        self.sent: list[tuple[np.ndarray, np.ndarray]] = []

    # -- policy and learner --------------------------------------------------------------------
    def act(self, obs, agent_idx, mask, *, explore=True):
        return np.argmax(mask, axis=1).astype(np.int64)

    def reset(self, agent_idx=None):
        pass

    def observe(self, batch):
        self.pending += len(batch)

    def observe_epoch(self, epoch):
        pass

    def ready(self):
        return self.learn and self.pending > 0

    def update(self):
        self.pending = 0
        self.updates += 1
        return {"samples": 0}

    def end_episode(self, episode):
        pass

    def state_dict(self):
        return {"theta": self.theta}

    def load_state_dict(self, state):
        self.theta = state["theta"]

    # -- exchanging ----------------------------------------------------------------------------
    def exchanges(self):
        return (self.exchange,)

    def outgoing(self, name, agents):
        vectors = self.theta[torch.as_tensor(agents)].numpy().copy()
        self.sent.append((np.asarray(agents).copy(), vectors.copy()))
        return vectors

    def combine(self, arrived):
        self.log.append(arrived)
        self_weight = consensus_step(self.theta, arrived)
        return {"mean_self_weight": float(self_weight.mean()) if self_weight.size else None}
