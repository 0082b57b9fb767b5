"""Squeezed macro-transition rewards against hand computations (DESIGN §3, macro module docstring)."""

import math

import pytest
from timer_world import ScriptedSequence, TimerParams, TimerWorld, timer_scenario

from dmarl_des.errors import ConfigError
from dmarl_des.macro import RewardLedger

G = 0.9


def _run(plans, **world_kw):
    sc = timer_scenario(n_agents=1, world=TimerParams(**world_kw))
    world = TimerWorld(sc)
    world.policy = ScriptedSequence(plans)
    world.run()
    return world.recorder.frame("transitions"), world.recorder.frame("episodes")


def test_rewards_inside_the_half_open_window_are_discounted_from_the_start():
    # waits of 1.0 then 2.5 then 1.0 ...; team reward 1 every 0.75
    tr, _ = _run({0: [0, 1]}, reward_every=0.75, durations=(1.0, 2.5))
    r = tr["reward"].to_list()
    assert tr["t_start"].to_list()[:2] == [0.0, 1.0]
    assert tr["tau"].to_list()[:2] == [1.0, 2.5]
    assert r[0] == pytest.approx(G**0.75)
    assert r[1] == pytest.approx(G**0.5 + G**1.25 + G**2.0)


def test_a_reward_at_a_decision_instant_belongs_to_the_macro_action_starting_there():
    # macro-actions [0,1), [1,3), [3,4): reward stamped 3.0 is counted at discount 1 in the third
    tr, _ = _run({0: [0, 1, 0]}, reward_every=0.75, durations=(1.0, 2.0))
    r = tr["reward"].to_list()
    assert r[1] == pytest.approx(G**0.5 + G**1.25)
    assert r[2] == pytest.approx(1.0 + G**0.75)


def test_rewards_are_discounted_from_their_stamp_not_their_delivery():
    # given at t=2.0 (the end instant of [1, 2)) but stamped 1.5 (tick convention): counted in [1, 2)
    tr, ep = _run({0: [0, 0, 0]}, reward_every=0.0, stamps=((2.0, 1.5, 3.0),), durations=(1.0,))
    r = tr["reward"].to_list()
    assert r[0] == 0.0 and r[1] == pytest.approx(3.0 * G**0.5)
    assert all(x == 0.0 for x in r[2:])
    assert ep["discounted_return"][0] == pytest.approx(3.0 * G**1.5)


def test_a_reward_for_an_already_squeezed_macro_action_is_an_error():
    with pytest.raises(ConfigError, match="already squeezed"):
        _run({0: [0, 0, 0]}, reward_every=0.0, stamps=((3.0, 0.5, 3.0),), durations=(1.0,))


def test_episode_returns_match_discrete_sums():
    tr, ep = _run({}, reward_every=0.75, durations=(1.0,))
    stamps = [0.75 * k for k in range(1, 14) if 0.75 * k < 10.0]
    assert ep["team_return"][0] == pytest.approx(len(stamps))
    assert ep["discounted_return"][0] == pytest.approx(sum(G**s for s in stamps))
    # the macro-transitions partition the episode: Σ γ^t0 · r_c == discounted return
    total = sum(G**t0 * rc for t0, rc in zip(tr["t_start"], tr["reward"], strict=True))
    assert total == pytest.approx(ep["discounted_return"][0])
    assert tr["done"].to_list()[-1] is True and not any(tr["done"].to_list()[:-1])
    assert tr["t_end"].to_list()[-1] == 10.0


def test_tick_world_squeeze_equals_the_macdec_formula():
    # rewards r_k stamped at integer ticks k; a macro-action from t to t+τ gets Σ_{k<τ} γ^k r_{t+k}
    rng = [1.5, -0.1, 2.0, 0.3, -1.0, 4.0, 0.0, 0.5]
    ledger = RewardLedger(2)
    for k, rk in enumerate(rng):
        ledger.add(rk, float(k))
    disc, total = ledger.window(2.0, 6.0, G)
    assert disc == pytest.approx(sum(G**k * rng[2 + k] for k in range(4)))
    assert total == pytest.approx(sum(rng[2:6]))
    closed, _ = ledger.window(2.0, 6.0, G, closed=True)
    assert closed == pytest.approx(disc + G**4 * rng[6])


def test_ledger_keeps_out_of_order_rewards_sorted():
    ledger = RewardLedger(1)
    for stamp in [3.0, 1.0, 2.0, 0.5, 5.0]:
        ledger.add(1.0, stamp)
    assert ledger.window(0.0, 2.5, 1.0) == (3.0, 3.0)
    assert ledger.discounted_total(0.5) == pytest.approx(sum(0.5**s for s in [0.5, 1, 2, 3, 5]))


def test_future_stamp_is_rejected():
    sc = timer_scenario(n_agents=1)
    world = TimerWorld(sc)
    with pytest.raises(ConfigError, match="reward stamp"):
        world.give_reward(1.0, stamp=5.0)
    assert math.isfinite(world.now)
