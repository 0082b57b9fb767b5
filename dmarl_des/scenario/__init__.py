"""The validated, declarative description of a run: world, agents, network, faults, learner, horizon, seed."""

from dmarl_des.scenario.comm import CommSpec
from dmarl_des.scenario.faults import FaultSpec
from dmarl_des.scenario.loading import load_scenario, load_scenario_module
from dmarl_des.scenario.model import LearnerParams, RecordSpec, Scenario, WorldParams
from dmarl_des.scenario.net import NetSpec
from dmarl_des.scenario.overrides import parse_assignment, parse_value

__all__ = [
    "CommSpec",
    "FaultSpec",
    "LearnerParams",
    "NetSpec",
    "RecordSpec",
    "Scenario",
    "WorldParams",
    "load_scenario",
    "load_scenario_module",
    "parse_assignment",
    "parse_value",
]
