"""Named streams: independent of each other and of creation order (common random numbers)."""

import numpy as np

from dmarl_des.kernel import RandomStreams


def test_adding_a_stream_does_not_shift_another():
    a = RandomStreams(5)
    world_only = a.stream("world").random(5)
    b = RandomStreams(5)
    b.stream("faults").random(100)
    b.stream("net")
    assert np.array_equal(b.stream("world").random(5), world_only)


def test_streams_differ_by_name_and_seed():
    s = RandomStreams(5)
    assert not np.array_equal(s.fresh("world").random(4), s.fresh("policy").random(4))
    assert not np.array_equal(s.fresh("world").random(4), RandomStreams(6).fresh("world").random(4))
    assert np.array_equal(
        s.fresh("world", 3).random(4), RandomStreams(5).fresh("world", 3).random(4)
    )


def test_per_agent_draws_do_not_depend_on_other_agents():
    s = RandomStreams(1)
    g1 = s.for_agent("world", 0, 7)
    s.for_agent("world", 0, 3).random(1000)
    assert np.array_equal(g1.random(3), RandomStreams(1).for_agent("world", 0, 7).random(3))
    assert not np.array_equal(
        s.for_agent("world", 0, 7).random(3), s.for_agent("world", 1, 7).random(3)
    )
    assert 0 <= s.integer_seed("policy") < 2**63
