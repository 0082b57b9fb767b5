"""`dmarl report`: degradation curves of a study folder as PNG plots, report.md and a printed table."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "report",
        help="degradation curves and table of a study folder",
        description=(
            "Read a study folder's Parquet tables and write, under DIR/report/, one PNG per metric "
            "and swept key and report.md: mean and 95%% CI over seeds, seed-paired change from the "
            "fault-free level, a graceful-degradation score and the breakdown point."
        ),
    )
    p.add_argument("folder", metavar="DIR", help="a study output folder (holding runs/)")
    p.add_argument(
        "--metric",
        action="append",
        metavar="TABLE.COLUMN",
        help="metric to analyse (repeatable; default: episodes.team_return, "
        "episodes.discounted_return, episodes.success)",
    )
    p.add_argument(
        "--fraction",
        type=float,
        default=0.5,
        help="breakdown when the mean falls below this share of the fault-free level",
    )
    p.add_argument(
        "--others",
        choices=("hold", "group"),
        default="hold",
        help="other swept keys: hold at their lowest level, or one curve per level",
    )
    p.add_argument("--no-plots", action="store_true", help="Markdown only")
    p.set_defaults(func=report_command)


def print_report(report: Any) -> None:
    """The degradation table and where the files are; damaged runs left out (on stderr)."""
    import sys

    for line in report.skipped:
        print(f"dmarl: skipped a damaged run: {line}", file=sys.stderr)
    skipped = f", {len(report.skipped)} skipped (damaged)" if report.skipped else ""
    print(f"\n{report.n_ok} runs ok, {report.n_failed} failed{skipped}")
    if report.summary.height:
        print(report.table())
    else:
        print("no degradation curve: no completed run or no numeric swept key")
    print(f"\nreport: {report.folder / 'report.md'}")


def report_command(args: argparse.Namespace) -> int:
    from dmarl_des.report import write_report

    report = write_report(
        args.folder,
        metrics=args.metric,
        fraction=args.fraction,
        others=args.others,
        plots=not args.no_plots,
    )
    print_report(report)
    return 0
