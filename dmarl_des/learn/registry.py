"""Built-in learners by name: validated configs, and the factory building a learner for a world."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
from pydantic import ValidationError

from dmarl_des.errors import ConfigError
from dmarl_des.learn.config import LearnerConfig, LearnerSpec, resolve_device
from dmarl_des.learn.federated import check_federated
from dmarl_des.learn.gnn_ippo import GnnIPPO, GnnIPPOConfig
from dmarl_des.learn.gnn_iql import GnnIQL, GnnIQLConfig
from dmarl_des.learn.ippo import IPPO, IPPOConfig
from dmarl_des.learn.iql import IQL, IQLConfig
from dmarl_des.learn.mfac import MFAC, MFACConfig
from dmarl_des.learn.mfq import MFQ, MFQConfig
from dmarl_des.learn.networked_ac import (
    CentralACConfig,
    IndependentACConfig,
    NetworkedAC,
    NetworkedACConfig,
)
from dmarl_des.learn.protocol import Learner
from dmarl_des.learn.qmix import QMIX, QMIXConfig
from dmarl_des.learn.resilient_ac import ResilientAC, ResilientACConfig
from dmarl_des.learn.vdn import VDN, VDNConfig

LEARNERS: Mapping[str, type[LearnerConfig]] = MappingProxyType(
    {
        "iql": IQLConfig,
        "ippo": IPPOConfig,
        "vdn": VDNConfig,
        "qmix": QMIXConfig,
        "networked_ac": NetworkedACConfig,
        "independent_ac": IndependentACConfig,
        "central_ac": CentralACConfig,
        "resilient_ac": ResilientACConfig,
        "mfq": MFQConfig,
        "mfac": MFACConfig,
        "gnn_ippo": GnnIPPOConfig,
        "gnn_iql": GnnIQLConfig,
    }
)
"""Config class of every built-in learner, by ``learner.name``."""

_ALGORITHMS: Mapping[str, type] = MappingProxyType(
    {
        "iql": IQL,
        "ippo": IPPO,
        "vdn": VDN,
        "qmix": QMIX,
        "networked_ac": NetworkedAC,
        "independent_ac": NetworkedAC,
        "central_ac": NetworkedAC,
        "resilient_ac": ResilientAC,
        "mfq": MFQ,
        "mfac": MFAC,
        "gnn_ippo": GnnIPPO,
        "gnn_iql": GnnIQL,
    }
)


def _config_error(error: ValidationError, config_type: type[LearnerConfig]) -> ConfigError:
    first = error.errors()[0]
    field = "learner." + ".".join(str(part) for part in first["loc"])
    if first["type"] == "extra_forbidden":
        return ConfigError(field, first["input"], "keys " + ", ".join(config_type.model_fields))
    return ConfigError(field, first.get("input"), first["msg"])


def learner_config(name: str, values: Mapping[str, Any] | None = None) -> LearnerConfig:
    """The validated config of learner ``name`` from ``values`` (defaults for the rest).

    Raises ConfigError naming the field, the value and what is allowed: unknown learner, unknown
    key, bad value, or a CUDA device on a machine without one.
    """
    if name not in LEARNERS:
        raise ConfigError("learner.name", name, " | ".join(LEARNERS))
    values = dict(values or {})
    if values.setdefault("name", name) != name:
        raise ConfigError("learner.name", values["name"], repr(name))
    config_type = LEARNERS[name]
    try:
        config = config_type.model_validate(values)
    except ValidationError as error:
        raise _config_error(error, config_type) from None
    resolve_device(config.device)
    return config


def make_learner(
    config: LearnerConfig,
    *,
    obs_dim: int,
    n_actions: int,
    n_agents: int,
    state_dim: int = 0,
    groups: Sequence[int] | np.ndarray | None = None,
    gamma: float,
    seed: int,
    device: str | None = None,
) -> Learner:
    """A fresh learner for a world of ``n_agents``; ``device``, if given, overrides the config."""
    config_type = LEARNERS.get(getattr(config, "name", None))
    if config_type is None or not isinstance(config, config_type):
        raise ConfigError("learner", type(config).__name__, "a config from learner_config()")
    spec = LearnerSpec(
        obs_dim=int(obs_dim),
        n_actions=int(n_actions),
        n_agents=int(n_agents),
        gamma=float(gamma),
        seed=int(seed),
        state_dim=int(state_dim),
        groups=None if groups is None else tuple(int(g) for g in np.asarray(groups).reshape(-1)),
    )
    learner = _ALGORITHMS[config.name](config, spec, resolve_device(device or config.device))
    check_federated(learner)
    return learner
