"""Learning benchmark: Mac-IQL and Mac-IPPO on Box Pushing 8×8 against the scripted policy, and
Mac-IPPO on coverage (200 UAVs) against the random policy.

Run: ``python benchmarks/bench_learning.py`` (15 minutes of training per Box Pushing learner, the
two learners in parallel, one torch/BLAS thread each, then about a minute of coverage), or
``--quick`` for a one-minute smoke version. Box Pushing is the two-agent task of
``scenarios/box_pushing.py`` (8×8, horizon 100, γ = 0.98). The learners are evaluated at intervals
of wall time with greedy episodes (``phase="eval"``: ``explore=False``, no learning); the world
and the greedy policies are deterministic, so one evaluation episode is exact. Prints each
learning curve (training episodes, wall time, mean greedy discounted return, the scripted
reference), the time to reach 90 % of the scripted return, and a summary side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
BOX_PUSHING = ROOT / "scenarios" / "box_pushing.py"
COVERAGE = ROOT / "scenarios" / "coverage.py"
TARGET = 0.9
"""Share of the scripted policy's discounted return a learner must reach."""

BOX_PUSHING_SETTINGS: dict[str, dict[str, Any]] = {
    "iql": {  # Dec-HDDRQN-like: own GRU per agent, sequence replay, hysteretic β 0.2 -> 0.4
        "params": "per_agent",
        "network": "gru",
        "hidden": 32,
        "trace_len": 10,
        "hysteretic_beta": 0.2,
        "hysteretic_beta_end": 0.4,
        "hysteretic_decay": 300_000,  # per agent (2 agents: 600 000 decisions in all)
        "eps_decay": 300_000,
        "grad_clip": 1000.0,
        "loss": "mse",
        "lr": 1e-3,
        "train_every": 8,
        "target_every": 200,
        "buffer_size": 100_000,
    },
    "ippo": {  # own network per agent, state critic (training only), lenient updates
        "params": "per_agent",
        "critic": "state",
        "explore_eps": 0.5,
        "explore_eps_end": 0.5,
        "value_beta": 0.05,
        "advantage_slope": 0.0,
        "gae_lambda": 0.5,
        "update_every": 4096,
        "grad_clip": 100.0,
        "lr": 3e-4,
    },
}
"""Learner keys (``learner.*``) used on Box Pushing (the learners' defaults otherwise)."""

EVAL_EPISODE_BASE = 1_000_000
"""Evaluation episodes are numbered from here: the same episode seeds for every policy."""

COVERAGE_SETTINGS: dict[str, Any] = {"lr": 1e-3, "gae_lambda": 0.5, "epochs": 8, "ent_coef": 0.03}
"""Mac-IPPO keys on coverage: one update per episode (10,000 transitions of 200 UAVs)."""
COVERAGE_OVERRIDES: dict[str, Any] = {"n_agents": 200, "horizon": 50.0}


def _setup_threads() -> None:
    import torch

    torch.set_num_threads(1)


def _world(scenario):
    from dmarl_des.study.policies import build_policy
    from dmarl_des.worlds import world_class

    world = world_class(scenario.world)(scenario)
    world.policy = build_policy(scenario, world)
    return world


def fixed_policy_return(
    scenario, policy: str, episodes: int, first_episode: int = EVAL_EPISODE_BASE
) -> dict:
    """Mean (discounted) team return of the random or scripted policy over greedy episodes."""
    world = _world(scenario.with_overrides({"policy": policy}))
    rows = [world.run_episode(first_episode + k, "eval") for k in range(episodes)]
    return _mean_rows(rows)


def _mean_rows(rows: list[dict]) -> dict:
    n = len(rows)
    return {
        "discounted_return": sum(r["discounted_return"] for r in rows) / n,
        "team_return": sum(r["team_return"] for r in rows) / n,
        "success": sum(bool(r["success"]) for r in rows) / n,
    }


class Training:
    """A learner training inside one world, evaluated on demand with greedy episodes.

    Evaluation episodes do not touch the learner's state (no learning, no exploration draws), so
    the training run is the same whatever the evaluation cadence.
    """

    def __init__(self, scenario, learner: str, settings: dict[str, Any], eval_episodes: int):
        from dmarl_des.learn import learner_config

        scenario = scenario.with_learner(learner_config(learner, settings))
        self.world = _world(scenario.with_overrides({"policy": "learner"}))
        self.eval_episodes = eval_episodes
        self.episodes = 0
        self.start = time.perf_counter()

    @property
    def wall_s(self) -> float:
        return time.perf_counter() - self.start

    def train(self, episodes: int) -> None:
        for _ in range(episodes):
            self.world.run_episode(self.episodes, "train")
            self.episodes += 1

    def evaluate(self, first_episode: int = EVAL_EPISODE_BASE) -> dict:
        """One curve point: training episodes so far, wall seconds, mean greedy returns."""
        rows = [
            self.world.run_episode(first_episode + k, "eval") for k in range(self.eval_episodes)
        ]
        return {"episodes": self.episodes, "wall_s": self.wall_s, **_mean_rows(rows)}

    def curve(self, budget_s: float, eval_every_s: float, stop_at: float | None):
        """Train for ``budget_s`` of wall time; yields a curve point at the start and every
        ``eval_every_s``; stops early once the greedy discounted return reaches ``stop_at``."""
        point = self.evaluate()
        yield point
        next_eval = point["wall_s"] + eval_every_s
        while True:
            self.train(1)
            now = self.wall_s
            if now >= next_eval or now >= budget_s:
                point = self.evaluate()
                yield point
                next_eval = point["wall_s"] + eval_every_s
                reached = stop_at is not None and point["discounted_return"] >= stop_at
                if now >= budget_s or reached:
                    return


# --------------------------------------------------------------------------- one process each
def child_box_pushing(args: argparse.Namespace) -> None:
    """Runs in its own process: one learner's curve on Box Pushing, one JSON line per point."""
    from dmarl_des.scenario import load_scenario

    _setup_threads()
    scenario = load_scenario(BOX_PUSHING, {"seed": args.seed})
    base = BOX_PUSHING_SETTINGS.get(args.child, {"agent_feature": "agent_id"})
    settings = {**base, **json.loads(args.settings or "{}")}
    scripted = fixed_policy_return(scenario, "scripted", 1)["discounted_return"]
    stop_at = None if args.full else TARGET * scripted
    training = Training(scenario, args.child, settings, args.eval_episodes)
    for point in training.curve(args.budget, args.eval_every, stop_at):
        print(json.dumps({"learner": args.child, "scripted": scripted, **point}), flush=True)


def spawn(
    learner: str, args: argparse.Namespace, sink: list[dict]
) -> tuple[subprocess.Popen, threading.Thread]:
    """Start one learner's training process and a thread printing its curve points."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        __file__,
        "--child",
        learner,
        "--budget",
        str(args.budget),
        "--eval-every",
        str(args.eval_every),
        "--eval-episodes",
        str(args.eval_episodes),
        "--seed",
        str(args.seed),
    ]
    if args.full:
        cmd.append("--full")
    if args.settings:
        cmd += ["--settings", args.settings]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            point = json.loads(line)
            sink.append(point)
            share = point["discounted_return"] / point["scripted"]
            print(
                f"  [{learner}] {point['episodes']:>7} episodes {point['wall_s']:>7.1f} s  "
                f"eval {point['discounted_return']:>8.2f} ({100 * share:5.1f} % of scripted)",
                flush=True,
            )

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return proc, reader


def time_to_target(curve: list[dict]) -> dict | None:
    """The first curve point at or above TARGET × the scripted return."""
    for point in curve:
        if point["discounted_return"] >= TARGET * point["scripted"]:
            return point
    return None


def print_curve(learner: str, curve: list[dict]) -> None:
    print(f"\n{learner}: learning curve (greedy evaluation, Box Pushing 8×8)")
    print(f"{'episodes':>9}{'wall s':>9}{'eval return':>13}{'scripted':>10}{'% scripted':>12}")
    for p in curve:
        print(
            f"{p['episodes']:>9}{p['wall_s']:>9.1f}{p['discounted_return']:>13.2f}"
            f"{p['scripted']:>10.2f}{100 * p['discounted_return'] / p['scripted']:>11.1f}%"
        )


def box_pushing(args: argparse.Namespace) -> list[tuple[str, list[dict]]]:
    learners = args.learners.split(",")
    curves = {name: [] for name in learners}
    print(
        f"Box Pushing 8×8: {', '.join(learners)}; {args.budget:g} s of wall time each, "
        f"{args.parallel} at once, greedy evaluation every {args.eval_every:g} s"
    )
    pending = list(learners)
    running: list[tuple[subprocess.Popen, threading.Thread]] = []
    while pending or running:
        while pending and len(running) < args.parallel:
            name = pending.pop(0)
            running.append(spawn(name, args, curves[name]))
        time.sleep(0.5)
        for proc, reader in [r for r in running if r[0].poll() is not None]:
            running.remove((proc, reader))
            reader.join()
            if proc.returncode != 0:
                raise SystemExit(f"a training process failed (exit {proc.returncode})")
    return [(name, curves[name]) for name in learners]


def summary(results: list[tuple[str, list[dict]]]) -> None:
    print("\nSummary: Box Pushing 8×8, greedy discounted return vs the scripted policy")
    header = (
        f"{'learner':<8}{'episodes':>10}{'wall s':>9}{'final eval':>12}{'best eval':>11}"
        f"{'% scripted':>12}{'time to 90%':>13}"
    )
    print(header)
    print("-" * len(header))
    for name, curve in results:
        last = curve[-1]
        best = max(p["discounted_return"] for p in curve)
        hit = time_to_target(curve)
        reached = f"{hit['wall_s']:.0f} s" if hit else "not reached"
        print(
            f"{name:<8}{last['episodes']:>10}{last['wall_s']:>9.0f}"
            f"{last['discounted_return']:>12.2f}{best:>11.2f}"
            f"{100 * last['discounted_return'] / last['scripted']:>11.1f}%{reached:>13}"
        )


# --------------------------------------------------------------------------- coverage
def coverage(args: argparse.Namespace) -> None:
    """Mac-IPPO trained briefly on coverage vs the random policy, greedy episodes, same seeds."""
    from dmarl_des.scenario import load_scenario

    _setup_threads()
    scenario = load_scenario(COVERAGE, {**COVERAGE_OVERRIDES, "seed": args.seed})
    episodes = 10 if args.quick else args.coverage_episodes
    n_eval = 2 if args.quick else 5
    print(
        f"\nCoverage: Mac-IPPO, {scenario.n_agents} UAVs, horizon {scenario.horizon:g}, "
        f"{episodes} training episodes; greedy evaluation on {n_eval} episodes (same seeds)"
    )
    random_policy = fixed_policy_return(scenario, "random", n_eval)
    scripted = fixed_policy_return(scenario, "scripted", n_eval)
    training = Training(scenario, "ippo", COVERAGE_SETTINGS, n_eval)
    before = training.evaluate()
    training.train(episodes)
    learner = training.evaluate()
    wall = training.wall_s
    print(f"{'policy':<26}{'team_return':>12}{'x random':>10}")
    for name, row in (
        ("random", random_policy),
        ("Mac-IPPO untrained", before),
        (f"Mac-IPPO after {episodes} ep", learner),
        ("scripted (greedy)", scripted),
    ):
        ratio = row["team_return"] / random_policy["team_return"]
        print(f"{name:<26}{row['team_return']:>12.4f}{ratio:>10.2f}")
    print(f"(training and evaluation took {wall:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one minute per learner")
    parser.add_argument("--budget", type=float, help="wall seconds per learner (default 900)")
    parser.add_argument("--eval-every", type=float, help="wall seconds between evaluations")
    parser.add_argument("--eval-episodes", type=int, default=1, help="greedy episodes per point")
    parser.add_argument("--learners", default="iql,ippo", help="comma-separated learner names")
    parser.add_argument("--parallel", type=int, default=2, help="training processes at once")
    parser.add_argument("--seed", type=int, default=0, help="root seed of the scenarios")
    parser.add_argument("--settings", help="JSON learner keys added to every learner's settings")
    parser.add_argument("--full", action="store_true", help="train the whole budget")
    parser.add_argument("--coverage-episodes", type=int, default=30)
    parser.add_argument("--skip-coverage", action="store_true")
    parser.add_argument("--skip-box-pushing", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.budget is None:
        args.budget = 60.0 if args.quick else 900.0
    if args.eval_every is None:
        args.eval_every = 5.0 if args.quick else 30.0
    if args.child:
        child_box_pushing(args)
        return
    if not args.skip_box_pushing:
        results = box_pushing(args)
        for name, curve in results:
            print_curve(name, curve)
        summary(results)
    if not args.skip_coverage:
        coverage(args)


if __name__ == "__main__":
    main()
