"""Small worlds for fault tests: agents that share values over the network, listen on a store, wait."""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import polars as pl
import simpy

from dmarl_des.faults import FaultInjector
from dmarl_des.learn.random_policy import RandomPolicy
from dmarl_des.macro import MacroAction
from dmarl_des.net import MessageKind
from dmarl_des.scenario import Scenario, WorldParams
from dmarl_des.world import World

DIM = 2


class ShareParams(WorldParams):
    name: Literal["fault_share"] = "fault_share"
    mean_wait: float = 1.0
    ping_every: float = 0.7
    shared_stream: bool = False  # durations from the shared world stream instead of per agent
    adversarial: bool = True  # the world offers adversarial_actions


def _share(agent):
    """Fold what arrived into the own value, broadcast it, then wait a random time."""
    world = agent.model
    i = agent.idx
    net = world.network
    got = [m.payload for m in net.inbox(i).drain()]
    if got:
        world.heard.append((i, np.stack(got)))
        world.value[i] = (world.value[i] + np.sum(got, axis=0)) / (1 + len(got))
    net.broadcast(i, "value", world.value[i])
    yield world.env.timeout(world.duration(agent))


def _listen(agent):
    """Wait for a ping on the agent's own SimPy store."""
    world = agent.model
    item = yield world.stores[agent.idx].get()
    world.pings.append((agent.idx, world.now, item))


def _rest(agent):
    world = agent.model
    yield world.env.timeout(world.duration(agent))


class ShareWorld(World):
    """Agents average the values they hear (share), wait on a store (listen), or rest.

    Every macro-action's duration is an exponential draw from the agent's own per-agent world
    stream (or, with ``shared_stream``, from the shared world stream). The world keeps the fault
    injector of each episode in ``injectors`` so tests can inspect what it chose.
    """

    Params = ShareParams
    obs_dim = DIM
    message_kinds: ClassVar[dict[str, MessageKind]] = {
        "value": MessageKind("value", (DIM,), "float64", 8 * DIM)
    }
    tables: ClassVar[dict[str, dict[str, pl.DataType]]] = {
        "durations": {"episode": pl.Int64, "agent_id": pl.Int64, "duration": pl.Float64}
    }

    def setup(self) -> None:
        self.macro_actions = [
            MacroAction("share", _share),
            MacroAction("listen", _listen),
            MacroAction("rest", _rest),
        ]
        self.injectors: list[FaultInjector] = []

    def reset_episode(self, episode: int) -> None:
        n = len(self.sim_agents)
        init = self.streams.fresh("world_init", episode)
        self.value = init.random((n, DIM))
        self.x0 = self.value.copy()
        self.heard: list[tuple[int, np.ndarray]] = []
        self.pings: list[tuple[int, float, int]] = []
        self.stores = [simpy.Store(self.env) for _ in range(n)]
        self.shared_rng = self.streams.fresh("world", episode)
        self.agent_rngs: dict[int, np.random.Generator] = {}

    def duration(self, agent) -> float:
        if self.params.shared_stream:
            d = float(self.shared_rng.exponential(self.params.mean_wait))
        else:
            rng = self.agent_rngs.get(agent.agent_id)
            if rng is None:
                rng = self.agent_rngs[agent.agent_id] = self.streams.for_agent(
                    "world", self.episode, agent.agent_id
                )
            d = float(rng.exponential(self.params.mean_wait))
        self.recorder.add("durations", episode=self.episode, agent_id=agent.agent_id, duration=d)
        return d

    def start_processes(self) -> None:
        self.env.process(self._pinger())

    def _pinger(self):
        k = 0
        while True:
            yield self.env.timeout(self.params.ping_every)
            k += 1
            for store in self.stores:
                store.put(k)

    def observe(self, agent) -> np.ndarray:
        return self.value[agent.idx].astype(np.float32)

    def reset_agent_state(self, agent) -> None:
        self.value[agent.idx] = self.x0[agent.idx]

    def adversarial_actions(self, agent_idx, mask):
        if not self.params.adversarial:
            return None
        return np.full(len(agent_idx), 2, dtype=np.int64)  # always rest

    def _start_faults(self, episode: int) -> None:
        # Like World._start_faults, keeping the injector for inspection.
        if self.scenario.faults == type(self.scenario.faults)():
            return
        rng = self.streams.fresh("faults", episode)
        self.injectors.append(FaultInjector(self.scenario.faults, self, rng).start())


class QuietWorld(ShareWorld):
    """The same agents without a network (use the rest macro-action only)."""

    message_kinds: ClassVar[dict[str, MessageKind]] = {}


class Plan:
    """A policy: a fixed action per agent slot (default 0 = share)."""

    def __init__(self, actions: dict[int, int] | None = None, default: int = 0):
        self.actions = actions or {}
        self.default = default

    def act(self, obs, agent_idx, mask, *, explore=True):
        a = [self.actions.get(int(i), self.default) for i in agent_idx]
        return np.array(a, dtype=np.int64)

    def reset(self, agent_idx=None):
        pass


def share_scenario(faults: dict | None = None, **kw) -> Scenario:
    world = kw.pop("world", ShareParams())
    base = dict(
        n_agents=6,
        horizon=12.0,
        seed=3,
        net={"topology": {"kind": "complete"}, "delay": {"model": "constant", "mean": 0.05}},
        record={"transitions": True, "messages": True},
        faults=faults or {},
    )
    base.update(kw)
    return Scenario.build(world=world, **base)


def run_world(scenario: Scenario, policy=None) -> ShareWorld:
    world = ShareWorld(scenario)
    world.policy = policy if policy is not None else Plan()
    world.run()
    return world


def run_random(scenario: Scenario) -> ShareWorld:
    world = ShareWorld(scenario)
    world.policy = RandomPolicy(world.n_actions, world.streams.stream("policy"))
    world.run()
    return world


WORLD = ShareWorld
