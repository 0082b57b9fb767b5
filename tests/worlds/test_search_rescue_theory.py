"""Search and rescue against search theory: sweep widths, Koopman's random-search law, the lawnmower.

Koopman's law ``P(t) = 1 − exp(−N·W·v·t / A)`` holds when (1) the tracks are random: every
element of track is uniformly and independently placed over the area (here: N UAVs start
uniformly, each on its own random track that turns by at most 45° per waypoint, so it hardly
re-sweeps its own strip); (2) each UAV sweeps little of the area (``W·v·T ≪ A``: 30 of 160,000),
so that ``(1 − a/A)^N = exp(−N·a/A)`` to 1e-4; (3) there are no edge effects: targets lie at least
``2vT + R`` from the walls, so no track that can reach them meets a wall; (4) ``v·t ≫ R``: the
first glimpse's footprint ``πR²`` (not in the law) is small against the swept strip ``W·v·t``.
The exact expectation for the definite sensor is ``1 − (1 − (πR² + (k − 1)·W·Δ)/A)^N`` after
``k`` glimpses (straight tracks; turns of 45° take off about 0.02·R² each).

Tolerances come from the spread over 8 seeds measured before writing the tests (sd about
0.004 of the found fraction per run, N = 8,000 UAVs, 8,000 targets): 0.015 on the exact
expectation; 0.025 on the law from v·t = 40R on (where the law's missing footprint is worth at
most 0.012); 0.025 on the law for the gaussian sensor (observed −0.004 … +0.014).
"""

import math

import numpy as np
import polars as pl
import pytest
from scipy import stats

from dmarl_des.scenario import load_scenario
from dmarl_des.study.policies import build_policy
from dmarl_des.worlds.search_rescue import SearchRescueWorld
from dmarl_des.worlds.search_rescue_sensor import (
    definite_sweep_width,
    glimpse_probability,
    lateral_range_curve,
    random_search_fraction,
    sweep_width,
)
from dmarl_des.worlds.search_rescue_targets import Targets

SCENARIO = "scenarios/search_rescue.py"


# ----------------------------------------------------------------------------- sweep widths
def _lens(d: float, r: float) -> float:
    """Area of the intersection of two discs of radius r whose centres are d apart."""
    return 2 * r * r * math.acos(d / (2 * r)) - 0.5 * d * math.sqrt(4 * r * r - d * d)


@pytest.mark.parametrize("spacing", [0.05, 0.5, 2.0, 6.0, 9.5])
def test_definite_sweep_width_two_ways(spacing):
    r = 5.0
    closed = definite_sweep_width(r, spacing)
    # each glimpse of a straight track adds its disc minus the lens it shares with the previous
    # one; per unit of track that is the sweep width
    assert closed == pytest.approx((math.pi * r * r - _lens(spacing, r)) / spacing, rel=1e-12)
    assert sweep_width("definite", r, 1.0, spacing) == pytest.approx(closed, rel=2e-3)


def test_sweep_width_limits():
    assert definite_sweep_width(5.0, 1e-6) == pytest.approx(10.0, rel=1e-9)  # 2R
    assert definite_sweep_width(5.0, 40.0) == pytest.approx(math.pi * 25 / 40)  # isolated looks
    # a glimpse that sees half as often sweeps half as wide when looks are far apart
    far = sweep_width("definite", 1.0, 0.5, 20.0, resolution=64)
    assert far == pytest.approx(0.5 * math.pi / 20.0, rel=1e-3)
    # the gaussian sensor sees less than the cookie-cutter of the same range, more with p → 1
    g = sweep_width("gaussian", 5.0, 1.0, 1.0)
    assert 0.4 * 10.0 < g < 10.0
    assert sweep_width("gaussian", 5.0, 0.5, 1.0) < g


def test_lateral_range_curve_matches_a_monte_carlo_pass():
    """L(x) by quadrature against straight passes with random glimpse phases (numpy draws)."""
    rng = np.random.default_rng(3)
    r, spacing, n = 3.0, 0.8, 40_000
    for x in (0.0, 1.0, 2.0, 2.8):
        phase = rng.uniform(0, spacing, size=n)
        along = phase[:, None] + spacing * np.arange(-6, 7)[None, :]
        g = glimpse_probability(np.hypot(x, along), "gaussian", r, 0.7)
        detected = (rng.uniform(size=g.shape) < g).any(axis=1).mean()
        expected = lateral_range_curve(np.array([x]), "gaussian", r, 0.7, spacing)[0]
        assert detected == pytest.approx(expected, abs=4 * math.sqrt(0.25 / n))


# ----------------------------------------------------------------------------- targets
def test_targets_walk_at_random_and_reflect_off_the_walls():
    rng = np.random.default_rng(0)
    size, speed, tau, m = 10_000.0, 1.0, 2.0, 4000
    walk = Targets(m, size, speed, tau)
    start = np.full((m, 2), size / 2)
    walk.reset(start, rng)
    for k in range(1, 21):  # new headings at every period, as the world's process does
        walk.advance(k * tau)
        walk.turn(rng)
    msd = ((walk.pos - start) ** 2).sum(axis=1).mean()
    # run-and-tumble: k independent steps of length u·τ, E|Δ|² = k(uτ)², sd of the mean ≈ 1.1 %
    assert msd == pytest.approx(20 * (speed * tau) ** 2, rel=0.05)
    # a small box: targets far from the walls move at their speed; all stay inside, unit headings
    box = Targets(500, 10.0, 3.0, 1.0)
    box.reset(rng.uniform(0, 10, size=(500, 2)), rng)
    before = box.pos.copy()
    box.advance(0.2)
    inner = (before.min(axis=1) > 0.6) & (before.max(axis=1) < 9.4)
    assert np.allclose(np.linalg.norm(box.pos - before, axis=1)[inner], 0.6)
    box.advance(7.3)
    assert ((box.pos >= 0) & (box.pos <= 10)).all()
    assert np.allclose(np.linalg.norm(box.heading, axis=1), 1.0)
    # one target bouncing between two walls, by hand: from x = 9 heading east at 3 for 2 units
    one = Targets(1, 10.0, 3.0, 1.0)
    one.reset(np.array([[9.0, 5.0]]), rng)
    one.heading[:] = [1.0, 0.0]
    one.advance(2.0)  # 9 → 10 (1), back to 5 (5 more)
    assert one.pos[0] == pytest.approx([5.0, 5.0]) and one.heading[0] == pytest.approx([-1, 0])
    one.advance(6.0)  # 5 → 0 (5), back to 7
    assert one.pos[0] == pytest.approx([7.0, 5.0]) and one.heading[0] == pytest.approx([1, 0])


def test_lazy_advance_is_exact():
    rng = np.random.default_rng(5)
    a = Targets(300, 10.0, 3.0, 1.0)
    a.reset(rng.uniform(0, 10, size=(300, 2)), np.random.default_rng(1))
    b = Targets(300, 10.0, 3.0, 1.0)
    b.reset(a.pos.copy(), np.random.default_rng(1))
    for t in np.linspace(0.1, 9.7, 37):
        a.advance(float(t))
    b.advance(9.7)
    assert np.allclose(a.pos, b.pos, atol=1e-9) and np.allclose(a.heading, b.heading)


# ----------------------------------------------------------------------------- Koopman
S, R, V, T, N, M = 400.0, 0.5, 10.0, 3.0, 8000, 8000
MARGIN = 2 * V * T + R
SCAN = 0.01  # glimpses 0.1 apart along a track: W = 0.998·2R


class InnerTargets(SearchRescueWorld):
    """Targets uniform in the inner square, at least MARGIN from the walls (no edge effects)."""

    def reset_episode(self, episode):
        super().reset_episode(episode)
        rng = np.random.default_rng([7, self.scenario.seed, episode])
        self.place_targets(rng.uniform(MARGIN, S - MARGIN, size=(self.targets.m, 2)))


def _random_search(sensor: str, seed: int) -> np.ndarray:
    scenario = load_scenario(
        SCENARIO,
        {
            "n_agents": N,
            "horizon": T + 1e-6,
            "decision_period": 0.0,
            "net.resolution": 0.0,
            "net.topology.kind": "ring",
            "world.size": S,
            "world.n_targets": M,
            "world.target_speed": 0.0,
            "world.sensor": sensor,
            "world.sensor_range": R,
            "world.scan_period": SCAN,
            "world.speed": V,
            "world.speed_jitter": 0.0,
            "world.start": "uniform",
            "world.scripted": "random_tracks",
            "seed": seed,
        },
    )
    world = InnerTargets(scenario)
    world.policy = build_policy(scenario, world)
    world.run_episode(0, "eval")
    found = world.recorder.frame("detections").filter(pl.col("event") == "found")
    return np.sort(found["time"].to_numpy())


def _fraction(times: np.ndarray, t: np.ndarray) -> np.ndarray:
    return np.searchsorted(times, t + 1e-9, side="right") / M


def test_random_search_follows_koopmans_law_definite_range():
    t = np.arange(1.0, T + 0.5)
    sim = _fraction(_random_search("definite", 0), t)
    width = definite_sweep_width(R, V * SCAN)  # 0.9983: 2R up to the glimpse spacing
    law = random_search_fraction(t, width, V, S * S, N)
    k = np.round(t / SCAN)
    exact = 1 - (1 - (math.pi * R * R + (k - 1) * width * V * SCAN) / (S * S)) ** N
    assert np.abs(sim - exact).max() <= 0.015, (sim, exact)
    assert np.abs(sim - law)[t >= 2].max() <= 0.025, (sim, law)  # v·t ≥ 40 R
    # the law with W = R (half the true width) is far off: the test can tell widths apart
    assert np.abs(sim - random_search_fraction(t, R, V, S * S, N)).max() > 0.1


def test_random_search_follows_koopmans_law_gaussian_sensor():
    t = np.arange(1.0, T + 0.5)
    sim = _fraction(_random_search("gaussian", 1), t)
    width = sweep_width("gaussian", R, 1.0, V * SCAN)  # ∫ L(x) dx of the 3σ-truncated gaussian
    assert 0.3 * 2 * R < width < 0.9 * 2 * R
    law = random_search_fraction(t, width, V, S * S, N)
    assert np.abs(sim - law).max() <= 0.025, (sim, law)
    definite = random_search_fraction(t, 2 * R, V, S * S, N)
    assert (definite - sim)[-1] > 0.06  # far from the cookie-cutter of the same range


# ----------------------------------------------------------------------------- lawnmower
def test_one_lawnmower_sweep_detects_uniformly_in_time():
    """One UAV sweeps a 200 × 200 square in 20 lanes 10 apart with a definite-range sensor of
    radius 5.05 (lane footprints tile the square, overlapping by 0.1 so that glimpses 0.5 apart
    cannot step over a target on the edge between two lanes): every static target is found once,
    as the sensor's edge first reaches it, and the detection times are uniform over the sweep.

    KS test at significance 0.01 with n = 2,000 (critical D = 0.0364). The sweep is not exactly
    uniform in time — each lane's start is swept during the turn before it — but the exact
    distribution (swept area over time, computed by Monte Carlo for the docs) is within 0.005 of
    the uniform, far below what 2,000 samples can resolve.
    """
    size, lanes, m = 200.0, 20, 2000
    sweep = (lanes * size + (lanes - 1) * 10.0) / 10.0
    scenario = load_scenario(
        SCENARIO,
        {
            "n_agents": 1,
            "horizon": sweep + 1.0,
            "decision_period": 0.0,
            "net.resolution": 0.0,
            "world.size": size,
            "world.n_targets": m,
            "world.target_speed": 0.0,
            "world.sensor": "definite",
            "world.sensor_range": 5.05,
            "world.scan_period": 0.05,
            "world.speed_jitter": 0.0,
            "world.start": "lanes",
            "world.scripted": "lawnmower",
            "world.sector_size": 400.0,
            "seed": 4,
        },
    )
    world = SearchRescueWorld(scenario)
    world.policy = build_policy(scenario, world)
    world.run_episode(0, "eval")
    found = world.recorder.frame("detections")
    assert found.height == m and set(found["event"]) == {"found"}  # all of them, once
    times = found["time"].to_numpy()
    assert times.max() <= sweep
    result = stats.kstest(times / sweep, "uniform")
    assert result.pvalue > 0.01, result
    # detected as the sensor's edge reaches them: within one glimpse step (0.5) of the range,
    # except targets inside the first footprint or first reached on a turn
    edge = (found["distance"] >= 4.55).mean()
    assert edge > 0.97 and (found["distance"] <= 5.05).all()
    # a run that looked only on arriving at waypoints would bunch detections at whole seconds
    assert len(np.unique(np.round(times, 6))) > 0.3 * m
