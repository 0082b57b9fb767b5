"""`dmarl report`: degradation curves of a study folder as PNG plots, report.md and a printed table."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "report",
        help="policies side by side and degradation curves of a study folder",
        description=(
            "Read a study folder's Parquet tables and write, under DIR/report/, report.md and its "
            "PNG plots: the swept policies side by side with their seed-paired differences from a "
            "reference policy, then per metric and swept key the mean and 95%% CI over seeds, the "
            "seed-paired change from the fault-free level, a graceful-degradation score and the "
            "breakdown point, and heatmaps of two numeric keys' interaction. Plots an earlier "
            "report wrote that this one no longer shows are removed."
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
    p.add_argument(
        "--compare",
        metavar="KEY",
        help="swept key whose levels are set side by side (default: policy when swept, else the "
        "first swept key with named levels)",
    )
    p.add_argument(
        "--reference",
        metavar="LEVEL",
        help="level of the compared key that the others are compared with, paired by seed "
        "(default: scripted when compared, else the first level)",
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
    if report.comparison.height:
        for metric in report.metrics:
            info = report.metrics[metric]
            print(f"\n{metric}: {info.meaning} ({info.direction})")
            print(report.comparison_table(metric))
        print("\ndegradation along each swept key:")
    if report.summary.height:
        print(report.table())
    else:
        print("no degradation curve: no completed run or no numeric swept key")
    print(f"\nreport: {report.folder / 'report.md'}")


def report_command(args: argparse.Namespace) -> int:
    import shlex

    from dmarl_des.report import write_report

    report = write_report(
        args.folder,
        metrics=args.metric,
        fraction=args.fraction,
        others=args.others,
        plots=not args.no_plots,
        compare=args.compare,
        reference=args.reference,
        command=shlex.join(["dmarl", *args.argv]) if hasattr(args, "argv") else None,
    )
    print_report(report)
    return 0
