"""Traffic signals: a grid of signalised intersections, each signal an agent choosing phases and green times.

Rules (docs/world_traffic.md has the full page):

* ``rows × cols = n_agents`` intersections (``traffic_grid``), ``link_length`` apart; each has
  four approaches and two phases (north–south, east–west green).
* Vehicles enter at the grid's edge (Poisson or deterministic arrivals, ``rate_ns`` /
  ``rate_ew`` per entry), queue at stop lines, cross at the saturation flow during green, turn
  and drive ``link_length / free_speed`` to the next intersection — a network of point queues
  with exact times (``traffic_queues``), or SUMO through libsumo (``engine = sumo``,
  ``traffic_sumo``).
* A signal's macro-action: *phase p green for g seconds*, with yellow and all-red before a
  change of phase, max green by the action mask (``traffic_signals``). Durations vary, so the
  signals decide asynchronously; every duration is known when it starts (a ``timed`` world).
* Signals report their queues to their grid neighbours every ``report_period`` (message kind
  ``queues``); a lost report leaves a stale downstream queue in the receiver's observation.
* Reward of a macro-action, given as it ends (own, or the team's with ``shared_reward``): the
  reduction of the accumulated waiting time at the signal's stop lines (``wait``, sumo-rl's
  default), or minus the queue or the pressure integrated over the macro-action; divided by
  ``reward_scale``.
* A crashed signal flashes (all-way stop); baselines: fixed-time and max-pressure
  (``traffic_control``).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
import polars as pl
from pydantic import Field

from dmarl_des.agent import SimAgent
from dmarl_des.bounds import Count, Period, Rate, Real
from dmarl_des.errors import ConfigError
from dmarl_des.net import MessageKind, Topology, grid
from dmarl_des.scenario import Scenario, WorldParams
from dmarl_des.scenario.budget import check_duration
from dmarl_des.world import World
from dmarl_des.worlds.traffic_control import (
    AGE,
    AGE_SCALE,
    APPROACHING,
    DOWNSTREAM,
    ELAPSED,
    HALTING,
    OBS_DIM,
    FixedTime,
    MaxPressure,
    adversarial_choice,
    phase_pressures,
)
from dmarl_des.worlds.traffic_grid import (
    EAST,
    N_PHASES,
    SIDES,
    WEST,
    RoadGrid,
    grid_shape,
    turn_matrix,
)
from dmarl_des.worlds.traffic_queues import QueueNetwork
from dmarl_des.worlds.traffic_reports import QUEUES, NeighbourReports
from dmarl_des.worlds.traffic_signals import Signals, Timings
from dmarl_des.worlds.traffic_table import TRAFFIC_METRICS, TRAFFIC_TABLE, traffic_row


class TrafficParams(WorldParams):
    """`world.*` keys of the traffic world (times in seconds, lengths in metres)."""

    name: Literal["traffic"] = "traffic"
    rows: Count | None = Field(None, ge=1, description="grid rows (None: the squarest grid)")
    link_length: Real = Field(200.0, gt=0.0, description="distance between intersections")
    free_speed: Real = Field(10.0, gt=0.0, description="speed on the links (m/s)")
    saturation_flow: Rate = Field(0.5, gt=0.0, description="veh/s an approach discharges")
    arrivals: Literal["poisson", "deterministic"] = "poisson"
    rate_ns: Rate = Field(0.1, ge=0.0, description="veh/s entering at each north/south entry")
    rate_ew: Rate = Field(0.1, ge=0.0, description="veh/s entering at each east/west entry")
    turn_left: float = Field(0.1, ge=0.0, le=1.0, description="probability of turning left")
    turn_right: float = Field(0.1, ge=0.0, le=1.0, description="probability of turning right")
    greens: tuple[Real, ...] = Field((10.0, 20.0, 30.0), min_length=1, max_length=64)
    min_green: Real = Field(5.0, ge=0.0, description="no green of `greens` is shorter")
    max_green: Real = Field(60.0, gt=0.0, description="longest uninterrupted green")
    yellow: Real = Field(3.0, ge=0.0, description="yellow before a change of phase")
    all_red: Real = Field(2.0, ge=0.0, description="all-red after the yellow")
    flash_headway: Real = Field(8.0, gt=0.0, description="headway of a flashing signal")
    reward: Literal["wait", "queue", "pressure"] = "wait"
    reward_scale: Real = Field(100.0, gt=0.0, description="rewards are divided by this")
    shared_reward: bool = Field(False, description="rewards go to the team, not the signal")
    controller: Literal["max_pressure", "fixed_time"] = "max_pressure"
    fixed_greens: tuple[Real, Real] = Field((20.0, 20.0), description="fixed-time greens")
    report_period: Period = Field(5.0, ge=0.0, description="queue reports (0: at decisions)")
    obs_scale: Real = Field(10.0, gt=0.0, description="vehicles that map to 1 in observations")
    target_delay: Real = Field(60.0, gt=0.0, description="success: delay per vehicle below")
    engine: Literal["queues", "sumo"] = "queues"

    def shape(self, n_agents: int) -> tuple[int, int]:
        """(rows, cols) of the grid of ``n_agents`` signals."""
        return grid_shape(n_agents, self.rows)

    def travel_time(self) -> float:
        return self.link_length / self.free_speed

    def timings(self) -> Timings:
        return Timings(tuple(self.greens), self.yellow, self.all_red, self.max_green)

    def bytes_per_agent(self, scenario: Scenario) -> float:
        # four approaches with rings of a few dozen vehicles (32 B each), reports, observations
        return 4 * 64 * 32.0 + 512.0

    def links_per_agent(self, scenario: Scenario) -> float:
        return 4.0  # kind world: the grid's neighbours

    def check(self, scenario: Scenario) -> None:
        try:
            self.shape(scenario.n_agents)
        except ValueError:
            raise ConfigError(
                "world.rows", self.rows, f"a divisor of n_agents ({scenario.n_agents}) or None"
            ) from None
        if self.turn_left + self.turn_right > 1.0:
            raise ConfigError("world.turn_right", self.turn_right, "turn_left + turn_right <= 1")
        if self.min_green > self.max_green:
            raise ConfigError("world.min_green", self.min_green, f"<= max_green ({self.max_green})")
        for g in self.greens:
            if not self.min_green <= g <= self.max_green or g <= 0:
                raise ConfigError(
                    "world.greens", list(self.greens), "greens > 0 within [min_green, max_green]"
                )
        if len(set(self.greens)) != len(self.greens):
            raise ConfigError("world.greens", list(self.greens), "distinct green times")
        for g in self.fixed_greens:
            if g not in self.greens:
                raise ConfigError(
                    "world.fixed_greens", list(self.fixed_greens), "members of greens"
                )
        check_duration("world.greens", list(self.greens), min(self.greens), scenario.horizon)
        travel = self.travel_time()
        check_duration("world.link_length", self.link_length, travel, scenario.horizon)
        check_duration("world.flash_headway", self.flash_headway, self.flash_headway, 1.0)
        if self.engine == "sumo":
            from dmarl_des.worlds.traffic_sumo import check_sumo

            check_sumo(self, scenario)


class TrafficWorld(World):
    """Signalised intersections on a grid, vehicles queueing between them."""

    Params = TrafficParams
    params: TrafficParams
    timed = True
    obs_dim = OBS_DIM
    message_kinds: ClassVar[dict[str, MessageKind]] = {"queues": QUEUES}
    tables: ClassVar[dict[str, dict[str, pl.DataType]]] = {"traffic": TRAFFIC_TABLE}
    metrics = TRAFFIC_METRICS
    trace_columns: ClassVar[dict[str, pl.DataType]] = {"phase": pl.Int8, "halting": pl.Int32}
    log_passages: bool = False
    """Set True to keep every stop-line crossing of an episode (``vehicles.passages()``)."""

    # ------------------------------------------------------------------ construction
    def setup(self) -> None:
        p = self.params
        n = self.scenario.n_agents
        self.grid = RoadGrid.build(*p.shape(n))
        self.timings = p.timings()
        self.turns = turn_matrix(p.turn_left, p.turn_right)
        self.state_dim = (SIDES + N_PHASES) * n
        rates = np.zeros(self.grid.n_approaches)
        sides = np.arange(self.grid.n_approaches) % SIDES
        ew = (sides == EAST) | (sides == WEST)
        rates[self.grid.entry] = np.where(ew, p.rate_ew, p.rate_ns)[self.grid.entry]
        self.entry_rates = rates
        self.vehicles: Any = None
        """The episode's vehicles: a ``QueueNetwork`` (or a SUMO co-simulation)."""

    def macro_action_names(self) -> tuple[str, ...]:
        return self.timings.names()

    # ------------------------------------------------------------------ episodes
    def reset_episode(self, episode: int) -> None:
        n = len(self.sim_agents)
        if self.vehicles is not None:
            self.vehicles.close_episode()
        self.vehicles = self._new_vehicles(episode)
        self.signals = Signals(n, self.timings)
        self.reports = NeighbourReports(self.grid)
        self.measured = np.zeros(n)
        """Each signal's reward measure when its running macro-action started."""
        self.team_measured = 0.0
        """The whole grid's measure at the last team reward (``shared_reward``)."""

    def _new_vehicles(self, episode: int) -> Any:
        p = self.params
        key = self.streams.sequence("world", episode).generate_state(2, np.uint32)
        key = (int(key[0]), int(key[1]))
        if p.engine == "sumo":
            from dmarl_des.worlds.traffic_sumo import SumoNetwork

            return SumoNetwork(self.grid, p, self.entry_rates, key)
        vehicles = QueueNetwork(
            self.grid,
            saturation_flow=p.saturation_flow,
            travel_time=p.travel_time(),
            p_left=p.turn_left,
            p_right=p.turn_right,
            arrivals=p.arrivals,
            rates=self.entry_rates,
            flash_headway=p.flash_headway,
            key=key,
        )
        vehicles.log_passages = self.log_passages
        return vehicles

    def build_topology(self, episode: int) -> Topology:
        if self.scenario.net.topology.kind == "world":
            return grid(self.grid.rows, self.grid.cols)
        return super().build_topology(episode)

    def start_processes(self) -> None:
        if self.params.report_period > 0:
            self.every(self.params.report_period, self._report_all)

    def end_episode(self) -> None:
        self.recorder.add("traffic", episode=self.episode, time=self.now, **self._summary())
        self.vehicles.close_episode()

    def success(self) -> bool:
        return self._summary()["delay_per_vehicle"] <= self.params.target_delay

    def _summary(self) -> dict[str, Any]:
        self._sync()
        return traffic_row(self.vehicles.summary(), self.now)

    def _sync(self) -> None:
        """Bring the vehicles to the current time (every crossing before now)."""
        self.vehicles.advance(self.now)

    # ------------------------------------------------------------------ messages
    def _halting(self, idx: np.ndarray) -> np.ndarray:
        """[B, 4] halting vehicles at the stop lines of signals ``idx`` now."""
        return self.vehicles.halting(self.grid.approaches_of(idx).ravel()).reshape(-1, SIDES)

    def _report_all(self) -> None:
        self._report(np.flatnonzero(self.up))

    def _report(self, idx: np.ndarray) -> None:
        """Signals ``idx`` broadcast their halting vehicles per stop line to their neighbours."""
        if self.network is None or not idx.size:
            return
        self._sync()
        self.network.broadcast_many(idx, "queues", self._halting(idx).astype(np.float32))

    # ------------------------------------------------------------------ decisions
    def observe_many(self, idx: np.ndarray) -> np.ndarray:
        idx = np.asarray(idx, dtype=np.int64)
        self._sync()
        if self.network is not None:
            self.reports.read(self.network.drain_many(idx))
        p, now, b = self.params, self.now, len(idx)
        obs = np.zeros((b, OBS_DIM), dtype=np.float32)
        phase = self.signals.phase[idx]
        showing = np.flatnonzero(phase >= 0)
        obs[showing, phase[showing]] = 1.0
        obs[:, ELAPSED] = self.signals.elapsed(idx, now) / p.max_green
        approaches = self.grid.approaches_of(idx).ravel()
        halting = self.vehicles.halting(approaches)
        present = self.vehicles.present(approaches)
        obs[:, HALTING] = halting.reshape(b, SIDES) / p.obs_scale
        obs[:, APPROACHING] = (present - halting).reshape(b, SIDES) / p.obs_scale
        exits = self.grid.feeds[idx] < 0
        obs[:, DOWNSTREAM] = np.where(exits, 0.0, self.reports.value[idx]) / p.obs_scale
        age = np.minimum((now - self.reports.at[idx]) / AGE_SCALE, 1.0)
        obs[:, AGE] = np.where(exits, 0.0, age)
        return obs

    def mask_many(self, idx: np.ndarray) -> np.ndarray:
        return self.signals.mask(np.asarray(idx, dtype=np.int64), self.now)

    def global_state(self) -> np.ndarray:
        n = len(self.sim_agents)
        self._sync()
        state = np.zeros((n, SIDES + N_PHASES), dtype=np.float32)
        state[:, :SIDES] = self._halting(np.arange(n)) / self.params.obs_scale
        showing = np.flatnonzero(self.signals.phase >= 0)
        state[showing, SIDES + self.signals.phase[showing]] = 1.0
        return state.ravel()

    # ------------------------------------------------------------------ macro-actions
    def begin_many(self, idx: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Phases start (after a transition when they change); duration = transition + green."""
        self._sync()
        durations = self.signals.begin(idx, actions, self.now, self.vehicles)
        if self.params.report_period == 0:
            self._report(idx)
        return durations

    def end_many(self, idx: np.ndarray) -> None:
        """Greens end: each signal earns minus the change of its measure over the macro-action;
        with ``shared_reward`` the team earns minus the change of the whole grid's measure
        (flashing intersections included) since its last reward."""
        self._sync()
        scale = self.params.reward_scale
        if self.params.shared_reward:
            grid = float(self._measure(np.arange(len(self.sim_agents))).sum())
            reward, self.team_measured = (self.team_measured - grid) / scale, grid
            if reward != 0.0:  # signals ending at one instant: the first one takes it all
                self.give_reward(reward)
            return
        now = self._measure(idx)
        reward = (self.measured[idx] - now) / scale
        self.measured[idx] = now
        agents = self.sim_agents
        for i, r in zip(idx.tolist(), reward.tolist(), strict=True):
            self.give_reward(r, agents=[agents[i]])

    def _measure(self, idx: np.ndarray) -> np.ndarray:
        """Per signal: waiting accumulated by the vehicles halting at its stop lines (``wait``),
        the time integral of its queues (``queue``), or of its queues minus the queues it feeds
        (``pressure``); vehicle-seconds."""
        approaches = self.grid.approaches_of(idx)
        if self.params.reward == "wait":
            _, waited = self.vehicles.waiting(approaches.ravel())
            return waited.reshape(-1, SIDES).sum(axis=1)
        own = self.vehicles.queue_integral(approaches.ravel()).reshape(-1, SIDES).sum(axis=1)
        if self.params.reward == "queue":
            return own
        fed = self.grid.feeds[idx]
        out = np.zeros(fed.shape)
        inside = fed >= 0
        if inside.any():
            out[inside] = self.vehicles.queue_integral(fed[inside])
        return own - out.sum(axis=1)

    # ------------------------------------------------------------------ faults
    def crash_agent(self, idx: int, reason: str = "crash") -> bool:
        stopped = super().crash_agent(idx, reason)
        if stopped:
            self._sync()
            self.signals.flash(idx, self.vehicles)
        return stopped

    def leave_agent(self, idx: int) -> bool:
        left = super().leave_agent(idx)
        if left:
            self._sync()
            self.signals.flash(idx, self.vehicles)
        return left

    def reset_agent_state(self, agent: SimAgent) -> None:
        """A recovered (or new) signal shows all red, forgets its neighbours' reports."""
        i = agent.idx
        self._sync()
        self.signals.recover(i, self.vehicles)
        self.reports.forget(i)
        self.measured[i] = self._measure(np.array([i]))[0]

    def adversarial_actions(self, agent_idx: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Byzantine signals give green to the phase of least (true) pressure, for long."""
        self._sync()
        own = self._halting(agent_idx).astype(np.float64)
        fed = self.grid.feeds[agent_idx]
        down = np.zeros(fed.shape)
        inside = fed >= 0
        if inside.any():
            down[inside] = self.vehicles.halting(fed[inside])
        pseudo = np.zeros((len(agent_idx), OBS_DIM))
        pseudo[:, HALTING], pseudo[:, DOWNSTREAM] = own, down
        return adversarial_choice(phase_pressures(pseudo, self.turns), mask, self.timings)

    # ------------------------------------------------------------------ positions, trace, policy
    def agent_positions(self) -> np.ndarray:
        return self.grid.positions(self.params.link_length)

    def trace_values(self) -> dict[str, np.ndarray]:
        self._sync()
        n = len(self.sim_agents)
        return {
            "phase": self.signals.phase.astype(np.int8),
            "halting": self._halting(np.arange(n)).sum(axis=1).astype(np.int32),
        }

    def scripted_policy(self) -> FixedTime | MaxPressure:
        if self.params.controller == "fixed_time":
            return FixedTime(self.timings, tuple(self.params.fixed_greens))
        return MaxPressure(self.timings, self.turns)


WORLD = TrafficWorld
