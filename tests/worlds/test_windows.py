"""Windows of exact instants: a local world's ends served together give the outcomes of one instant at a time."""

import numpy as np
import polars as pl
import pytest
import simpy
from windowed_outcomes import assert_same_table

from dmarl_des.errors import ConfigError
from dmarl_des.learn.mlp_policy import MLPPolicy
from dmarl_des.net import DelayModel, LinkModel, LossModel, MessageKind, Network, ring
from dmarl_des.scenario import Scenario
from dmarl_des.world.windows import EndQueue, bucket_edge
from dmarl_des.worlds.swarm import SwarmParams, SwarmWorld

NET = {
    "net.loss.model": "bernoulli",
    "net.loss.p": 0.2,
    "net.delay.model": "exponential",
    "net.delay.mean": 0.05,
    "net.resolution": 0.01,
    "record.transitions": True,
    "record.messages": True,
}


def run(
    windows: bool, overrides: dict, world_class=SwarmWorld, n: int = 100, horizon: float = 8.0
) -> SwarmWorld:
    scenario = Scenario.build(
        name="w",
        world=SwarmParams(),
        n_agents=n,
        horizon=horizon,
        decision_period=0.0,
        seed=7,
        episodes=2,
    ).with_overrides({**NET, **overrides})
    world = world_class(scenario, windows=windows)
    world.policy = MLPPolicy(world.obs_dim, world.n_actions, (32,), n_agents=n, seed=2)
    world.run()
    return world


def assert_same_outcomes(a: dict[str, pl.DataFrame], b: dict[str, pl.DataFrame]) -> None:
    assert a.keys() == b.keys()
    for name, frame in a.items():
        assert_same_table(frame, b[name], name)


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {
            "faults.crash.fraction": 0.2,
            "faults.crash.start": "poisson",
            "faults.crash.rate": 0.2,
            "faults.recover.enabled": True,
            "faults.recover.mean": 1.0,
        },
        {"record.trace_every": 0.5},
        {"faults.churn.leave_rate": 1.0, "faults.churn.join_rate": 1.0},
        {
            "faults.omission.fraction": 0.2,
            "faults.omission.start": "poisson",
            "faults.omission.rate": 0.3,
            "faults.byzantine.fraction": 0.2,
            "faults.byzantine.messages": ["noise", "stale"],
        },
    ],
    ids=["lossy", "crash-recover", "trace", "churn", "omission-byzantine"],
)
def test_windows_give_the_outcomes_of_one_instant_at_a_time(overrides):
    windowed = run(True, overrides)
    alone = run(False, overrides)
    a, b = windowed.recorder.frames(), alone.recorder.frames()
    assert_same_outcomes(a, b)
    # the same decisions, served in bigger batches
    assert a["episodes"]["n_decisions"].sum() > 500
    assert (a["episodes"]["mean_batch"] > 1.25 * b["episodes"]["mean_batch"]).all()
    assert len(a["messages"]) > 1000


@pytest.mark.parametrize(
    "overrides",
    [
        {"net.resolution": 0.0},
        {"decision_period": 0.1},
        {"max_decisions": 300},
        {"faults.partition.groups": 2, "faults.partition.at": 1.0, "faults.partition.duration": 2},
    ],
    ids=["exact-delivery", "control-tick", "decision-budget", "partition"],
)
def test_no_windows_where_they_would_not_be_exact(overrides):
    windowed, alone = run(True, overrides), run(False, overrides)
    a, b = windowed.recorder.frames(), alone.recorder.frames()
    assert a["episodes"]["mean_batch"].equals(b["episodes"]["mean_batch"])
    assert_same_outcomes(a, b)


def test_a_network_without_lookahead_serves_each_instant_alone():
    """ARQ makes a link's history matter: the network has no lookahead, so no windows."""
    overrides = {"net.arq.max_tries": 3}
    a = run(True, overrides).recorder.frames()["episodes"]["mean_batch"]
    b = run(False, overrides).recorder.frames()["episodes"]["mean_batch"]
    assert a.equals(b)


def test_macro_actions_shorter_than_a_delivery_interval_end_after_their_window():
    """Durations of 0.007–0.013 against buckets of 0.01: a window spans less than the shortest
    duration, so a macro-action started in a window never ends inside it."""
    overrides = {"world.base_duration": 0.012, "record.messages": False}
    windowed = run(True, overrides, horizon=0.5)
    alone = run(False, overrides, horizon=0.5)
    a, b = windowed.recorder.frames(), alone.recorder.frames()
    assert_same_outcomes(a, b)
    assert a["episodes"]["n_decisions"].sum() > 5000
    assert (a["episodes"]["mean_batch"] > b["episodes"]["mean_batch"]).all()


@pytest.mark.parametrize(
    "overrides",
    [
        {"net.delay.model": "constant", "net.delay.mean": 0.0, "net.resolution": 0.05},
        {"world.spread": 1.8, "net.resolution": 0.1, "net.loss.p": 0.6},
        {"net.delay.model": "lognormal", "net.delay.sigma": 1.5, "net.delay.jitter": 0.01},
        {"net.topology.kind": "ring", "net.topology.k": 20, "net.inbox_limit": 3},
    ],
    ids=["zero-delay", "wide-durations", "lognormal-jitter", "dense-small-inboxes"],
)
def test_windows_hold_under_other_links_and_durations(overrides):
    a = run(True, overrides, horizon=4.0).recorder.frames()
    b = run(False, overrides, horizon=4.0).recorder.frames()
    assert_same_outcomes(a, b)
    assert (a["episodes"]["mean_batch"] > b["episodes"]["mean_batch"]).all()


class HastySwarm(SwarmWorld):
    """Claims a shortest duration its macro-actions do not keep."""

    def shortest_duration(self):
        return 2.0


class StartSendingSwarm(SwarmWorld):
    """Broadcasts as macro-actions start: in a window its sends would not be at their times."""

    def begin_many(self, idx, actions):
        self.network.broadcast_many(idx, "state", self.state[idx])
        return super().begin_many(idx, actions)


class SchedulingSwarm(SwarmWorld):
    """Ends the episode a moment after an end: an event inside the window."""

    def end_many(self, idx):
        super().end_many(idx)
        if self.now > 2.0:
            self.terminate(delay=1e-4)


class StartRewardingSwarm(SwarmWorld):
    """Rewards a start with give_reward: not at its own time in a window."""

    def begin_many(self, idx, actions):
        if self.now > 0:
            self.give_reward(0.5)
        return super().begin_many(idx, actions)


class RewardingSwarm(SwarmWorld):
    """Gives its end rewards with give_reward: not allowed while ends run at their own times."""

    def end_many(self, idx):
        self.give_reward(float(len(idx)))


class EndingSwarm(SwarmWorld):
    """Ends the episode from end_many: not what a local world may do."""

    def end_many(self, idx):
        super().end_many(idx)
        if self.now > 2.0:
            self.terminate()


@pytest.mark.parametrize(
    ("world_class", "field"),
    [
        (RewardingSwarm, "give_reward"),
        (EndingSwarm, "local"),
        (HastySwarm, "shortest_duration"),
        (StartSendingSwarm, "local"),
        (SchedulingSwarm, "local"),
        (StartRewardingSwarm, "give_reward"),
    ],
)
def test_a_local_world_that_breaks_the_rules_is_told(world_class, field):
    with pytest.raises(ConfigError) as err:
        run(True, {}, world_class)
    assert err.value.field == field
    run(False, {}, world_class)  # one instant at a time it is a valid world


def test_end_queue_wakes_at_the_earliest_end_and_pops_a_window():
    env = simpy.Environment()
    seen: list[tuple[float, list[float]]] = []
    queue = EndQueue(env, lambda t: seen.append((t, queue.pop_before(t + 0.25)[0])))
    for t in (3.0, 1.0, 1.2, 2.0, 1.1):
        queue.add(t, np.array([[0], [0]]))
    queue.add(1.2, np.array([[1], [0]]))  # a second chunk under the same time
    env.timeout(1.15).callbacks.append(lambda _e: None)
    env.run()
    assert seen == [(1.0, [1.0, 1.1, 1.2]), (2.0, [2.0]), (3.0, [3.0])]
    # the earliest time comes out even when the bound is below it
    queue.add(5.0, np.array([[0], [0]]))
    assert queue.pop_before(0.0)[0] == [5.0]


def test_filing_many_ends_at_once_is_filing_them_one_by_one():
    def wakes(file):
        env = simpy.Environment()
        seen: list[tuple[float, list[list[int]]]] = []

        def due(t):
            _times, parts = queue.pop_before(t)
            seen.append((t, [p[0].tolist() for p in parts]))

        queue = EndQueue(env, due)
        file(queue)
        env.run()
        return seen

    times = [2.0, 0.5, 0.5, 1.5]  # unsorted, with a repeated time
    agents = np.array([[7, 3, 4, 9], [0, 0, 0, 0]])

    def one_by_one(queue):
        for k, t in enumerate(times):
            queue.add(t, agents[:, k : k + 1])

    def at_once(queue):
        order = np.argsort(times, kind="stable")
        ends, rows = np.asarray(times)[order], agents[:, order]
        bounds = [0, *((ends[1:] != ends[:-1]).nonzero()[0] + 1).tolist(), len(ends)]
        queue.add_many(ends[bounds[:-1]].tolist(), rows, bounds)

    assert wakes(one_by_one) == wakes(at_once) == [(0.5, [[3, 4]]), (1.5, [[9]]), (2.0, [[7]])]


def test_bucket_edge_is_the_delivery_instant_at_or_after():
    assert bucket_edge(0.015, 0.01) == pytest.approx(0.02)
    assert bucket_edge(0.02, 0.01) == 0.02
    assert bucket_edge(1.0, 0.01) == 1.0


def _network(env: simpy.Environment, n: int = 6) -> Network:
    kinds = {"state": MessageKind("state", (2,), "float32", 8)}
    link = LinkModel(loss=LossModel("bernoulli", p=0.3), delay=DelayModel("exponential", mean=0.02))
    return Network(
        env, ring(n, 1), link, np.random.default_rng(4), resolution=0.05, kinds=kinds, trace=True
    )


def test_senders_stamped_at_their_own_times_send_what_one_instant_at_a_time_sends():
    times = [0.1, 0.1, 0.13, 0.14]
    senders = [0, 3, 1, 5]
    payloads = np.arange(8, dtype=np.float32).reshape(4, 2)
    # one instant at a time
    env_a = simpy.Environment()
    net_a = _network(env_a)
    for k, (t, i) in enumerate(zip(times, senders, strict=True)):
        if env_a.now < t:
            env_a.run(until=t)
        net_a.broadcast_many(np.array([i]), "state", payloads[k : k + 1])
    env_a.run(until=1.0)
    # all at once from t = 0.1, each sender stamped at its time
    env_b = simpy.Environment()
    net_b = _network(env_b)
    env_b.run(until=0.1)
    clock = np.zeros(6)
    clock[senders] = times
    net_b.sending_at(clock)
    net_b.broadcast_many(np.array(senders), "state", payloads)
    net_b.sending_at(None)
    env_b.run(until=1.0)
    ta, tb = net_a.trace_columns(), net_b.trace_columns()
    assert set(np.unique(ta["t_sent"]).tolist()) == set(times)
    assert pl.DataFrame(ta).equals(pl.DataFrame(tb))
    for i in range(6):
        got_a = [(m.src, m.t_sent, m.t_delivered) for m in net_a.inbox(i).drain()]
        got_b = [(m.src, m.t_sent, m.t_delivered) for m in net_b.inbox(i).drain()]
        assert got_a == got_b


def test_sending_at_needs_a_lookahead():
    env = simpy.Environment()
    kinds = {"state": MessageKind("state", (2,), "float32", 8)}
    exact = Network(env, ring(4, 1), LinkModel(), np.random.default_rng(0), kinds=kinds)
    assert exact.lookahead is None
    with pytest.raises(ConfigError) as err:
        exact.sending_at(np.zeros(4))
    assert err.value.field == "sending_at"
