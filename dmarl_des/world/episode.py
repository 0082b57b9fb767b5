"""Running one episode: a fresh clock, the world's initial state, the simulation, the closing rows.

``begin`` sets an episode up, in this order: a new ``simpy.Environment`` (time 0), the episode's
rewards, decision batcher and slots, the original agents all up and honest, the world's
``reset_episode`` hook, the network (``build_topology``; with the learning rounds of an
exchanging learner in a training episode, and the message inboxes of a policy that sends
learned messages, in every episode), ``policy.reset``, the world's
``start_processes`` hook, the fault injector, the trace sampler, then every agent asks for its
first decision (served by the flush at time 0). ``simulate`` runs until the episode ends at the
first of: the horizon (events at exactly ``T`` are not processed), ``World.terminate`` (a terminal
state) or the decision budget. ``finish`` cuts the open macro-actions at the end time (``done``;
``terminal`` only in a terminal state), emits every transition, hands a joint learner its last
epoch, adds up downtimes and writes the `network`, `episodes` and `agents` rows, then calls the
world's ``end_episode`` hook and the learner's end of episode.

The three steps are separate so that a driver other than ``run_episode`` (one decision at a time,
a live view) can step the environment in between.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import simpy

from dmarl_des.comm.speech import Speech
from dmarl_des.errors import ConfigError
from dmarl_des.kernel import DecisionBatcher
from dmarl_des.learn.messaging import messaging
from dmarl_des.world.decisions import DecisionServer
from dmarl_des.world.learning import Learning
from dmarl_des.world.lifecycle import AgentLifecycle
from dmarl_des.world.network_setup import episode_network
from dmarl_des.world.rewards import Rewards
from dmarl_des.world.rows import agent_rows, declare_network_tables, episode_row, network_row
from dmarl_des.world.slots import Slots
from dmarl_des.world.timed import TimedMacroActions
from dmarl_des.world.trace import TraceSampler
from dmarl_des.world.transitions import Transitions
from dmarl_des.world.windows import WindowServer


class EpisodeRunner:
    """Sets up, simulates and closes the episodes of one world."""

    def __init__(
        self,
        world: Any,
        slots: Slots,
        rewards: Rewards,
        learning: Learning,
        transitions: Transitions,
        decisions: DecisionServer,
        lifecycle: AgentLifecycle,
        timed: TimedMacroActions | None,
        trace: TraceSampler | None,
    ) -> None:
        self.world = world
        self.slots = slots
        self.rewards = rewards
        self.learning = learning
        self.transitions = transitions
        self.decisions = decisions
        self.lifecycle = lifecycle
        self.timed = timed
        self.trace = trace
        self.terminal = False
        """True once the world called ``terminate``: the episode ends in a terminal state."""
        self.ended = False
        self.end_event: simpy.Event | None = None
        self._wall0 = 0.0
        self._net_stats: dict[str, Any] | None = None
        self.window_server: WindowServer | None = None
        """Serves windows of exact instants (timed worlds; see ``windows.py``)."""
        self.speech: Speech | None = None
        """The learned messages of a communicating policy (kept over the run), else None."""

    def end_now(self) -> None:
        """End the episode at this instant (idempotent)."""
        if not self.ended:
            self.ended = True
            assert self.end_event is not None
            self.end_event.succeed()

    # ---------------------------------------------------------------- the three steps
    def begin(self, episode: int, phase: str) -> None:
        """Set episode ``episode`` up and file every agent's first decision request."""
        world = self.world
        if world.policy is None:
            raise ConfigError("policy", None, "a Policy set on the world before running")
        self._wall0 = time.perf_counter()
        scenario = world.scenario
        env = world.env = simpy.Environment()
        world.episode = episode
        world.phase = phase
        self.rewards.clear()
        self.transitions.begin_episode(episode)
        self.terminal = False
        self.ended = False
        self.end_event = env.event()
        self.learning.begin_episode(world.policy, phase, episode, lambda: float(env.now))
        world.batcher = DecisionBatcher(
            env, self.decisions.serve, period=scenario.decision_period, max_batch=world.max_batch
        )
        self.lifecycle.begin_episode()
        self.slots.reset(world.n_actions, world.obs_dim)
        if self.timed is not None:
            self.timed.begin_episode(env, world.batcher.request_many)
        world.action_override = None
        world.reset_episode(episode)
        speech = self.decisions.speech = self._speech(world.policy)
        needs_network = self.learning.exchanger or speech is not None
        world.network = episode_network(world, episode, needs_network)
        if world.network is not None:
            declare_network_tables(world.recorder)
            self.learning.attach(env, world.network, self.slots.up, scenario.horizon)
            if speech is not None:
                speech.begin_episode(
                    env,
                    world.network,
                    self.slots.up,
                    world.agent_positions,
                    episode,
                    scenario.horizon,
                )
        world.policy.reset(None)
        world.start_processes()
        world._start_faults(episode)
        server = self.window_server
        if server is not None and server.allowed(world, self.learning, speech):
            assert self.timed is not None
            self.timed.use_windows(server.lookahead, server.serve, world.shortest_duration())
        if self.trace is not None:
            self.trace.begin_episode(env, episode)
        alive = np.flatnonzero(self.slots.up)
        if world.arrays_mode:
            world.batcher.request_many(alive)
        else:
            for i in alive.tolist():
                world.sim_agents[i].start()
        env.timeout(scenario.horizon).callbacks.append(lambda _ev: self.end_now())

    def simulate(self) -> None:
        """Run the episode's events until it ends."""
        assert self.end_event is not None
        self.world.env.run(until=self.end_event)

    def finish(self) -> dict[str, Any]:
        """Close the episode (see the module docstring); returns its `episodes` row."""
        world = self.world
        slots = self.slots
        rounds = self.learning.end_simulation()
        open_idx = np.flatnonzero(slots.action >= 0)
        if len(open_idx):
            self.transitions.close(
                open_idx,
                world.now,
                world.observe_many(open_idx),
                world.mask_many(open_idx),
                done=True,
                terminal=self.terminal,
            )
        self.transitions.emit()
        if self.learning.joint is not None:
            self.learning.epoch(
                np.zeros(slots.n, dtype=bool),
                world.global_state(),
                done=True,
                terminal=self.terminal,
            )
        for agent in self.lifecycle.episode_agents:
            if agent.down_since is not None:
                agent.downtime += world.now - agent.down_since
                agent.down_since = None
        if self.decisions.speech is not None:
            self.decisions.speech.end_episode()
        net = world.network
        recorder = world.recorder
        stats = None
        if net is not None:
            stats = network_row(recorder, net, world.episode, slots.agent_id, world.message_kinds)
        row = episode_row(
            episode=world.episode,
            phase=world.phase,
            now=world.now,
            rewards=self.rewards,
            gamma=world.gamma,
            success=world.success(),
            batcher=world.batcher,
            agents=world.sim_agents,
            episode_agents=self.lifecycle.episode_agents,
            net=stats,
            wall=time.perf_counter() - self._wall0,
            rounds=rounds,
        )
        recorder.add("episodes", **row)
        agent_rows(recorder, world.episode, self.lifecycle.episode_agents, slots)
        world.end_episode()
        self.learning.end_episode(world.episode)
        return row

    def _speech(self, policy: Any) -> Speech | None:
        """The learned messages of ``policy`` (the same ones while the policy stays), or None."""
        if not messaging(policy):
            self.speech = None
        elif self.speech is None or self.speech.policy is not policy:
            world = self.world
            self.speech = Speech(policy, world.scenario.comm, world.recorder, self.slots.n)
        return self.speech

    def run_episode(self, episode: int, phase: str) -> dict[str, Any]:
        """Simulate one episode and record its rows; returns the episode row."""
        self.begin(episode, phase)
        self.simulate()
        return self.finish()
