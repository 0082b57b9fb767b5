"""Faulty senders decided for a whole broadcast at once give what the per-sender filter gives."""

import hashlib

import numpy as np
import pytest

from dmarl_des.faults.outgoing import OutgoingFaults
from dmarl_des.learn.mlp_policy import MLPPolicy
from dmarl_des.net.network import Network
from dmarl_des.scenario import Scenario
from dmarl_des.study.run import frames_digest
from dmarl_des.worlds.swarm import SwarmParams, SwarmWorld

NET = {
    "net.loss.model": "bernoulli",
    "net.loss.p": 0.2,
    "net.delay.model": "exponential",
    "net.delay.mean": 0.05,
    "net.resolution": 0.1,
}


def run_swarm(faults: dict, monkeypatch, *, general: bool) -> tuple[str, str, dict]:
    """Tables of a faulty swarm (an MLP policy, so what agents receive steers what they do) and a
    hash of every payload drained; ``general``: the filter as it was, on every sender, one sender
    at a time."""
    if general:
        monkeypatch.setattr(OutgoingFaults, "many", lambda self, *a: None)
        monkeypatch.setattr(OutgoingFaults, "senders", lambda self: None)
    seen = hashlib.sha256()
    drain_many = Network.drain_many

    def drain_and_hash(self, idx, *args, **kwargs):
        out = drain_many(self, idx, *args, **kwargs)
        receivers, src, _t, payloads = out
        seen.update(np.asarray(receivers).tobytes() + np.asarray(src).tobytes())
        seen.update(np.ascontiguousarray(payloads).tobytes())
        return out

    monkeypatch.setattr(Network, "drain_many", drain_and_hash)
    overrides = {**NET, **{f"faults.{k}": v for k, v in faults.items()}}
    scenario = Scenario.build(
        name="faulty", world=SwarmParams(), n_agents=60, horizon=6.0, decision_period=0.1, seed=3
    ).with_overrides(overrides)
    world = SwarmWorld(scenario)
    world.policy = MLPPolicy(world.obs_dim, world.n_actions, (16,), n_agents=60, seed=2)
    world.run()
    frames = world.recorder.frames()
    monkeypatch.undo()
    return frames_digest(frames), seen.hexdigest(), world.network.stats()


CASES = {
    "noise and omission": {
        "byzantine.fraction": 0.2,
        "byzantine.messages": ["noise"],
        "omission.fraction": 0.2,
        "omission.p": 0.4,
    },
    "every row-wise attack, omission from a later time": {
        "byzantine.fraction": 0.3,
        "byzantine.messages": ["bias", "noise", "equivocate", "sign_flip"],
        "byzantine.value": 2.0,
        "byzantine.scale": 0.5,
        "omission.fraction": 0.2,
        "omission.start": "at",
        "omission.at": 2.0,
    },
    "constant, struck at random times": {
        "byzantine.fraction": 0.2,
        "byzantine.messages": ["constant"],
        "byzantine.value": 1e9,
        "byzantine.start": "poisson",
        "byzantine.rate": 0.5,
    },
    "stale and garbage (sender after sender)": {
        "byzantine.fraction": 0.2,
        "byzantine.messages": ["stale", "noise", "garbage"],
        "omission.fraction": 0.1,
    },
}


@pytest.mark.parametrize("faults", CASES.values(), ids=CASES.keys())
def test_vectorized_faulty_senders_match_the_per_sender_filter(faults, monkeypatch):
    fast = run_swarm(faults, monkeypatch, general=False)
    general = run_swarm(faults, monkeypatch, general=True)
    assert fast[2]["sent"] > 0
    if "omission.fraction" in faults:
        assert fast[2]["omitted"] > 0
    assert fast == general


def test_only_targeted_senders_pass_through_the_filter(monkeypatch):
    calls: list[np.ndarray] = []
    many = OutgoingFaults.many

    def spy(self, kind, ids, filtered, *rest):
        calls.append(ids[filtered])
        return many(self, kind, ids, filtered, *rest)

    monkeypatch.setattr(OutgoingFaults, "many", spy)
    scenario = Scenario.build(
        name="faulty", world=SwarmParams(), n_agents=50, horizon=3.0, decision_period=0.1, seed=1
    ).with_overrides({**NET, "faults.omission.count": 5})
    world = SwarmWorld(scenario)
    world.policy = MLPPolicy(world.obs_dim, world.n_actions, (8,), n_agents=50, seed=0)
    world.run()
    targets = set(world.faults.targets["omission"].tolist())
    seen = set(np.concatenate(calls).tolist())
    assert len(targets) == 5
    assert seen == targets
