"""The world's hooks: what a concrete world fills in, when each runs, and what it may touch.

A world subclasses ``World`` and overrides hooks. The *required* ones are few (``contract.py``
checks them when the class is defined and when it is first built); every other hook has the
default written here. Times are simulated time; "instant" means one value of ``env.now``, and
"place" one of the places within an instant of ``dmarl_des.kernel.instants``:
``URGENT`` < ``NORMAL`` (timeouts, deliveries, macro-action ends, faults) < ``DECISIONS`` (the
decision flush) < ``AFTER_DECISIONS``.

One episode, in order: ``reset_episode`` → ``build_topology`` → ``start_processes`` → faults
start → every agent's first decision at time 0 (``observe_many``/``mask_many`` at the flush, then
``begin_many`` or the chosen behaviour) → events until the end → ``end_episode``. What a hook
may touch: the world's own state always; ``give_reward``, ``terminate``, ``every``,
``self.network`` (send, drain) from hooks that run during the simulation; never the episode's
bookkeeping (slots, batcher, recorder tables other than the world's own).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import polars as pl
import simpy

from dmarl_des.agent import SimAgent
from dmarl_des.learn.protocol import Policy
from dmarl_des.log import EPISODE_METRICS, Metric, Recorder
from dmarl_des.macro import MacroAction
from dmarl_des.net import MessageKind, Network, Topology
from dmarl_des.scenario import Scenario, WorldParams
from dmarl_des.world.maps import WorldMap
from dmarl_des.world.network_setup import static_topology


class WorldHooks:
    """Every hook of a world with its default, and the state a hook can read."""

    # ------------------------------------------------------------------ declarations
    Params: ClassVar[type[WorldParams]] = WorldParams
    """*Required*: the world's ``world.*`` keys, a ``WorldParams`` subclass with its own ``name``."""
    timed: ClassVar[bool] = False
    """True when every macro-action's duration is known when it starts: the world implements
    ``macro_action_names``, ``begin_many`` and ``end_many``, and its agents live in arrays (the
    fast path). False: ``macro_actions`` are SimPy behaviours run in one process per agent."""
    local: ClassVar[bool] = False
    """True for a timed world whose agents interact only through the network: ``end_many``,
    ``observe_many``, ``mask_many`` and ``begin_many`` read and change the given agents' own
    data only, send through ``self.network`` from ``end_many`` only, give the rewards of ends
    with ``reward_ends`` (from ``end_many``), read no clock, schedule no event, never end the
    episode, and draw from a random stream of their own each (a stream shared by two hooks is
    drawn in another order when many instants are served together). In continuous time its ends
    may then be served in windows of exact instants (``dmarl_des.world.windows``: the same
    outcomes, bigger batches) spanning less than ``shortest_duration()``."""
    macro_actions: Sequence[MacroAction] = ()
    """*Required for process worlds* (set in ``setup`` or on the class): the macro-actions, in
    index order. Timed worlds get them from ``macro_action_names``."""
    obs_dim: int = 0
    """Length of an observation (set on the class or in ``setup``)."""
    state_dim: int = 0
    """Length of the global state (centralized training only)."""
    message_kinds: ClassVar[dict[str, MessageKind]] = {}
    """Kinds of messages the world's agents exchange; a world with none has no network."""
    round_period: float = 0.0
    """Rounds for symmetric loss (see docs/network.md); 0 = each send instant is its own round."""
    tables: ClassVar[dict[str, dict[str, pl.DataType]]] = {}
    """The world's own tables (name → schema); rows go in with ``self.recorder.add``."""
    metrics: ClassVar[tuple[Metric, ...]] = EPISODE_METRICS
    """What the world's table columns mean (a one-line meaning, unit, whether higher is better,
    whether a rate): reports and notebooks quote them. Restate ``episodes.team_return`` and
    ``episodes.success`` with the world's own meaning (``declare_metrics``)."""
    trace_columns: ClassVar[dict[str, pl.DataType]] = {}
    """The world's own columns of the `trace` table (see ``trace_values``)."""

    # ------------------------------------------------------------------ what hooks can read
    scenario: Scenario
    params: WorldParams
    """``scenario.world``: the world's keys."""
    streams: Any
    """``RandomStreams`` of the run: ``streams.fresh("world", episode)`` for the episode's draws,
    ``streams.for_agent("world", episode, agent_id)`` for common random numbers per agent."""
    env: simpy.Environment
    """The episode's SimPy environment (a fresh one per episode; time starts at 0)."""
    episode: int
    phase: str
    """``train`` or ``eval``."""
    sim_agents: list[SimAgent]
    """The agent in each slot (``sim_agents[i].idx == i``)."""
    up: np.ndarray
    """[N] bool: the slot's agent is present and not crashed."""
    network: Network | None
    """The episode's network (None for a world without message kinds)."""
    recorder: Recorder
    policy: Policy | None

    # ------------------------------------------------------------------ construction
    def setup(self) -> None:
        """*Hook* — once, in the constructor, before any episode: build what lasts across
        episodes (spaces, constant arrays; ``macro_actions``, ``obs_dim``, ``state_dim`` when
        they depend on the parameters). May call ``add_agents`` (default: ``n_agents`` agents
        are added after it). No environment runs yet. Default: nothing."""

    # ------------------------------------------------------------------ episodes
    def reset_episode(self, episode: int) -> None:
        """*Hook* — at the start of every episode, time 0, before anything runs in ``self.env``
        (a fresh environment), before the network is built and before any decision. Put the
        world in its initial state; draw from ``self.streams.fresh("world", episode)``. A reward
        given here is stamped 0 and belongs to the first macro-actions. Default: nothing."""

    def build_topology(self, episode: int) -> Topology:
        """*Hook* — right after ``reset_episode``, when the episode's network is built: who can
        talk to whom. Later changes: assign ``self.network.topology`` (e.g. from a periodic
        process). Default: the scenario's ``net.topology`` graph (``proximity`` uses
        ``agent_positions``)."""
        rng = self.streams.fresh("topology", episode)
        return static_topology(self.scenario.net, len(self.sim_agents), rng, self.agent_positions())

    def start_processes(self) -> None:
        """*Hook* — after the network is built and before the faults and the first decisions
        (time 0): start the world's own processes — ``self.every(period, fn, priority=…)`` for a
        periodic one, ``self.env.process(gen)`` for any other. Rewards these processes give at
        ``t`` belong to the macro-actions running from ``t`` on (at a decision instant: the ones
        starting there); pass ``stamp=`` to say otherwise (e.g. a tick's reward stamped at the
        tick's start). Default: nothing."""

    def end_episode(self) -> None:
        """*Hook* — after the episode ended and its `episodes` and `agents` rows were written
        (the environment no longer runs): add the world's own final rows. Default: nothing."""

    def success(self) -> bool:
        """*Hook* — at the episode's end, for the `episodes` row: whether it counts as a
        success. Default: the world ended it with ``terminate()``."""
        return bool(getattr(self, "terminated", False))

    # ------------------------------------------------------------------ decisions
    def observe_many(self, idx: np.ndarray) -> np.ndarray:
        """*Required* (this or ``observe``) — at the decision flush (place ``DECISIONS``) of
        every instant where agents decide, after every other event of it; also when an agent's
        macro-action is cut (crash, leave: at that fault's instant) and at the episode's end.
        Returns the observations of slots ``idx`` as float32 [B, obs_dim], in ``idx`` order.
        May read anything and drain the agents' inboxes; must not give rewards or schedule.
        Default: ``observe`` for each agent."""
        if len(idx) == 0:
            return np.zeros((0, self.obs_dim), dtype=np.float32)
        return np.stack([self.observe(self.sim_agents[i]) for i in idx.tolist()])

    def observe(self, agent: SimAgent) -> np.ndarray:
        """*Required* (this or ``observe_many``) — one agent's observation, float32 [obs_dim];
        called as ``observe_many`` is (same instants, same rules)."""
        return self.observe_many(np.array([agent.idx]))[0]

    def mask_many(self, idx: np.ndarray) -> np.ndarray:
        """*Hook* — with ``observe_many``, right after it: the initiation sets of slots ``idx``
        as bool [B, A] (True: may start). Default: each macro-action's ``can_start`` (all
        allowed when none has one)."""
        n_actions = len(self.macro_actions)
        if len(idx) == 0:
            return np.zeros((0, n_actions), dtype=bool)
        if type(self).action_mask is WorldHooks.action_mask and all(
            m.can_start is None for m in self.macro_actions
        ):
            return np.ones((len(idx), n_actions), dtype=bool)
        return np.stack([self.action_mask(self.sim_agents[i]) for i in idx.tolist()])

    def action_mask(self, agent: SimAgent) -> np.ndarray:
        """*Hook* — one agent's initiation set (see ``mask_many``)."""
        if type(self).mask_many is not WorldHooks.mask_many:
            return self.mask_many(np.array([agent.idx]))[0]
        return np.fromiter(
            (m.can_start is None or m.can_start(agent) for m in self.macro_actions),
            dtype=bool,
            count=len(self.macro_actions),
        )

    def global_state(self) -> np.ndarray:
        """*Hook* — for joint learners (VDN, QMIX), at every decision flush and at the episode's
        end: the global state, float32 [state_dim]. Default: zeros."""
        return np.zeros(self.state_dim, dtype=np.float32)

    def scripted_policy(self) -> Policy | None:
        """*Hook* — when a run asks for ``policy = scripted``: the world's hand-written policy.
        Default: None (the world ships none)."""
        return None

    # ------------------------------------------------------------------ timed macro-actions
    def macro_action_names(self) -> Sequence[str]:
        """*Required for timed worlds* — once, after ``setup``: the macro-actions' names in
        index order."""
        return ()

    def begin_many(self, idx: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """*Required for timed worlds* — at the decision flush (place ``DECISIONS``), right
        after the policy chose ``actions`` for slots ``idx``: start those macro-actions (change
        the world, send messages) and return their durations [B] (>= 0). With a control tick a
        macro-action ends at the first tick at or after ``now + duration``. Rewards given here
        belong to the macro-actions that start now."""
        raise NotImplementedError(f"{type(self).__name__} has no timed macro-actions")

    def shortest_duration(self) -> float:
        """A lower bound of every duration ``begin_many`` returns this episode (local worlds:
        a window of exact instants spans less, so no macro-action started in a window ends
        inside it). 0: windows hold one instant."""
        return 0.0

    def end_many(self, idx: np.ndarray) -> None:
        """*Hook of timed worlds* — at the instant the macro-actions of slots ``idx`` end (place
        ``NORMAL``; after deliveries due at that instant of messages sent before it, before the
        decisions of that instant, which serve these agents next): their effects, for the whole
        batch in this order. A reward given here (``give_reward``, default stamp) belongs to the
        ending macro-actions (and to every other macro-action running up to now) — never to the
        ones chosen next. Not called for agents crashed or interrupted meanwhile. Default:
        nothing."""

    # ------------------------------------------------------------------ faults
    def adversarial_actions(self, agent_idx: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
        """*Hook* — at the decision flush, for the Byzantine agents among the batch when the
        scenario asks for ``faults.byzantine.actions = adversarial``: actions [B] that hurt the
        team, allowed by ``mask``; no side effects (no rewards). Default: None (not provided:
        they take random allowed actions)."""
        return None

    def reset_agent_state(self, agent: SimAgent) -> None:
        """*Hook* — when an agent recovers from a crash or a new agent joins its slot (at that
        fault's instant, place ``NORMAL``, after its inbox was emptied and the policy's memory of
        it reset, before it asks for its first decision): forget the agent's local state. A
        reward given here belongs to the macro-actions running from now on. Default: nothing."""

    # ------------------------------------------------------------------ positions and trace
    def agent_positions(self) -> np.ndarray | None:
        """*Hook* — whenever the network, a distance delay or the trace needs them (any place):
        the agents' positions [N, 2] now, by slot. Default: None (no space)."""
        return None

    def world_map(self) -> WorldMap | None:
        """*Hook* — whenever a live view draws the world, and at each `trace` sample (place
        ``AFTER_DECISIONS``; the rows go to the `trace_map` table): the world's map now, a
        ``WorldMap`` raster over its space (coverage: the cells sensed so far). Read-only.
        Default: None (no map)."""
        return None

    def trace_values(self) -> Mapping[str, np.ndarray]:
        """*Hook* — at each `trace` sample (``record.trace_every``; place ``AFTER_DECISIONS``):
        the world's own per-slot columns declared in ``trace_columns``, arrays [N]. Default:
        none."""
        return {}
