"""Every Byzantine message attack acts on exchanged parameter vectors; receivers check them."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from gossip import Gossip
from test_rounds import N, swarm, train, values

from dmarl_des.faults.message_attacks import MESSAGE_ATTACKS


def attacked(attack: str, horizon: float = 2.5, **extra) -> tuple[Gossip, dict]:
    learner, frames, _ = attacked_world(attack, horizon, **extra)
    return learner, frames


def attacked_world(attack: str, horizon: float = 2.5, **extra):
    """Agent 0 is Byzantine from the start, its messages go through ``attack``."""
    world = swarm(
        horizon=horizon,
        **{
            "faults.byzantine.ids": (0,),
            "faults.byzantine.messages": (attack,),
            "record.messages": True,
            **extra,
        },
    )
    learner = Gossip(values())
    return learner, train(world, learner), world


def from_zero(learner: Gossip, round_index: int) -> dict[int, np.ndarray]:
    """What agents received from agent 0 at a round (by receiver)."""
    arrived = learner.log[round_index]
    at = np.flatnonzero(arrived.sender == 0)
    return dict(zip(arrived.receiver[at].tolist(), arrived.vectors(at), strict=True))


def sent_by_zero(learner: Gossip, round_index: int) -> np.ndarray:
    agents, vectors = learner.sent[round_index]
    return vectors[agents.tolist().index(0)]


@pytest.mark.parametrize(
    ("attack", "extra", "expected"),
    [
        ("sign_flip", {}, lambda x, r: -x),
        ("constant", {"faults.byzantine.value": 7.0}, lambda x, r: np.full_like(x, 7.0)),
        ("bias", {"faults.byzantine.value": 2.0}, lambda x, r: x + 2.0),
        # recipients in sorted order: agent 1 is at an even position (+scale), agent 5 odd (-)
        ("equivocate", {"faults.byzantine.scale": 0.5}, lambda x, r: x + (0.5 if r == 1 else -0.5)),
    ],
)
def test_value_attacks_tamper_the_vector_each_neighbour_receives(attack, extra, expected):
    learner, _ = attacked(attack, **extra)
    sent = sent_by_zero(learner, 0)
    got = from_zero(learner, 0)
    assert sorted(got) == [1, N - 1]
    for receiver, vector in got.items():
        np.testing.assert_allclose(vector, expected(sent, receiver), rtol=1e-6)
    # the other senders' vectors arrive untouched
    arrived = learner.log[0]
    honest = np.flatnonzero(arrived.sender != 0)
    np.testing.assert_array_equal(arrived.vectors(honest), values()[arrived.sender[honest]])


def test_noise_draws_independently_per_recipient():
    learner, _ = attacked("noise", **{"faults.byzantine.scale": 1.0})
    sent = sent_by_zero(learner, 0)
    got = from_zero(learner, 0)
    a, b = got[1], got[N - 1]
    assert not np.allclose(a, sent) and not np.allclose(b, sent) and not np.allclose(a, b)


def test_stale_replays_an_earlier_parameter_vector():
    learner, _ = attacked("stale", horizon=3.5, **{"faults.byzantine.lag": 1})
    np.testing.assert_array_equal(from_zero(learner, 0)[1], sent_by_zero(learner, 0))
    # round 2 receives what agent 0 sent at round 1, not its current vector
    np.testing.assert_array_equal(from_zero(learner, 1)[1], sent_by_zero(learner, 0))
    np.testing.assert_array_equal(from_zero(learner, 2)[N - 1], sent_by_zero(learner, 1))
    assert not np.array_equal(sent_by_zero(learner, 1), sent_by_zero(learner, 0))


@pytest.mark.parametrize(
    ("attack", "extra", "reasons"),
    [
        ("garbage", {}, {"not_finite", "wrong_shape", "oversize"}),
        ("constant", {"faults.byzantine.value": 5e3}, {"out_of_bound"}),  # bound 1e3 (theta only)
    ],
)
def test_invalid_vectors_are_rejected_counted_and_missing(attack, extra, reasons):
    learner, frames, world = attacked_world(attack, horizon=4.5, **extra)
    kinds = frames["network_kinds"].filter(pl.col("kind") == "theta").row(0, named=True)
    assert kinds["rejected_invalid"] == 4 * 2  # every vector agent 0 sent, 4 rounds
    assert all(0 not in a.sender.tolist() for a in learner.log)
    assert frames["rounds"]["missing"].to_list() == [2] * 4
    dropped = frames["messages"].filter((pl.col("kind") == "theta") & (pl.col("src") == 0))
    assert set(dropped["drop_cause"].to_list()) == {"invalid"}
    assert set(world.network.rejections()) <= reasons


def test_every_message_attack_is_covered_here():
    assert set(MESSAGE_ATTACKS) == {
        "sign_flip",
        "constant",
        "bias",
        "equivocate",
        "noise",
        "stale",
        "garbage",
    }
