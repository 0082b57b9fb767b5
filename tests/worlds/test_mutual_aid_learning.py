"""Quick learning checks on mutual aid (fixed seeds, asserted margins): consensus over the network
lets private-reward learners cooperate; without it they do not; a lying neighbour undoes it."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import polars as pl
import pytest
import torch

from dmarl_des.learn import learner_config
from dmarl_des.scenario import load_scenario
from dmarl_des.scenario.loading import load_scenario_module
from dmarl_des.study import run_scenario
from dmarl_des.worlds.mutual_aid import MutualAidParams, team_optimum

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "mutual_aid.py"
RECIPE = load_scenario_module(SCENARIO).RECIPE
OPTIMUM = 1.75
SIX = {"n_agents": 6, "world.ring_k": 2}
"""Six agents, each with four neighbours: one liar among them leaves three honest ones."""
SIGN_FLIP = {"faults.byzantine.ids": (0,), "faults.byzantine.messages": ("sign_flip",)}


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # small networks: a second thread only contends (DESIGN §6a)
    yield
    torch.set_num_threads(previous)


@cache
def greedy_return(name: str, **overrides) -> float:
    """Team-average reward per agent and step of the greedy policy after 100 training episodes
    (10 evaluation episodes), seed 0."""
    scenario = load_scenario(SCENARIO, dict(overrides))
    values = dict(RECIPE)
    if name in ("networked_ac", "resilient_ac"):
        values["consensus_period"] = 5.0
    scenario = scenario.with_learner(learner_config(name, values))
    scenario = scenario.with_overrides({"policy": "learner"})
    episodes = run_scenario(scenario).frames["episodes"]
    steps = 20 * scenario.n_agents  # agent-steps per episode
    return episodes.filter(pl.col("phase") == "eval")["team_return"].mean() / steps


@pytest.mark.slow
def test_networked_reaches_ninety_percent_of_the_centralized_return():
    central = greedy_return("central_ac")
    networked = greedy_return("networked_ac")
    assert central >= 0.9 * OPTIMUM  # the baseline itself learned to help where it pays
    assert networked >= 0.9 * central


@pytest.mark.slow
def test_without_consensus_agents_learn_to_work_for_themselves():
    independent = greedy_return("independent_ac")
    assert independent <= 0.7 * greedy_return("central_ac")
    assert independent == pytest.approx(1.0, abs=0.05)  # everyone works: c a step


@pytest.mark.slow
def test_one_byzantine_neighbour_costs_plain_consensus_a_clear_margin():
    """Agent 0 flips the sign of the critic it sends (a valid vector within the bound): its two
    neighbours average it in at every round, and the team loses most of what consensus gave."""
    clean = greedy_return("networked_ac")
    attacked = greedy_return("networked_ac", **SIGN_FLIP)
    assert attacked <= 0.85 * clean


@pytest.mark.slow
def test_the_resilient_projection_recovers_most_of_what_a_liar_costs_plain_consensus():
    """Six agents, four neighbours each; agent 0 flips the sign of the critic and reward model it
    sends. Plain consensus (Algorithm 1, as above) loses a clear margin; the resilient projection
    (Algorithm 2, clipped mean with H = 1 over the values candidates compute on the agent's own
    inputs) gets back more than half of it."""
    clean = greedy_return("networked_ac", **SIX)
    attacked = greedy_return("networked_ac", **SIX, **SIGN_FLIP)
    resilient = greedy_return("resilient_ac", **SIX, **SIGN_FLIP)
    assert clean >= 0.95 * team_optimum(MutualAidParams(ring_k=2))  # 3.0625 a step
    assert attacked <= 0.8 * clean
    assert resilient - attacked >= 0.5 * (clean - attacked)
