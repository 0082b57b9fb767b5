"""Mean, median and trimmed mean: hand-computed cases and their robustness guarantees."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmarl_des.robust import aggregate

# A star: agent 0 hears agents 1..4; each leaf hears only agent 0.
STAR_INDPTR = np.array([0, 4, 5, 6, 7, 8])
STAR_INDICES = np.array([1, 2, 3, 4, 0, 0, 0, 0])
# Two coordinates ordered differently, so a vector-wise rule would give another answer.
STAR_X = np.array([[1.0, 4.0], [2.0, 100.0], [100.0, 2.0], [-50.0, 1.0], [4.0, -50.0]])


def test_mean_hand_computed():
    out = aggregate("mean", STAR_X, STAR_INDPTR, STAR_INDICES)
    assert out[0] == pytest.approx([57 / 5, 57 / 5])
    assert out[1] == pytest.approx([1.5, 52.0])
    assert out[4] == pytest.approx([2.5, -23.0])


def test_median_hand_computed_is_coordinatewise():
    out = aggregate("median", STAR_X, STAR_INDPTR, STAR_INDICES)
    assert out[0] == pytest.approx([2.0, 2.0])
    # Two candidates: the median is their midpoint.
    assert out[2] == pytest.approx([50.5, 3.0])
    assert out[3] == pytest.approx([-24.5, 2.5])


@pytest.mark.parametrize(
    ("b", "expected_hub"),
    [(0, [57 / 5, 57 / 5]), (1, [7 / 3, 7 / 3]), (2, [2.0, 2.0]), (3, [2.0, 2.0])],
)
def test_trimmed_mean_hand_computed(b, expected_hub):
    out = aggregate("trimmed_mean", STAR_X, STAR_INDPTR, STAR_INDICES, b=b)
    assert out[0] == pytest.approx(expected_hub)


def test_trimmed_mean_falls_back_to_median_with_too_few_candidates():
    # Leaves have 2 candidates < 2b + 1 = 3: their median (midpoint) is used.
    out = aggregate("trimmed_mean", STAR_X, STAR_INDPTR, STAR_INDICES, b=1)
    assert out[2] == pytest.approx([50.5, 3.0])


def _one_listener(honest: np.ndarray, attackers: np.ndarray):
    """Agent 0 (honest, value honest[0]) hears every other agent; the others hear nobody.

    The first neighbours send honest values, the last ones send the attackers' values.
    Returns (x, indptr, indices, received).
    """
    x = np.concatenate([honest, np.zeros_like(attackers)])
    n = x.shape[0]
    indptr = np.concatenate([[0], np.full(n, n - 1)])
    indices = np.arange(1, n)
    received = np.concatenate([honest[1:], attackers])
    return x, indptr, indices, received


honest_values = st.floats(-1e6, 1e6, allow_nan=False)
attack_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([1e300, -1e300, 0.0])
)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), n_honest=st.integers(1, 8), d=st.integers(1, 3))
def test_median_stays_in_honest_range_with_a_minority_of_outliers(data, n_honest, d):
    n_bad = data.draw(st.integers(0, n_honest - 1))  # fewer than half the candidates
    honest = np.array(
        data.draw(
            st.lists(
                st.lists(honest_values, min_size=d, max_size=d),
                min_size=n_honest,
                max_size=n_honest,
            )
        )
    )
    bad = np.array(
        data.draw(
            st.lists(
                st.lists(attack_values, min_size=d, max_size=d), min_size=n_bad, max_size=n_bad
            )
        )
    ).reshape(n_bad, d)
    x, indptr, indices, received = _one_listener(honest, bad)
    out = aggregate("median", x, indptr, indices, received=received)[0]
    assert np.all(out >= honest.min(axis=0)) and np.all(out <= honest.max(axis=0))


@settings(max_examples=60, deadline=None)
@given(data=st.data(), b=st.integers(0, 3), d=st.integers(1, 3))
def test_trimmed_mean_with_b_at_least_f_stays_in_honest_range(data, b, d):
    f = data.draw(st.integers(0, b))
    n_honest = data.draw(st.integers(max(1, 2 * b + 1 - f), 2 * b + 4))  # n ≥ 2b + 1
    honest = np.array(
        data.draw(
            st.lists(
                st.lists(honest_values, min_size=d, max_size=d),
                min_size=n_honest,
                max_size=n_honest,
            )
        )
    )
    bad = np.array(
        data.draw(st.lists(st.lists(attack_values, min_size=d, max_size=d), min_size=f, max_size=f))
    ).reshape(f, d)
    x, indptr, indices, received = _one_listener(honest, bad)
    out = aggregate("trimmed_mean", x, indptr, indices, received=received, b=b)[0]
    slack = 1e-12 * (1.0 + np.abs(honest).max(axis=0))  # rounding of the average
    assert np.all(out >= honest.min(axis=0) - slack)
    assert np.all(out <= honest.max(axis=0) + slack)


def test_mean_is_pulled_outside_honest_range_by_one_outlier():
    honest = np.array([[0.0], [1.0], [2.0], [3.0]])
    x, indptr, indices, received = _one_listener(honest, np.array([[1e6]]))
    assert aggregate("mean", x, indptr, indices, received=received)[0, 0] > 3.0
    assert aggregate("median", x, indptr, indices, received=received)[0, 0] <= 3.0
