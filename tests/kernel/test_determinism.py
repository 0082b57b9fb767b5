"""Same scenario + seed ⇒ identical tables; a different seed ⇒ different tables."""

from timer_world import TimerWorld, timer_scenario

from dmarl_des.learn.random_policy import RandomPolicy
from dmarl_des.study.run import frames_digest


def _digest(seed):
    world = TimerWorld(timer_scenario(n_agents=5, horizon=15.0, seed=seed, episodes=2))
    world.policy = RandomPolicy(world.n_actions, world.streams.stream("policy"))
    world.run()
    return frames_digest(world.recorder.frames()), world.recorder.frame("episodes")


def test_same_seed_identical_tables_different_seed_different():
    d1, ep = _digest(11)
    d2, _ = _digest(11)
    d3, _ = _digest(12)
    assert ep.height == 2 and ep["n_decisions"].min() > 10
    assert d1 == d2
    assert d1 != d3
