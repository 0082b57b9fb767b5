"""Learners: the Policy/Learner protocol, batched policy networks, parameter modes, algorithms."""

from dmarl_des.learn.checkpoint import (
    check_card,
    library_versions,
    load_checkpoint,
    read_card,
    save_checkpoint,
)
from dmarl_des.learn.config import LearnerConfig, LearnerSpec
from dmarl_des.learn.ippo import IPPO, IPPOConfig
from dmarl_des.learn.iql import IQL, IQLConfig
from dmarl_des.learn.mlp_policy import MLPPolicy
from dmarl_des.learn.protocol import DecisionEpoch, Learner, Policy, TransitionBatch
from dmarl_des.learn.qmix import QMIX, QMIXConfig
from dmarl_des.learn.random_policy import RandomPolicy
from dmarl_des.learn.registry import LEARNERS, learner_config, make_learner
from dmarl_des.learn.vdn import VDN, VDNConfig

__all__ = [
    "IPPO",
    "IQL",
    "LEARNERS",
    "QMIX",
    "VDN",
    "DecisionEpoch",
    "IPPOConfig",
    "IQLConfig",
    "Learner",
    "LearnerConfig",
    "LearnerSpec",
    "MLPPolicy",
    "Policy",
    "QMIXConfig",
    "RandomPolicy",
    "TransitionBatch",
    "VDNConfig",
    "check_card",
    "learner_config",
    "library_versions",
    "load_checkpoint",
    "make_learner",
    "read_card",
    "save_checkpoint",
]
