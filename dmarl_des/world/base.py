"""World(mesa.Model): the composition root of one run — time, agents, decisions, rewards, tables.

A concrete world (see ``dmarl_des.worlds``) subclasses ``World`` and provides its ``Params``, its
macro-actions, observations, action masks, and the processes that move its state. ``World`` runs
the episodes: one fresh ``simpy.Environment`` per episode (time starts at 0), one lifecycle process
per agent, one ``DecisionBatcher``, reward bookkeeping, and the recorder's tables.

An episode ends at the first of: the horizon (simulated time ``T``; events at exactly ``T`` are not
processed), the world calling ``terminate()`` (a terminal state), or the decision budget
(``max_decisions``; the batch that would exceed it is not served). Open macro-actions are then cut
at the end time and their transitions are marked ``done`` (``terminal`` only for a terminal state).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import mesa
import numpy as np
import polars as pl
import simpy

from dmarl_des.agent import SimAgent
from dmarl_des.errors import ConfigError
from dmarl_des.kernel import DecisionBatcher, RandomStreams
from dmarl_des.learn.protocol import DecisionEpoch, Learner, Policy, TransitionBatch
from dmarl_des.log import EPISODE_METRICS, Metric, Recorder
from dmarl_des.log.schema import train_row
from dmarl_des.macro import MacroAction, RewardLedger
from dmarl_des.net import MessageKind, Network, Topology
from dmarl_des.scenario import Scenario, WorldParams
from dmarl_des.world.network_setup import link_model, static_topology


class World(mesa.Model):
    """Base of every simulated world; subclasses fill in the hooks marked *world hook*."""

    Params: ClassVar[type[WorldParams]] = WorldParams
    tables: ClassVar[dict[str, dict[str, pl.DataType]]] = {}
    message_kinds: ClassVar[dict[str, MessageKind]] = {}
    """Kinds of messages the world's agents exchange; a world with none has no network."""
    metrics: ClassVar[tuple[Metric, ...]] = EPISODE_METRICS
    """What the world's table columns mean (one line, unit, direction); reports quote them."""
    macro_actions: Sequence[MacroAction] = ()
    obs_dim: int = 0
    state_dim: int = 0
    round_period: float = 0.0
    """Rounds for symmetric loss (see docs/network.md); 0 = each send instant is its own round."""
    timed: ClassVar[bool] = False
    """True for worlds whose macro-actions all have a duration known when they start
    (``begin_many``/``end_many``): their agents can be kept in arrays, without a process each."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        run_id: str = "run",
        max_batch: int | None = None,
        agents_as_processes: bool | None = None,
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
        tables = ["runs", "episodes", "agents", "train"]
        if self.message_kinds:
            tables.append("network")
        if scenario.record.transitions:
            tables.append("transitions")
        if scenario.record.messages:
            tables.append("messages")
        if _faults_configured(scenario):
            tables.append("faults")
        self.recorder = Recorder(run_id, tables)
        for name, schema in self.tables.items():
            self.recorder.declare(name, schema)
        self.policy: Policy | None = None
        self.on_episode_end: Callable[[dict[str, Any]], None] | None = None
        self.env = simpy.Environment()
        self.episode = -1
        self.phase = "eval"
        self.sim_agents: list[SimAgent] = []
        self.network: Network | None = None
        self.faults: Any = None
        self.action_override: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = (
            None
        )
        self.ledger = RewardLedger()
        self.n_updates = 0
        self._own_rewards: dict[int, RewardLedger] = {}
        self._pending: list[tuple[Any, ...]] = []
        self._emitted_until = 0.0
        self._terminal = False
        self._ended = False
        self.setup()
        if self.timed and not self.macro_actions:
            self.macro_actions = [
                MacroAction(name, self._timed_behaviour) for name in self.macro_action_names()
            ]
        self.arrays_mode = self.timed and not agents_as_processes
        if not self.sim_agents:
            self.add_agents(scenario.n_agents)
        self.up = np.ones(len(self.sim_agents), dtype=bool)
        self._original_agents = list(self.sim_agents)
        self._episode_agents: list[SimAgent] = []
        self._next_agent_id = len(self.sim_agents)

    # ====================================================================== world hooks
    def setup(self) -> None:
        """*World hook*: build what lasts across episodes (spaces, agents via ``add_agents``)."""

    def reset_episode(self, episode: int) -> None:
        """*World hook*: put the world in its initial state for ``episode``."""

    def start_processes(self) -> None:
        """*World hook*: start the world's own processes (ticks, dynamics) in ``self.env``."""

    def observe(self, agent: SimAgent) -> np.ndarray:
        """*World hook*: the agent's observation, float32 [obs_dim]."""
        if type(self).observe_many is not World.observe_many:
            return self.observe_many(np.array([agent.idx]))[0]
        return np.zeros(self.obs_dim, dtype=np.float32)

    def action_mask(self, agent: SimAgent) -> np.ndarray:
        """*World hook*: the initiation set as a bool mask over macro-actions."""
        if type(self).mask_many is not World.mask_many:
            return self.mask_many(np.array([agent.idx]))[0]
        return np.fromiter(
            (m.can_start is None or m.can_start(agent) for m in self.macro_actions),
            dtype=bool,
            count=len(self.macro_actions),
        )

    def observe_many(self, idx: np.ndarray) -> np.ndarray:
        """*World hook*: observations of agents ``idx`` as [B, obs_dim] (default: one by one)."""
        if len(idx) == 0:
            return np.zeros((0, self.obs_dim), dtype=np.float32)
        return np.stack([self.observe(self.sim_agents[i]) for i in idx.tolist()])

    def mask_many(self, idx: np.ndarray) -> np.ndarray:
        """*World hook*: initiation sets of agents ``idx`` as [B, A] (default: one by one)."""
        if len(idx) == 0:
            return np.zeros((0, self.n_actions), dtype=bool)
        if type(self).action_mask is World.action_mask and all(
            m.can_start is None for m in self.macro_actions
        ):
            return np.ones((len(idx), self.n_actions), dtype=bool)
        return np.stack([self.action_mask(self.sim_agents[i]) for i in idx.tolist()])

    def macro_action_names(self) -> Sequence[str]:
        """*World hook* of timed worlds: the names of the macro-actions, in index order."""
        return ()

    def begin_many(self, idx: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """*World hook* of timed worlds: start macro-actions; returns their durations [B]."""
        raise NotImplementedError(f"{type(self).__name__} has no timed macro-actions")

    def end_many(self, idx: np.ndarray) -> None:
        """*World hook* of timed worlds: the effects of macro-actions ending now, in this order."""

    def global_state(self) -> np.ndarray:
        """*World hook*: the global state (centralized training only), float32 [state_dim]."""
        return np.zeros(self.state_dim, dtype=np.float32)

    def success(self) -> bool:
        """*World hook*: whether the episode counts as a success."""
        return self._terminal

    def scripted_policy(self) -> Policy | None:
        """*World hook*: the world's hand-written policy, if it ships one."""
        return None

    def end_episode(self) -> None:
        """*World hook*: add the world's own table rows for the episode that just ended."""

    def agent_positions(self) -> np.ndarray | None:
        """*World hook*: agents' positions [N, 2] in a space (None for worlds without one)."""
        return None

    def build_topology(self, episode: int) -> Topology:
        """*World hook*: who can talk to whom this episode (default: the `net.topology` graph)."""
        rng = self.streams.fresh("topology", episode)
        return static_topology(self.scenario.net, len(self.sim_agents), rng, self.agent_positions())

    def adversarial_actions(self, agent_idx: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
        """*World hook*: actions a Byzantine agent takes to hurt the team (None: not provided)."""
        return None

    # ====================================================================== services
    @property
    def n_actions(self) -> int:
        return len(self.macro_actions)

    @property
    def now(self) -> float:
        return float(self.env.now)

    def add_agents(self, count: int, role: str = "honest") -> list[SimAgent]:
        """Create ``count`` agents with the next free ids."""
        start = len(self.sim_agents)
        new = [SimAgent(self, start + i, start + i, role) for i in range(count)]
        self.sim_agents.extend(new)
        return new

    def give_reward(
        self, amount: float, stamp: float | None = None, agents: Sequence[SimAgent] | None = None
    ) -> None:
        """A reward event: the team's (``agents=None``) or the given agents' own.

        ``stamp`` is the time it is discounted from (default: now); it may not lie in the future.
        """
        stamp = self.now if stamp is None else float(stamp)
        if stamp > self.now + 1e-12:
            raise ConfigError("reward stamp", stamp, f"a time <= now ({self.now})")
        if stamp < self._emitted_until:
            raise ConfigError(
                "reward stamp",
                stamp,
                f"a time >= {self._emitted_until}: a macro-action owning that stamp was already "
                "squeezed; give rewards no later than the decision instant that ends it",
            )
        if agents is None:
            self.ledger.add(float(amount), stamp)
            return
        for agent in agents:
            ledger = self._own_rewards.get(agent.idx)
            if ledger is None:
                ledger = self._own_rewards[agent.idx] = RewardLedger(16)
            ledger.add(float(amount), stamp)

    def terminate(self, delay: float = 0.0) -> None:
        """End the episode in a terminal state, ``delay`` time units from now."""
        if self._ended:
            return
        self._terminal = True
        if delay <= 0:
            self._end_now()
        else:
            self.env.timeout(delay).callbacks.append(lambda _ev: self._end_now())

    # ====================================================================== macro bookkeeping
    def _alloc_agent_arrays(self) -> None:
        n, a = len(self.sim_agents), self.n_actions
        self.cur_action = np.full(n, -1, dtype=np.int64)
        self.t_start = np.zeros(n, dtype=np.float64)
        self.dec_obs = np.zeros((n, self.obs_dim), dtype=np.float32)
        self.dec_mask = np.ones((n, a), dtype=bool)
        self.n_decisions = np.zeros(n, dtype=np.int64)
        self.n_macro_done = np.zeros(n, dtype=np.int64)
        self.busy_time = np.zeros(n, dtype=np.float64)
        self.agent_return = np.zeros(n, dtype=np.float64)
        self.generation = np.zeros(n, dtype=np.int64)

    def _close(
        self,
        idx: np.ndarray,
        obs_next: np.ndarray,
        mask_next: np.ndarray,
        *,
        done: bool,
        terminal: bool = False,
    ) -> None:
        """End the open macro-actions of agents ``idx`` now; squeezed when emitted (same flush)."""
        now = self.now
        t0 = self.t_start[idx]
        n = len(idx)
        if not self._transitions_wanted():  # only the reward windows are needed
            self._pending.append(
                {"idx": idx, "t0": t0, "t1": np.full(n, now), "done": np.full(n, done)}
            )
        else:
            self._pending.append(
                {
                    "idx": idx,
                    "obs": self.dec_obs[idx],
                    "action": self.cur_action[idx],
                    "mask": self.dec_mask[idx],
                    "obs_next": np.asarray(obs_next, dtype=np.float32),
                    "mask_next": np.asarray(mask_next, dtype=bool),
                    "t0": t0,
                    "t1": np.full(n, now),
                    "done": np.full(n, done),
                    "terminal": np.full(n, terminal),
                }
            )
        # one open macro-action per agent: the agents of one close are distinct
        self.busy_time[idx] += now - t0
        self.n_macro_done[idx] += 1
        self.cur_action[idx] = -1

    def _transitions_wanted(self) -> bool:
        """Whether closed macro-actions become transitions (a learner or the transitions table)."""
        return self._learner is not None or self.recorder.has("transitions")

    def cut_macro(self, agent: SimAgent) -> None:
        """Close the agent's macro-action now because the agent stops (crash, leave)."""
        if self.cur_action[agent.idx] >= 0:
            idx = np.array([agent.idx], dtype=np.int64)
            self._close(idx, self.observe_many(idx), self.mask_many(idx), done=True)

    # ====================================================================== fault services
    def record_fault(self, kind: str, agent_id: int | None = None, detail: str = "") -> None:
        """One row of the `faults` table at the current time."""
        if self.recorder.has("faults"):
            self.recorder.add(
                "faults",
                episode=self.episode,
                time=self.now,
                kind=kind,
                agent_id=agent_id,
                detail=detail,
            )

    def crash_agent(self, idx: int, reason: str = "crash") -> bool:
        """Stop agent ``idx`` now: it stops acting and communicating; messages to it are dropped.

        Its running macro-action is cut at this instant (no decision of it is served after).
        Returns False when the agent was already down.
        """
        agent = self.sim_agents[idx]
        if not agent.alive or not self.up[idx]:
            return False
        self.up[idx] = False
        agent.alive = False
        agent.down_since = self.now
        if reason == "crash":
            agent.role = "crashed"
        self._halt(agent, reason)
        self.record_fault(reason, agent.agent_id)
        return True

    def _halt(self, agent: SimAgent, reason: str) -> None:
        """End an agent's activity now: its macro-action is cut, its pending request withdrawn."""
        self.batcher.cancel(agent.idx)
        if self.arrays_mode:
            self.generation[agent.idx] += 1
            self.cut_macro(agent)
        else:
            agent.stop(reason)

    def _resume(self, agent: SimAgent) -> None:
        """Let an agent decide again from now on."""
        if self.arrays_mode:
            self.batcher.request_many(np.array([agent.idx], dtype=np.int64))
        else:
            agent.start()

    def recover_agent(self, idx: int, *, reset_params: bool = False) -> bool:
        """Bring a crashed agent back with its local state reset; it decides again now."""
        agent = self.sim_agents[idx]
        if agent.alive or agent.role == "left":
            return False
        if agent.down_since is not None:
            agent.downtime += self.now - agent.down_since
            agent.down_since = None
        self.up[idx] = True
        if self.network is not None:
            self.network.inbox(idx).clear()
        assert self.policy is not None
        self.policy.reset(np.array([idx], dtype=np.int64))
        reset = getattr(self.policy, "reset_parameters", None)
        if reset_params and callable(reset):
            reset(np.array([idx], dtype=np.int64))
        self.reset_agent_state(agent)
        agent.alive = True
        self._resume(agent)
        self.record_fault("recover", agent.agent_id, "params reset" if reset_params else "")
        return True

    def reset_agent_state(self, agent: SimAgent) -> None:
        """*World hook*: forget an agent's local state when it recovers from a crash."""

    def leave_agent(self, idx: int) -> bool:
        """Agent ``idx`` leaves the episode (churn); its slot may be taken by a new agent."""
        agent = self.sim_agents[idx]
        if agent.role == "left":
            return False
        was_alive = agent.alive
        self.up[idx] = False
        agent.alive = False
        agent.role = "left"
        if was_alive:
            self._halt(agent, "leave")
        self.record_fault("leave", agent.agent_id)
        return True

    def join_agent(self) -> int | None:
        """A new agent (new id) joins in the first free slot; None when every slot is taken."""
        free = [i for i, a in enumerate(self.sim_agents) if a.role == "left"]
        if not free:
            return None
        idx = free[0]
        self._emit_pending()  # the leaver's last transition belongs to the leaver
        old = self.sim_agents[idx]
        old.final_stats = self.agent_stats(old)
        self.cur_action[idx] = -1
        for arr in (self.n_decisions, self.n_macro_done, self.busy_time, self.agent_return):
            arr[idx] = 0
        agent = SimAgent(self, idx, self._next_agent_id)
        self._next_agent_id += 1
        self.sim_agents[idx] = agent
        self._episode_agents.append(agent)
        self.up[idx] = True
        if self.network is not None:
            self.network.inbox(idx).clear()
        assert self.policy is not None
        self.policy.reset(np.array([idx], dtype=np.int64))
        self.reset_agent_state(agent)
        self._resume(agent)
        self.record_fault("join", agent.agent_id)
        return agent.agent_id

    def _is_up(self, dsts: np.ndarray) -> np.ndarray:
        return self.up[dsts]

    # ====================================================================== decisions
    def _decide(self, obs: np.ndarray, idx: np.ndarray, mask: np.ndarray) -> np.ndarray:
        assert self.policy is not None
        actions = self.policy.act(obs, idx, mask, explore=self.phase == "train")
        if self.action_override is not None:
            actions = self.action_override(idx, np.asarray(actions, dtype=np.int64), mask)
        return np.asarray(actions, dtype=np.int64)

    def _serve(self, idx: np.ndarray) -> np.ndarray | None:
        """One decision batch: observe, close previous macro-actions, decide, start new ones.

        Runs at the flush of an instant, after every other event of it: observations and masks
        are read here, so they reflect everything that happened at this instant.
        """
        limit = self.scenario.max_decisions
        if limit is not None and self.batcher.n_decisions >= limit:
            self._end_now()
            return None
        obs = self.observe_many(idx)
        mask = self.mask_many(idx)
        was_open = self.cur_action[idx] >= 0
        if was_open.all():
            self._close(idx, obs, mask, done=False)
        elif was_open.any():
            self._close(idx[was_open], obs[was_open], mask[was_open], done=False)
        self._emit_pending()
        actions = self._decide(obs, idx, mask)
        self.cur_action[idx] = actions
        self.t_start[idx] = self.now
        self.dec_obs[idx] = obs
        self.dec_mask[idx] = mask
        self.n_decisions[idx] += 1
        if self._joint_learner is not None:
            deciding = np.zeros(len(self.sim_agents), dtype=bool)
            deciding[idx] = True
            self._send_epoch(deciding, done=False)
        if self.arrays_mode:
            self._start_timed(idx, actions)
        return actions

    # ---------------------------------------------------------------- agents kept in arrays
    def _timed_end(self, durations: np.ndarray) -> np.ndarray:
        """When timed macro-actions started now end: after their duration, at a control tick.

        With ``decision_period > 0`` the agent's controller runs at the ticks, so a macro-action
        whose duration runs out between two ticks completes at the next tick (its transition
        spans to the tick in any case).
        """
        ends = self.now + np.asarray(durations, dtype=np.float64)
        period = self.scenario.decision_period
        if period > 0:
            ends = np.maximum(ends, np.ceil(ends / period - 1e-9) * period)
        return ends

    def _start_timed(self, idx: np.ndarray, actions: np.ndarray) -> None:
        ends = self._timed_end(self.begin_many(idx, actions))
        # each agent with the generation its macro-action belongs to (a later one cancels it)
        agents = np.empty((2, len(idx)), dtype=np.int64)
        agents[0] = idx
        agents[1] = self.generation[idx]
        if len(idx) == 1:
            self._add_end(float(ends[0]), agents)
            return
        order = ends.argsort(kind="stable")
        ends, agents = ends[order], agents[:, order]
        bounds = [0, *((ends[1:] != ends[:-1]).nonzero()[0] + 1).tolist(), len(ends)]
        keys = ends[bounds[:-1]].tolist()
        pending = self._ends
        for key, lo, hi in zip(keys, bounds[:-1], bounds[1:], strict=True):
            chunks = pending.get(key)
            if chunks is None:
                self._add_end(key, agents[:, lo:hi])
            else:
                chunks.append(agents[:, lo:hi])

    def _add_end(self, t_end: float, agents: np.ndarray) -> None:
        """File ``agents`` ([2, K]: agent ids and generations) under the end time ``t_end``."""
        chunks = self._ends.get(t_end)
        if chunks is None:
            chunks = self._ends[t_end] = []
            event = self.env.timeout(t_end - self.now)
            event.callbacks.append(lambda _ev, key=t_end: self._on_ends(key))
        chunks.append(agents)

    def _on_ends(self, key: float) -> None:
        chunks = self._ends.pop(key)
        idx, gen = np.concatenate(chunks, axis=1) if len(chunks) > 1 else chunks[0]
        live = (self.generation[idx] == gen) & self.up[idx]
        if not live.all():
            idx = idx[live]
        if len(idx):
            self.end_many(idx)
            self.batcher.request_many(idx)

    def interrupt_agent(self, idx: int) -> None:
        """End agent ``idx``'s running macro-action now; it decides again at this instant."""
        if self.arrays_mode:
            if self.up[idx] and self.cur_action[idx] >= 0:
                self.generation[idx] += 1
                self.batcher.request_many(np.array([idx]))
        else:
            self.sim_agents[idx].interrupt("interrupt")

    def _timed_behaviour(self, agent: SimAgent) -> Any:
        """Process-mode run of a timed macro-action: begin, wait its duration, end."""
        idx = np.array([agent.idx], dtype=np.int64)
        end = float(self._timed_end(self.begin_many(idx, self.cur_action[idx]))[0])
        yield self.env.timeout(end - self.now)
        self.end_many(idx)

    def _send_epoch(self, deciding: np.ndarray, *, done: bool) -> None:
        learner = self._joint_learner
        assert learner is not None
        reward, _ = self.ledger.window(self._epoch_time, self.now, self.gamma, closed=done)
        running = self.cur_action >= 0
        self._epoch_action = np.where(running, self.cur_action, self._epoch_action)
        epoch = DecisionEpoch(
            time=self.now,
            tau=self.now - self._epoch_time,
            reward=reward,
            state=self.global_state(),
            obs=self.dec_obs.copy(),
            mask=self.dec_mask.copy(),
            action=self._epoch_action.copy(),
            deciding=deciding,
            alive=self.up.copy(),
            done=done,
            terminal=done and self._terminal,
            episode=self.episode,
        )
        self._epoch_time = self.now
        learner.observe_epoch(epoch)
        self._maybe_update()

    def _emit_pending(self) -> None:
        if not self._pending:
            return
        chunks = self._pending
        self._pending = []
        cols = chunks[0]
        if len(chunks) > 1:
            cols = {k: np.concatenate([c[k] for c in chunks]) for k in cols}
        idx = cols["idx"]
        if "obs" in cols:  # closed as full transitions (see _close)
            rewards, totals = self.ledger.windows(cols["t0"], cols["t1"], self.gamma, cols["done"])
        else:
            rewards, totals = None, self.ledger.totals(cols["t0"], cols["t1"], cols["done"])
        if self._own_rewards:
            for k, i in enumerate(idx.tolist()):
                own = self._own_rewards.get(i)
                if own is not None:
                    d2, t2 = own.window(cols["t0"][k], cols["t1"][k], self.gamma, cols["done"][k])
                    if rewards is not None:
                        rewards[k] += d2
                    totals[k] += t2
        self.agent_return += np.bincount(idx, totals, minlength=self.agent_return.size)
        self._emitted_until = max(self._emitted_until, float(cols["t1"].max()))
        if rewards is None:  # no learner and no transitions table: returns are all that is kept
            return
        batch = TransitionBatch(
            agent_idx=idx,
            obs=cols["obs"],
            action=cols["action"],
            mask=cols["mask"],
            reward=rewards,
            obs_next=cols["obs_next"],
            mask_next=cols["mask_next"],
            tau=cols["t1"] - cols["t0"],
            done=cols["done"],
            terminal=cols["terminal"],
            t_start=cols["t0"],
            t_end=cols["t1"],
            episode=self.episode,
        )
        if self.recorder.has("transitions"):
            ids = np.fromiter((self.sim_agents[i].agent_id for i in idx.tolist()), np.int64)
            self.recorder.extend(
                "transitions",
                {
                    "episode": np.full(len(batch), self.episode),
                    "agent_id": ids,
                    "t_start": batch.t_start,
                    "t_end": batch.t_end,
                    "tau": batch.tau,
                    "action": batch.action,
                    "reward": batch.reward,
                    "done": batch.done,
                    "terminal": batch.terminal,
                    "obs": batch.obs.tolist(),
                    "obs_next": batch.obs_next.tolist(),
                },
            )
        if self._learner is not None:
            self._learner.observe(batch)
            self._maybe_update()

    def _maybe_update(self) -> None:
        learner = self._learner
        if learner is None:
            return
        while learner.ready():
            t0 = time.perf_counter()
            metrics = dict(learner.update())
            self.n_updates += 1
            wall = time.perf_counter() - t0
            if self.n_updates == 1:  # a learner's own metrics become columns of their own
                own = getattr(learner, "train_metrics", ())
                self.recorder.add_columns("train", dict.fromkeys(own, pl.Float64))
            self.recorder.add(
                "train",
                update=self.n_updates,
                episode=self.episode,
                sim_time=self.now,
                wall_s=wall,
                **train_row(metrics, self.recorder.columns("train")),
            )

    # ====================================================================== episodes
    def _end_now(self) -> None:
        if not self._ended:
            self._ended = True
            self._end_event.succeed()

    def run_episode(self, episode: int, phase: str) -> dict[str, Any]:
        """Simulate one episode and record its rows; returns the episode row."""
        if self.policy is None:
            raise ConfigError("policy", None, "a Policy set on the world before running")
        wall0 = time.perf_counter()
        self.env = simpy.Environment()
        self.episode = episode
        self.phase = phase
        self.ledger.clear()
        self._own_rewards.clear()
        self._pending = []
        self._emitted_until = 0.0
        self._terminal = False
        self._ended = False
        self._end_event = self.env.event()
        training = phase == "train" and isinstance(self.policy, Learner)
        self._learner = self.policy if training else None
        self._joint_learner = (
            self._learner if training and getattr(self.policy, "joint", False) else None
        )
        self.batcher = DecisionBatcher(
            self.env, self._serve, period=self.scenario.decision_period, max_batch=self.max_batch
        )
        for agent in self._episode_agents:
            if agent not in self._original_agents:
                agent.remove()
        self.sim_agents = list(self._original_agents)
        self._episode_agents = list(self.sim_agents)
        self._next_agent_id = len(self.sim_agents)
        self._alloc_agent_arrays()
        self._ends: dict[float, list[np.ndarray]] = {}
        self._epoch_time = 0.0
        self._epoch_action = np.full(len(self.sim_agents), -1, dtype=np.int64)
        self.up[:] = True
        self.action_override = None
        for agent in self.sim_agents:
            agent.alive = True
            agent.role = "honest"
            agent.reset_episode()
        self.reset_episode(episode)
        self.network = self._make_network(episode)
        self.policy.reset(None)
        self.start_processes()
        self._start_faults(episode)
        alive = np.flatnonzero(self.up)
        if self.arrays_mode:
            self.batcher.request_many(alive)
        else:
            for i in alive.tolist():
                self.sim_agents[i].start()
        self.env.timeout(self.scenario.horizon).callbacks.append(lambda _ev: self._end_now())
        self.env.run(until=self._end_event)
        self._finish_episode()
        row = self._episode_row(time.perf_counter() - wall0)
        self.recorder.add("episodes", **row)
        self._agent_rows()
        self.end_episode()
        if self._learner is not None:
            self._learner.end_episode(episode)
            self._maybe_update()
        return row

    def _make_network(self, episode: int) -> Network | None:
        if not self.message_kinds:
            return None
        spec = self.scenario.net
        return Network(
            self.env,
            self.build_topology(episode),
            link_model(spec, round_period=self.round_period),
            self.streams.fresh("net", episode),
            resolution=spec.resolution,
            inbox_limit=spec.inbox_limit,
            kinds=self.message_kinds,
            is_up=self._is_up,
            positions=self.agent_positions if spec.delay.model == "distance" else None,
            trace=self.scenario.record.messages,
        )

    def _start_faults(self, episode: int) -> None:
        if not _faults_configured(self.scenario):
            return
        from dmarl_des.faults import FaultInjector

        rng = self.streams.fresh("faults", episode)
        self.faults = FaultInjector(self.scenario.faults, self, rng).start()

    def _finish_episode(self) -> None:
        """Cut open macro-actions at the end time and emit every remaining transition as done."""
        open_idx = np.flatnonzero(self.cur_action >= 0)
        if len(open_idx):
            self._close(
                open_idx,
                self.observe_many(open_idx),
                self.mask_many(open_idx),
                done=True,
                terminal=self._terminal,
            )
        self._emit_pending()
        if self._joint_learner is not None:
            self._send_epoch(np.zeros(len(self.sim_agents), dtype=bool), done=True)
        for agent in self._episode_agents:
            if agent.down_since is not None:
                agent.downtime += self.now - agent.down_since
                agent.down_since = None
        self._net_stats = self._network_rows() if self.network is not None else None

    def _network_rows(self) -> dict[str, Any]:
        net = self.network
        assert net is not None
        net.drop_pending()
        stats = net.stats()
        row = {k: stats[k] for k in self.recorder.columns("network") if k in stats}
        row["episode"] = self.episode
        self.recorder.add("network", **row)
        if self.recorder.has("messages"):
            trace = net.trace_columns()
            n = len(trace.get("src", []))
            ids = np.array([a.agent_id for a in self.sim_agents], dtype=np.int64)
            cols = {
                k: trace[k]
                for k in (
                    "t_sent",
                    "kind",
                    "bytes",
                    "attempts",
                    "delivered",
                    "t_delivered",
                    "drop_cause",
                )
            }
            cols["src"] = ids[np.asarray(trace["src"], dtype=np.int64)] if n else []
            cols["dst"] = ids[np.asarray(trace["dst"], dtype=np.int64)] if n else []
            cols["episode"] = [self.episode] * n
            self.recorder.extend("messages", cols)
        return stats

    def _episode_row(self, wall: float) -> dict[str, Any]:
        sizes = self.batcher.batch_sizes
        net = self._net_stats
        return {
            "episode": self.episode,
            "phase": self.phase,
            "sim_time": self.now,
            "team_return": self.ledger.total(),
            "discounted_return": self.ledger.discounted_total(self.gamma),
            "success": bool(self.success()),
            "n_decisions": self.batcher.n_decisions,
            "mean_batch": float(np.mean(sizes)) if sizes else 0.0,
            "n_alive_end": int(sum(a.alive for a in self.sim_agents)),
            "n_crashed": sum(a.role == "crashed" for a in self._episode_agents),
            "n_byzantine": sum(a.role == "byzantine" for a in self._episode_agents),
            "msgs_sent": net.get("sent", 0) if net else 0,
            "msgs_delivered": net.get("delivered", 0) if net else 0,
            "msgs_dropped": (net["sent"] - net["delivered"] - net.get("in_flight", 0))
            if net
            else 0,
            "mean_latency": net.get("latency_mean") if net else None,
            "wall_s": wall,
        }

    def _agent_rows(self) -> None:
        agents = self._episode_agents
        stats = [self.agent_stats(a) for a in agents]
        self.recorder.extend(
            "agents",
            {
                "episode": [self.episode] * len(agents),
                "agent_id": [a.agent_id for a in agents],
                "role": [a.role for a in agents],
                "return": [st[0] for st in stats],
                "n_decisions": [st[1] for st in stats],
                "mean_macro_duration": [st[2] / st[3] if st[3] else None for st in stats],
                "downtime": [a.downtime for a in agents],
            },
        )

    def agent_stats(self, agent: SimAgent) -> tuple[float, int, float, int]:
        """(return, decisions, busy time, finished macro-actions) of an agent this episode."""
        if agent.final_stats is not None:
            return agent.final_stats
        i = agent.idx
        return (
            float(self.agent_return[i]),
            int(self.n_decisions[i]),
            float(self.busy_time[i]),
            int(self.n_macro_done[i]),
        )

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


def _faults_configured(scenario: Scenario) -> bool:
    """True when the scenario's `faults` section asks for anything."""
    return scenario.faults != type(scenario.faults)()
