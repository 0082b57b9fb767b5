"""A reward produced when a macro-action ends belongs to that macro-action's transition."""

from typing import Literal

import numpy as np
import pytest

from dmarl_des.macro import MacroAction
from dmarl_des.scenario import Scenario, WorldParams
from dmarl_des.world import World

G = 0.9
DURATIONS = (1.5, 0.75)  # macro-action 0 ("work") earns on arrival, 1 ("rest") earns nothing


class Plan:
    """Actions in a fixed order (then rest)."""

    def __init__(self, actions):
        self.actions = list(actions)

    def act(self, obs, agent_idx, mask, *, explore=True):
        return np.array([self.actions.pop(0) if self.actions else 1 for _ in agent_idx])

    def reset(self, agent_idx=None):
        pass


class CreditParams(WorldParams):
    name: Literal["credit"] = "credit"
    own: bool = False  # the agent's own reward instead of the team's
    at_start: bool = False  # also pay 10 when work starts (belongs to that macro-action)


class TimedCredit(World):
    """Timed: work for 1.5 and earn 1 on arrival (given in end_many); rest for 0.75."""

    Params = CreditParams
    timed = True
    obs_dim = 1

    def macro_action_names(self):
        return ("work", "rest")

    def reset_episode(self, episode):
        self.doing = np.full(len(self.sim_agents), -1)

    def observe_many(self, idx):
        return np.zeros((len(idx), 1), dtype=np.float32)

    def begin_many(self, idx, actions):
        self.doing[idx] = actions
        if self.params.at_start and (actions == 0).any():
            self._pay(10.0, idx[actions == 0])
        return np.asarray(DURATIONS)[actions]

    def end_many(self, idx):
        arrived = idx[self.doing[idx] == 0]
        if len(arrived):
            self._pay(1.0, arrived)

    def _pay(self, amount, idx):
        if self.params.own:
            self.give_reward(amount, agents=[self.sim_agents[i] for i in idx])
        else:
            self.give_reward(amount * len(idx))


def _work(agent):
    world = agent.model
    if world.params.at_start:
        world.give_reward(10.0, agents=[agent] if world.params.own else None)
    yield world.env.timeout(DURATIONS[0])
    world.give_reward(1.0, agents=[agent] if world.params.own else None)  # the obvious way


def _rest(agent):
    yield agent.model.env.timeout(DURATIONS[1])


class ProcessCredit(World):
    """The same world written with behaviours: the reward is given after the last yield."""

    Params = CreditParams
    obs_dim = 1

    def setup(self):
        self.macro_actions = [MacroAction("work", _work), MacroAction("rest", _rest)]

    def observe(self, agent):
        return np.zeros(1, dtype=np.float32)


def _transitions(world_cls, plan, *, processes=False, **kw):
    params = CreditParams(**kw.pop("world", {}))
    scenario = Scenario.build(
        world=params,
        n_agents=1,
        horizon=kw.pop("horizon", 5.0),
        gamma=G,
        seed=0,
        record={"transitions": True},
        **kw,
    )
    world = (
        world_cls(scenario, agents_as_processes=processes)
        if world_cls.timed
        else world_cls(scenario)
    )
    world.policy = Plan(plan)
    world.run()
    return world.recorder.frame("transitions"), world.recorder.frame("episodes")


CASES = [
    pytest.param(TimedCredit, False, id="arrays"),
    pytest.param(TimedCredit, True, id="timed-processes"),
    pytest.param(ProcessCredit, False, id="behaviours"),
]


@pytest.mark.parametrize(("world_cls", "processes"), CASES)
@pytest.mark.parametrize("own", [False, True], ids=["team", "own"])
def test_the_arrival_reward_is_in_the_arriving_macro_actions_transition(world_cls, processes, own):
    # work [0, 1.5) earns 1 at its end; rest [1.5, 2.25) earns nothing; work [2.25, 3.75) earns 1
    tr, ep = _transitions(world_cls, [0, 1, 0, 1], processes=processes, world={"own": own})
    assert tr["t_start"].to_list()[:4] == [0.0, 1.5, 2.25, 3.75]
    assert tr["action"].to_list()[:4] == [0, 1, 0, 1]
    r = tr["reward"].to_list()
    assert r[0] == pytest.approx(G**1.5, rel=1e-12)  # discounted from the work's start
    assert r[1] == 0.0  # none in the next macro-action
    assert r[2] == pytest.approx(G**1.5, rel=1e-12)
    assert r[3] == 0.0
    if not own:
        assert ep["team_return"][0] == 2.0
        assert ep["discounted_return"][0] == pytest.approx(G**1.5 + G**3.75, rel=1e-12)


@pytest.mark.parametrize(("world_cls", "processes"), CASES)
def test_a_reward_at_the_start_belongs_to_the_starting_macro_action(world_cls, processes):
    tr, _ = _transitions(world_cls, [1, 0, 1], processes=processes, world={"at_start": True})
    r = tr["reward"].to_list()
    assert r[0] == 0.0  # the rest before the work gets nothing of it
    assert r[1] == pytest.approx(10.0 + G**1.5, rel=1e-12)
    assert r[2] == 0.0


@pytest.mark.parametrize(("world_cls", "processes"), CASES)
def test_with_a_control_tick_the_reward_goes_to_the_macro_action_ending_at_the_tick(
    world_cls, processes
):
    # tick 1: work ends at 2 (1.5 rounded up to a tick) and is served there
    tr, _ = _transitions(world_cls, [0, 1], processes=processes, decision_period=1.0)
    assert tr["t_end"][0] == 2.0
    r = tr["reward"].to_list()
    # timed worlds arrive at the tick; a behaviour arrives at 1.5 and waits for the tick
    expected = G**2.0 if world_cls.timed else G**1.5
    assert r[0] == pytest.approx(expected, rel=1e-12)
    assert r[1] == 0.0


def test_arrays_and_processes_credit_identically():
    a, _ = _transitions(TimedCredit, [0, 0, 1, 0], processes=False, horizon=6.0)
    p, _ = _transitions(TimedCredit, [0, 0, 1, 0], processes=True, horizon=6.0)
    assert a.drop("run_id").equals(p.drop("run_id"))
