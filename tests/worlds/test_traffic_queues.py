"""The traffic world's vehicles: the array engine against a vehicle-by-vehicle reference, and the grid."""

import heapq
import math

import numpy as np
import pytest

from dmarl_des.net.philox import philox_uniform
from dmarl_des.worlds.traffic_grid import (
    EAST,
    LEFT,
    NORTH,
    PHASE_SIDES,
    RIGHT,
    SOUTH,
    STRAIGHT,
    WEST,
    RoadGrid,
    exit_side,
    grid_shape,
    turn_matrix,
)
from dmarl_des.worlds.traffic_queues import QueueNetwork

KEY = (12345, 678)
TRAVEL = 3.0
P_LEFT, P_RIGHT = 0.2, 0.15


def test_grid_links_turns_and_entries():
    g = RoadGrid.build(2, 3)  # 0 1 2 / 3 4 5, row 0 north
    assert g.neighbour[4].tolist() == [1, 5, -1, 3]
    # leaving 4 northwards joins 1's south approach; eastwards 5's west approach
    assert g.feeds[4, NORTH] == 4 * 1 + SOUTH and g.feeds[4, EAST] == 4 * 5 + WEST
    assert g.feeds[4, SOUTH] == -1
    # right-hand traffic: from the north (heading south) right is west, left is east
    assert exit_side(NORTH, RIGHT) == WEST and exit_side(NORTH, LEFT) == EAST
    assert exit_side(WEST, STRAIGHT) == EAST and exit_side(WEST, LEFT) == NORTH
    down = g.downstream()
    assert down[4 * 4 + WEST, STRAIGHT] == g.feeds[4, EAST]
    assert down[4 * 4 + SOUTH, STRAIGHT] == g.feeds[4, NORTH]
    # entries: the approaches whose side has no neighbour (2·3 + 2·2 = 10 of them)
    assert g.entry.sum() == 10 and not g.entry[4 * 4 + NORTH] and g.entry[4 * 4 + SOUTH]
    assert g.side_of(np.array([4, 4, 4]), np.array([1, 3, 2])).tolist() == [NORTH, WEST, -1]
    m = turn_matrix(P_LEFT, P_RIGHT)
    assert np.allclose(m.sum(axis=1), 1.0) and m[NORTH, SOUTH] == pytest.approx(0.65)
    assert grid_shape(1000, None) == (25, 40) and grid_shape(7, None) == (1, 7)


def _reference(grid, headway, windows, rates, horizon):
    """Vehicle by vehicle, in arrival order (a heap), with the documented crossing rule."""
    entries = np.flatnonzero(grid.entry & (rates > 0))
    heap = []
    for s, a in enumerate(entries.tolist()):
        u = philox_uniform(KEY, s, np.arange(4000), 0, 1)
        times = np.cumsum(-np.log1p(-u) / rates[a])
        for k, t in enumerate(times.tolist()):
            if t >= horizon:
                break
            heap.append((t, a, (s << 32) | k, 0))
    heapq.heapify(heap)
    down = grid.downstream()
    last = {}
    crossings = {}
    while heap:
        t, a, vid, hop = heapq.heappop(heap)
        cross = math.inf
        for start, end in windows[a]:
            c = max(t, last.get(a, -math.inf) + headway[a], start + headway[a] / 2)
            if c < end:
                cross = c
                break
        last[a] = cross  # FIFO: a vehicle that never crosses blocks the ones behind it
        if cross >= horizon:
            continue
        crossings[vid, hop] = (a, t, cross)
        u = float(philox_uniform(KEY, vid & 0xFFFFFFFF, vid >> 32, hop, 2))
        turn = LEFT if u < P_LEFT else RIGHT if u < P_LEFT + P_RIGHT else STRAIGHT
        nxt = down[a, turn]
        if nxt >= 0:
            heapq.heappush(heap, (cross + TRAVEL, int(nxt), vid, hop + 1))
    return crossings


def _schedule(grid, rng, horizon):
    """Each intersection switches phase at its own random instants (5 s transition each time)."""
    events = []  # (time, intersection, old phase, new phase, green start)
    windows = {a: [] for a in range(grid.n_approaches)}
    for i in range(grid.n):
        phase, t, green = int(rng.integers(2)), 0.0, 0.0
        old = -1
        while t < horizon:
            events.append((t, i, old, phase, green))
            end = t + rng.uniform(8.0, 40.0)
            for side in PHASE_SIDES[phase]:
                windows[4 * i + side].append((green, end))
            old, phase, t, green = phase, 1 - phase, end, end + 5.0
    events.sort()
    return events, windows


@pytest.mark.parametrize("extra_steps", [0, 300])
def test_the_array_engine_matches_a_vehicle_by_vehicle_reference(extra_steps):
    """Asynchronous switching, headways differing by approach (so no two crossings tie), Poisson
    entries and random turns on a 2 × 3 grid: every crossing of every vehicle at the same time as
    the reference's, however often the engine is advanced."""
    rng = np.random.default_rng(3)
    grid, horizon = RoadGrid.build(2, 3), 900.0
    rates = np.where(grid.entry, rng.uniform(0.05, 0.3, grid.n_approaches), 0.0)
    headway = rng.uniform(1.6, 2.6, grid.n_approaches)
    events, windows = _schedule(grid, rng, horizon)
    net = QueueNetwork(
        grid,
        saturation_flow=0.5,
        travel_time=TRAVEL,
        p_left=P_LEFT,
        p_right=P_RIGHT,
        arrivals="poisson",
        rates=rates,
        flash_headway=8.0,
        key=KEY,
        capacity=2,  # rings grow as queues build up
    )
    net.headway[:] = headway
    net.log_passages = True
    steps = sorted(rng.uniform(0.0, horizon, extra_steps).tolist())
    for t, i, old, new, green in events:
        while steps and steps[0] < t:
            net.advance(steps.pop(0))
        net.advance(t)
        net.switch(np.array([i]), np.array([old]), np.array([new]), np.array([green]))
    net.advance(horizon)
    got = net.passages()
    want = _reference(grid, headway, windows, rates, horizon)
    assert len(got["vehicle"]) == len(want) > 1000
    assert (got["hop"] > 0).sum() > 500  # vehicles drove links between intersections
    for a, t, c, vid, hop in zip(*(got[k].tolist() for k in got), strict=True):
        ra, rt, rc = want[vid, hop]
        assert (a, t, c) == (ra, pytest.approx(rt, abs=1e-9), pytest.approx(rc, abs=1e-9))
    # counts add up: entered = exited + still inside
    assert net.entered == net.exited + net.summary()["in_network"]


def test_a_standing_queue_discharges_at_the_saturation_flow():
    """Ten vehicles waiting at a red light cross at green + h/2, + h, …: the fluid discharge
    curve s·(t − green) rounded to the nearest vehicle."""
    grid = RoadGrid.build(1, 1)
    rates = np.zeros(4)
    rates[NORTH] = 1.0  # deterministic: one vehicle every second, at 0.5, 1.5, …
    net = QueueNetwork(
        grid,
        saturation_flow=0.5,
        travel_time=10.0,
        p_left=0.0,
        p_right=0.0,
        arrivals="deterministic",
        rates=rates,
        flash_headway=8.0,
        key=KEY,
    )
    net.log_passages = True
    net.advance(10.0)  # red so far: ten vehicles wait
    count, waited = net.waiting(np.array([NORTH]))
    assert count[0] == 10 and waited[0] == pytest.approx(sum(10.0 - (k + 0.5) for k in range(10)))
    net.switch(np.array([0]), np.array([-1]), np.array([0]), np.array([10.0]))
    net.advance(31.0)
    got = net.passages()
    assert np.allclose(got["crossing"], 11.0 + 2.0 * np.arange(got["crossing"].size))
    assert got["crossing"].size == 10  # 11, 13, …, 29: the queue (growing by 1/s) still there
    # flashing: every approach opens, one vehicle per flash headway
    net.flash(0)
    net.advance(100.0)
    late = net.passages()["crossing"][10:]
    assert np.allclose(np.diff(late), 8.0)
