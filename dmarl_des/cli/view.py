"""`dmarl view`: watch a scenario run live in the browser (a Mesa SolaraViz page; the viz extra)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "view",
        help="watch a scenario run live in the browser (needs the viz extra)",
        description=(
            "Serve a live view of a scenario file: agents in their space coloured by role, the "
            "links up, the messages lost, the world's map, live plots of the return and the "
            "delivery rate; play/pause/step and the fault knobs. Needs the viz extra: "
            "pip install 'dmarl_des[viz]'. Stop it with Ctrl-C."
        ),
    )
    p.add_argument("scenario", help="path to a scenario file (scenarios/NAME.py)")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a dotted scenario key, e.g. faults.crash.fraction=0.3 (repeatable)",
    )
    p.add_argument("--seed", type=int, help="root seed of the run")
    p.add_argument("--episodes", type=int, help="number of episodes")
    p.add_argument("--policy", help="random | scripted | learner | path to a checkpoint folder")
    p.add_argument(
        "--interval", type=float, default=1.0, help="simulated time per step (default 1)"
    )
    p.add_argument("--host", default="localhost", help="address to listen on (default localhost)")
    p.add_argument("--port", type=int, default=8765, help="port to listen on (default 8765)")
    p.set_defaults(func=view_command, on_interrupt="the view stopped")


def view_command(args: argparse.Namespace) -> int:
    from dmarl_des.errors import ConfigError
    from dmarl_des.scenario import load_scenario, parse_assignment

    overrides: dict[str, Any] = dict(parse_assignment(t) for t in (args.set or []))
    for key in ("episodes", "seed", "policy"):
        value = getattr(args, key, None)
        if value is not None:
            overrides[key] = value
    load_scenario(args.scenario, overrides)  # a bad scenario is refused before serving
    if not args.interval > 0:
        raise ConfigError("--interval", args.interval, "simulated time > 0")
    missing = [m for m in ("solara", "mesa.visualization") if not _importable(m)]
    if missing:
        print(
            f"dmarl view needs the viz extra ({', '.join(missing)} missing): "
            "pip install 'dmarl_des[viz]'",
            file=sys.stderr,
        )
        return 2
    env = {
        **os.environ,
        "DMARL_VIEW_SCENARIO": str(Path(args.scenario).resolve()),
        "DMARL_VIEW_OVERRIDES": json.dumps(overrides, default=str),
        "DMARL_VIEW_INTERVAL": repr(float(args.interval)),
    }
    print(f"dmarl view: http://{args.host}:{args.port}  (Ctrl-C stops it)", flush=True)
    cmd = [sys.executable, "-m", "solara", "run", "dmarl_des.viz.app", "--production"]
    cmd += ["--no-open", "--host", args.host, "--port", str(args.port)]
    return subprocess.call(cmd, env=env)


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False
