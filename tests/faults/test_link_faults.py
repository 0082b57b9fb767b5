"""Cut links and partitions: exactly the cut links drop messages (dropped_cut), only in the window."""

import numpy as np
import polars as pl
from fault_worlds import run_world, share_scenario

from dmarl_des.faults import LinkFaults, partition_groups

AT, DURATION = 4.0, 3.0


def test_partition_groups_are_balanced_and_random():
    rng = np.random.default_rng(0)
    labels = partition_groups(10, 3, rng)
    assert sorted(np.bincount(labels).tolist()) == [3, 3, 4]
    assert not np.array_equal(labels, partition_groups(10, 3, rng))


def test_link_filter_unit():
    now = [0.0]
    f = LinkFaults(4, lambda: now[0], cut=[(0, 2)], groups=np.array([0, 0, 1, 1]), window=(1, 2))
    dsts = np.array([1, 2, 3])
    assert f(0, dsts).tolist() == [True, False, True]  # (0, 2) cut, no partition yet
    assert f(2, np.array([0, 1])).tolist() == [False, True]  # both directions
    now[0] = 1.0
    assert f(0, dsts).tolist() == [True, False, False]
    now[0] = 2.0  # window is half-open
    assert f(0, dsts).tolist() == [True, False, True]


def test_a_partition_cuts_exactly_the_cross_group_links_during_its_window():
    sc = share_scenario(
        faults={"partition": {"groups": 2, "at": AT, "duration": DURATION}}, n_agents=8
    )
    world = run_world(sc)
    groups = world.injectors[0].partition_groups
    assert sorted(np.bincount(groups).tolist()) == [4, 4]
    msgs = world.recorder.frame("messages")
    cross = pl.Series(groups[msgs["src"].to_numpy()] != groups[msgs["dst"].to_numpy()])
    inside = (msgs["t_sent"] >= AT) & (msgs["t_sent"] < AT + DURATION)
    cut = msgs["drop_cause"] == "cut"
    assert (cut == (cross & inside)).all()
    assert cut.sum() > 0
    assert (msgs.filter(~cross | ~inside)["delivered"]).all()
    net = world.recorder.frame("network")
    assert net["dropped_cut"][0] == cut.sum()
    rows = world.recorder.frame("faults").select("time", "kind").rows()
    assert rows == [(AT, "partition_start"), (AT + DURATION, "partition_end")]


def test_cut_links_drop_both_directions_for_the_whole_episode():
    sc = share_scenario(faults={"cut_links": [[0, 3], [5, 1]]})
    world = run_world(sc)
    msgs = world.recorder.frame("messages")
    pair = set(zip(msgs["src"].to_list(), msgs["dst"].to_list(), strict=True))
    on_cut = msgs.filter(
        pl.struct("src", "dst").map_elements(
            lambda r: {r["src"], r["dst"]} in ({0, 3}, {1, 5}), return_dtype=pl.Boolean
        )
    )
    assert {(0, 3), (3, 0), (1, 5), (5, 1)} <= pair
    assert on_cut.height > 0 and set(on_cut["drop_cause"]) == {"cut"}
    assert world.recorder.frame("network")["dropped_cut"][0] == on_cut.height
    rows = world.recorder.frame("faults")
    assert rows.select("time", "kind", "detail").rows() == [
        (0.0, "cut", "0-3"),
        (0.0, "cut", "5-1"),
    ]
