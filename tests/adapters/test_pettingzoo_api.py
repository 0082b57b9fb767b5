"""PettingZoo's own test functions on every built-in world, fault-free and under faults and loss."""

import warnings

import pytest
from builtin_worlds import WORLDS, small
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test, seed_test

from dmarl_des.pettingzoo import aec_env, parallel_env

CASES = [pytest.param(w, f, id=f"{w}-{'faults' if f else 'clean'}") for w in WORLDS for f in (0, 1)]

WRONG = ("but was dead last turn", "not all possible_agents", "resurect", "revived")
"""Warnings PettingZoo gives for broken agent bookkeeping (any of them fails a test here).

Others are expected: ``Live agent was not given observation`` (and reward, info, …) is the
Parallel adapter's ready-agent semantics — an agent whose macro-action runs is absent from a
step; ``Observation is not a NumPy array`` comes with the observation dict holding the action
mask (PettingZoo's own convention); ``render`` is not defined."""


def _run_checked(test, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        test(*args, **kwargs)
    wrong = sorted({str(w.message) for w in caught if any(p in str(w.message) for p in WRONG)})
    assert wrong == []


@pytest.mark.parametrize(("world", "faults"), CASES)
def test_aec_api(world, faults):
    _run_checked(api_test, aec_env(small(world, faults=bool(faults))), num_cycles=200)


@pytest.mark.parametrize(("world", "faults"), CASES)
def test_parallel_api(world, faults):
    _run_checked(parallel_api_test, parallel_env(small(world, faults=bool(faults))), num_cycles=500)


@pytest.mark.parametrize(("world", "faults"), CASES)
def test_aec_seed(world, faults):
    scenario = small(world, faults=bool(faults))
    _run_checked(seed_test, lambda: aec_env(scenario), num_cycles=200)


@pytest.mark.parametrize(("world", "faults"), CASES)
def test_parallel_seed(world, faults):
    scenario = small(world, faults=bool(faults))
    # PettingZoo's parallel seed test samples actions without the mask: "replace" (the default)
    # swaps those outside an agent's initiation set for its first allowed one
    _run_checked(parallel_seed_test, lambda: parallel_env(scenario), num_cycles=200)
