"""Warehouse: a robot fleet fetching requested shelves to goal cells, on the rules of RWARE 2.0.

The floor and its primitive step are RWARE's (``warehouse_rules``: layouts in
``warehouse_layout``); docs/world_warehouse.md has the full page. One step is one time unit:
step ``k`` resolves at time ``k``, after the decisions of that instant, the primitive actions of
every robot at once. Robots act through macro-actions (``world.actions = macro``):

* ``fetch_k`` — go to the k-th nearest requested shelf (by the shortest open-grid plan; unloaded
  robots pass under shelves) and pick it up; interrupted as soon as another robot picks it up;
* ``deliver`` — carry the shelf to the nearest goal along the highways; it is delivered (and the
  reward given) in the step that brings it onto the goal, if it is requested;
* ``put_back`` — carry the shelf to the nearest free slot off the highways and put it down;
* ``wait`` — one step of no-op; ``step_aside`` — turn to a free neighbouring cell and move there.

A macro-action is the plan of primitive actions computed when it starts, so its duration (the
plan's length) is known then: this is a *timed* world, robots are kept in arrays. A forward move
that the step refuses (a robot in the way, a shelf in a loaded robot's way) interrupts the
macro-action: the robot decides again at the next instant. With ``world.actions = primitive``
the five primitive actions are the macro-actions (one step each): RWARE itself.

Robots that start a macro-action radio their cell and the shelf they go for (``plan``); the
others leave claimed shelves to them (``warehouse_observe``). A crashed or departed robot stays
where it stands, an obstacle; a recovered or newly joined one forgets what it heard.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import polars as pl
from pydantic import Field

from dmarl_des.bounds import Period, Real
from dmarl_des.errors import ConfigError
from dmarl_des.kernel import AFTER_DECISIONS, URGENT, call_at
from dmarl_des.net import MessageKind, ProximityTopology, Topology
from dmarl_des.scenario import Scenario, WorldParams
from dmarl_des.scenario.budget import check_duration
from dmarl_des.world import World
from dmarl_des.worlds.warehouse_layout import Layout, layout_of
from dmarl_des.worlds.warehouse_observe import Claims, fetch_candidates, obs_dim, observe
from dmarl_des.worlds.warehouse_plans import MacroIndex, Plans, macro_plans, robot_draws
from dmarl_des.worlds.warehouse_policy import GreedyFleet, hoarding_actions
from dmarl_des.worlds.warehouse_routes import Field as RouteField
from dmarl_des.worlds.warehouse_routes import Routes
from dmarl_des.worlds.warehouse_rules import PRIMITIVE_NAMES, Floor
from dmarl_des.worlds.warehouse_table import WAREHOUSE_METRICS, WAREHOUSE_TABLE


class WarehouseParams(WorldParams):
    """`world.*` keys of the warehouse (lengths in cells, times in steps)."""

    name: Literal["warehouse"] = "warehouse"
    size: Literal["tiny", "small", "medium", "large"] = Field("tiny", description="named layout")
    shelf_rows: int | None = Field(None, ge=1, le=200, description="bands of shelves (None: size)")
    shelf_columns: int | None = Field(None, ge=1, le=301, description="odd (None: size)")
    column_height: int = Field(8, ge=1, le=100, description="shelf rows per band")
    stations: int = Field(1, ge=1, le=100, description="goal pairs on the last row (RWARE: 1)")
    layout: str | None = Field(None, description="custom layout text (x shelf . corridor g goal)")
    requests: int | None = Field(None, ge=1, description="request queue length (None: n_agents)")
    reward: Literal["individual", "global", "two_stage"] = "global"
    actions: Literal["macro", "primitive"] = "macro"
    fetch_choices: int = Field(3, ge=1, le=32, description="fetch macro-actions (K nearest)")
    max_inactivity: int = Field(0, ge=0, description="end after this many steps without delivery")
    radio_range: Real = Field(6.0, gt=0.0, description="radio range in cells (topology `world`)")
    radio_period: Period = Field(1.0, gt=0.0, description="period of the radio graph refresh")
    claim_memory: int = Field(16, ge=1, le=4096, description="claims a robot remembers")
    claim_ttl: Real = Field(30.0, gt=0.0, description="time a heard claim is believed")
    backoff: float = Field(
        0.5, ge=0.0, le=1.0, description="chance a robot stopped by a refused move steps aside"
    )

    def check(self, scenario: Scenario) -> None:
        layout = self.floor_plan()
        n = scenario.n_agents
        if n > layout.n_cells:
            raise ConfigError("n_agents", n, f"at most the layout's {layout.n_cells} cells")
        shelves = layout.shelf_homes.size
        requests = n if self.requests is None else self.requests
        if not 1 <= requests < shelves:
            raise ConfigError(
                "world.requests", requests, f"1 to {shelves - 1} (fewer than the {shelves} shelves)"
            )
        if scenario.decision_period != 0:
            raise ConfigError(
                "decision_period", scenario.decision_period, "0 (robots decide at the steps)"
            )
        check_duration("horizon", scenario.horizon, 1.0, scenario.horizon)  # one step per unit

    def floor_plan(self) -> Layout:
        """The layout these keys name."""
        return layout_of(
            self.size,
            self.shelf_rows,
            self.shelf_columns,
            self.column_height,
            self.layout,
            self.stations,
        )

    def bytes_per_agent(self, scenario: Scenario) -> float:
        return 16.0 * self.claim_memory + 8.0 * (64 + self.fetch_choices)


class WarehouseWorld(World):
    """RWARE's floor under a fleet of robots deciding on macro-actions (see the module)."""

    Params = WarehouseParams
    params: WarehouseParams
    timed = True
    state_dim = 6
    message_kinds: ClassVar[dict[str, MessageKind]] = {
        "plan": MessageKind("plan", (2,), "float32", max_bytes=8)
    }
    trace_columns: ClassVar[dict[str, pl.DataType]] = {"heading": pl.Int8, "shelf": pl.Int32}
    tables: ClassVar[dict[str, dict[str, pl.DataType]]] = {"warehouse": WAREHOUSE_TABLE}
    metrics = WAREHOUSE_METRICS

    # ---------------------------------------------------------------- construction
    def setup(self) -> None:
        p = self.params
        self.layout = p.floor_plan()
        self.routes = Routes(self.layout)
        n = self.scenario.n_agents
        self.floor = Floor(self.layout, n, n if p.requests is None else p.requests, p.reward)
        self.primitive = p.actions == "primitive"
        self.macros = MacroIndex(p.fetch_choices)
        self.obs_dim = obs_dim(p.fetch_choices)
        self.radio = ProximityTopology(p.radio_range)
        self.xy = self.layout.xy.astype(np.float64)

    def macro_action_names(self) -> tuple[str, ...]:
        return PRIMITIVE_NAMES if self.primitive else self.macros.names

    # ---------------------------------------------------------------- episodes
    def reset_episode(self, episode: int) -> None:
        """Robots on distinct random cells with random headings, a random request queue (as
        RWARE's reset draws them), every shelf at its home."""
        p, floor, n = self.params, self.floor, self.floor.n
        rng = self.streams.fresh("world", episode)
        cells = rng.choice(self.layout.n_cells, size=n, replace=False)
        headings = rng.integers(0, 4, size=n)
        requests = rng.choice(floor.n_shelves, size=floor.n_requests, replace=False)
        floor.reset(cells, headings, requests, rng)
        self.tie_rng = self.streams.fresh("ties", episode)
        self.aside_key = self.streams.integer_seed("aside", episode)
        self.plans = Plans(n)
        self.target = np.full(n, -1, dtype=np.int64)  # shelf a fetch goes for
        self.blocked = np.zeros(n, dtype=bool)
        self.candidates = np.full((n, p.fetch_choices), -1, dtype=np.int64)
        self.claims = Claims(n, p.claim_memory, p.claim_ttl)
        self._slot_field: RouteField | None = None
        self._field_step = -1
        self.step_count = 0
        self.idle_steps = 0
        self.counts = dict.fromkeys(WAREHOUSE_TABLE, 0)
        self.counts["episode"] = episode

    def build_topology(self, episode: int) -> Topology:
        if self.scenario.net.topology.kind != "world":
            return super().build_topology(episode)
        return self.radio.update(self.agent_positions(), present=self.up)

    def start_processes(self) -> None:
        self.every(1.0, self._step, priority=AFTER_DECISIONS, first=0)
        if self.scenario.net.topology.kind == "world" and not self.primitive:
            self.every(self.params.radio_period, self._refresh_radio, priority=URGENT)

    def _refresh_radio(self) -> None:
        assert self.network is not None
        self.network.topology = self.radio.update(self.agent_positions(), present=self.up)

    def end_episode(self) -> None:
        self.counts["claims_heard"] = self.claims.heard
        self.counts["claims_ignored"] = self.claims.ignored
        self.recorder.add("warehouse", **self.counts)

    def success(self) -> bool:
        """At least one delivery per robot."""
        return self.counts["deliveries"] >= self.floor.n

    # ---------------------------------------------------------------- one step
    def tie_priority(self) -> np.ndarray:
        """Priorities [N] deciding this step's ties between equally long chains (a fresh draw
        from the episode's ``ties`` stream every step)."""
        return self.tie_rng.random(self.floor.n)

    def _step(self) -> None:
        """Step k: every robot's next planned primitive (idle robots: no-op), resolved at once."""
        floor = self.floor
        busy, planned = self.plans.take()
        actions = np.zeros(floor.n, dtype=np.int64)
        actions[busy] = planned
        had = floor.load.copy()
        out = floor.step(actions, self.tie_priority())
        self.step_count += 1
        c = self.counts
        c["moves"] += int(np.count_nonzero(out.moved))
        c["blocked_moves"] += int(np.count_nonzero(out.blocked))
        c["ties"] += out.ties
        c["pickups"] += int(np.count_nonzero((had < 0) & (floor.load >= 0)))
        c["put_downs"] += int(np.count_nonzero((had >= 0) & (floor.load < 0)))
        c["deliveries"] += out.delivered.size
        self._reward(out.rewards, out.delivered)
        self.blocked[busy] = out.blocked[busy]
        if not self.primitive:
            self._interrupt_stopped(busy, out.blocked)
        self.idle_steps = 0 if out.delivered.size else self.idle_steps + 1
        if self.params.max_inactivity and self.idle_steps >= self.params.max_inactivity:
            self.terminate()

    def _reward(self, rewards: np.ndarray, delivered: np.ndarray) -> None:
        """Rewards of the step, stamped now: they belong to the macro-actions running in it."""
        if self.params.reward == "global":
            if delivered.size:
                self.give_reward(float(delivered.size))
            return
        for i in np.flatnonzero((rewards != 0) & self.up).tolist():
            self.give_reward(float(rewards[i]), agents=[self.sim_agents[i]])

    def _interrupt_stopped(self, busy: np.ndarray, blocked: np.ndarray) -> None:
        """Robots whose move was refused, or whose shelf to fetch another robot took, with
        steps left in their plan: interrupted at the next instant, before anything else."""
        floor = self.floor
        unfinished = self.plans.unfinished(busy)
        taken_by = np.full(floor.n_shelves, -1, dtype=np.int64)
        carriers = np.flatnonzero(floor.load >= 0)
        taken_by[floor.load[carriers]] = carriers
        goal = self.target[unfinished]
        lost = (goal >= 0) & (taken_by[np.maximum(goal, 0)] >= 0)
        stop = unfinished[blocked[unfinished] | lost]
        self.counts["fetches_lost"] += int(np.count_nonzero(lost))
        if stop.size:
            self.plans.stop(stop)
            self.counts["interrupts"] += stop.size
            call_at(self.env, 1.0, lambda: self._interrupt(stop), URGENT)

    def _interrupt(self, idx: np.ndarray) -> None:
        for i in idx[self.up[idx]].tolist():
            self.interrupt_agent(i)

    # ---------------------------------------------------------------- positions, faults
    def agent_positions(self) -> np.ndarray:
        return self.xy[self.floor.pos]

    def _halt(self, idx: int) -> None:
        """Robot ``idx`` stops where it stands (an obstacle from now on)."""
        self.plans.stop(idx)
        self.target[idx] = -1

    def crash_agent(self, idx: int, reason: str = "crash") -> bool:
        stopped = super().crash_agent(idx, reason)
        if stopped:
            self._halt(idx)
        return stopped

    def leave_agent(self, idx: int) -> bool:
        left = super().leave_agent(idx)
        if left:
            self._halt(idx)
        return left

    def reset_agent_state(self, agent) -> None:
        """A recovered or newly joined robot forgets the claims it heard; it keeps its body
        (cell, heading, shelf)."""
        self._halt(agent.idx)
        self.claims.forget(agent.idx)
        self.blocked[agent.idx] = False

    # ---------------------------------------------------------------- decisions
    def slot_field(self) -> RouteField:
        """The loaded robots' field towards the free slots, recomputed once per step."""
        if self._field_step != self.step_count or self._slot_field is None:
            self._slot_field = self.routes.to_slots(self.floor.shelf_at)
            self._field_step = self.step_count
        return self._slot_field

    def observe_many(self, idx: np.ndarray) -> np.ndarray:
        self._read_radio(idx)
        floor = self.floor
        believed = self.claims.believed(idx, self.now)
        shelves, steps = fetch_candidates(floor, self.routes, idx, believed, self.macros.fetch)
        shelves[floor.load[idx] >= 0] = -1
        self.candidates[idx] = shelves
        # the free-slot field matters to loaded robots only (unused when none decides)
        loaded = (floor.load[idx] >= 0).any()
        field = self.slot_field() if loaded else self.routes.to_goal
        obs, self._deliver_steps, self._put_back_steps = observe(
            floor, self.routes, field, idx, self.blocked, (shelves, steps)
        )
        return obs

    def mask_many(self, idx: np.ndarray) -> np.ndarray:
        if self.primitive:
            return np.ones((len(idx), len(PRIMITIVE_NAMES)), dtype=bool)
        m = self.macros
        mask = np.ones((len(idx), len(m.names)), dtype=bool)
        mask[:, : m.fetch] = self.candidates[idx] >= 0
        mask[:, m.deliver] = np.isfinite(self._deliver_steps) & (self._deliver_steps > 0)
        mask[:, m.put_back] = np.isfinite(self._put_back_steps)
        return mask

    def _read_radio(self, idx: np.ndarray) -> None:
        if self.network is None:
            return
        got = self.network.drain_many(idx)
        payloads = np.asarray(got.payloads, dtype=np.float64).reshape(-1, 2)
        self.claims.hear(
            got.receiver, payloads, self.now, self.layout.n_cells, self.floor.n_shelves
        )

    # ---------------------------------------------------------------- macro-actions
    def begin_many(self, idx: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Plans start (``warehouse_plans``): each robot's primitive actions from its cell and
        heading now; a macro-action lasts as many steps as its plan has actions. Starting
        robots radio their cell and the shelf they go for."""
        if self.primitive:
            plans, self.target[idx] = [[int(a)] for a in actions.tolist()], -1
        else:
            u = robot_draws(self.aside_key, idx, self.n_decisions[idx], 5)
            backoff = self.blocked[idx] & (u[:, 0] < self.params.backoff)
            plans, self.target[idx] = macro_plans(
                self.floor,
                self.routes,
                self.slot_field,
                self.macros,
                idx,
                actions,
                self.candidates[idx],
                backoff,
                np.argsort(u[:, 1:], axis=1),
            )
        lengths = self.plans.assign(idx, plans)
        self.blocked[idx] = False
        if self.network is not None and not self.primitive:
            payload = np.stack([self.floor.pos[idx], self.target[idx]], axis=1)
            self.network.broadcast_many(idx, "plan", payload.astype(np.float32))
        return lengths.astype(np.float64)

    # ---------------------------------------------------------------- policy, state, trace
    def scripted_policy(self) -> GreedyFleet | None:
        if self.primitive:
            return None
        return GreedyFleet(self.macros)

    def adversarial_actions(self, agent_idx: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
        """Byzantine robots hoard: they fetch requested shelves and put them back elsewhere."""
        if self.primitive:
            return None
        return hoarding_actions(self.floor.load[agent_idx] >= 0, mask, self.macros)

    def global_state(self) -> np.ndarray:
        floor = self.floor
        loaded = floor.load >= 0
        carried = np.zeros(floor.n_shelves, dtype=bool)
        carried[floor.load[loaded]] = True
        return np.array(
            [
                loaded.mean(),
                (loaded & floor.requested[np.maximum(floor.load, 0)]).mean(),
                carried[floor.requests].mean(),
                self.blocked.mean(),
                self.up.mean(),
                self.now / self.scenario.horizon,
            ],
            dtype=np.float32,
        )

    def trace_values(self) -> dict[str, np.ndarray]:
        return {"heading": self.floor.heading, "shelf": self.floor.load}


WORLD = WarehouseWorld
