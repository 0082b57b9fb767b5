"""`dmarl train`: train a learner inside a scenario, evaluate it as it learns, and save the last and
the best checkpoint under models/<name>/ (and models/<name>/best/)."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

from dmarl_des.cli.common import DEFAULT_OUT, add_scenario_arguments, scenario_from_args
from dmarl_des.cli.run import print_summary
from dmarl_des.errors import ConfigError

DEFAULT_MODELS = Path("models")
BEST = "best"
"""Subfolder of a checkpoint holding the one of the best evaluation round."""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "train",
        help="train a learner in a scenario and save a checkpoint",
        description=(
            "Train the scenario's learner (or --learner NAME) for --episodes episodes (or until "
            "--time runs out), evaluate it greedily every --eval-every episodes and at the end, "
            "then save weights.pt and card.json under models/<name>/ (the last) and "
            "models/<name>/best/ (the best evaluation round). Evaluate later with "
            "`dmarl run SCENARIO --policy models/<name>`."
        ),
    )
    add_scenario_arguments(p)
    p.add_argument("--name", help="checkpoint name (default <scenario>-<learner>)")
    p.add_argument("--models", default=str(DEFAULT_MODELS), help="folder of checkpoints")
    p.add_argument(
        "--eval-episodes",
        type=int,
        help="greedy episodes per evaluation round (default 1 with --eval-every, else 0)",
    )
    p.add_argument(
        "--eval-every",
        type=int,
        default=0,
        metavar="K",
        help="evaluate greedily every K training episodes (phase = eval rows); the best round's "
        "checkpoint is kept in models/<name>/best/",
    )
    p.add_argument(
        "--time",
        type=float,
        metavar="SECONDS",
        help="wall-clock budget: stop training after the episode that exceeds it, then evaluate "
        "(without --episodes: as many episodes as fit)",
    )
    p.add_argument(
        "--tensorboard",
        metavar="DIR",
        help="also write TensorBoard scalars under DIR (needs the tensorboard extra)",
    )
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

    from dmarl_des.bounds import MAX_EPISODES
    from dmarl_des.learn.checkpoint import CARD_FILE, WEIGHTS_FILE, save_checkpoint
    from dmarl_des.log import check_file_name, check_output_folder
    from dmarl_des.study import run_scenario
    from dmarl_des.study.schedule import TrainingSchedule
    from dmarl_des.study.training import base_card, checkpoint_card

    extra: dict[str, Any] = {"policy": "learner"}
    per_round = args.eval_episodes if args.eval_episodes is not None else 1
    if args.eval_episodes is not None or args.eval_every:
        extra["eval_episodes"] = per_round
    if args.time is not None and args.episodes is None:
        extra["episodes"] = MAX_EPISODES
    schedule = TrainingSchedule(args.eval_every, max(per_round, 1), args.time)
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
    state: dict[str, Any] = {"world": None, "best": None, "scalars": None}
    total = None if args.time is not None and args.episodes is None else scenario.episodes
    bar = tqdm(total=total, desc=f"train {name}", unit="ep", disable=args.quiet)

    def on_start(world: Any) -> None:
        state["world"] = world
        if args.tensorboard:
            from dmarl_des.log.scalars import TensorBoardScalars

            state["scalars"] = TensorBoardScalars(args.tensorboard, world.recorder)

    def progress(row: dict[str, Any]) -> None:
        if state["scalars"] is not None:
            state["scalars"].episode(row)
        if row["phase"] == "train":
            bar.set_postfix(ret=f"{row['team_return']:.3g}", **_eval_postfix(state), refresh=False)
            bar.update(1)

    def on_evaluation(evaluation: Any) -> None:
        mean = evaluation.mean_return
        if state["scalars"] is not None:
            state["scalars"].evaluation(evaluation.trained_episodes, mean)
        state["last_eval"] = mean
        if state["best"] is None or mean > state["best"][0]:
            state["best"] = (mean, evaluation.trained_episodes)
            card = base_card(scenario, overrides, evaluation.trained_episodes)
            card["metrics"] = {
                "mean_return": mean,
                "episodes_measured": len(evaluation.rows),
                "phase_measured": "eval",
                "trained_episodes": evaluation.trained_episodes,
            }
            save_checkpoint(folder / BEST, state["world"].policy, card)
        bar.set_postfix(**_eval_postfix(state), refresh=True)

    if args.overwrite:
        shutil.rmtree(folder / BEST, ignore_errors=True)  # no best of an earlier training
    try:
        result = run_scenario(
            scenario,
            out=out,
            params=overrides,
            device=args.device,
            keep_world=True,
            progress=progress,
            schedule=schedule,
            on_evaluation=on_evaluation,
            on_start=on_start,
        )
    finally:
        bar.close()
        if state["scalars"] is not None:
            state["scalars"].close()
    assert result.world is not None and result.world.policy is not None
    folder = save_checkpoint(
        folder, result.world.policy, checkpoint_card(result.frames, scenario, overrides)
    )
    print_summary(result.frames, out)
    print(f"checkpoint saved to {folder} (the last)")
    if state["best"] is not None:
        mean, episodes = state["best"]
        print(
            f"best evaluation: mean return {mean:.4g} after {episodes} training episodes, "
            f"saved to {folder / BEST}"
        )
    return 0 if result.status == "ok" else 1


def _eval_postfix(state: dict[str, Any]) -> dict[str, str]:
    """The latest and the best evaluation return, for the progress bar."""
    out = {}
    if "last_eval" in state:
        out["eval"] = f"{state['last_eval']:.3g}"
    if state["best"] is not None:
        out["best"] = f"{state['best'][0]:.3g}"
    return out
