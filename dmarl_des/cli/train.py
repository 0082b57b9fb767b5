"""`dmarl train`: train a learner inside a scenario and save a checkpoint under models/<name>/."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dmarl_des.cli.common import DEFAULT_OUT, add_scenario_arguments, scenario_from_args
from dmarl_des.cli.run import print_summary
from dmarl_des.errors import ConfigError

DEFAULT_MODELS = Path("models")


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "train",
        help="train a learner in a scenario and save a checkpoint",
        description=(
            "Train the scenario's learner (or --learner NAME) for --episodes episodes, then save "
            "weights.pt and card.json under models/<name>/. Evaluate later with "
            "`dmarl run SCENARIO --policy models/<name>`."
        ),
    )
    add_scenario_arguments(p)
    p.add_argument("--name", help="checkpoint name (default <scenario>-<learner>)")
    p.add_argument("--models", default=str(DEFAULT_MODELS), help="folder of checkpoints")
    p.add_argument("--eval-episodes", type=int, help="greedy episodes after training")
    p.add_argument("--out", help=f"tables folder (default {DEFAULT_OUT}/train/<name>)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing checkpoint of the same name (refused otherwise)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=train_command, on_interrupt="no checkpoint saved, no table written")


def train_command(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from dmarl_des.learn.checkpoint import CARD_FILE, WEIGHTS_FILE, save_checkpoint
    from dmarl_des.log import check_file_name, check_output_folder
    from dmarl_des.study import run_scenario
    from dmarl_des.study.training import checkpoint_card

    extra: dict[str, Any] = {"policy": "learner"}
    if args.eval_episodes is not None:
        extra["eval_episodes"] = args.eval_episodes
    scenario, overrides = scenario_from_args(args, extra)
    if scenario.learner is None:
        raise ConfigError("--learner", None, "a learner name (the scenario configures none)")
    name = check_file_name("--name", args.name or f"{scenario.name}-{scenario.learner.name}")
    folder = check_output_folder(Path(args.models) / name, "--models")
    if not args.overwrite and any((folder / f).exists() for f in (CARD_FILE, WEIGHTS_FILE)):
        raise ConfigError(
            "--name",
            name,
            f"a new checkpoint name ({folder} holds one; --overwrite replaces it, and studies "
            "then redo the runs that used it)",
        )
    out = check_output_folder(Path(args.out) if args.out else DEFAULT_OUT / "train" / name, "--out")
    total = scenario.episodes + scenario.eval_episodes
    with tqdm(total=total, desc=f"train {name}", unit="ep", disable=args.quiet) as bar:

        def progress(row: dict[str, Any]) -> None:
            bar.set_postfix(ret=f"{row['team_return']:.2f}", refresh=False)
            bar.update(1)

        result = run_scenario(
            scenario,
            out=out,
            params=overrides,
            device=args.device,
            keep_world=True,
            progress=progress,
        )
    assert result.world is not None and result.world.policy is not None
    folder = save_checkpoint(
        folder, result.world.policy, checkpoint_card(result.frames, scenario, overrides)
    )
    print_summary(result.frames, out)
    print(f"checkpoint saved to {folder}")
    return 0 if result.status == "ok" else 1
