"""Coverage: a swarm of UAVs discovers a square area, sharing what it has seen over radio links.

Rules (docs/world_coverage.md has the full page):

* N UAVs fly in the square ``[0, size]²`` (by default ``size = spacing·√N``), cut into
  ``cells × cells`` cells to discover. Positions live in numpy arrays [N, 2] (authoritative);
  Mesa's ``ContinuousSpace`` holds each UAV's last waypoint, updated when it changes.
* Macro-actions: fly to one of eight compass waypoints at distance ``step`` (clipped to the area;
  a waypoint that clipping makes degenerate is masked out), or hover for ``hover_time``. A flight
  takes ``length / (speed · f_i)``, with a per-UAV speed factor ``f_i`` drawn uniformly in
  ``[1 − speed_jitter, 1 + speed_jitter]`` from the episode's world stream, so UAVs decide at
  their own, unsynchronised instants.
* Arrival senses the footprint of the arrival point (cells whose centres lie within
  ``sensor_radius`` of the arrival cell's centre). The team reward is the newly covered share of
  the area (``reward="fraction"``; or its area, or a cell count), given as the flight ends, so
  that it belongs to the flight that earned it. The episode's ``team_return`` is then
  the covered fraction at its end. With ``reward_scope="private"`` the same reward is the
  arriving UAV's own (each UAV's transitions carry only what it discovered; the team return is
  the same).
* On arrival a UAV broadcasts its arrival point (message kind ``covered``, float32 [2]) to its
  current radio neighbours; the UAVs arriving at one instant broadcast in one batch. With
  ``net.topology.kind == "world"`` the neighbours are the UAVs within ``radio_range`` (a k-d tree
  over current positions, crashed UAVs left out), recomputed every ``topology_period`` by one
  world process; any other kind is used as a static graph.
* A UAV reads its inbox when it decides: reports inside the area enter its memory of ``memory``
  points (a ring buffer); its own last ``trail`` arrivals are remembered as well. Its observation
  says, for each candidate waypoint, how much of the footprint it knows to be covered — so lost
  links and crashed neighbours make UAVs repeat each other's work.

Every macro-action has a duration known when it starts, so this is a ``timed`` world: the UAVs
are kept in arrays, the flights ending at one instant end in one event (``end_many``), and the
decisions of one instant (observations, masks, starts) are computed for the whole batch at once.
With a control tick (``decision_period > 0``) a flight that ends between two ticks completes at
the next tick: the UAV waits at its waypoint, and senses and reports there, at the tick.
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

import numpy as np
import polars as pl
from mesa.space import ContinuousSpace
from pydantic import Field

from dmarl_des.agent import SimAgent
from dmarl_des.bounds import Period, Real
from dmarl_des.errors import ConfigError
from dmarl_des.kernel import AFTER_DECISIONS, URGENT
from dmarl_des.log import EPISODE_METRICS, Metric, declare_metrics
from dmarl_des.net import MessageKind, ProximityTopology, Topology
from dmarl_des.scenario import Scenario, WorldParams
from dmarl_des.scenario.budget import check_duration
from dmarl_des.world import World, WorldMap
from dmarl_des.worlds.coverage_grid import CoverageGrid
from dmarl_des.worlds.coverage_policy import GreedyCoverage
from dmarl_des.worlds.flights import Flights
from dmarl_des.worlds.point_memory import PointMemory
from dmarl_des.worlds.uav_waypoints import (
    FILL,
    HOVER,
    KNOWN,
    LENGTH,
    NEAREST,
    OBS_DIM,
    POSITION,
    WAYPOINT_NAMES,
    candidates,
    known_coverage,
)

RECORD_PRIORITY = AFTER_DECISIONS
"""Coverage rows are taken after every event (and decision) of their instant."""

MAX_FOOTPRINT_REACH = 64
"""Largest sensor radius in cell widths (a footprint of about 13,000 cells)."""

MAX_CELLS = 8192
"""Largest coverage map side in cells (67 million cells)."""

FLOAT32_SLACK = 1e-6
"""Reports within this share of the side outside the area are rounding (float32), not lies."""

CELLS_PER_RADIUS = 2.5
"""With ``cells=None``: cell width = sensor_radius / 2.5 (a footprint of 21 cells)."""

COVERAGE_TABLE = {
    "episode": pl.Int64,
    "time": pl.Float64,
    "covered_fraction": pl.Float64,
    "covered_cells": pl.Int64,
    "arrivals": pl.Int64,
    "wasted_arrivals": pl.Int64,
    "sensings": pl.Int64,
    "redundant_sensings": pl.Int64,
    "reports_received": pl.Int64,
    "reports_ignored": pl.Int64,
    "n_up": pl.Int64,
}
"""One row per ``record_every`` time units and one at the episode's end (cumulative counts)."""


class CoverageParams(WorldParams):
    """`world.*` keys of the coverage world (lengths in area units, times in time units).

    By default the area grows with the swarm (``size = spacing·√N``: each UAV has ``spacing²``
    of it) and the map has about 2.5 cells per sensor radius, so overriding ``n_agents`` keeps
    the density, the neighbour counts and the work per UAV the same. Set ``size`` (and ``cells``)
    to fix the area instead.
    """

    name: Literal["coverage"] = "coverage"
    size: Real | None = Field(None, gt=0.0, description="side of the square area (None: auto)")
    spacing: Real = Field(40.0, gt=0.0, description="size=None: each UAV has spacing² of area")
    cells: int | None = Field(None, ge=1, le=MAX_CELLS, description="cells per side (None: auto)")
    sensor_radius: Real = Field(5.0, gt=0.0, description="footprint radius of a sensing")
    step: Real = Field(10.0, gt=0.0, description="distance of the compass waypoints")
    speed: Real = Field(10.0, gt=0.0, description="nominal flight speed")
    speed_jitter: float = Field(0.25, ge=0.0, lt=1.0, description="per-UAV speed factor spread")
    hover_time: Period = Field(0.5, gt=0.0, description="duration of the hover macro-action")
    radio_range: Real = Field(50.0, gt=0.0, description="proximity radius (topology 'world')")
    topology_period: Period = Field(1.0, gt=0.0, description="proximity graph refresh period")
    memory: int = Field(32, ge=1, le=4096, description="received reports a UAV remembers")
    trail: int = Field(8, ge=1, le=4096, description="own arrival points a UAV remembers")
    start: Literal["cluster", "uniform"] = "cluster"
    cluster_spacing: Real = Field(
        20.0, gt=0.0, description="cluster start: a disc at the centre with spacing² per UAV"
    )
    target: float = Field(0.9, gt=0.0, le=1.0, description="covered fraction counted a success")
    stop_at_target: bool = Field(False, description="end the episode when the target is reached")
    reward: Literal["fraction", "area", "cells"] = "fraction"
    reward_scope: Literal["team", "private"] = Field(
        "team", description="new coverage rewards the team, or only the UAV that found it"
    )
    record_every: Period = Field(10.0, gt=0.0, description="period of `coverage` table rows")
    state_grid: int = Field(4, ge=1, le=64, description="blocks per side of the global state map")

    def side(self, n_agents: int) -> float:
        """The side of the area for ``n_agents`` UAVs."""
        return self.size if self.size is not None else self.spacing * math.sqrt(n_agents)

    def cells_per_side(self, n_agents: int) -> int:
        """Cells per side of the coverage map for ``n_agents`` UAVs."""
        if self.cells is not None:
            return self.cells
        return max(1, math.ceil(self.side(n_agents) * CELLS_PER_RADIUS / self.sensor_radius))

    def bytes_per_agent(self, scenario: Scenario) -> float:
        n = scenario.n_agents
        cells = self.cells_per_side(n)
        # remembered points (2 float64 each), the UAV's arrays, its share of the map (5 B a cell)
        return 16.0 * (self.memory + self.trail) + 256.0 + 5.0 * cells * cells / n

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
        if self.cells is None:  # compare before rounding: a tiny radius makes it overflow
            raw = side * CELLS_PER_RADIUS / self.sensor_radius
            if not raw <= MAX_CELLS:
                raise ConfigError(
                    "world.cells", raw, f"at most {MAX_CELLS} cells per side (or a larger radius)"
                )
        cells = self.cells_per_side(scenario.n_agents)
        if self.step > side:
            raise ConfigError("world.step", self.step, f"a distance <= the area's side ({side:g})")
        if cells > MAX_CELLS:
            raise ConfigError(
                "world.cells", cells, f"at most {MAX_CELLS} cells per side (or a larger radius)"
            )
        # the nominal flight of the fastest UAV (a flight clipped at the border may be shorter)
        flight = self.step / (self.speed * (1.0 + self.speed_jitter))
        check_duration("world.speed", self.speed, flight, scenario.horizon)
        if self.state_grid > cells:
            raise ConfigError("world.state_grid", self.state_grid, f"at most {cells} (the cells)")
        if self.sensor_radius * cells / side > MAX_FOOTPRINT_REACH:
            raise ConfigError(
                "world.sensor_radius",
                self.sensor_radius,
                f"at most {MAX_FOOTPRINT_REACH} cell widths ({MAX_FOOTPRINT_REACH * side / cells:g})",
            )


class CoverageWorld(World):
    """UAVs fly waypoint to waypoint, sense the cells around each arrival and report it."""

    Params = CoverageParams
    timed = True
    tables: ClassVar[dict[str, dict[str, pl.DataType]]] = {"coverage": COVERAGE_TABLE}
    message_kinds: ClassVar[dict[str, MessageKind]] = {
        "covered": MessageKind("covered", (2,), "float32", max_bytes=8)
    }
    obs_dim = OBS_DIM
    params: CoverageParams
    metrics = declare_metrics(
        EPISODE_METRICS,
        Metric(
            "episodes.team_return",
            "covered share of the area at the end of the episode (world.reward = fraction)",
            "fraction of the area",
        ),
        Metric(
            "episodes.success",
            "share of episodes whose covered fraction reached world.target (0.9 by default)",
            "share of episodes",
            rate=True,
        ),
    )

    # ------------------------------------------------------------------ construction
    def setup(self) -> None:
        p = self.params
        n = self.scenario.n_agents
        self.add_agents(n)
        self.size = p.side(n)
        """Side of the square area."""
        self.grid = CoverageGrid(self.size, p.cells_per_side(n), p.sensor_radius)
        self.state_dim = 2 + p.state_grid * p.state_grid
        self.flights = Flights(n)
        # views of the flights' arrays (updated in place)
        self.pos = self.flights.pos
        """The last waypoint each UAV reached (or where it stopped): its flights start here."""
        self.origin = self.flights.origin
        self.target = self.flights.target
        self.t_depart = self.flights.t_depart
        self.t_arrive = self.flights.t_arrive
        self.flying = self.flights.flying
        self.speed_factor = np.ones(n)
        self.decisions = np.zeros(n, dtype=np.int64)
        """Macro-actions each UAV started this episode (keys the greedy policy's tie noise)."""
        self.trail = PointMemory(n, p.trail)
        self.reports = PointMemory(n, p.memory)
        self.cell_value = {
            "fraction": 1.0 / self.grid.n_cells,
            "area": self.grid.cell_area,
            "cells": 1.0,
        }[p.reward]
        self._private = p.reward_scope == "private"
        self._proximity = ProximityTopology(p.radio_range)
        self._world_topology = self.scenario.net.topology.kind == "world"
        self._min_flight = 1e-9 * p.step
        self._target_cells = math.ceil(p.target * self.grid.n_cells - 1e-9)
        self.space = self._new_space()
        self._placed: list[SimAgent | None] = [None] * n
        self._moves = 0
        """Counts the calls that move UAVs: candidates cached for a batch are stale after one."""
        self._cached_candidates: tuple[tuple, np.ndarray, tuple[np.ndarray, np.ndarray]] | None = (
            None
        )
        self._reset_counters()

    def macro_action_names(self) -> tuple[str, ...]:
        return (*(f"fly_{name}" for name in WAYPOINT_NAMES), "hover")

    def _new_space(self) -> ContinuousSpace:
        edge = math.nextafter(self.size, math.inf)  # Mesa's bounds are half-open
        return ContinuousSpace(edge, edge, torus=False)

    def _reset_counters(self) -> None:
        self.arrivals = 0
        self.wasted_arrivals = 0
        self.sensings = 0
        self.reports_received = 0
        self.reports_ignored = 0

    # ------------------------------------------------------------------ episodes
    def reset_episode(self, episode: int) -> None:
        p = self.params
        n = len(self.sim_agents)
        rng = self.streams.fresh("world", episode)
        if p.start == "uniform":
            start = rng.uniform(0.0, self.size, size=(n, 2))
        else:
            radius = min(p.cluster_spacing * math.sqrt(n / math.pi), self.size / 2)
            r = radius * np.sqrt(rng.uniform(size=n))
            a = rng.uniform(0.0, 2 * math.pi, size=n)
            disc = np.stack([r * np.cos(a), r * np.sin(a)], axis=1)
            start = np.clip(self.size / 2 + disc, 0.0, self.size)
        self.speed_factor = rng.uniform(1.0 - p.speed_jitter, 1.0 + p.speed_jitter, size=n)
        self.flights.reset(start)
        self._moves += 1
        self.decisions[:] = 0
        self.grid.reset()
        self.trail.clear()
        self.reports.clear()
        self._reset_counters()
        self.space = self._new_space()
        for agent in self.sim_agents:
            agent.pos = None
            self.space.place_agent(agent, (float(start[agent.idx, 0]), float(start[agent.idx, 1])))
            self._placed[agent.idx] = agent

    def start_processes(self) -> None:
        p = self.params
        if self._world_topology:
            # before anything else at its instant (arrivals then see the new graph)
            self.every(p.topology_period, self._refresh_topology, priority=URGENT)
        self.every(p.record_every, self._record, priority=RECORD_PRIORITY)

    def build_topology(self, episode: int) -> Topology:
        if self._world_topology:
            return self._proximity.update(self.pos, present=self.up)
        return super().build_topology(episode)

    def _refresh_topology(self) -> None:
        if self.network is not None:
            self.network.topology = self._proximity.update(self.agent_positions(), self.up)

    def end_episode(self) -> None:
        self._record()

    def _record(self) -> None:
        g = self.grid
        self.recorder.add(
            "coverage",
            episode=self.episode,
            time=self.now,
            covered_fraction=g.covered_fraction,
            covered_cells=g.covered,
            arrivals=self.arrivals,
            wasted_arrivals=self.wasted_arrivals,
            sensings=self.sensings,
            redundant_sensings=self.sensings - g.covered,
            reports_received=self.reports_received,
            reports_ignored=self.reports_ignored,
            n_up=int(self.up.sum()),
        )

    # ------------------------------------------------------------------ positions
    def agent_positions(self) -> np.ndarray:
        """Current positions [N, 2], interpolated along the flights under way."""
        return self.flights.positions(self.now)

    def _stop(self, i: int, point: np.ndarray) -> None:
        """UAV i is (now) at ``point`` and not moving."""
        self._moves += 1
        self.flights.stop(i, point, self.now)
        agent = self._placed[i]
        if agent is not None and agent is self.sim_agents[i]:
            self.space.move_agent(agent, (float(point[0]), float(point[1])))

    def _stop_many(self, idx: np.ndarray, points: np.ndarray) -> None:
        """``_stop`` for UAVs ``idx`` (distinct) at ``points`` [B, 2]: arrays at once, then
        Mesa's space (which moves one agent per call)."""
        self._moves += 1
        self.flights.stop_many(idx, points, self.now)
        placed, agents, move = self._placed, self.sim_agents, self.space.move_agent
        for i, x, y in zip(idx.tolist(), points[:, 0].tolist(), points[:, 1].tolist(), strict=True):
            agent = placed[i]
            if agent is not None and agent is agents[i]:
                move(agent, (x, y))

    def place(self, points: np.ndarray, idx: np.ndarray | None = None) -> None:
        """Put UAVs ``idx`` (default: all) at ``points`` [B, 2], stopped (scripted starts, tests);
        call it before they start a macro-action (e.g. from ``reset_episode``)."""
        ids = np.arange(len(self.sim_agents)) if idx is None else np.asarray(idx, dtype=np.int64)
        pts = np.asarray(points, dtype=np.float64).reshape(len(ids), 2)
        if not np.all((pts >= 0.0) & (pts <= self.size)):
            raise ConfigError("points", pts.tolist(), f"positions inside [0, {self.size:g}]²")
        for i, point in zip(ids.tolist(), pts, strict=True):
            self._stop(i, point)

    def _stop_in_flight(self, i: int) -> None:
        if self.flying[i]:
            self._stop(i, self.agent_positions()[i])

    # ------------------------------------------------------------------ macro-actions
    def begin_many(self, idx: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Start flights (or hovers) from the UAVs' positions; returns their durations."""
        p = self.params
        targets, lengths = self._candidates(idx)
        self._moves += 1
        rows = np.arange(len(idx))
        actions = np.asarray(actions, dtype=np.int64)
        fly = actions != HOVER
        dest = targets[rows, actions]
        duration = np.where(
            fly, lengths[rows, actions] / (p.speed * self.speed_factor[idx]), p.hover_time
        )
        self.flights.begin(idx, dest, duration, fly, self.now)
        self.decisions[idx] += 1
        return duration

    def end_many(self, idx: np.ndarray) -> None:
        """Macro-actions ending now: flights arrive (in this order) and sense; then every UAV
        that arrived reports its arrival point to its neighbours (one batched broadcast)."""
        arriving = idx[self.flying[idx]]
        if not len(arriving):
            return
        dests = self.target[arriving].copy()
        self._stop_many(arriving, dests)
        new, sensed = self.grid.sense_many(dests)
        self.sensings += int(sensed.sum())
        self.trail.add_many(arriving, dests)
        found = np.flatnonzero(new)
        self.wasted_arrivals += len(arriving) - found.size
        amounts = (new[found] * self.cell_value).tolist()  # belong to the arriving flights
        if self._private:
            agents = self.sim_agents
            for i, amount in zip(arriving[found].tolist(), amounts, strict=True):
                self.give_reward(amount, agents=[agents[i]])
        else:
            for amount in amounts:
                self.give_reward(amount)
        self.arrivals += len(arriving)
        if self.network is not None:
            self.network.broadcast_many(arriving, "covered", dests.astype(np.float32))
        if self.params.stop_at_target and self.grid.covered >= self._target_cells:
            self.terminate()

    # ------------------------------------------------------------------ observations
    def _read_inboxes(self, idx: np.ndarray) -> None:
        """Move the received reports of UAVs ``idx`` into their memories (points outside the
        area are ignored)."""
        if self.network is None:
            return
        got = self.network.drain_many(idx)
        if not len(got.receiver):
            return
        pts = np.asarray(got.payloads, dtype=np.float64).reshape(-1, 2)
        slack = FLOAT32_SLACK * self.size  # a border point rounded to float32 may poke out
        ok = ((pts >= -slack) & (pts <= self.size + slack)).all(axis=1)
        np.clip(pts, 0.0, self.size, out=pts)
        n_ok = int(np.count_nonzero(ok))
        self.reports_ignored += pts.shape[0] - n_ok
        self.reports_received += n_ok
        if n_ok < pts.shape[0]:
            self.reports.add_many(got.receiver[ok], pts[ok])
        else:
            self.reports.add_many(got.receiver, pts)

    def known_points(self, i: int) -> np.ndarray:
        """UAV i's known visited points [K, 2]: its trail, then its remembered reports."""
        return np.concatenate([self.trail.known(i), self.reports.known(i)])

    def observe_many(self, idx: np.ndarray) -> np.ndarray:
        p = self.params
        self._read_inboxes(idx)
        targets, lengths = self._candidates(idx)
        known = np.concatenate([self.trail.points[idx], self.reports.points[idx]], axis=1)
        share, nearest = known_coverage(
            self.pos[idx], targets, known, p.sensor_radius, p.step, self.size
        )
        obs = np.empty((len(idx), OBS_DIM), dtype=np.float32)
        obs[:, POSITION] = self.pos[idx] / self.size
        obs[:, KNOWN] = share
        obs[:, NEAREST] = np.minimum(nearest / (2.0 * p.sensor_radius), 1.0)
        obs[:, LENGTH] = lengths / p.step
        obs[:, FILL] = np.minimum(self.reports.count[idx], p.memory) / p.memory
        return obs

    def _candidates(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``candidates`` of UAVs ``idx`` from their positions; a decision batch computes them
        once (observation, mask and start ask for the same UAVs at one instant while none moves)."""
        key = (self.now, self._moves)
        cached = self._cached_candidates
        if cached is not None and cached[0] == key and np.array_equal(cached[1], idx):
            return cached[2]
        out = candidates(self.pos[idx], self.params.step, self.size)
        self._cached_candidates = (key, np.array(idx, copy=True), out)
        return out

    def mask_many(self, idx: np.ndarray) -> np.ndarray:
        _, lengths = self._candidates(idx)
        mask = lengths > self._min_flight
        mask[:, HOVER] = True
        return mask

    def world_map(self) -> WorldMap:
        """The cells sensed so far (255) over the area."""
        covered = self.grid.covered_cells().T  # [iy, ix]: row 0 at y = 0
        values = np.where(covered, np.uint8(255), np.uint8(0))
        return WorldMap(values, (0.0, 0.0, self.size, self.size), "covered")

    def global_state(self) -> np.ndarray:
        head = np.array([self.grid.covered_fraction, self.up.mean()], dtype=np.float32)
        return np.concatenate([head, self.grid.coarse(self.params.state_grid)])

    def success(self) -> bool:
        return self.grid.covered >= self._target_cells

    def scripted_policy(self) -> GreedyCoverage:
        return GreedyCoverage(self)

    def adversarial_actions(self, agent_idx: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Byzantine UAVs fly to the allowed waypoint whose footprint is most covered already
        (ground truth; ties: the lowest index); they hover only when no waypoint is allowed."""
        idx = np.asarray(agent_idx, dtype=np.int64)
        targets, _ = candidates(self.pos[idx], self.params.step, self.size)
        score = self.grid.seen_fraction(targets)
        score[:, HOVER] = -1.0
        score = np.where(np.asarray(mask, dtype=bool), score, -np.inf)
        return np.argmax(score, axis=1).astype(np.int64)

    # ------------------------------------------------------------------ faults
    def crash_agent(self, idx: int, reason: str = "crash") -> bool:
        """A crashed UAV stops where it is (mid-flight too) and stays silent."""
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
        """An interrupted flight ends where the UAV is now; it decides again from there."""
        super().interrupt_agent(idx)
        self._stop_in_flight(idx)

    def reset_agent_state(self, agent: SimAgent) -> None:
        """A recovered (or newly joined) UAV forgets its trail and reports; it starts where its
        slot's UAV stopped."""
        i = agent.idx
        self.trail.clear(i)
        self.reports.clear(i)
        old = self._placed[i]
        if old is not agent:
            if old is not None and old.pos is not None:
                self.space.remove_agent(old)
            agent.pos = None
            self.space.place_agent(agent, (float(self.pos[i, 0]), float(self.pos[i, 1])))
            self._placed[i] = agent
        self._stop(i, self.pos[i].copy())


WORLD = CoverageWorld
