"""The traffic world against queueing theory: a fixed-time signal's delay, deterministic and Poisson.

One intersection, the fixed-time controller (phase 0 green ``g0``, yellow + all-red 5 s, phase 1
green ``g1``, 5 s: cycle ``c = g0 + g1 + 10``). For an approach with green ``g``, arrival rate
``q`` and saturation flow ``s``:

* deterministic arrivals: the uniform delay ``c (1 − g/c)² / (2 (1 − q/s))`` per vehicle
  (deterministic queueing), within 1 %. The formula is a fluid one, an average over where the
  arrivals fall in the cycle; the rates below are irrational multiples of 1/c so that the
  arrival instants sweep the whole cycle (a rate with q·c an integer locks them to one phase of
  the cycle and the delay of those particular instants can differ by 10 % or more);
* Poisson arrivals: Webster's delay ``c(1−λ)²/(2(1−λx)) + x²/(2q(1−x)) − 0.65 (c/q²)^{1/3}
  x^{2+5λ}`` (λ = g/c, x = qc/(gs)) within 5 % for x ≤ 0.7 — see docs/world_traffic.md for the
  tolerance and why.
"""

import math

import numpy as np
import pytest

from dmarl_des.scenario import Scenario
from dmarl_des.study.policies import build_policy
from dmarl_des.worlds.traffic import TrafficParams, TrafficWorld
from dmarl_des.worlds.traffic_grid import PHASE_SIDES

LOST = 5.0  # yellow 3 + all-red 2


def _delays(g0, g1, q0, q1, s, arrivals, horizon, seed=0):
    """Mean delay per vehicle of each phase's approaches (vehicles arriving after a 5-cycle
    warm-up and 5 cycles before the end), and the cycle."""
    params = TrafficParams(
        arrivals=arrivals,
        rate_ns=q0,
        rate_ew=q1,
        saturation_flow=s,
        greens=tuple(sorted({g0, g1})),
        fixed_greens=(g0, g1),
        controller="fixed_time",
        min_green=min(g0, g1),
        max_green=max(g0, g1),
        report_period=0.0,
    )
    scenario = Scenario.build(
        name="theory", world=params, n_agents=1, horizon=horizon, policy="scripted", seed=seed
    )
    world = TrafficWorld(scenario)
    world.log_passages = True
    world.policy = build_policy(scenario, world)
    world.run_episode(0, "eval")
    got = world.vehicles.passages()
    c = g0 + g1 + 2 * LOST
    counted = (got["arrival"] >= 5 * c) & (got["arrival"] < horizon - 5 * c)
    delay = got["crossing"] - got["arrival"]
    means = []
    for sides in PHASE_SIDES:
        mine = counted & np.isin(got["approach"], sides)
        means.append((float(delay[mine].mean()), int(mine.sum())))
    return means, c


def uniform_delay(c, g, q, s):
    return c * (1 - g / c) ** 2 / (2 * (1 - q / s))


def webster_delay(c, g, q, s):
    lam = g / c
    x = q / (lam * s)
    return (
        c * (1 - lam) ** 2 / (2 * (1 - lam * x))
        + x * x / (2 * q * (1 - x))
        - 0.65 * (c / q**2) ** (1 / 3) * x ** (2 + 5 * lam)
    )


@pytest.mark.parametrize(
    ("g0", "g1", "q0", "q1", "s"),
    [
        (25, 25, 0.1 * math.sqrt(2), 0.1 * math.sqrt(3), 0.5),
        (40, 20, 0.2 * math.sqrt(2) / 1.2, 0.2 / math.pi, 0.5),
        (15, 45, 0.05 * math.sqrt(5), 0.6 / math.sqrt(2), 0.9),
    ],
)
def test_deterministic_arrivals_give_the_uniform_delay(g0, g1, q0, q1, s):
    means, c = _delays(g0, g1, q0, q1, s, "deterministic", horizon=40_000.0)
    for (mean, n), g, q in zip(means, (g0, g1), (q0, q1), strict=True):
        assert n > 2000
        assert mean == pytest.approx(uniform_delay(c, g, q, s), rel=0.01)


def test_the_uniform_delay_check_is_not_loose():
    """The same signal with the transitions forgotten (cycle 50 instead of 60) is off by > 1 %:
    the check above tells signal plans apart."""
    means, c = _delays(25, 25, 0.1 * math.sqrt(2), 0.1 * math.sqrt(3), 0.5, "deterministic", 40_000)
    assert abs(means[0][0] / uniform_delay(c - 2 * LOST, 25, 0.1 * math.sqrt(2), 0.5) - 1) > 0.05


@pytest.mark.slow
@pytest.mark.parametrize(("g0", "g1", "x"), [(25, 25, 0.3), (25, 25, 0.7), (40, 20, 0.6)])
def test_poisson_arrivals_give_webster_delay(g0, g1, x):
    s = 0.5
    c = g0 + g1 + 2 * LOST
    q0, q1 = x * g0 * s / c, x * g1 * s / c
    means, _ = _delays(g0, g1, q0, q1, s, "poisson", horizon=120_000.0)
    for (mean, n), g, q in zip(means, (g0, g1), (q0, q1), strict=True):
        assert n > 5_000
        assert mean == pytest.approx(webster_delay(c, g, q, s), rel=0.05)
