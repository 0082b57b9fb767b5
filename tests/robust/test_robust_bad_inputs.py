"""Bad rule names, parameters and arrays raise ConfigError naming field, value and allowed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dmarl_des.errors import ConfigError
from dmarl_des.robust import ClippedGossip, Mean, TrimmedMean, aggregate, make_aggregator

INDPTR = np.array([0, 2, 3, 4])
INDICES = np.array([1, 2, 0, 0])
X = np.arange(6.0).reshape(3, 2)


def _raises(field: str, value_text: str, call):
    with pytest.raises(ConfigError) as caught:
        call()
    message = str(caught.value)
    assert caught.value.field == field, message
    assert value_text in message, message
    assert "allowed:" in message and caught.value.allowed
    return caught.value


def test_unknown_rule_lists_the_known_ones():
    error = _raises("rule", "'average'", lambda: make_aggregator("average"))
    for name in ("mean", "median", "trimmed_mean", "wmsr", "krum", "clipped_gossip"):
        assert name in error.allowed
    _raises("rule", "42", lambda: aggregate(42, X, INDPTR, INDICES))


@pytest.mark.parametrize(
    ("name", "params", "field", "value_text"),
    [
        ("wmsr", {"f": -1}, "wmsr.f", "-1"),
        ("krum", {"f": -2}, "krum.f", "-2"),
        ("trimmed_mean", {"b": 1.5}, "trimmed_mean.b", "1.5"),
        ("trimmed_mean", {"b": True}, "trimmed_mean.b", "True"),
        ("clipped_gossip", {"tau": -1.0}, "clipped_gossip.tau", "-1.0"),
        ("clipped_gossip", {"tau": 0}, "clipped_gossip.tau", "0"),
        ("clipped_gossip", {"tau": "adaptive"}, "clipped_gossip.tau", "'adaptive'"),
        ("clipped_gossip", {"tau": "auto", "delta": 1.0}, "clipped_gossip.delta", "1.0"),
        ("wmsr", {}, "wmsr.f", "missing"),
        ("wmsr", {"f": 1, "F": 1}, "wmsr.F", "1"),
        ("mean", {"b": 1}, "mean.b", "1"),
    ],
)
def test_bad_parameters(name, params, field, value_text):
    _raises(field, value_text, lambda: make_aggregator(name, **params))


def test_good_parameters_are_normalised():
    assert make_aggregator("trimmed_mean", b=np.int64(2)) == TrimmedMean(b=2)
    assert make_aggregator("clipped_gossip", tau=3) == ClippedGossip(tau=3.0)
    assert make_aggregator("mean").name == "mean"


def test_params_with_a_built_rule_are_refused():
    _raises("params", "['f']", lambda: aggregate(Mean(), X, INDPTR, INDICES, f=1))


@pytest.mark.parametrize(
    ("kwargs", "field", "value_text"),
    [
        ({"x": np.zeros((3, 2, 2))}, "x", "(3, 2, 2)"),
        ({"x": np.array([["a", "b"]] * 3)}, "x", "dtype"),
        ({"indptr": np.array([0, 2, 3])}, "indptr", "length 3"),
        ({"indptr": np.array([0, 3, 2, 4])}, "indptr", "[0, …, 4]"),
        ({"indptr": np.array([0.0, 2.0, 3.0, 4.0])}, "indptr", "float64"),
        ({"indices": np.array([1, 2, 0, 3])}, "indices", "3"),
        ({"indices": np.array([1, 2, 0, 2])}, "indices", "agent 2 listed as its own neighbour"),
        ({"received": np.zeros((4, 3))}, "received", "(4, 3)"),
        ({"received": np.zeros((3, 2))}, "received", "(3, 2)"),
        ({"valid": np.ones(4, dtype=int)}, "valid", "int64"),
        ({"valid": np.ones(5, dtype=bool)}, "valid", "(5,)"),
        ({"valid": torch.ones(3, dtype=torch.bool)}, "valid", "(3,)"),
    ],
)
def test_bad_arrays(kwargs, field, value_text):
    args = {"x": X, "indptr": INDPTR, "indices": INDICES} | kwargs
    _raises(field, value_text, lambda: aggregate("median", **args))


def test_integer_values_are_averaged_as_floats():
    out = aggregate("mean", np.array([[0], [1], [3]]), INDPTR, INDICES)
    assert out.dtype == np.float64 and out[0, 0] == pytest.approx(4 / 3)
