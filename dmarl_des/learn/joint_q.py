"""What VDN and QMIX share: per-agent Qs acting ε-greedily and decision epochs collected for replay."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from dmarl_des.learn.config import LearnerSpec
from dmarl_des.learn.joint_replay import EpochReplay
from dmarl_des.learn.networks import GatheredSets, SetSelection
from dmarl_des.learn.protocol import DecisionEpoch, TransitionBatch
from dmarl_des.learn.q_agents import AgentQ
from dmarl_des.learn.sampling import LinearSchedule
from dmarl_des.learn.seeding import learner_streams
from dmarl_des.learn.stacked_adam import StackedAdam, load_optimizers


class JointQLearner:
    """Decentralized execution (each agent's own Q) and centralized epoch replay.

    Subclasses (VDN, QMIX) add how the agents' Qs are mixed in ``update``. A minibatch holds every
    agent's row of each sampled epoch, so every update trains every agent's parameter set.
    """

    joint = True
    algorithm = ""  # the name checkpoints carry (set by subclasses)

    def __init__(self, config: Any, spec: LearnerSpec, device: torch.device) -> None:
        self.config = config
        self.spec = spec
        self.device = device
        self.streams = learner_streams(spec.seed)
        self.rng = self.streams.rng
        self.agents = AgentQ(config, spec, device, self.streams)
        self.optimizer = StackedAdam(self.agents.online.flat, lr=config.lr)
        self.epsilon = LinearSchedule(  # over decisions per agent
            config.eps_start, config.eps_end, config.eps_decay, spec.n_agents
        )
        self.replay = EpochReplay(
            config.buffer_size,
            spec.n_agents,
            spec.obs_dim,
            spec.n_actions,
            spec.state_dim,
            self.agents.state_size,
            spec.gamma,
        )
        self.decisions = 0
        self.updates = 0
        self._credit = 0
        self._rows: tuple[torch.Tensor, SetSelection] | None = None  # minibatch rows' agents

    def act(
        self, obs: np.ndarray, agent_idx: np.ndarray, mask: np.ndarray, *, explore: bool = True
    ) -> np.ndarray:
        epsilon = self.epsilon(self.decisions) if explore else 0.0
        actions, _, _ = self.agents.act(obs, agent_idx, mask, epsilon)
        if explore:
            self.decisions += len(actions)
        return actions

    def reset(self, agent_idx: np.ndarray | None = None) -> None:
        self.agents.reset(agent_idx)

    def observe(self, batch: TransitionBatch) -> None:
        """Per-agent transitions are not used: joint learners learn from decision epochs."""

    def observe_epoch(self, epoch: DecisionEpoch) -> None:
        h = self.agents.decision_state.cpu().numpy() if self.agents.state_size else None
        linked = self.replay.add(epoch, h)
        if linked and self.replay.n_transitions >= self.config.learning_starts:
            self._credit += 1

    def end_episode(self, episode: int) -> None:
        self.replay.end_episode()

    def ready(self) -> bool:
        cfg = self.config
        enough = self.replay.n_transitions >= max(cfg.learning_starts, 1)
        return enough and self._credit >= cfg.train_every

    def _gather(self, batch: int) -> tuple[GatheredSets, GatheredSets]:
        """The online (trainable) and target parameters for a minibatch of ``batch`` epochs."""
        n_agents = self.spec.n_agents
        if self._rows is None or self._rows[0].shape[0] != batch * n_agents:
            # the rows' agents (and so their parameter sets) are the same for every minibatch
            agent = torch.arange(n_agents, device=self.device).repeat(batch)
            self._rows = (agent, self.agents.layout.select(agent))
        online = self.agents.online.gather(self._rows[1])
        return online, online.of(self.agents.target)

    def _joint_q(self, net: GatheredSets, obs: torch.Tensor, h: torch.Tensor | None):
        """Every agent's Qs for a minibatch of epochs: obs [B, N, D] -> [B, N, A] in one call,
        with parameters from ``_gather``."""
        batch, n_agents = obs.shape[0], self.spec.n_agents
        agent = self._rows[0]
        flat_h = None if h is None else h.reshape(batch * n_agents, -1)
        q, _ = self.agents.q_values(net, obs.reshape(batch * n_agents, -1), agent, flat_h)
        return q.reshape(batch, n_agents, -1)

    def _take_credit(self) -> dict[str, torch.Tensor]:
        """Spend one update's credit and sample a minibatch of joint transitions on the device."""
        cfg = self.config
        if self.replay.n_transitions == 0:
            name = type(self).__name__
            raise RuntimeError(f"{name}.update() called with no joint transitions; check ready()")
        self._credit = max(0, self._credit - cfg.train_every)
        return {
            k: torch.from_numpy(v).to(self.device)
            for k, v in self.replay.sample(cfg.batch_size, self.rng).items()
        }

    # -- persistence --------------------------------------------------------------------------
    def _extra_nets(self) -> dict[str, torch.nn.Module]:
        """Networks a subclass trains besides the agents' Qs (saved under these names)."""
        return {}

    def _optimizers(self) -> dict[str, Any]:
        """The optimizers by name: the agents' first (a subclass adds its own)."""
        return {"agents": self.optimizer}

    def state_dict(self) -> dict:
        extra = {name: net.state_dict() for name, net in self._extra_nets().items()}
        return {
            "algorithm": self.algorithm,
            "nets": {**self.agents.state_dict(), **extra},
            "optimizer": {name: opt.state_dict() for name, opt in self._optimizers().items()},
            "counters": {"decisions": self.decisions, "updates": self.updates},
        }

    def load_state_dict(self, state: dict) -> None:
        self.agents.load_state_dict(state["nets"])
        for name, net in self._extra_nets().items():
            net.load_state_dict(state["nets"][name])
        agents = 2 * len(self.agents.online.maps)  # tensors of the agents' nets in older states
        load_optimizers(self._optimizers(), state["optimizer"], [agents])
        self.decisions = int(state["counters"]["decisions"])
        self.updates = int(state["counters"]["updates"])
