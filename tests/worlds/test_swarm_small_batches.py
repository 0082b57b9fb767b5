"""Continuous time (decision batches of one) gives the tables of the general batch path."""

import numpy as np

from dmarl_des.learn.mlp_policy import MLPPolicy
from dmarl_des.macro import RewardLedger
from dmarl_des.net import inflight, network
from dmarl_des.net.inbox_store import InboxStore
from dmarl_des.net.inflight import bucket_keys
from dmarl_des.scenario import Scenario
from dmarl_des.study.run import frames_digest
from dmarl_des.world import transitions
from dmarl_des.worlds.swarm import STATE_SIZE, SwarmParams, SwarmWorld

NET = {
    "net.loss.model": "bernoulli",
    "net.loss.p": 0.2,
    "net.delay.model": "exponential",
    "net.delay.mean": 0.05,
    "net.resolution": 0.01,
}


class GeneralSwarm(SwarmWorld):
    """The swarm observing every batch, one receiver included, through the general path."""

    def observe_many(self, idx: np.ndarray) -> np.ndarray:
        received = np.zeros((len(idx), STATE_SIZE), dtype=np.float32)
        receivers, _src, _t, payloads = self.network.drain_many(np.array(idx).tolist())
        if len(receivers):
            row_of = np.empty(len(self.sim_agents), dtype=np.int64)
            row_of[idx] = np.arange(len(idx))
            counts = np.bincount(row_of[receivers], minlength=len(idx))
            got = counts.nonzero()[0]
            starts = (counts.cumsum() - counts)[got]
            sums = np.add.reduceat(payloads, starts, axis=0)
            received[got] = sums / counts[got, None].astype(np.float32)
        features = np.concatenate([self.state[idx], received], axis=1)
        return np.concatenate([features, np.tanh(features @ self.projection)], axis=1)


def run(cls, record: bool) -> tuple[str, float]:
    scenario = Scenario.build(
        name="swarm", world=SwarmParams(), n_agents=40, horizon=4.0, decision_period=0.0, seed=5
    ).with_overrides({**NET, "record.transitions": record})
    world = cls(scenario, windows=False)  # each instant alone: batches of one
    world.policy = MLPPolicy(world.obs_dim, world.n_actions, (16,), n_agents=40, seed=1)
    world.run()
    frames = {k: f for k, f in world.recorder.frames().items() if k != "runs"}
    frames["episodes"] = frames["episodes"].drop("wall_s")
    return frames_digest(frames), float(frames["episodes"]["mean_batch"][0])


def test_batches_of_one_match_the_general_path(monkeypatch):
    for record in (False, True):
        fast = run(SwarmWorld, record)
        assert fast[1] < 1.5  # most batches hold one decision
        # the general path: observations as above, returns added with one bincount per batch
        with monkeypatch.context() as m:
            m.setattr(transitions, "add_returns", bincount_returns)
            general = run(GeneralSwarm, record)
        assert fast == general


def bincount_returns(returns, idx, totals):
    returns += np.bincount(idx, totals, minlength=returns.size)


def general_pairs(topology, ids):
    """``neighbour_pairs`` by the CSR walk (no uniform-degree or one-sender shortcut)."""
    first = topology.indptr[ids]
    degree = topology.indptr[ids + 1] - first
    sender = np.repeat(np.arange(ids.size), degree)
    starts = np.cumsum(degree) - degree
    return sender, topology.indices[np.repeat(first - starts, degree) + np.arange(degree.sum())]


def test_one_agent_network_and_reward_paths_match_the_general_ones(monkeypatch):
    """Continuous time through the one-call bucket keys, one-sender pairs, one-receiver drains
    and one-row reward totals, against the same run through their general array paths."""
    for record in (False, True):
        fast = run(SwarmWorld, record)
        with monkeypatch.context() as m:
            m.setattr(inflight, "bucket_key", lambda t, r: int(bucket_keys(np.array([t]), r)[0]))
            m.setattr(network, "neighbour_pairs", general_pairs)
            m.setattr(InboxStore, "take_one", lambda self, i: self.take(np.array([i])))
            m.setattr(
                RewardLedger,
                "_one_total",
                lambda self, t0, t1, closed: self._covered_sums(
                    *self._bounds(np.array([t0]), np.array([t1]), np.array([closed]))
                ),
            )
            general = run(SwarmWorld, record)
        assert fast == general
