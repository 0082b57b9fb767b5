"""Consensus mixing: hand-computed steps, the average kept, lost and missing neighbours' weight to self."""

import numpy as np
import pytest
import torch

from dmarl_des.errors import ConfigError
from dmarl_des.learn.mixing import metropolis_weights, mix, mixing_matrix

# path 0 - 1 - 2, plus agent 3 with no neighbours; CSR: agent i hears indices[indptr[i]:indptr[i+1]]
INDPTR = np.array([0, 1, 3, 4, 4])
INDICES = np.array([1, 0, 2, 1])
THETA = torch.tensor([[3.0, 30.0], [0.0, 0.0], [6.0, -6.0], [5.0, 7.0]])


def test_metropolis_weights_by_hand():
    # degrees 1, 2, 1, 0: every edge touches agent 1, so each weight is 1 / (1 + 2)
    np.testing.assert_allclose(metropolis_weights(INDPTR, INDICES), [1 / 3] * 4)


def test_a_metropolis_step_by_hand_keeps_the_average_and_leaves_an_isolated_agent_alone():
    matrix = mixing_matrix(INDPTR, INDICES, metropolis_weights(INDPTR, INDICES))
    dense = matrix.to_dense()
    expected = torch.tensor(
        [
            [2 / 3, 1 / 3, 0, 0],
            [1 / 3, 1 / 3, 1 / 3, 0],
            [0, 1 / 3, 2 / 3, 0],
            [0, 0, 0, 1],
        ]
    )
    torch.testing.assert_close(dense, expected)
    out = mix(matrix, THETA)
    # agent 0: 2/3·3 + 1/3·0 = 2; agent 1: (3 + 0 + 6) / 3 = 3; agent 2: 1/3·0 + 2/3·6 = 4
    torch.testing.assert_close(out[:, 0], torch.tensor([2.0, 3.0, 4.0, 5.0]))
    torch.testing.assert_close(out[:, 1], torch.tensor([20.0, 8.0, -4.0, 7.0]))
    torch.testing.assert_close(out.mean(dim=0), THETA.mean(dim=0))
    torch.testing.assert_close(out[3], THETA[3], rtol=0, atol=0)  # no neighbours: unchanged


def test_a_lost_message_gives_its_weight_to_the_receiver():
    valid = np.array([True, True, False, True])  # agent 1 did not get agent 2's parameters
    matrix = mixing_matrix(INDPTR, INDICES, metropolis_weights(INDPTR, INDICES), valid=valid)
    out = mix(matrix, THETA)
    torch.testing.assert_close(out[1], 1 / 3 * THETA[0] + 2 / 3 * THETA[1])
    torch.testing.assert_close(out[2], 1 / 3 * THETA[1] + 2 / 3 * THETA[2])  # 2 still heard 1


def test_a_doubly_stochastic_step_keeps_the_average_of_stacked_parameters():
    rng = np.random.default_rng(0)
    n = 60
    edges = {(i, (i + 1) % n) for i in range(n)} | {
        tuple(sorted(rng.choice(n, 2, replace=False))) for _ in range(90)
    }
    pairs = sorted({(a, b) for a, b in edges} | {(b, a) for a, b in edges})
    rows = np.array([a for a, _ in pairs])
    indices = np.array([b for _, b in pairs])
    indptr = np.searchsorted(rows, np.arange(n + 1))
    matrix = mixing_matrix(
        indptr, indices, metropolis_weights(indptr, indices), dtype=torch.float64
    )
    dense = matrix.to_dense()
    torch.testing.assert_close(dense.sum(dim=0), torch.ones(n, dtype=torch.float64))
    torch.testing.assert_close(dense.sum(dim=1), torch.ones(n, dtype=torch.float64))
    theta = torch.from_numpy(rng.normal(size=(n, 7, 5)))
    out = theta
    for _ in range(200):
        out = mix(matrix, out)
    torch.testing.assert_close(out.mean(dim=0), theta.mean(dim=0))
    torch.testing.assert_close(out, theta.mean(dim=0).expand_as(out), atol=1e-6, rtol=0)
    torch.testing.assert_close(mix(matrix, theta), (dense @ theta.reshape(n, -1)).view_as(theta))


@pytest.mark.parametrize(
    ("indptr", "indices", "weights", "field"),
    [
        (INDPTR, INDICES, [0.5, 0.5, 0.6, 0.5], "weights"),  # row 1 gives away 1.1
        (INDPTR, INDICES, [0.5, -0.1, 0.5, 0.5], "weights"),
        (INDPTR, INDICES, [0.5, 0.5, np.nan, 0.5], "weights"),
        (INDPTR, INDICES, [0.5, 0.5, 0.5], "weights"),
        (INDPTR, np.array([1, 1, 2, 1]), [0.1] * 4, "indices"),  # agent 1 hears itself
        (INDPTR, np.array([1, 0, 4, 1]), [0.1] * 4, "indices"),  # no agent 4
        (np.array([0, 1, 3, 2, 4]), INDICES, [0.1] * 4, "indptr"),
    ],
)
def test_bad_mixing_inputs_are_config_errors(indptr, indices, weights, field):
    with pytest.raises(ConfigError, match=field):
        mixing_matrix(indptr, indices, weights)


def test_mix_wants_one_row_per_agent():
    matrix = mixing_matrix(INDPTR, INDICES, metropolis_weights(INDPTR, INDICES))
    with pytest.raises(ConfigError, match="theta"):
        mix(matrix, torch.zeros(3, 2))
