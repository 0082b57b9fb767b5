"""Byzantine agents against consensus: W-MSR keeps honest agents in range, plain weights do not."""

import numpy as np
import polars as pl
import pytest

from dmarl_des.cli import main
from dmarl_des.scenario import load_scenario
from dmarl_des.worlds.consensus import ConsensusWorld

SCENARIO = "scenarios/consensus.py"


def run_consensus(aggregator: str, faults: dict, **more) -> ConsensusWorld:
    overrides = {
        "n_agents": 12,
        "horizon": 40.0,
        "net.topology.kind": "complete",
        "world.aggregator": aggregator,
        "world.aggregator_f": 2,
        "faults": faults,
        **more,
    }
    world = ConsensusWorld(load_scenario(SCENARIO, overrides))
    world.policy = world.scripted_policy()
    world.run_episode(0, "eval")
    return world


def honest_range(world: ConsensusWorld) -> tuple[float, float]:
    x0 = world.x0[world.honest()]
    return float(x0.min()), float(x0.max())


def assert_monotone(table: pl.DataFrame) -> None:
    """W-MSR's invariant: per round the honest min never falls and the honest max never rises."""
    lo, hi = table["honest_min"].to_numpy(), table["honest_max"].to_numpy()
    assert np.all(np.diff(lo) >= -1e-12) and np.all(np.diff(hi) <= 1e-12)


# K_12 is 6-robust >= 2f + 1 = 5, so with f = 2 Byzantine agents W-MSR reaches agreement.
ATTACKS = [
    {"messages": ["constant"], "value": 100.0},
    {"messages": ["equivocate"], "scale": 50.0},
    {"messages": ["noise", "bias"], "scale": 5.0, "value": -20.0},
    {"messages": ["sign_flip", "stale"], "lag": 3},
]


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: "+".join(a["messages"]))
def test_wmsr_keeps_honest_agents_in_range_and_agreeing(attack):
    faults = {"byzantine": {"count": 2, **attack}, "bound": {"total": 2}}
    world = run_consensus("wmsr", faults)
    honest = world.honest()
    assert (~honest).sum() == 2
    lo, hi = honest_range(world)
    xh = world.x[honest]
    assert np.all(xh >= lo - 1e-12) and np.all(xh <= hi + 1e-12)
    table = world.recorder.frame("consensus")
    assert_monotone(table)
    assert table["disagreement"][-1] < 1e-3 * max(table["disagreement"][0], 1e-9)


def test_plain_weights_are_pulled_outside_the_honest_range():
    faults = {"byzantine": {"count": 2, "messages": ["constant"], "value": 100.0}}
    world = run_consensus("weights", faults)
    _lo, hi = honest_range(world)
    xh = world.x[world.honest()]
    assert np.all(xh > hi + 10.0)  # dragged toward the liars' 100
    table = world.recorder.frame("consensus")
    assert table["honest_max"].max() > hi + 10.0


def test_f_local_bound_on_a_ring_keeps_the_wmsr_invariant():
    # a sparse ring: Byzantine agents are drawn greedily so that no honest agent hears more than
    # one of them; W-MSR with f = 1 then never lets the honest range grow
    faults = {
        "byzantine": {"fraction": 0.3, "messages": ["equivocate"], "scale": 30.0},
        "bound": {"local": 1},
    }
    for seed in range(3):
        world = run_consensus(
            "wmsr",
            faults,
            **{
                "n_agents": 30,
                "net.topology.kind": "ring",
                "net.topology.k": 3,
                "world.aggregator_f": 1,
                "seed": seed,
            },
        )
        assert 0 < (~world.honest()).sum() <= 9
        table = world.recorder.frame("consensus")
        assert_monotone(table)
        lo, hi = honest_range(world)
        xh = world.x[world.honest()]
        assert np.all(xh >= lo - 1e-12) and np.all(xh <= hi + 1e-12)


def test_cli_runs_the_consensus_scenario_with_crashes(tmp_path):
    out = tmp_path / "out"
    code = main(
        ["run", SCENARIO, "--set", "faults.crash.fraction=0.2", "--out", str(out), "--quiet"]
    )
    assert code == 0
    faults = pl.read_parquet(next((out / "faults").rglob("*.parquet")))
    assert faults.height == 10 and set(faults["kind"]) == {"crash"}  # 20% of 50 agents
    episodes = pl.read_parquet(next((out / "episodes").rglob("*.parquet")))
    assert episodes["n_crashed"][0] == 10 and episodes["n_alive_end"][0] == 40
