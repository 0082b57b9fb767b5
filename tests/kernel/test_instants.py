"""Places within an instant, and periodic world processes at a chosen place relative to decisions."""

from typing import Literal

import numpy as np
import pytest
import simpy

from dmarl_des.kernel import (
    AFTER_DECISIONS,
    NORMAL,
    URGENT,
    DecisionBatcher,
    Instant,
    call_at,
    every,
    trigger_later,
)
from dmarl_des.macro import MacroAction, wait
from dmarl_des.scenario import Scenario, WorldParams
from dmarl_des.world import World


def test_places_of_an_instant_run_in_order_whatever_the_creation_order():
    env = simpy.Environment()
    log = []

    def serve(idx):
        log.append(("decide", env.now))
        return np.zeros(len(idx), dtype=np.int64)

    batcher = DecisionBatcher(env, serve)
    call_at(env, 1.0, lambda: log.append(("after", env.now)), priority=AFTER_DECISIONS)
    call_at(env, 1.0, lambda: batcher.request_many(np.array([0])))  # NORMAL: asks at 1
    call_at(env, 1.0, lambda: log.append(("normal", env.now)))
    call_at(env, 1.0, lambda: log.append(("urgent", env.now)), priority=URGENT)
    env.run()
    assert log == [("urgent", 1.0), ("normal", 1.0), ("decide", 1.0), ("after", 1.0)]


def test_periodic_process_times_are_multiples_of_the_period():
    env = simpy.Environment()
    seen = []
    every(env, 0.1, lambda: seen.append(env.now), until=1.0)
    env.run()
    assert seen == [k * 0.1 for k in range(1, 10)]  # exact multiples, none at 1.0
    assert 0.1 + 0.1 + 0.1 + 0.1 + 0.1 + 0.1 != 6 * 0.1  # (repeated additions would drift)


def test_periodic_process_first_and_stop():
    env = simpy.Environment()
    seen = []

    def tick():
        seen.append(env.now)
        if env.now >= 3:
            ticks.stop()

    ticks = every(env, 1.0, tick, first=0)
    env.run(until=10)
    assert seen == [0, 1.0, 2.0, 3.0] and not ticks.active and ticks.calls == 4


def test_bad_periods_are_refused():
    env = simpy.Environment()
    for period in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="period"):
            every(env, period, lambda: None)
    with pytest.raises(ValueError, match="negative"):
        Instant(env, -1.0)


def test_trigger_later_wakes_waiters_at_the_chosen_instant_with_the_value():
    env = simpy.Environment()
    done = env.event()
    got = []

    def waiter():
        got.append((yield done))
        got.append(env.now)

    env.process(waiter())
    trigger_later(done, 2.5, "k")
    env.run()
    assert got == ["k", 2.5]
    with pytest.raises(RuntimeError, match="already"):
        trigger_later(done, 1.0)


class ClockParams(WorldParams):
    name: Literal["clock"] = "clock"
    priority: int = NORMAL


class ClockWorld(World):
    """Agents decide every 1.0; a periodic process moves a counter at a chosen place."""

    Params = ClockParams
    obs_dim = 1
    macro_actions = (MacroAction("wait", wait(1.0)),)

    def reset_episode(self, episode):
        self.counter = 0
        self.seen_by_process: list[float] = []

    def start_processes(self):
        self.every(1.0, self._tick, priority=self.params.priority, first=0)

    def _tick(self):
        self.counter += 1
        self.seen_by_process.append(float(self.n_decisions.sum()))

    def observe(self, agent):
        return np.array([self.counter], dtype=np.float32)


class Record:
    def __init__(self):
        self.obs = []

    def act(self, obs, agent_idx, mask, *, explore=True):
        self.obs.append(obs[:, 0].tolist())
        return np.zeros(len(agent_idx), dtype=np.int64)

    def reset(self, agent_idx=None):
        pass


@pytest.mark.parametrize(
    ("priority", "observed", "decisions_seen"),
    [
        (NORMAL, [1.0, 2.0, 3.0], [0.0, 1.0, 2.0]),  # before the decisions of its instant
        (AFTER_DECISIONS, [0.0, 1.0, 2.0], [1.0, 2.0, 3.0]),  # after them
    ],
)
def test_world_every_runs_before_or_after_the_decisions_of_its_instant(
    priority, observed, decisions_seen
):
    world = ClockWorld(Scenario.build(world=ClockParams(priority=priority), n_agents=1, horizon=3))
    world.policy = policy = Record()
    world.run()
    assert [o[0] for o in policy.obs] == observed
    assert world.seen_by_process == decisions_seen  # ticks at 0, 1, 2 (not at the horizon)
