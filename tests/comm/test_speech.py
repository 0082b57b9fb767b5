"""Learned messages through the world's network: sending rules, byte budgets, what agents hear."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from dmarl_des.comm.sending import SendingRule, TokenBucket
from dmarl_des.learn.mean_field import mean_action
from dmarl_des.learn.messaging import Heard, MessageSpec, Spoken
from dmarl_des.scenario import CommSpec, Scenario
from dmarl_des.worlds.channels import ChannelsParams, ChannelsWorld
from dmarl_des.worlds.landmarks import LandmarksParams, LandmarksWorld

SIZE = 3


class Talker:
    """A random policy whose agents say a fresh random vector at every decision; it keeps
    everything it heard."""

    def __init__(self, n_actions: int, seed: int = 0, gate: bool | None = None) -> None:
        self.n_actions = n_actions
        self.rng = np.random.default_rng(seed)
        self.heard: list[Heard] = []
        self.sent: list[tuple[np.ndarray, np.ndarray]] = []
        self.gate = gate
        self._said: tuple[np.ndarray, Spoken] | None = None

    def message_spec(self) -> MessageSpec:
        return MessageSpec("talk", SIZE, bound=1.0, position=True)

    def hear(self, heard: Heard) -> None:
        self.heard.append(heard)

    def act(self, obs, agent_idx, mask, *, explore=True):
        scores = self.rng.random(mask.shape)
        scores[~mask] = -1.0
        actions = scores.argmax(axis=1)
        vectors = self.rng.uniform(-1, 1, size=(len(agent_idx), SIZE)).astype(np.float32)
        gate = None if self.gate is None else np.full(len(agent_idx), self.gate)
        conf = self.rng.random(len(agent_idx))
        self._said = (np.asarray(agent_idx).copy(), Spoken(vectors, conf, gate))
        return actions

    def spoken(self, agents):
        assert self._said is not None and np.array_equal(self._said[0], agents)
        return self._said[1]

    def transmitted(self, agents, sent_bytes):
        self.sent.append((np.asarray(agents).copy(), np.asarray(sent_bytes).copy()))

    def reset(self, agent_idx=None):
        pass


def run_channels(comm: dict, n: int = 10, horizon: float = 20.0, **scenario) -> tuple:
    s = Scenario.build(
        world=ChannelsParams(),
        n_agents=n,
        horizon=horizon,
        episodes=1,
        seed=3,
        net={"topology": {"k": 1}, **scenario.pop("net", {})},
        comm=comm,
        **scenario,
    )
    world = ChannelsWorld(s)
    policy = Talker(world.n_actions)
    world.policy = policy
    world.run()
    return world, policy


def comm_row(world) -> dict:
    return world.recorder.frame("comm").row(0, named=True)


# ---------------------------------------------------------------------------------- rules
def test_event_rule_by_hand():
    rule = SendingRule(CommSpec(send="event", delta=0.5), n=3, size=2)
    agents = np.array([0, 1, 2])
    first = np.array([[0, 0], [1, 1], [2, 2]], dtype=np.float32)
    assert rule.choose(agents, first).all()  # nobody sent yet
    rule.sent(agents, first)
    moved = first + np.array([[0.25, 0.0], [0.0, 0.5], [0.0, 0.0]], dtype=np.float32)
    np.testing.assert_array_equal(rule.choose(agents, moved), [False, True, False])  # |Δ| = 0.5


def test_token_bucket_by_hand():
    bucket = TokenBucket(2, rate=10.0, depth=20.0)
    agents = np.array([0, 1])
    np.testing.assert_array_equal(bucket.pay(agents, np.array([15.0, 25.0]), 0.0), [True, False])
    # agent 0 has 5 left; 0.5 time units refill 5 more: 10 >= 10 passes, then 0 < 10 fails
    np.testing.assert_array_equal(bucket.pay(np.array([0]), np.array([10.0]), 0.5), [True])
    np.testing.assert_array_equal(bucket.pay(np.array([0]), np.array([10.0]), 0.5), [False])
    # refills stop at the depth
    np.testing.assert_array_equal(bucket.pay(np.array([1]), np.array([20.0]), 100.0), [True])
    np.testing.assert_array_equal(bucket.pay(np.array([1]), np.array([0.5]), 100.0), [False])


def test_event_delta_zero_sends_every_time():
    world, _ = run_channels({"send": "event", "delta": 0.0})
    row = comm_row(world)
    assert row["offered"] > 50
    assert row["transmissions"] == row["offered"] and row["held_rule"] == 0


def test_event_delta_infinite_sends_only_the_first():
    world, _ = run_channels({"send": "event", "delta": math.inf})
    row = comm_row(world)
    assert row["offered"] > 50
    assert row["transmissions"] == 10  # one per agent: its first message
    assert row["held_rule"] == row["offered"] - 10


def test_gate_rule_obeys_the_policy():
    for gate, expected in ((True, "all"), (False, "none")):
        s = Scenario.build(
            world=ChannelsParams(), n_agents=6, horizon=10.0, seed=1, comm={"send": "gate"}
        )
        world = ChannelsWorld(s)
        world.policy = Talker(world.n_actions, gate=gate)
        world.run()
        row = comm_row(world)
        assert row["transmissions"] == (row["offered"] if expected == "all" else 0)


def test_vbc_replies_only_to_requests_with_enough_variance():
    world, _ = run_channels({"send": "vbc", "vbc_confidence": 0.5, "vbc_variance": 0.0})
    row = comm_row(world)
    assert row["requests"] > 0 and 0 < row["transmissions"] < row["offered"]
    quiet, _ = run_channels({"send": "vbc", "vbc_confidence": 0.5, "vbc_variance": 10.0})
    assert comm_row(quiet)["transmissions"] == 0  # no message varies that much
    deaf, _ = run_channels({"send": "vbc", "vbc_confidence": 0.0})
    assert comm_row(deaf)["requests"] == 0 and comm_row(deaf)["transmissions"] == 0


@pytest.mark.parametrize("budget, burst, period", [(10.0, 0.0, 0.0), (25.0, 60.0, 0.5)])
def test_budget_never_exceeded(budget, burst, period):
    """By every time t, an agent has put at most burst + budget · t bytes on the air (each
    broadcast counted once, from the network's own message trace)."""
    world, _ = run_channels(
        {"budget": budget, "burst": burst, "period": period},
        n=12,
        horizon=30.0,
        record={"messages": True},
    )
    row = comm_row(world)
    assert row["held_budget"] > 0  # the budget binds
    msgs = world.recorder.frame("messages").filter(pl.col("kind") == "talk")
    casts = msgs.group_by("src", "t_sent").agg(pl.col("bytes").first()).sort("src", "t_sent")
    casts = casts.with_columns(pl.col("bytes").cum_sum().over("src").alias("spent"))
    depth = burst if burst > 0 else 12.0  # one message: 3 float32
    assert casts.height > 20
    excess = casts.select((pl.col("spent") - (depth + budget * pl.col("t_sent"))).max()).item()
    assert excess <= 1e-6
    assert row["bytes_on_air"] == casts["bytes"].sum()


# ---------------------------------------------------------------------------------- hearing
def test_heard_messages_are_exactly_the_latest_that_arrived():
    """Under loss and delay, what an agent hears from a neighbour is the latest message of that
    neighbour delivered to it before the decision — never a lost or still travelling one."""
    world, policy = run_channels(
        {},
        n=10,
        horizon=15.0,
        net={"loss": {"model": "bernoulli", "p": 0.4}, "delay": {"model": "constant", "mean": 0.7}},
        record={"messages": True},
    )
    msgs = world.recorder.frame("messages").filter(pl.col("kind") == "talk")
    arrived = msgs.filter(pl.col("delivered"))
    checked = 0
    for heard in policy.heard:
        for m in range(len(heard)):
            receiver, sender = int(heard.agents[heard.row[m]]), int(heard.sender[m])
            t_sent = heard.time - heard.age[m]
            mine = arrived.filter(
                (pl.col("src") == sender)
                & (pl.col("dst") == receiver)
                & (pl.col("t_delivered") <= heard.time + 1e-9)
            )
            assert mine.height > 0
            assert abs(mine["t_sent"].max() - t_sent) < 1e-9  # the latest that arrived
            checked += 1
        # a neighbour none of whose messages arrived by then is absent
        for row, agent in enumerate(heard.agents.tolist()):
            got = set(heard.sender[heard.row == row].tolist())
            before = arrived.filter(
                (pl.col("dst") == agent) & (pl.col("t_delivered") <= heard.time + 1e-9)
            )
            assert got == set(before["src"].to_list())
    assert checked > 50
    row = comm_row(world)
    assert row["missing"] > 0 and row["stale"] > 0  # loss leaves some out, delay makes stale


def test_offsets_are_sender_position_minus_receiver_position():
    s = Scenario.build(world=LandmarksParams(), n_agents=12, horizon=8.0, seed=2)
    world = LandmarksWorld(s)
    policy = Talker(world.n_actions)
    world.policy = policy
    positions = []
    original = policy.hear

    def hear(heard):
        positions.append(world.agent_positions().copy())
        original(heard)

    policy.hear = hear
    world.run()
    assert any(len(h) for h in policy.heard)
    for heard, here in zip(policy.heard, positions, strict=True):
        assert heard.offset is not None and heard.offset.shape == (len(heard), 2)
        receivers = heard.agents[heard.row]
        sent_from = heard.offset + here[receivers]
        # the sender was within radio range of where it is now, moving at speed 1
        dist = np.linalg.norm(sent_from - here[heard.sender], axis=1)
        assert (dist <= heard.age * 1.0 + 1e-4).all()


def test_mean_action_uses_arrived_announcements_only():
    heard = Heard(
        time=5.0,
        agents=np.array([7, 2, 4]),
        row=np.array([0, 0, 0, 2]),
        sender=np.array([1, 3, 6, 5]),
        age=np.array([0.1, 2.0, 0.5, 1.0]),
        fresh=np.array([True, False, True, True]),
        vectors=np.array([[1, 0, 0], [0, 1, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32),
    )
    mean = mean_action(heard, 3)
    np.testing.assert_allclose(mean, [[1 / 3, 2 / 3, 0], [0, 0, 0], [0, 0, 1]])


@pytest.mark.parametrize("name", ["mfq", "mfac"])
def test_mean_field_learners_act_on_the_announcements_that_arrived(name):
    """End to end, under loss and delay: the mean action MF-Q feeds its Q-network (MF-AC its
    actor) at each decision is the mean of the one-hot macro-actions announced in the latest
    message of each neighbour that arrived by then (the network's own trace) — lost ones left
    out, late ones stale — and differs from the mean of the neighbours' true macro-actions."""
    from dmarl_des.learn.registry import learner_config
    from dmarl_des.study.policies import build_policy

    s = Scenario.build(
        world=ChannelsParams(n_channels=4),
        n_agents=10,
        horizon=15.0,
        episodes=1,
        seed=5,
        policy="learner",
        learner=learner_config(name, {"learning_starts": 10**6} if name == "mfq" else {}),
        net={
            "topology": {"k": 1},
            "loss": {"model": "bernoulli", "p": 0.4},
            "delay": {"model": "constant", "mean": 0.7},
        },
        record={"messages": True},
    )
    world = ChannelsWorld(s)
    world.policy = learner = build_policy(s, world)
    decisions = []  # (time, agents, actions, ā fed to the network)
    fed = []  # the network's inputs during the current act call
    outer = learner.act

    def act(obs, idx, mask, *, explore=True):
        fed.clear()
        actions = outer(obs, idx, mask, explore=explore)
        decisions.append((world.env.now, idx.copy(), actions.copy(), fed[0][:, -4:].copy()))
        return actions

    learner.act = act
    if name == "mfq":
        inner = learner.q.act

        def q_act(augmented, idx, mask, *, explore=True):
            fed.append(np.asarray(augmented))
            return inner(augmented, idx, mask, explore=explore)

        learner.q.act = q_act
    else:
        learner.actor.register_forward_hook(lambda m, x, out: fed.append(x[0].numpy().copy()))
    world.run()
    said = {}  # (agent, time) -> announced macro-action
    for t, idx, actions, _ in decisions:
        said.update({(int(a), t): int(m) for a, m in zip(idx, actions, strict=True)})
    msgs = world.recorder.frame("messages").filter(pl.col("kind") == "mf_action")
    arrived = msgs.filter(pl.col("delivered"))
    n, checked, differs = 10, 0, 0
    for t, idx, _, mean in decisions:
        for agent, got in zip(idx.tolist(), mean, strict=True):
            heard = (
                arrived.filter((pl.col("dst") == agent) & (pl.col("t_delivered") <= t + 1e-9))
                .group_by("src")
                .agg(pl.col("t_sent").max())
            )
            expected = np.zeros(4)
            for src, t_sent in heard.iter_rows():
                assert src in ((agent - 1) % n, (agent + 1) % n)
                expected[said[(src, t_sent)]] += 1.0 / heard.height
            np.testing.assert_allclose(got, expected, atol=1e-6)
            truth = np.zeros(4)  # the neighbours' true latest macro-actions
            for src in ((agent - 1) % n, (agent + 1) % n):
                before = [k for k in said if k[0] == src and k[1] < t]
                if before:
                    truth[said[max(before, key=lambda k: k[1])]] += 0.5
            differs += not np.allclose(got, truth)
            checked += 1
    assert checked > 40 and differs > 10
    row = comm_row(world)
    assert row["missing"] > 0 and row["stale"] > 0
