"""Strike times and downtimes: begin, at, Poisson (exponential per agent); constant/exponential."""

import numpy as np
from fault_worlds import ShareParams, run_world, share_scenario

from dmarl_des.faults import CONCERNS, downtime, strike_times
from dmarl_des.scenario.faults import CrashSpec, RecoverSpec


def test_begin_and_at_are_fixed():
    rng = np.random.default_rng(0)
    assert strike_times(CrashSpec(), 3, rng).tolist() == [0.0, 0.0, 0.0]
    assert strike_times(CrashSpec(start="at", at=2.5), 2, rng).tolist() == [2.5, 2.5]


def test_poisson_strikes_are_exponential_with_mean_one_over_rate():
    t = strike_times(CrashSpec(start="poisson", rate=0.25), 20000, np.random.default_rng(1))
    assert abs(t.mean() - 4.0) < 4 * 4.0 / np.sqrt(t.size)
    # memoryless: P(T > 4) = e^-1 and P(T > 8 | T > 4) = e^-1
    assert abs((t > 4).mean() - np.exp(-1)) < 0.015
    assert abs((t > 8).sum() / (t > 4).sum() - np.exp(-1)) < 0.02


def test_downtimes():
    rng = np.random.default_rng(2)
    assert downtime(RecoverSpec(enabled=True, downtime="constant", mean=3.0), rng) == 3.0
    d = [downtime(RecoverSpec(enabled=True, mean=2.0), rng) for _ in range(20000)]
    assert abs(np.mean(d) - 2.0) < 4 * 2.0 / np.sqrt(len(d))


def test_a_poisson_crash_happens_at_the_time_drawn_from_the_crash_stream():
    sc = share_scenario(
        faults={"crash": {"count": 3, "start": "poisson", "rate": 0.2}},
        horizon=1000.0,
        world=ShareParams(mean_wait=50.0),
    )
    world = run_world(sc)
    # the same draws, recomputed from the episode's fault stream and its "crash" child
    children = world.streams.fresh("faults", 0).spawn(len(CONCERNS))
    expected = strike_times(sc.faults.crash, 3, children[CONCERNS.index("crash")])
    chosen = world.injectors[0].targets["crash"]
    rows = world.recorder.frame("faults")
    assert set(rows["kind"]) == {"crash"}
    got = dict(zip(rows["agent_id"], rows["time"], strict=True))
    assert got == dict(zip(chosen.tolist(), expected.tolist(), strict=True))
