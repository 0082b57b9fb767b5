"""Search and rescue: UAVs search an area for walking targets, announce finds, confirm each other's.

Rules (docs/world_search_rescue.md has the full page):

* N UAVs fly in the square ``[0, size]²`` (by default ``size = spacing·√N``) over ``n_targets``
  targets (by default N) that walk at random (``search_rescue_targets``). Flights are straight,
  at ``speed·f_i`` (a per-UAV factor drawn per episode), kept in arrays (``flights``).
* Every ``scan_period`` each UAV that is up glimpses: it detects a target at distance ``d`` with
  probability ``g(d)`` of its sensor model (``search_rescue_sensor``). The first detection of a
  target *finds* it (team reward ``reward_found``); a later (or simultaneous) detection by another
  UAV *confirms* it (team reward ``reward_confirmed``). Rewards are stamped just before the scan's
  instant, so they belong to the macro-actions that brought the UAVs there.
* The finder announces its find (message ``sar``, code FOUND) at once and again at each of its
  arrivals until it hears the confirmation or the report is ``report_ttl`` old; the confirmer
  announces the confirmation (code CONFIRMED). On every arrival a UAV reports its arrival point
  (code SEARCHED), as in the coverage world. UAVs read their inbox when they decide.
* Macro-actions (``search_rescue_layout``): eight compass waypoints, hover, ``confirm`` (fly to
  the nearest report of another UAV's find, loiter ``hover_time``), ``frontier`` (fly to the
  centre of the sector the UAV knows least searched). Every duration is known at the start
  (distance / speed), so the world is timed.
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

import numpy as np
import polars as pl
from pydantic import Field

from dmarl_des.agent import SimAgent
from dmarl_des.bounds import Period, Real
from dmarl_des.errors import ConfigError
from dmarl_des.kernel import AFTER_DECISIONS, URGENT
from dmarl_des.net import MessageKind, ProximityTopology, Topology
from dmarl_des.scenario import Scenario, WorldParams
from dmarl_des.scenario.budget import check_duration
from dmarl_des.world import World
from dmarl_des.worlds.coverage import CELLS_PER_RADIUS, MAX_CELLS
from dmarl_des.worlds.coverage_grid import CoverageGrid
from dmarl_des.worlds.flights import Flights
from dmarl_des.worlds.point_memory import PointMemory
from dmarl_des.worlds.search_rescue_events import reward_search, scan
from dmarl_des.worlds.search_rescue_layout import ACTION_NAMES, CONFIRM, FRONTIER, OBS_DIM
from dmarl_des.worlds.search_rescue_memory import ReportBook, SectorCounts
from dmarl_des.worlds.search_rescue_observe import mask_many, observe_many
from dmarl_des.worlds.search_rescue_policy import ScriptedSearch, start_points
from dmarl_des.worlds.search_rescue_radio import announce_arrivals
from dmarl_des.worlds.search_rescue_scan import Scanner
from dmarl_des.worlds.search_rescue_tables import (
    DETECTIONS_TABLE,
    SEARCH_METRICS,
    SEARCH_TABLE,
    record_search,
)
from dmarl_des.worlds.search_rescue_targets import Targets
from dmarl_des.worlds.uav_waypoints import HOVER, candidates

MAX_SECTORS = 64
"""Largest number of sectors per side (4,096 sectors)."""

MAX_TARGETS = 1_000_000


class SearchRescueParams(WorldParams):
    """`world.*` keys of search and rescue (lengths in area units, times in time units).

    By default the area grows with the swarm (``size = spacing·√N``) and there is one target per
    UAV, so overriding ``n_agents`` keeps the density and the work per UAV the same. Set ``size``
    and ``n_targets`` to fix them instead.
    """

    name: Literal["search_rescue"] = "search_rescue"
    size: Real | None = Field(None, gt=0.0, description="side of the square area (None: auto)")
    spacing: Real = Field(80.0, gt=0.0, description="size=None: each UAV has spacing² of area")
    n_targets: int | None = Field(
        None, ge=1, le=MAX_TARGETS, description="targets to find (None: one per UAV)"
    )
    target_speed: Real = Field(0.5, ge=0.0, description="walking speed of the targets")
    target_turn_period: Period = Field(5.0, gt=0.0, description="targets draw a new heading")
    sensor: Literal["definite", "gaussian"] = "gaussian"
    sensor_range: Real = Field(5.0, gt=0.0, description="R: nothing is detected beyond it")
    p_detect: float = Field(1.0, gt=0.0, le=1.0, description="detection probability at d = 0")
    scan_period: Period = Field(0.1, gt=0.0, description="time between two glimpses of a UAV")
    step: Real = Field(10.0, gt=0.0, description="distance of the compass waypoints")
    speed: Real = Field(10.0, gt=0.0, description="nominal flight speed")
    speed_jitter: float = Field(0.25, ge=0.0, lt=1.0, description="per-UAV speed factor spread")
    hover_time: Period = Field(0.5, gt=0.0, description="hover; loiter at the end of `confirm`")
    radio_range: Real = Field(50.0, gt=0.0, description="proximity radius (topology 'world')")
    topology_period: Period = Field(1.0, gt=0.0, description="proximity graph refresh period")
    memory: int = Field(32, ge=1, le=4096, description="heard searched points a UAV remembers")
    trail: int = Field(8, ge=1, le=4096, description="own arrival points a UAV remembers")
    report_slots: int = Field(4, ge=1, le=256, description="reports of found targets a UAV holds")
    report_ttl: Real = Field(30.0, gt=0.0, description="reports older than this are forgotten")
    sector_size: Real = Field(100.0, gt=0.0, description="side of a frontier sector (about)")
    confirm_reach: Real = Field(60.0, ge=0.0, description="scripted: confirm reports this close")
    start: Literal["cluster", "uniform", "lanes"] = "cluster"
    cluster_spacing: Real = Field(
        20.0, gt=0.0, description="cluster start: a disc at the centre with spacing² per UAV"
    )
    reward_found: Real = Field(1.0, description="team reward for a target's first detection")
    reward_confirmed: Real = Field(1.0, description="team reward for its confirmation")
    reward_searched: Real = Field(
        0.0, ge=0.0, description="shaping: reward per newly searched share of the area (0: off)"
    )
    reward_scope: Literal["team", "private"] = Field(
        "team", description="team: rewards are the team's; private: the detecting UAV's own"
    )
    scripted: Literal["frontier", "lawnmower", "random_tracks"] = "frontier"
    stop_when_confirmed: bool = Field(True, description="end (terminal) when all are confirmed")
    target: float = Field(0.9, gt=0.0, le=1.0, description="confirmed fraction for a success")
    record_every: Period = Field(10.0, gt=0.0, description="period of `search` table rows")
    state_grid: int = Field(4, ge=1, le=64, description="blocks per side of the global state map")

    def side(self, n_agents: int) -> float:
        """The side of the area for ``n_agents`` UAVs."""
        return self.size if self.size is not None else self.spacing * math.sqrt(n_agents)

    def targets(self, n_agents: int) -> int:
        """Number of targets for ``n_agents`` UAVs."""
        return self.n_targets if self.n_targets is not None else n_agents

    def sectors(self, n_agents: int) -> int:
        """Sectors per side of the frontier partition."""
        return max(1, min(MAX_SECTORS, round(self.side(n_agents) / self.sector_size)))

    def bytes_per_agent(self, scenario: Scenario) -> float:
        n = scenario.n_agents
        k = self.sectors(n)
        # remembered points, reports, sector counts, the UAV's arrays; its share of the targets
        return (
            16.0 * (self.memory + self.trail)
            + 40.0 * self.report_slots
            + 4.0 * k * k
            + 256.0
            + 120.0 * self.targets(n) / n
        )

    def links_per_agent(self, scenario: Scenario) -> float:
        n = scenario.n_agents
        kind = scenario.net.topology.kind
        radius = self.radio_range if kind == "world" else scenario.net.topology.radius
        density = n / self.side(n) ** 2
        if self.start == "cluster":  # the densest moment: the start disc
            area = self.cluster_spacing**2  # 0 when it underflows: every UAV at one point
            density = max(density, 1.0 / area if area > 0 else math.inf)
        return min(n - 1.0, math.pi * radius * radius * density)

    def check(self, scenario: Scenario) -> None:
        side = self.side(scenario.n_agents)
        if self.step > side:
            raise ConfigError("world.step", self.step, f"a distance <= the area's side ({side:g})")
        if self.sensor_range > side:
            raise ConfigError(
                "world.sensor_range", self.sensor_range, f"at most the area's side ({side:g})"
            )
        # the nominal flight of the fastest UAV (a flight clipped at the border may be shorter)
        flight = self.step / (self.speed * (1.0 + self.speed_jitter))
        check_duration("world.speed", self.speed, flight, scenario.horizon)


class SearchRescueWorld(World):
    """UAVs search for walking targets, announce what they find and confirm each other's finds."""

    Params = SearchRescueParams
    params: SearchRescueParams
    timed = True
    obs_dim = OBS_DIM
    tables: ClassVar[dict[str, dict[str, pl.DataType]]] = {
        "search": SEARCH_TABLE,
        "detections": DETECTIONS_TABLE,
    }
    message_kinds: ClassVar[dict[str, MessageKind]] = {
        "sar": MessageKind("sar", (5,), "float32", max_bytes=20)
    }
    trace_columns: ClassVar[dict[str, pl.DataType]] = {"reports": pl.Int64}
    metrics = SEARCH_METRICS

    # ------------------------------------------------------------------ construction
    def setup(self) -> None:
        p = self.params
        n = self.scenario.n_agents
        self.add_agents(n)
        self.size = p.side(n)
        """Side of the square area."""
        self.flights = Flights(n)
        self.pos = self.flights.pos
        """The last waypoint each UAV reached (or where it stopped): flights start here."""
        self.speed_factor = np.ones(n)
        self.decisions = np.zeros(n, dtype=np.int64)
        """Macro-actions each UAV started this episode (keys the scripted policies' noise)."""
        self.doing = np.full(n, -1, dtype=np.int64)
        self.confirming = np.full(n, -1, dtype=np.int64)
        """Target of the report each UAV flies to confirm (-1: none)."""
        self.report_distance = np.full(n, np.inf)
        """Distance to the nearest report of another UAV's find, as of its last observation."""
        self.targets = Targets(p.targets(n), self.size, p.target_speed, p.target_turn_period)
        self.trail = PointMemory(n, p.trail)
        self.heard = PointMemory(n, p.memory)
        self.book = ReportBook(n, p.report_slots)
        self.sectors = SectorCounts(n, self.size, p.sectors(n))
        self.sector_quota = self.sectors.width**2 / (2.0 * p.sensor_range * p.step)
        self.searched = None
        """Ground-truth map of the area searched (CoverageGrid; only with ``reward_searched``)."""
        if p.reward_searched > 0:
            cells = min(MAX_CELLS, math.ceil(self.size * CELLS_PER_RADIUS / p.sensor_range))
            self.searched = CoverageGrid(self.size, cells, p.sensor_range)
        self.state_dim = 3 + p.state_grid * p.state_grid
        self._proximity = ProximityTopology(p.radio_range)
        self._world_topology = self.scenario.net.topology.kind == "world"
        self.min_flight = 1e-9 * p.step
        """Shortest flight a compass waypoint must offer to be allowed."""
        self._target_count = math.ceil(p.target * self.targets.m - 1e-9)
        self._reset_counters()

    def macro_action_names(self) -> tuple[str, ...]:
        return ACTION_NAMES

    def _reset_counters(self) -> None:
        self.arrivals = 0
        self.detections = 0
        self.reports_received = 0
        self.reports_ignored = 0

    # ------------------------------------------------------------------ episodes
    def reset_episode(self, episode: int) -> None:
        p = self.params
        n = len(self.sim_agents)
        rng = self.streams.fresh("world", episode)
        self.flights.reset(start_points(p, rng, n, self.size))
        self.speed_factor = rng.uniform(1.0 - p.speed_jitter, 1.0 + p.speed_jitter, size=n)
        target_rng = self.streams.fresh("targets", episode)
        self._target_rng = target_rng
        placed = target_rng.uniform(0.0, self.size, size=(self.targets.m, 2))
        self.targets.reset(placed, target_rng)
        seq = self.streams.sequence("sensor", episode).generate_state(2)
        key = (int(seq[0]), int(seq[1]))
        self.scanner = Scanner(p.sensor, p.sensor_range, p.p_detect, key)
        self.decisions[:] = 0
        self.doing[:] = -1
        self.confirming[:] = -1
        self.report_distance[:] = np.inf
        for memory in (self.trail, self.heard, self.book, self.sectors):
            memory.clear()
        if self.searched is not None:
            self.searched.reset()
        self._reset_counters()

    def place_targets(self, points: np.ndarray) -> None:
        """Put the targets at ``points`` [m, 2] now (tests, scripted set-ups; from
        ``reset_episode``)."""
        self.targets.place(np.asarray(points, dtype=np.float64).reshape(self.targets.m, 2))

    def start_processes(self) -> None:
        p = self.params
        if self._world_topology:
            self.every(p.topology_period, self._refresh_topology, priority=URGENT)
        if p.target_speed > 0:
            self.every(p.target_turn_period, self._turn_targets, priority=URGENT)
        self.every(p.scan_period, lambda: scan(self), priority=URGENT)
        self.every(p.record_every, lambda: record_search(self), priority=AFTER_DECISIONS)

    def build_topology(self, episode: int) -> Topology:
        if self._world_topology:
            return self._proximity.update(self.pos, present=self.up)
        return super().build_topology(episode)

    def _refresh_topology(self) -> None:
        if self.network is not None:
            self.network.topology = self._proximity.update(self.agent_positions(), self.up)

    def _turn_targets(self) -> None:
        self.targets.advance(self.now)
        self.targets.turn(self._target_rng)

    def end_episode(self) -> None:
        record_search(self)

    def success(self) -> bool:
        return self.targets.n_confirmed >= self._target_count

    # ------------------------------------------------------------------ positions
    def agent_positions(self) -> np.ndarray:
        """Current positions [N, 2], interpolated along the flights under way."""
        return self.flights.positions(self.now)

    def _stop_in_flight(self, i: int) -> None:
        if self.flights.flying[i]:
            self.flights.stop(i, self.agent_positions()[i], self.now)

    # ------------------------------------------------------------------ macro-actions
    def begin_many(self, idx: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Start the chosen macro-actions from the UAVs' positions; returns their durations."""
        p = self.params
        actions = np.asarray(actions, dtype=np.int64)
        here = self.pos[idx]
        targets, _ = candidates(here, p.step, self.size)
        rows = np.arange(len(idx))
        compass = np.minimum(actions, HOVER)
        dest = targets[rows, compass]
        confirm, frontier = actions == CONFIRM, actions == FRONTIER
        if confirm.any():
            _, target, where, _ = self.book.nearest_other(idx[confirm], here[confirm])
            dest[confirm] = where
            self.confirming[idx[confirm]] = target
        if frontier.any():
            sector, _ = self.sectors.frontier(idx[frontier], here[frontier])
            dest[frontier] = self.sectors.centres[np.maximum(sector, 0)]
        length = np.sqrt(((dest - here) ** 2).sum(axis=1))
        flight = length / (p.speed * self.speed_factor[idx])
        fly = (actions != HOVER) & (length > self.min_flight)
        duration = np.where(actions == HOVER, p.hover_time, flight)
        duration = np.where(confirm, flight + p.hover_time, duration)
        self.flights.begin(idx, dest, np.where(fly, flight, 0.0), fly, self.now)
        self.doing[idx] = actions
        self.decisions[idx] += 1
        return duration

    def end_many(self, idx: np.ndarray) -> None:
        """Macro-actions ending now: flights arrive; a confirming UAV forgets the report it came
        to check; arrivals are reported and own finds announced again (batched broadcasts)."""
        looked = idx[self.confirming[idx] >= 0]
        for i in looked.tolist():
            self.book.drop(i, int(self.confirming[i]))
            self.confirming[i] = -1
        arriving = idx[self.flights.flying[idx]]
        if not len(arriving):
            return
        dests = self.flights.target[arriving].copy()
        for i, point in zip(arriving.tolist(), dests, strict=True):
            self.flights.stop(i, point, self.now)
        self.trail.add_many(arriving, dests)
        self.sectors.add(arriving, dests)
        self.arrivals += len(arriving)
        if self.searched is not None:
            reward_search(self, arriving, dests)
        announce_arrivals(self, arriving, dests)

    # ------------------------------------------------------------------ observations
    def observe_many(self, idx: np.ndarray) -> np.ndarray:
        """Read the inboxes of UAVs ``idx``, then their observations (search_rescue_observe)."""
        return observe_many(self, idx)

    def mask_many(self, idx: np.ndarray) -> np.ndarray:
        return mask_many(self, idx)

    # ------------------------------------------------------------------ state, policies
    def global_state(self) -> np.ndarray:
        """Found and confirmed fractions, UAVs up, and each block's share of the targets not
        yet confirmed."""
        t, g = self.targets, self.params.state_grid
        pos = t.advance(self.now)[~t.confirmed]
        cell = np.clip(np.floor(pos / (self.size / g)).astype(np.int64), 0, g - 1)
        blocks = np.bincount(cell[:, 0] * g + cell[:, 1], minlength=g * g) / max(t.m, 1)
        head = [t.n_found / t.m, t.n_confirmed / t.m, float(self.up.mean())]
        return np.concatenate([head, blocks]).astype(np.float32)

    def scripted_policy(self) -> ScriptedSearch:
        return ScriptedSearch(self, self.params.scripted)

    def adversarial_actions(self, agent_idx: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Byzantine UAVs hover where they are: they neither search nor confirm."""
        return np.full(len(agent_idx), HOVER, dtype=np.int64)

    def trace_values(self) -> dict[str, np.ndarray]:
        return {"reports": (self.book.target >= 0).sum(axis=1)}

    # ------------------------------------------------------------------ faults
    def crash_agent(self, idx: int, reason: str = "crash") -> bool:
        """A crashed UAV stops where it is (mid-flight too), stops looking and stays silent."""
        stopped = super().crash_agent(idx, reason)
        if stopped:
            self._stop_in_flight(idx)
        return stopped

    def leave_agent(self, idx: int) -> bool:
        left = super().leave_agent(idx)
        if left:
            self._stop_in_flight(idx)
        return left

    def interrupt_agent(self, idx: int) -> None:
        """An interrupted macro-action ends where the UAV is now; it decides again from there."""
        super().interrupt_agent(idx)
        self._stop_in_flight(idx)
        self.confirming[idx] = -1

    def reset_agent_state(self, agent: SimAgent) -> None:
        """A recovered (or newly joined) UAV forgets what it knew; it starts where its slot's UAV
        stopped."""
        i = agent.idx
        for memory in (self.trail, self.heard, self.book, self.sectors):
            memory.clear(i)
        self.confirming[i] = -1
        self.report_distance[i] = np.inf
        self.flights.stop(i, self.pos[i].copy(), self.now)


WORLD = SearchRescueWorld
