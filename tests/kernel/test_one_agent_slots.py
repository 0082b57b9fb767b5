"""Decisions and closes of one agent (continuous time) update the slots as batches do."""

from types import SimpleNamespace

import numpy as np

from dmarl_des.world.decisions import DecisionServer
from dmarl_des.world.slots import Slots
from dmarl_des.world.transitions import Transitions

N, A, D = 6, 3, 4


def parts(wanted: bool):
    slots = Slots(N)
    slots.reset(A, D)
    recorder = SimpleNamespace(has=lambda name: wanted)
    learning = SimpleNamespace(learner=None, joint=None)
    transitions = Transitions(slots, None, learning, recorder, 0.99)
    env = SimpleNamespace(now=0.0)
    world = SimpleNamespace(env=env, scenario=SimpleNamespace(max_decisions=None))
    server = DecisionServer(world, slots, transitions, learning, None)
    return slots, transitions, server, env


def state(slots: Slots) -> list:
    names = ("action", "t_start", "obs", "mask", "n_decisions", "n_done", "busy")
    return [getattr(slots, k).tolist() for k in names]


def drive(one_at_a_time: bool, wanted: bool):
    """Three rounds: agents 4, 1, 2 decide at 0.3, 0.75, 1.6 (closing what they chose before);
    one agent per call, or all three in one batch."""
    slots, transitions, server, env = parts(wanted)
    rng = np.random.default_rng(1)
    agents = np.array([4, 1, 2], dtype=np.int64)
    pending = []
    for now in (0.3, 0.75, 1.6):
        env.now = now
        obs = rng.normal(size=(3, D)).astype(np.float32)
        mask = rng.random((3, A)) < 0.7
        actions = rng.integers(0, A, size=3)
        groups = [slice(k, k + 1) for k in range(3)] if one_at_a_time else [slice(None)]
        for rows in groups:
            g = agents[rows]
            if (slots.action[g] >= 0).all():
                transitions.close(g, now, obs[rows], mask[rows], done=False)
            server.apply(g, actions[rows], obs[rows], mask[rows])
        pending += transitions._pending
        transitions._pending = []
    cols = {k: np.concatenate([p[k] for p in pending]).tolist() for k in pending[0]}
    return state(slots), cols


def test_one_agent_updates_equal_the_batch_updates():
    for wanted in (False, True):
        one_state, one_rows = drive(True, wanted)
        batch_state, batch_rows = drive(False, wanted)
        assert one_state == batch_state
        assert one_rows == batch_rows
        assert one_state[4] == [0, 3, 3, 0, 3, 0]  # n_decisions
        assert one_state[5] == [0, 2, 2, 0, 2, 0]  # n_done
        assert abs(one_state[6][4] - 1.3) < 1e-12  # busy: 0.75 - 0.3 + 1.6 - 0.75
