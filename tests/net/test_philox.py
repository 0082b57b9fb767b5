"""Counter-based draws: known-answer vectors of Philox4x32-10 and uniformity."""

import numpy as np

from dmarl_des.net.philox import philox4x32, philox_uniform


def test_known_answer_vectors():
    zero = philox4x32(np.zeros((4, 1)), (0, 0))[:, 0]
    assert [int(x) for x in zero] == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]
    ones = philox4x32(np.full((4, 1), 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF))[:, 0]
    assert [int(x) for x in ones] == [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]


def test_uniform_moments_and_determinism():
    i = np.arange(200_000)
    u = philox_uniform((7, 9), i, 3, 0, 0)
    assert u.min() >= 0.0 and u.max() < 1.0
    se = np.sqrt(1 / 12 / i.size)
    assert abs(u.mean() - 0.5) < 5 * se
    assert abs(u.var() - 1 / 12) < 5 * np.sqrt(1 / 180 / i.size)
    assert np.array_equal(u, philox_uniform((7, 9), i, 3, 0, 0))
    other = philox_uniform((7, 10), i, 3, 0, 0)
    assert np.mean(u == other) < 1e-4
    # neighbouring counters are uncorrelated
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 5 / np.sqrt(i.size)
