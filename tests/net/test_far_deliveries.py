"""A message due far past the episode is never delivered early, whatever the delivery bucket."""

import numpy as np
import pytest
from net_testkit import check_invariant, make_network

from dmarl_des.net import Bandwidth, DelayModel, LinkModel, complete


@pytest.mark.parametrize("resolution", [0.0, 0.1, 1e-6])
@pytest.mark.parametrize(
    "link",
    [
        LinkModel(bandwidth=Bandwidth(capacity=1e-300)),  # serialization takes 1e302
        LinkModel(delay=DelayModel(mean=1e300)),
        LinkModel(delay=DelayModel(mean=2e12)),  # key 2e18 at 1e-6: still inside int64
    ],
)
def test_a_message_due_far_away_stays_in_flight(link, resolution):
    env, net = make_network(complete(2), link, resolution=resolution)
    net.send(0, 1, "any", np.zeros(2), 100)
    env.run(until=10.0)
    assert net.inbox(1).drain() == []
    stats = net.stats()
    assert stats["delivered"] == 0 and stats["in_flight"] == 1
    check_invariant(stats)


def test_near_messages_keep_their_buckets_beside_a_far_one():
    env, net = make_network(complete(3), LinkModel(delay=DelayModel(mean=0.25)), resolution=0.1)
    far = make_network(
        complete(2), LinkModel(delay=DelayModel(mean=1e300)), env=env, resolution=0.1
    )[1]
    far.send(0, 1, "any", np.zeros(2), 100)
    net.send(0, 1, "any", np.zeros(2), 100)
    env.run(until=10.0)
    assert [m.t_delivered for m in net.inbox(1).drain()] == [pytest.approx(0.3)]
    assert far.inbox(1).drain() == []
