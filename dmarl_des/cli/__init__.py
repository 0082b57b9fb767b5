"""The `dmarl` command: run, train, study, report on, view and animate scenario files."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from dmarl_des.errors import ConfigError

SUBCOMMANDS = ("run", "train", "study", "report", "view", "animate")
"""Each is a module ``dmarl_des.cli.<name>`` with ``add_parser(subparsers)``."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dmarl",
        description=(
            "Discrete-event simulation of decentralized multi-agent RL under lossy links and "
            "failing agents."
        ),
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"dmarl_des.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"dmarl_des.cli.{name}":
                raise
            continue
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # One BLAS and one torch thread pool each: two pools on few cores slow each other badly.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"dmarl: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        kept = exc.kept() if hasattr(exc, "kept") else getattr(args, "on_interrupt", "")
        print(f"dmarl: interrupted{'; ' + kept if kept else ''}", file=sys.stderr)
        return INTERRUPTED


INTERRUPTED = 130
"""Exit status after Ctrl-C (128 + SIGINT), with one line on stderr saying what was kept."""


if __name__ == "__main__":
    sys.exit(main())
