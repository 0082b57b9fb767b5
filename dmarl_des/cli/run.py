"""The `dmarl` command: run, train, study and report on scenario files."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dmarl_des.errors import ConfigError

DEFAULT_OUT = Path("data")


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    from dmarl_des.scenario import parse_assignment

    values = dict(parse_assignment(text) for text in (args.set or []))
    for key in ("episodes", "seed"):
        value = getattr(args, key, None)
        if value is not None:
            values[key] = value
    policy = getattr(args, "policy", None)
    if policy is not None:
        values["policy"] = policy
    return values


def _scenario(args: argparse.Namespace, extra: dict[str, Any] | None = None):
    from dmarl_des.scenario import load_scenario

    overrides = _overrides(args)
    overrides.update(extra or {})
    learner_name = getattr(args, "learner", None)
    policy = overrides.pop("policy", None)
    scenario = load_scenario(args.scenario, {})
    if learner_name is not None:
        from dmarl_des.learn.registry import learner_config

        scenario = scenario.with_learner(learner_config(learner_name, {}))
    if policy is not None:
        overrides["policy"] = policy
    return scenario.with_overrides(overrides), overrides


def _print_summary(frames: dict[str, Any], out: Path | None) -> None:
    import polars as pl

    episodes = frames["episodes"]
    runs = frames["runs"]
    summary = episodes.group_by("phase", maintain_order=True).agg(
        pl.len().alias("episodes"),
        pl.col("team_return").mean().alias("mean_return"),
        pl.col("discounted_return").mean().alias("mean_disc_return"),
        pl.col("success").mean().alias("success_rate"),
        pl.col("n_decisions").sum().alias("decisions"),
        pl.col("sim_time").sum().alias("sim_time"),
        pl.col("wall_s").sum().alias("wall_s"),
    )
    with pl.Config(tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True, float_precision=3):
        print(summary)
    print(f"run {runs['run_id'][0]}: status {runs['status'][0]}, wall {runs['wall_s'][0]:.2f} s")
    if out is not None:
        print(f"tables written under {out}/<table>/ (read with pl.scan_parquet('{out}/episodes/**/*.parquet'))")


def cmd_run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from dmarl_des.study import run_scenario

    scenario, overrides = _scenario(args)
    out = Path(args.out) if args.out else DEFAULT_OUT / "runs" / scenario.name
    total = scenario.episodes + scenario.eval_episodes
    with tqdm(total=total, desc=scenario.name, unit="ep", disable=args.quiet) as bar:

        def progress(row: dict[str, Any]) -> None:
            bar.set_postfix(ret=f"{row['team_return']:.2f}", refresh=False)
            bar.update(1)

        result = run_scenario(scenario, out=out, params=overrides, device=args.device, progress=progress)
    _print_summary(result.frames, out)
    return 0 if result.status == "ok" else 1


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", help="path to a scenario file (scenarios/NAME.py)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a dotted key (repeatable)")
    p.add_argument("--episodes", type=int, help="number of episodes")
    p.add_argument("--seed", type=int, help="root seed of the run")
    p.add_argument("--device", help="torch device for learners and policies (cpu, cuda)")
    p.add_argument("--learner", help="learner name (see docs/learners.md)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dmarl",
        description="Discrete-event simulation of decentralized multi-agent RL under lossy links and failing agents.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="simulate a scenario and write its tables",
                       description="Simulate a scenario file and write runs/episodes/agents tables as Parquet.")
    _add_common(p)
    p.add_argument("--policy", help="random | scripted | learner | path to a checkpoint folder")
    p.add_argument("--out", help=f"output folder (default {DEFAULT_OUT}/runs/<scenario name>)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"dmarl: configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
