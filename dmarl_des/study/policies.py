"""Builds the decision maker a scenario asks for: random, the world's scripted one, a learner, a checkpoint."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dmarl_des.errors import ConfigError
from dmarl_des.learn.protocol import Policy
from dmarl_des.learn.random_policy import RandomPolicy
from dmarl_des.scenario import Scenario
from dmarl_des.world import World


def build_policy(scenario: Scenario, world: World, device: str | None = None) -> Policy:
    """The policy named by ``scenario.policy`` for ``world`` (its dims decide the networks)."""
    kind = scenario.policy
    if kind == "random":
        return RandomPolicy(world.n_actions, world.streams.stream("policy"))
    if kind == "scripted":
        policy = world.scripted_policy()
        if policy is None:
            raise ConfigError(
                "policy",
                kind,
                f"random or learner (world {world.params.name!r} ships no scripted policy)",
            )
        return policy
    if kind == "learner":
        from dmarl_des.learn.registry import make_learner

        assert scenario.learner is not None
        return make_learner(
            scenario.learner,
            obs_dim=world.obs_dim,
            n_actions=world.n_actions,
            n_agents=len(world.sim_agents),
            state_dim=world.state_dim,
            groups=None,
            gamma=scenario.gamma,
            seed=world.streams.integer_seed("policy"),
            device=device or getattr(scenario.learner, "device", "cpu"),
        )
    from dmarl_des.learn.checkpoint import load_checkpoint, read_card

    card = read_card(Path(kind))  # the card is checked against this world before any weight
    world_card = card.get("world")
    trained_on = world_card.get("name") if isinstance(world_card, dict) else None
    if trained_on != world.params.name:
        raise ConfigError(
            "policy",
            kind,
            f"a checkpoint trained on world {world.params.name!r} "
            f"(this one was trained on {trained_on!r})",
        )
    dims = (world.obs_dim, world.n_actions, len(world.sim_agents))
    learner, _ = load_checkpoint(Path(kind), device=device or "cpu", dims=dims)
    return learner


IGNORED_DIFFERENCES = ("policy", "learner", "episodes", "eval_episodes", "seed")
"""Scenario keys that say how a run is performed, not what world a policy acts in."""


def _flat(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, Mapping):
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(_flat(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: node}


def training_differences(card: Mapping[str, Any], scenario: Scenario) -> list[str]:
    """How ``scenario`` differs from the one the checkpoint's card says it was trained in: one
    ``key: trained → here`` line per dotted key (the policy, learner, episode counts and seed
    left out). Cards without the complete training scenario are compared on what they record
    (world parameters, gamma, overrides)."""
    here = _flat(scenario.canonical())
    trained_scenario = card.get("training_scenario")
    keys = set(here)
    if isinstance(trained_scenario, Mapping):
        trained = _flat(trained_scenario)
        keys |= set(trained)
    else:
        trained = _flat({"world": card.get("world", {}), "gamma": card.get("gamma")})
        for key, value in (card.get("overrides") or {}).items():
            trained.setdefault(key, value)
        trained = {k: v for k, v in trained.items() if k in here and v is not None}
        keys = set(trained)
    lines = []
    for key in sorted(keys):
        if key.split(".")[0] in IGNORED_DIFFERENCES:
            continue
        before, now = trained.get(key, "(absent)"), here.get(key, "(absent)")
        if before != now:
            lines.append(f"{key}: {before} → {now}")
    return lines
