"""Decision batching semantics: one policy call per instant, after every other event of it."""

import numpy as np
import simpy
from timer_world import ScriptedSequence, TimerParams, TimerWorld, timer_scenario

from dmarl_des.kernel import DecisionBatcher
from dmarl_des.learn.random_policy import RandomPolicy


def _frames(**kw):
    max_batch = kw.pop("max_batch", None)
    world = TimerWorld(timer_scenario(**kw), max_batch=max_batch)
    world.policy = RandomPolicy(world.n_actions, world.streams.stream("policy"))
    world.run()
    return world, world.recorder.frames()


def test_same_instant_requests_are_one_call_after_other_events():
    env = simpy.Environment()
    calls = []
    log = []

    def decide(idx):
        calls.append((env.now, idx.tolist()))
        log.append("flush")
        return np.zeros(len(idx), dtype=np.int64)

    b = DecisionBatcher(env, decide)

    def asker(i, delay):
        yield env.timeout(delay)
        yield env.timeout(0)  # a chain of zero-delay events at the same instant
        log.append(f"ask{i}")
        yield b.request(i)

    def late_event():
        yield env.timeout(1.0)
        yield env.timeout(0)
        yield env.timeout(0)
        log.append("late")

    for i in range(3):
        env.process(asker(i, 1.0))
    env.process(late_event())
    env.run()
    assert calls == [(1.0, [0, 1, 2])]
    assert log[-1] == "flush" and "late" in log


def test_period_serves_at_next_tick():
    env = simpy.Environment()
    served = []

    def serve(idx):
        served.append((env.now, idx.tolist()))
        return np.zeros(len(idx), np.int64)

    b = DecisionBatcher(env, serve, period=0.5)

    def asker(i, t):
        yield env.timeout(t)
        yield b.request(i)

    for i, t in enumerate([0.1, 0.3, 0.5, 0.51, 1.49]):
        env.process(asker(i, t))
    env.run()
    assert served == [(0.5, [0, 1, 2]), (1.0, [3]), (1.5, [4])]


def test_batch_sizes_follow_the_semantics_in_a_world():
    plans = {0: [0, 3, 0], 1: [0, 0], 2: [1]}  # action 3 = zero-duration (allowed after t=0)
    world = TimerWorld(timer_scenario(horizon=2.0, world=TimerParams(durations=(1.0, 2.0))))
    world.policy = policy = ScriptedSequence(plans)
    world.run()
    # t=0: all three; t=1: agents 0 and 1; agent 0's zero-duration action asks again at t=1
    assert policy.calls[:3] == [[0, 1, 2], [0, 1], [0]]
    assert world.batcher.batch_sizes == [3, 2, 1]


def test_period_zero_batched_equals_one_at_a_time():
    _, batched = _frames(n_agents=6, horizon=20.0, seed=7)
    w1, single = _frames(n_agents=6, horizon=20.0, seed=7, max_batch=1)
    assert set(w1.batcher.batch_sizes) == {1}
    a = batched["transitions"].drop("run_id")
    b = single["transitions"].drop("run_id")
    assert a.height > 50
    assert a.equals(b)


def test_control_tick_makes_large_batches_at_tick_times():
    world, frames = _frames(n_agents=20, horizon=10.0, decision_period=0.5, seed=3)
    t = frames["transitions"]["t_start"].to_numpy()
    assert np.allclose(t / 0.5, np.round(t / 0.5))
    assert np.mean(world.batcher.batch_sizes) > 3
