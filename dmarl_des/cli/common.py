"""Arguments and scenario loading shared by the `dmarl` subcommands."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dmarl_des.scenario import Scenario

DEFAULT_OUT = Path("data")


def add_scenario_arguments(p: argparse.ArgumentParser) -> None:
    """SCENARIO, --set, --episodes, --seed, --device, --learner."""
    p.add_argument("scenario", help="path to a scenario file (scenarios/NAME.py)")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a dotted scenario key, e.g. world.grid_size=8 (repeatable)",
    )
    p.add_argument("--episodes", type=int, help="number of episodes")
    p.add_argument("--seed", type=int, help="root seed of the run")
    p.add_argument("--device", help="torch device for learners and policies (cpu, cuda)")
    p.add_argument("--learner", help="learner name (see docs/learners.md)")


def scenario_from_args(
    args: argparse.Namespace, extra: dict[str, Any] | None = None
) -> tuple[Scenario, dict[str, Any]]:
    """The scenario file with --learner, --set, --episodes, --seed and --policy applied."""
    from dmarl_des.scenario import load_scenario, parse_assignment

    overrides: dict[str, Any] = dict(parse_assignment(t) for t in (args.set or []))
    for key in ("episodes", "seed", "policy"):
        value = getattr(args, key, None)
        if value is not None:
            overrides[key] = value
    overrides.update(extra or {})
    scenario = load_scenario(args.scenario)
    learner_name = getattr(args, "learner", None) or overrides.pop("learner.name", None)
    if learner_name is not None:
        from dmarl_des.study.scenarios import with_learner_named

        values = {"device": args.device} if getattr(args, "device", None) else {}
        scenario = with_learner_named(scenario, learner_name, values)
        overrides["learner.name"] = learner_name
    applied = {k: v for k, v in overrides.items() if k != "learner.name"}
    return scenario.with_overrides(applied), overrides
