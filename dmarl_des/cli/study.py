"""`dmarl study`: sweep a scenario file over a grid of overrides × seeds, in parallel, resumably."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from dmarl_des.cli.common import DEFAULT_OUT
from dmarl_des.errors import ConfigError
from dmarl_des.study.executors import CONNECT_TIMEOUT


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "study",
        help="run a scenario over a grid of overrides × seeds (resumable)",
        description=(
            "Run a scenario file over a grid of dotted-key overrides × seeds, in parallel, and "
            "report how each metric degrades along each swept key. Re-running the same command "
            "skips the runs already complete. Without --grid, the file's study() gives the grid."
        ),
    )
    p.add_argument("scenario", help="path to a scenario file (scenarios/NAME.py)")
    p.add_argument(
        "--grid",
        action="append",
        metavar="KEY=V1,V2,...",
        help="sweep a dotted key over values, e.g. net.loss.p=0,0.2,0.4 (repeatable)",
    )
    p.add_argument(
        "--seeds",
        metavar="N|S1,S2,...",
        help="number of seeds (0..N-1) or explicit seeds (default: study() or 3)",
    )
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="fix a dotted key for every run, e.g. n_agents=8 (repeatable)",
    )
    p.add_argument(
        "--policy",
        help="random | scripted | learner | path to a checkpoint folder (to compare several, "
        "sweep them: --grid policy=scripted,models/NAME)",
    )
    p.add_argument(
        "--learner",
        metavar="NAME",
        help="learner trained in each run (iql, ippo, vdn, qmix; sets policy=learner unless "
        "policy is given), or by the training runs with --train; its keys with --set learner.*",
    )
    p.add_argument("--eval-episodes", type=int, help="greedy episodes after training, per run")
    p.add_argument(
        "--train",
        action="append",
        metavar="KEY=V1,V2,...",
        help="train once per (training condition, seed) and evaluate each checkpoint across the "
        "grid: the training conditions (repeatable; e.g. net.loss.p=0,0.2)",
    )
    p.add_argument(
        "--train-set",
        action="append",
        metavar="KEY=VALUE",
        help="fix a dotted key for the training runs only, e.g. episodes=30 (repeatable)",
    )
    p.add_argument("--train-episodes", type=int, help="training episodes of each training run")
    p.add_argument("--name", help="study name (default: study() or the file name)")
    p.add_argument("--workers", type=int, help="parallel workers (default: CPU count; 1 = no pool)")
    p.add_argument(
        "--executor",
        choices=("local", "dask"),
        default="local",
        help="local process pool (default) or Dask distributed",
    )
    p.add_argument(
        "--address", help="Dask scheduler address, e.g. tcp://host:8786 (with --executor dask)"
    )
    p.add_argument(
        "--connect-timeout",
        type=float,
        default=CONNECT_TIMEOUT,
        metavar="SECONDS",
        help=f"give up on a scheduler at --address that does not answer (default {CONNECT_TIMEOUT:g})",
    )
    p.add_argument("--out", help=f"output folder (default {DEFAULT_OUT}/studies/<study name>)")
    p.add_argument("--no-report", action="store_true", help="do not write the degradation report")
    p.add_argument(
        "--reference",
        metavar="LEVEL",
        help="the policy (level of the compared key) others are compared with (default: "
        "scripted when swept, else the first)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=study_command, on_interrupt="no run was started")


def parse_seeds(text: str | None) -> int | list[int] | None:
    """``"5"`` → 5 seeds (0..4); ``"0,3,7"`` → those seeds."""
    if text is None:
        return None
    try:
        if "," in text:
            return [int(part) for part in text.split(",") if part.strip()]
        return int(text)
    except ValueError:
        raise ConfigError("--seeds", text, "a count N or seeds S1,S2,... (integers)") from None


def parse_grids(texts: list[str] | None) -> dict[str, tuple[Any, ...]] | None:
    """``["a=1,2", "b=x,y"]`` → {"a": (1, 2), "b": ("x", "y")}; None when no --grid is given."""
    from dmarl_des.scenario.overrides import parse_grid

    if not texts:
        return None
    grid: dict[str, tuple[Any, ...]] = {}
    for text in texts:
        key, values = parse_grid(text)
        if key in grid:
            raise ConfigError("--grid", text, f"each key once ({key} is already swept)")
        grid[key] = values
    return grid


def study_command(args: argparse.Namespace) -> int:
    import shlex

    import polars as pl

    from dmarl_des.log import check_output_folder
    from dmarl_des.study import load_study, run_study

    if args.out:
        check_output_folder(args.out, "--out")
    grid = parse_grids(args.grid)
    base, training = study_overrides(args, grid)
    study = load_study(
        args.scenario,
        grid=grid,
        seeds=parse_seeds(args.seeds),
        base_overrides=base,
        name=args.name,
        training=training,
    )
    out = Path(args.out) if args.out else DEFAULT_OUT / "studies" / study.name
    check_output_folder(out, "--out")
    n_train, n_runs = study.check()
    shown = study.levels()
    grid_text = " × ".join(f"{k} {list(v)}" for k, v in shown.items()) or "no grid"
    trains = f"{n_train} training runs, then " if n_train else ""
    print(
        f"study {study.name}: {trains}{n_runs} runs = {grid_text} × {len(study.seeds)} seeds "
        f"-> {out}"
    )
    command = shlex.join(["dmarl", *args.argv]) if hasattr(args, "argv") else None
    result = run_study(
        study,
        out,
        executor=args.executor,
        workers=args.workers,
        address=args.address,
        progress=not args.quiet,
        connect_timeout=args.connect_timeout,
        command=command,
    )
    with pl.Config(tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True, tbl_cols=-1):
        print(result.summary())
    if result.damaged:
        print(result.damage_report(), file=sys.stderr)
    if result.failed:
        print(result.failure_report(), file=sys.stderr)
    if not args.no_report:
        from dmarl_des.cli.report import print_report
        from dmarl_des.report import write_report

        try:
            print_report(write_report(out, reference=args.reference))
        except ConfigError as exc:
            print(f"dmarl: no report: {exc}", file=sys.stderr)
    return 0 if result.ok else 1


def study_overrides(
    args: argparse.Namespace, grid: dict[str, tuple[Any, ...]] | None
) -> tuple[dict[str, Any], Any]:
    """The base overrides and the training plan (None unless --train* is given) of the command."""
    from dmarl_des.scenario import parse_assignment
    from dmarl_des.study.plan import Training
    from dmarl_des.study.scenarios import LEARNER_NAME, is_learner_key

    base: dict[str, Any] = dict(parse_assignment(t) for t in (args.set or []))
    if args.policy is not None:
        base["policy"] = args.policy
    if args.eval_episodes is not None:
        base["eval_episodes"] = args.eval_episodes
    trains = args.train or args.train_set or args.train_episodes is not None
    if args.learner is not None:
        base[LEARNER_NAME] = args.learner
        swept = grid is not None and "policy" in grid
        if not trains and "policy" not in base and not swept:
            base["policy"] = "learner"
    if not trains:
        return base, None
    overrides: dict[str, Any] = dict(parse_assignment(t) for t in (args.train_set or []))
    if args.train_episodes is not None:
        overrides["episodes"] = args.train_episodes
    for key in [k for k in base if is_learner_key(k)]:
        overrides.setdefault(key, base.pop(key))
    return base, Training(parse_grids(args.train) or {}, overrides)
