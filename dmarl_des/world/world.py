"""World(mesa.Model): the composition root of one run — a concrete world's hooks, and the parts that run it.

A concrete world (see ``dmarl_des.worlds`` and docs/writing_a_world.md) subclasses ``World``,
provides what the contract requires (``contract.py``) and overrides hooks (``hooks.py``). ``World``
composes the parts that run it, each in its own module:

* ``slots`` — per-agent-slot arrays: who is up, the running macro-action, counters;
* ``rewards`` — reward events and the macro-actions they belong to;
* ``transitions`` — closing macro-actions into squeezed transitions (returns, table, learner);
* ``learning`` — which learner learns, what it is handed, when it updates;
* ``decisions`` — serving a decision batch;
* ``timed`` — timed macro-actions kept in arrays, their ends batched by instant;
* ``lifecycle`` — crash, recover, leave, join, interrupt and the `faults` rows;
* ``episode`` and ``rows`` — running an episode and its closing rows; ``trace`` — the `trace` table.

An episode ends at the first of: the horizon (simulated time ``T``; events at exactly ``T`` are
not processed), the world calling ``terminate()`` (a terminal state), or the decision budget
(``max_decisions``; the batch that would exceed it is not served). Open macro-actions are then cut
at the end time and their transitions are marked ``done`` (``terminal`` only for a terminal state).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import mesa
import numpy as np
import simpy

from dmarl_des.agent import SimAgent
from dmarl_des.errors import ConfigError
from dmarl_des.kernel import NORMAL, DecisionBatcher, Periodic, RandomStreams, every
from dmarl_des.learn.protocol import Learner, Policy, TransitionBatch
from dmarl_des.log import Recorder
from dmarl_des.macro import MacroAction, RewardLedger
from dmarl_des.net import Network
from dmarl_des.scenario import Scenario
from dmarl_des.world.contract import check_built, check_class
from dmarl_des.world.decisions import DecisionServer
from dmarl_des.world.episode import EpisodeRunner
from dmarl_des.world.hooks import WorldHooks
from dmarl_des.world.learning import Learning
from dmarl_des.world.lifecycle import AgentLifecycle
from dmarl_des.world.rewards import Rewards, given_by_behaviour
from dmarl_des.world.rows import agent_stats, faults_configured, kept_tables
from dmarl_des.world.slots import Slots
from dmarl_des.world.timed import TimedMacroActions, run_bounds
from dmarl_des.world.trace import TraceSampler
from dmarl_des.world.transitions import Transitions
from dmarl_des.world.windows import WindowServer


class World(mesa.Model, WorldHooks):
    """Base of every simulated world: subclass it, fill in the hooks (see ``WorldHooks``)."""

    def __init_subclass__(cls, abstract: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not abstract:
            check_class(cls)

    def __init__(
        self,
        scenario: Scenario,
        *,
        run_id: str = "run",
        max_batch: int | None = None,
        agents_as_processes: bool | None = None,
        windows: bool = True,
    ):
        self.streams = RandomStreams(scenario.seed)
        super().__init__(rng=self.streams.fresh("mesa"))
        if not isinstance(scenario.world, self.Params):
            raise ConfigError("world", scenario.world.name, f"parameters of {self.Params.__name__}")
        self.scenario = scenario
        self.params = scenario.world
        self.gamma = scenario.gamma
        self.run_id = run_id
        self.max_batch = max_batch
        self.windows = windows
        """False: a local world's ends are served one instant at a time, never in windows."""
        self.recorder = Recorder(run_id, kept_tables(scenario, bool(self.message_kinds)))
        for name, schema in self.tables.items():
            self.recorder.declare(name, schema)
        self.policy: Policy | None = None
        self.on_episode_end: Callable[[dict[str, Any]], None] | None = None
        """Called with each episode's row after it ends (progress reports)."""
        self.env = simpy.Environment()
        self.episode = -1
        self.phase = "eval"
        self.sim_agents: list[SimAgent] = []
        self.network: Network | None = None
        self.faults: Any = None
        """The episode's fault injector (None without faults)."""
        self.action_override: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = (
            None
        )
        """Replaces the actions of a batch (set by faults for Byzantine agents)."""
        self.setup()
        if self.timed and not self.macro_actions:
            self.macro_actions = [
                MacroAction(name, self._timed_behaviour) for name in self.macro_action_names()
            ]
        check_built(self)
        self.arrays_mode = self.timed and not agents_as_processes
        """True when the agents live in arrays (timed worlds, unless run as processes)."""
        if not self.sim_agents:
            self.add_agents(scenario.n_agents)
        self._compose()

    def _compose(self) -> None:
        """Build the parts that run the world (one of each per world, reused every episode)."""
        scenario = self.scenario
        slots = self._slots = Slots(len(self.sim_agents))
        rewards = self._rewards = Rewards()
        learning = self._learning = Learning(self.recorder, slots, rewards, self.gamma)
        transitions = Transitions(slots, rewards, learning, self.recorder, self.gamma)
        self._transitions = transitions
        timed = None
        if self.timed:
            timed = TimedMacroActions(
                slots, rewards, self.begin_many, self.end_many, scenario.decision_period
            )
        self._timed = timed
        in_arrays = timed if self.arrays_mode else None
        decisions = self._decisions = DecisionServer(self, slots, transitions, learning, in_arrays)
        self._lifecycle = AgentLifecycle(self, slots, transitions, in_arrays)
        trace = None
        if scenario.record.trace_every > 0:
            trace = TraceSampler(self, slots, scenario.record.trace_every)
        self._runner = EpisodeRunner(
            self, slots, rewards, learning, transitions, decisions, self._lifecycle, timed, trace
        )
        decisions.stop_episode = self._runner.end_now
        if timed is not None:
            runner = self._runner
            self._runner.window_server = WindowServer(self, timed, decisions, lambda: runner.ended)

    # ====================================================================== services
    @property
    def n_actions(self) -> int:
        return len(self.macro_actions)

    @property
    def now(self) -> float:
        return float(self.env.now)

    @property
    def terminated(self) -> bool:
        """True once ``terminate`` was called in this episode."""
        return self._runner.terminal

    def add_agents(self, count: int, role: str = "honest") -> list[SimAgent]:
        """Create ``count`` agents with the next free slots and ids (from ``setup`` only)."""
        start = len(self.sim_agents)
        new = [SimAgent(self, start + i, start + i, role) for i in range(count)]
        self.sim_agents.extend(new)
        return new

    def give_reward(
        self, amount: float, stamp: float | None = None, agents: Sequence[SimAgent] | None = None
    ) -> None:
        """A reward event: the team's (``agents=None``) or the given agents' own.

        Without ``stamp`` the reward belongs to whoever earned it (``rewards.py`` has the rule):
        given by a running macro-action — from ``end_many`` as it ends, or from its behaviour
        after its first instant — it belongs to that macro-action (stamped just before now);
        given by anything else it belongs to the macro-actions running from now on. An explicit
        ``stamp`` is the time it is discounted from and owned at; it may not lie in the future
        nor in windows already squeezed.
        """
        timed = self._timed
        if timed is not None and timed.clock is not None:
            raise ConfigError(
                "give_reward",
                amount,
                "reward_ends(idx, amount) from end_many inside a window of exact instants (a "
                "local world's rows each at its own time)",
            )
        now = float(self.env.now)
        rewards = self._rewards
        if stamp is None:
            stamp = now
            if rewards.ending or given_by_behaviour(self.env, self.sim_agents, self._slots):
                stamp = rewards.credit_stamp(now)
        else:
            stamp = float(stamp)
        rewards.add(amount, stamp, now, None if agents is None else [a.idx for a in agents])

    def reward_ends(self, idx: np.ndarray, amount: float = 1.0) -> None:
        """From ``end_many``: the team earns ``amount`` for each ending macro-action of slots
        ``idx``, owned by the macro-actions running up to its end (``give_reward``'s rule). In
        a window of exact instants (``windows.py``) each end is stamped at its own time;
        otherwise this is ``give_reward(amount * len(idx))``."""
        rewards = self._rewards
        if not rewards.ending:
            raise ConfigError("reward_ends", amount, "a call from end_many")
        timed = self._timed
        clock = None if timed is None else timed.clock
        if clock is None:
            self.give_reward(float(amount) * len(idx))
            return
        at = np.sort(clock[idx])
        for lo, hi in itertools.pairwise(run_bounds(at)):
            t = float(at[lo])
            rewards.add(float(amount) * (hi - lo), rewards.credit_stamp(t), t)

    def terminate(self, delay: float = 0.0) -> None:
        """End the episode in a terminal state, ``delay`` time units from now."""
        runner = self._runner
        if runner.ended:
            return
        runner.terminal = True
        if delay <= 0:
            runner.end_now()
        else:
            self.env.timeout(delay).callbacks.append(lambda _ev: runner.end_now())

    def every(
        self,
        period: float,
        action: Callable[[], Any],
        *,
        priority: int = NORMAL,
        first: int = 1,
    ) -> Periodic:
        """A periodic world process (start it from ``start_processes``): ``action()`` at
        ``k · period`` for ``k = first, first + 1, …`` before the horizon, at place ``priority``
        of each instant — ``NORMAL`` (default: with the other events, before the decisions of
        that instant, which see its effects), ``URGENT`` (before every other event of it) or
        ``AFTER_DECISIONS`` (after them: it sees the macro-actions chosen there). Rewards it
        gives belong to the macro-actions running from its instant on. ``stop()`` ends it."""
        return every(
            self.env, period, action, priority=priority, first=first, until=self.scenario.horizon
        )

    # ---------------------------------------------------------------- agents (faults act here)
    def record_fault(self, kind: str, agent_id: int | None = None, detail: str = "") -> None:
        """One row of the `faults` table at the current time."""
        self._lifecycle.record_fault(kind, agent_id, detail)

    def crash_agent(self, idx: int, reason: str = "crash") -> bool:
        """Stop agent ``idx`` now: it stops acting and communicating; messages to it are dropped.

        Its running macro-action is cut at this instant (no decision of it is served after).
        Returns False when the agent was already down. A world may extend it (call super()).
        """
        return self._lifecycle.crash(idx, reason)

    def recover_agent(self, idx: int, *, reset_params: bool = False) -> bool:
        """Bring a crashed agent back with its local state reset; it decides again now."""
        return self._lifecycle.recover(idx, reset_params=reset_params)

    def leave_agent(self, idx: int) -> bool:
        """Agent ``idx`` leaves the episode (churn); its slot may be taken by a new agent."""
        return self._lifecycle.leave(idx)

    def join_agent(self) -> int | None:
        """A new agent (new id) joins in the first free slot; None when every slot is taken."""
        return self._lifecycle.join()

    def learning_fault(self, idx: int, mode: str) -> None:
        """Agent ``idx`` learns as a ``greedy`` or ``faulty`` adversary from now on (training
        episodes of a learner; see ``faults.byzantine.learning``)."""
        self._learning.adversary(idx, mode)

    def interrupt_agent(self, idx: int) -> None:
        """End agent ``idx``'s running macro-action now; it decides again at this instant."""
        self._lifecycle.interrupt(idx)

    def cut_macro(self, agent: SimAgent) -> None:
        """Close the agent's macro-action now because the agent stops (crash, leave)."""
        self._lifecycle.cut(agent)

    def agent_stats(self, agent: SimAgent) -> tuple[float, int, float, int]:
        """(return, decisions, busy time, finished macro-actions) of an agent this episode."""
        return agent_stats(agent, self._slots)

    def _start_faults(self, episode: int) -> None:
        """Start the episode's fault injector (when the scenario asks for faults)."""
        if not faults_configured(self.scenario):
            return
        from dmarl_des.faults import FaultInjector

        rng = self.streams.fresh("faults", episode)
        self.faults = FaultInjector(self.scenario.faults, self, rng).start()

    def _timed_behaviour(self, agent: SimAgent) -> Any:
        """Process-mode run of a timed macro-action: begin, wait its duration, end."""
        assert self._timed is not None
        return self._timed.behaviour(agent)

    # ---------------------------------------------------------------- running
    @property
    def episode_runner(self) -> EpisodeRunner:
        """An episode's three steps (``begin``, ``simulate``, ``finish``), for a driver that steps
        the environment itself in between."""
        return self._runner

    @property
    def decision_server(self) -> DecisionServer:
        """Serves decision batches; its ``prepare`` and ``apply`` halves serve a driver that
        decides elsewhere (see ``DecisionBatcher.hold``)."""
        return self._decisions

    def watch_transitions(self, listener: Callable[[TransitionBatch], None]) -> None:
        """Call ``listener(batch)`` with every squeezed transition batch as it is emitted (at
        the decision flush that closes it, when an agent stops, at the episode's end)."""
        self._transitions.listeners.append(listener)

    def run_episode(self, episode: int, phase: str) -> dict[str, Any]:
        """Simulate one episode and record its rows; returns the episode row."""
        return self._runner.run_episode(episode, phase)

    def run(self) -> list[dict[str, Any]]:
        """All episodes of the scenario: training ones (or plain ones), then greedy evaluation."""
        rows: list[dict[str, Any]] = []
        learning = isinstance(self.policy, Learner) and self.scenario.policy == "learner"
        phases = ["train" if learning else "eval"] * self.scenario.episodes
        phases += ["eval"] * self.scenario.eval_episodes
        for episode, phase in enumerate(phases):
            rows.append(self.run_episode(episode, phase))
            if self.on_episode_end is not None:
                self.on_episode_end(rows[-1])
        return rows

    # ---------------------------------------------------------------- per-slot state (read-only)
    @property
    def up(self) -> np.ndarray:
        """[N] bool: the slot's agent is present and not crashed."""
        return self._slots.up

    @property
    def cur_action(self) -> np.ndarray:
        """[N] the running macro-action of each slot (-1: none)."""
        return self._slots.action

    @property
    def t_start(self) -> np.ndarray:
        return self._slots.t_start

    @property
    def dec_obs(self) -> np.ndarray:
        return self._slots.obs

    @property
    def dec_mask(self) -> np.ndarray:
        return self._slots.mask

    @property
    def n_decisions(self) -> np.ndarray:
        return self._slots.n_decisions

    @property
    def generation(self) -> np.ndarray:
        return self._slots.generation

    @property
    def ledger(self) -> RewardLedger:
        """The team's rewards of the episode."""
        return self._rewards.team

    @property
    def n_updates(self) -> int:
        """Learner updates over the run."""
        return self._learning.n_updates

    batcher: DecisionBatcher
    """The episode's decision batcher (set when an episode begins)."""
