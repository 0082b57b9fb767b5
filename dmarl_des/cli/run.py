"""`dmarl run`: simulate a scenario file, show progress, print a summary, write the tables."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dmarl_des.cli.common import DEFAULT_OUT, add_scenario_arguments, scenario_from_args


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "run",
        help="simulate a scenario and write its tables",
        description="Simulate a scenario file and write its runs/episodes/agents tables as Parquet.",
    )
    add_scenario_arguments(p)
    p.add_argument("--policy", help="random | scripted | learner | path to a checkpoint folder")
    p.add_argument("--out", help=f"output folder (default {DEFAULT_OUT}/runs/<scenario name>)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(
        func=run_command,
        on_interrupt="no table written (a run writes its tables when it ends)",
    )


def print_summary(frames: dict[str, Any], out: Path | None) -> None:
    """Episodes, mean return, decisions, simulated and wall time, per phase."""
    import polars as pl

    summary = (
        frames["episodes"]
        .group_by("phase", maintain_order=True)
        .agg(
            pl.len().alias("episodes"),
            pl.col("team_return").mean().alias("mean_return"),
            pl.col("discounted_return").mean().alias("mean_disc_return"),
            pl.col("success").mean().alias("success_rate"),
            pl.col("n_decisions").sum().alias("decisions"),
            pl.col("sim_time").sum().alias("sim_time"),
            pl.col("wall_s").sum().alias("wall_s"),
        )
    )
    with pl.Config(
        tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True, float_precision=3
    ):
        print(summary)
    runs = frames["runs"]
    print(f"run {runs['run_id'][0]}: status {runs['status'][0]}, wall {runs['wall_s'][0]:.2f} s")
    if out is not None:
        print(f"tables under {out}/ — e.g. pl.scan_parquet('{out}/episodes/**/*.parquet')")


def print_training_differences(scenario: Any) -> None:
    """When the policy is a checkpoint: how this scenario differs from its training scenario."""
    from dmarl_des.scenario.model import POLICY_KINDS

    if scenario.policy in POLICY_KINDS:
        return
    from dmarl_des.learn.checkpoint import read_card
    from dmarl_des.study.policies import training_differences

    card = read_card(scenario.policy)
    lines = training_differences(card, scenario)
    trained = f"scenario {card.get('scenario', '?')!r}, seed {card.get('seed', '?')}"
    if not lines:
        print(f"policy {scenario.policy} (trained in {trained}): same world and conditions")
        return
    print(f"policy {scenario.policy} (trained in {trained}) is evaluated where:")
    for line in lines:
        print(f"  {line}")


def run_command(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from dmarl_des.log import check_file_name, check_output_folder
    from dmarl_des.study import run_scenario

    if args.out:
        check_output_folder(args.out, "--out")
    scenario, overrides = scenario_from_args(args)
    print_training_differences(scenario)
    default = DEFAULT_OUT / "runs" / check_file_name("name", scenario.name)
    out = Path(args.out) if args.out else default
    check_output_folder(out, "--out")
    total = scenario.episodes + scenario.eval_episodes
    with tqdm(total=total, desc=scenario.name, unit="ep", disable=args.quiet) as bar:

        def progress(row: dict[str, Any]) -> None:
            bar.set_postfix(ret=f"{row['team_return']:.2f}", refresh=False)
            bar.update(1)

        result = run_scenario(
            scenario, out=out, params=overrides, device=args.device, progress=progress
        )
    print_summary(result.frames, out)
    return 0 if result.status == "ok" else 1
