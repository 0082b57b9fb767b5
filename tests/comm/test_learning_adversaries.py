"""Learning adversaries (faults.byzantine.learning): greedy agents never combine, faulty ones also
stop learning; both keep sending their parameters."""

from __future__ import annotations

import numpy as np
import polars as pl
from gossip import Gossip
from test_rounds import N, swarm, train, values


class Watching(Gossip):
    """Gossip that also remembers which agents' transitions it was handed."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.seen: list[np.ndarray] = []
        self.ends: list[float] = []

    def observe(self, batch):
        self.seen.append(np.asarray(batch.agent_idx).copy())
        self.ends.append(float(np.max(batch.t_end)))
        super().observe(batch)


def adversary(mode: str, at: float = 0.0) -> dict:
    timing = {"faults.byzantine.start": "at", "faults.byzantine.at": at} if at else {}
    return {"faults.byzantine.ids": (2,), "faults.byzantine.learning": mode, **timing}


def test_a_greedy_agent_sends_but_never_combines_and_keeps_learning():
    learner = Watching(values(), learn=True)
    frames = train(swarm(**adversary("greedy")), learner)
    rounds = frames["rounds"]
    assert rounds["agents"].to_list() == [N - 1] * 5 and rounds["senders"].to_list() == [N] * 5
    assert all(2 not in a.agents.tolist() for a in learner.log)
    assert all(2 in agents.tolist() for agents, _ in learner.sent)  # it still sends ...
    np.testing.assert_array_equal(learner.theta.numpy()[2], values()[2])  # ... its own, unmixed
    assert any(2 in seen.tolist() for seen in learner.seen)  # its transitions still count
    faults = frames["faults"]
    assert faults["detail"].to_list() == ["actions=none messages=none learning=greedy"]
    assert frames["agents"].filter(pl.col("agent_id") == 2)["role"].to_list() == ["byzantine"]


def test_a_faulty_agent_is_neither_handed_transitions_nor_combines_from_its_strike_on():
    learner = Watching(values(), learn=True)
    train(swarm(**adversary("faulty", at=2.5)), learner)
    before = [a for a in learner.log if a.time < 2.5]
    after = [a for a in learner.log if a.time > 2.5]
    assert all(2 in a.agents.tolist() for a in before)
    assert all(2 not in a.agents.tolist() for a in after)
    assert all(2 in agents.tolist() for agents, _ in learner.sent)
    # macro-actions end at 1, 2, 3, 4, 5 and the horizon: agent 2's are handed over until the
    # strike at 2.5, never after
    has_two = [2 in seen.tolist() for seen in learner.seen]
    assert has_two == [end < 2.5 for end in learner.ends] and True in has_two
    assert learner.ends[-1] == 5.5


def test_learning_adversaries_change_nothing_in_evaluation_episodes():
    learner = Watching(values(), learn=True)
    world = swarm(**adversary("faulty"))
    world.policy = learner
    world.run_episode(0, "eval")
    frames = world.recorder.frames()
    assert "rounds" not in frames or frames["rounds"].height == 0
    assert learner.seen == [] and frames["faults"]["detail"].to_list()[0].endswith("faulty")
