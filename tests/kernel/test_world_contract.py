"""The world contract: a missing required piece is a clear error naming it; the rest defaults."""

from typing import Literal

import numpy as np
import pytest

from dmarl_des.learn.random_policy import RandomPolicy
from dmarl_des.macro import MacroAction, wait
from dmarl_des.scenario import Scenario, WorldParams
from dmarl_des.world import World, WorldContractError


class MiniParams(WorldParams):
    name: Literal["mini"] = "mini"


def _scenario(**kw):
    return Scenario.build(world=MiniParams(), n_agents=3, horizon=4.0, **kw)


def test_a_minimal_process_world_runs_on_defaults():
    class Mini(World):
        Params = MiniParams
        obs_dim = 2
        macro_actions = (MacroAction("wait", wait(1.0)),)

        def observe(self, agent):
            return np.array([agent.idx, self.now], dtype=np.float32)

    world = Mini(_scenario())
    world.policy = RandomPolicy(world.n_actions, world.streams.stream("policy"))
    rows = world.run()
    assert rows[0]["n_decisions"] == 3 * 4  # every agent at 0, 1, 2, 3
    assert rows[0]["success"] is False  # default: terminate() was not called
    assert world.global_state().shape == (0,)
    assert world.mask_many(np.array([0, 2])).tolist() == [[True], [True]]


def test_a_minimal_timed_world_runs_on_defaults():
    class MiniTimed(World):
        Params = MiniParams
        timed = True
        obs_dim = 1

        def macro_action_names(self):
            return ("go",)

        def begin_many(self, idx, actions):
            return np.full(len(idx), 2.0)

        def observe_many(self, idx):
            return np.zeros((len(idx), 1), dtype=np.float32)

    world = MiniTimed(_scenario())
    world.policy = RandomPolicy(world.n_actions, world.streams.stream("policy"))
    assert world.run()[0]["n_decisions"] == 3 * 2 and world.arrays_mode


def test_missing_observations_are_named():
    with pytest.raises(WorldContractError, match=r"NoEyes must define observe_many"):

        class NoEyes(World):
            Params = MiniParams
            macro_actions = (MacroAction("wait", wait(1.0)),)


def test_missing_params_are_named():
    with pytest.raises(WorldContractError, match=r"NoKeys must set Params"):

        class NoKeys(World):
            def observe(self, agent):
                return np.zeros(1, dtype=np.float32)


@pytest.mark.parametrize("missing", ["begin_many", "macro_action_names"])
def test_a_timed_world_must_begin_its_macro_actions(missing):
    body = {
        "Params": MiniParams,
        "timed": True,
        "observe_many": lambda self, idx: np.zeros((len(idx), 1), dtype=np.float32),
        "begin_many": lambda self, idx, actions: np.ones(len(idx)),
        "macro_action_names": lambda self: ("go",),
    }
    del body[missing]
    with pytest.raises(
        WorldContractError, match=rf"HalfTimed is timed, so it must define {missing}"
    ):
        type("HalfTimed", (World,), body)


def test_end_many_without_timed_is_named():
    with pytest.raises(WorldContractError, match=r"defines end_many but is not timed"):

        class Forgot(World):
            Params = MiniParams

            def observe(self, agent):
                return np.zeros(1, dtype=np.float32)

            def end_many(self, idx):
                pass


def test_macro_actions_and_obs_dim_are_checked_when_built():
    class NoActions(World):
        Params = MiniParams
        obs_dim = 1

        def observe(self, agent):
            return np.zeros(1, dtype=np.float32)

    with pytest.raises(WorldContractError, match=r"NoActions has no macro-actions"):
        NoActions(_scenario())

    class NoObsDim(NoActions):
        obs_dim = 0
        macro_actions = (MacroAction("wait", wait(1.0)),)

    with pytest.raises(WorldContractError, match=r"NoObsDim.obs_dim must be"):
        NoObsDim(_scenario())


def test_an_abstract_base_is_checked_in_its_subclasses_only():
    class Base(World, abstract=True):
        obs_dim = 1
        macro_actions = (MacroAction("wait", wait(1.0)),)

        def observe(self, agent):
            return np.zeros(1, dtype=np.float32)

    class Concrete(Base):
        Params = MiniParams

    assert Concrete(_scenario()).n_actions == 1
    with pytest.raises(WorldContractError, match="Params"):

        class StillMissing(Base):
            pass
