"""The `trace` table's links (worlds that talk) and the `trace_map` table (worlds with a map)."""

import numpy as np
import polars as pl
import pytest

from dmarl_des.errors import ConfigError
from dmarl_des.scenario import Scenario
from dmarl_des.study import run_scenario
from dmarl_des.world import WorldMap
from dmarl_des.worlds.consensus import ConsensusParams
from dmarl_des.worlds.coverage import CoverageParams


def _consensus_trace(**faults):
    sc = Scenario.build(
        world=ConsensusParams(period=1.0),
        n_agents=10,
        horizon=10.0,
        seed=0,
        net={"topology": {"kind": "ring", "k": 2}},
        record={"trace_every": 1.0},
        faults=faults,
    )
    return run_scenario(sc).frames["trace"]


def _links_at(trace, time):
    rows = trace.filter(pl.col("time") == time).sort("agent_id")
    return {a: sorted(ls) for a, ls in zip(rows["agent_id"], rows["links"], strict=True)}


def test_links_are_the_topology_edges_that_carry_messages_now():
    trace = _consensus_trace(crash={"ids": [3], "start": "at", "at": 4.5}, cut_links=[[0, 1]])
    assert trace.schema["links"] == pl.List(pl.Int64)
    before, after = _links_at(trace, 4.0), _links_at(trace, 5.0)
    ring = {i: sorted({(i + d) % 10 for d in (-2, -1, 1, 2)}) for i in range(10)}
    cut = {0: [1], 1: [0]}
    for i in range(10):  # the cut link carries nothing in either direction
        assert before[i] == [j for j in ring[i] if j not in cut.get(i, [])]
    assert after[3] == []  # a crashed agent reaches nobody ...
    for i in (1, 2, 4, 5):  # ... and nobody reaches it
        assert after[i] == [j for j in before[i] if j != 3]
    assert after[7] == before[7]


def test_a_partition_cuts_the_links_across_groups():
    trace = _consensus_trace(partition={"groups": 2, "at": 3.0, "duration": 4.0})
    whole, split, healed = _links_at(trace, 2.0), _links_at(trace, 3.0), _links_at(trace, 8.0)
    assert whole == healed
    assert sum(map(len, split.values())) < sum(map(len, whole.values()))
    # links up during the partition stay inside a group: the group graph splits in two
    group = {0: 0}
    frontier = [0]
    while frontier:
        i = frontier.pop()
        for j in split[i]:
            if j not in group:
                group[j] = 0
                frontier.append(j)
    assert 0 < len(group) < 10


def test_coverage_records_its_map_with_every_sample():
    sc = Scenario.build(
        world=CoverageParams(),
        n_agents=12,
        horizon=20.0,
        decision_period=0.1,
        seed=1,
        policy="scripted",
        record={"trace_every": 2.0},
    )
    frames = run_scenario(sc).frames
    maps, coverage = frames["trace_map"], frames["coverage"]
    assert maps["time"].to_list() == [2.0 * k for k in range(10)]
    cells = sc.world.cells_per_side(sc.n_agents)
    assert set(maps["height"]) == set(maps["width"]) == {cells}
    assert set(maps["label"]) == {"covered"}
    covered = [
        int(np.count_nonzero(np.frombuffer(v, dtype=np.uint8) == 255)) for v in maps["values"]
    ]
    assert covered == sorted(covered) and covered[-1] > covered[0]
    at_10 = coverage.filter(pl.col("time") == 10.0)["covered_cells"].item()
    assert covered[5] == at_10  # the map of t = 10 holds the cells the coverage table counts
    size = sc.world.side(sc.n_agents)
    assert maps.row(0, named=True)["x1"] == pytest.approx(size)


def test_a_map_is_checked():
    with pytest.raises(ConfigError, match="world_map.values"):
        WorldMap(np.zeros((2, 2), dtype=np.float32), (0, 0, 1, 1))
    with pytest.raises(ConfigError, match="world_map.extent"):
        WorldMap(np.zeros((2, 2), dtype=np.uint8), (0, 0, 0, 1))


def test_the_coverage_map_has_row_0_at_the_bottom():
    from dmarl_des.worlds.coverage import CoverageWorld

    sc = Scenario.build(world=CoverageParams(), n_agents=4, seed=0)
    world = CoverageWorld(sc)
    world.grid.sense(1.0, world.size - 1.0)  # top left corner
    values = world.world_map().values
    assert values[-1, 0] == 255 and values[0, -1] == 0 and values[0, 0] == 0
