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
    p.add_argument("--policy", help="random | scripted | learner | path to a checkpoint folder")
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
    import polars as pl

    from dmarl_des.log import check_output_folder
    from dmarl_des.scenario import parse_assignment
    from dmarl_des.study import load_study, run_study

    if args.out:
        check_output_folder(args.out, "--out")
    base: dict[str, Any] = dict(parse_assignment(t) for t in (args.set or []))
    if args.policy is not None:
        base["policy"] = args.policy
    study = load_study(
        args.scenario,
        grid=parse_grids(args.grid),
        seeds=parse_seeds(args.seeds),
        base_overrides=base,
        name=args.name,
    )
    out = Path(args.out) if args.out else DEFAULT_OUT / "studies" / study.name
    check_output_folder(out, "--out")
    specs = study.runs()
    grid = " × ".join(f"{k} {list(v)}" for k, v in study.grid.items()) or "no grid"
    print(f"study {study.name}: {len(specs)} runs = {grid} × {len(study.seeds)} seeds -> {out}")
    result = run_study(
        study,
        out,
        executor=args.executor,
        workers=args.workers,
        address=args.address,
        progress=not args.quiet,
        connect_timeout=args.connect_timeout,
    )
    with pl.Config(tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True):
        print(result.summary())
    if result.damaged:
        print(result.damage_report(), file=sys.stderr)
    if result.failed:
        print(result.failure_report(), file=sys.stderr)
    if not args.no_report:
        from dmarl_des.cli.report import print_report
        from dmarl_des.report import write_report

        try:
            print_report(write_report(out))
        except ConfigError as exc:
            print(f"dmarl: no report: {exc}", file=sys.stderr)
    return 0 if result.ok else 1
