"""A minimal learner for the federated tests: one per-agent block whose rows the tests set."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

from dmarl_des.learn.federated import FederatedConfig
from dmarl_des.learn.networks import AgentNet


class Fed:
    """Acts with the first allowed macro-action; its block ``theta`` (a stacked net with 4
    parameters per agent, agent i's row set to ``values[i]``) is what federated rounds average;
    with ``learn`` every update adds ``step`` to the rows of the agents with data."""

    joint = False

    def __init__(self, values: np.ndarray, *, learn: bool = False, step: float = 0.0, **federated):
        n = values.shape[0]
        self.config = SimpleNamespace(name="fed", federated=FederatedConfig(**federated))
        self.spec = SimpleNamespace(n_agents=n, seed=0)
        self.net = AgentNet(1, 1, (1,), recurrent=False, n_sets=n, generator=torch.Generator())
        with torch.no_grad():
            self.net.flat.copy_(torch.as_tensor(values, dtype=torch.float32))
        self.learn, self.step = learn, step
        self.pending: list[np.ndarray] = []
        self.updates = 0

    @property
    def theta(self) -> np.ndarray:
        return self.net.flat.detach().numpy().copy()

    def federated_blocks(self):
        return {"theta": self.net}

    def act(self, obs, agent_idx, mask, *, explore=True):
        return np.argmax(mask, axis=1).astype(np.int64)

    def reset(self, agent_idx=None):
        pass

    def observe(self, batch):
        self.pending.append(np.asarray(batch.agent_idx))

    def observe_epoch(self, epoch):
        pass

    def ready(self):
        return self.learn and bool(self.pending)

    def update(self):
        agents = np.unique(np.concatenate(self.pending))
        self.pending = []
        with torch.no_grad():
            self.net.flat[torch.as_tensor(agents)] += self.step
        self.updates += 1
        return {"samples": float(agents.size)}

    def end_episode(self, episode):
        pass

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass
