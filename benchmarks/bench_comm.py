"""Learned communication: generalisation across swarm sizes, return vs bytes, loss, inference cost.

Four experiments, each printing a Markdown table (and, with ``--figures DIR``, a PNG):

* ``generalise`` — a graph-attention Mac-IPPO policy (``gnn_ippo``) trained with 6 agents on
  ``landmarks`` (one per ``--train-seeds`` seed) is evaluated unchanged at larger swarms, beside
  the scripted greedy policy and the random one (mean team return per episode over ``--seeds``
  seeds; with several training seeds, their mean ± standard deviation and each one);
* ``bytes`` — on ``channels`` (frequency hopping), return against bytes sent for the three ways
  of sending less: event-triggered (δ swept, one trained policy), VBC-style (the request
  threshold swept, the same policy) and a learned gate (one policy trained per communication
  cost), plus a byte budget; bytes are the network's ``learn_bytes_sent`` per episode;
* ``loss`` — on ``channels``, each method trained on ideal links (MF-Q, MF-AC, gnn_ippo, gnn_iql,
  and the deaf-and-mute gnn_ippo) then evaluated under Bernoulli link loss 0…0.6, beside the
  scripted and random policies;
* ``inference`` — ``landmarks`` with 1,000 agents (about 7 radio neighbours each) on a 0.25
  control tick: the cost of the policy's one call per decision batch, per call and per
  decision, and the whole simulation's decisions per second, for gnn_ippo, the same network
  without messages and the MLP of Mac-IPPO (after warm-up episodes that fill the learner's ring
  of decision records, so that its growth is not counted; the fastest of ``--repeats`` timed
  runs of the same episode).

Training runs are small (seconds to a minute each on one core); seeds are fixed.
Run: ``python benchmarks/bench_comm.py generalise|bytes|loss|inference [--figures docs/figures]``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dmarl_des.learn.checkpoint import save_checkpoint
from dmarl_des.learn.registry import learner_config
from dmarl_des.scenario import Scenario
from dmarl_des.study.policies import build_policy
from dmarl_des.worlds import world_class
from dmarl_des.worlds.channels import ChannelsParams
from dmarl_des.worlds.landmarks import LandmarksParams

torch.set_num_threads(1)

CHANNELS = {
    "world": ChannelsParams(n_channels=4),
    "n_agents": 8,
    "horizon": 16.0,
    "gamma": 0.9,
    "net": {"topology": {"k": 1}},
}
LANDMARKS = {
    "world": LandmarksParams(reward="own"),  # private shares of the team reward (same total)
    "horizon": 30.0,
    "decision_period": 0.25,
    "gamma": 0.95,
}
GNN = {"lr": 3e-3, "hidden": 32, "epochs": 10, "minibatches": 2, "ent_coef": 0.0}
GNN["gae_lambda"] = 0.8
Q = {"lr": 1e-3, "learning_starts": 100, "train_every": 2, "eps_decay": 40, "target_every": 50}
Q["hidden"] = 32


def train(base: dict, name: str, values: dict, episodes: int, seed: int = 1, **more) -> Any:
    """A learner trained in a fresh world (``more``: scenario keys, e.g. ``comm``)."""
    s = Scenario.build(
        **base,
        episodes=episodes,
        policy="learner",
        seed=seed,
        learner=learner_config(name, values),
        **more,
    )
    world = world_class(s.world)(s)
    world.policy = learner = build_policy(s, world)
    world.run()
    return learner


def evaluate(base: dict, policy: str, seeds: int, overrides: dict | None = None) -> dict:
    """Mean greedy team return, learning bytes sent and messages per episode, over seeds."""
    returns, sent, msgs = [], [], []
    for seed in range(seeds):
        s = Scenario.build(**base, policy=policy, seed=100 + seed)
        if overrides:
            s = s.with_overrides(overrides)
        world = world_class(s.world)(s)
        world.policy = build_policy(s, world)
        row = world.run_episode(0, "eval")
        returns.append(row["team_return"])
        sent.append(row["learn_bytes_sent"])
        msgs.append(row["learn_msgs_sent"])
    return {"return": float(np.mean(returns)), "bytes": float(np.mean(sent))}


def checkpoint(learner: Any, world: str, folder: Path, name: str) -> str:
    path = folder / name
    save_checkpoint(path, learner, {"world": {"name": world}})
    return str(path)


# ---------------------------------------------------------------------------------- experiments
def generalise(args: argparse.Namespace, folder: Path) -> None:
    small = {**LANDMARKS, "n_agents": 6}
    values = {"lr": 3e-3, "hidden": 64, "epochs": 8, "minibatches": 4, "gae_lambda": 0.8}
    values |= {"ent_coef": 0.01, "eval_sample": True}
    paths = []
    for seed in range(1, args.train_seeds + 1):
        t0 = time.perf_counter()
        learner = train(small, "gnn_ippo", values, args.train_episodes, seed=seed)
        print(f"gnn_ippo trained with 6 agents, seed {seed}, {args.train_episodes} episodes "
              f"({time.perf_counter() - t0:.0f} s)")  # fmt: skip
        paths.append(checkpoint(learner, "landmarks", folder, f"gnn{seed}"))
    rows, bars = [], []
    spread = args.train_seeds > 1
    print(f"\n| agents | gnn_ippo (trained at 6{', mean ± sd over training seeds' * spread}) "
          "| scripted greedy | random |")  # fmt: skip
    print("| ---: | ---: | ---: | ---: |")
    for n in args.sizes:
        base = {**LANDMARKS, "n_agents": n}
        learned = [evaluate(base, p, args.seeds)["return"] for p in paths]
        cells = [float(np.mean(learned))]
        cells += [evaluate(base, p, args.seeds)["return"] for p in ("scripted", "random")]
        rows.append((n, *cells))
        sd = f" ± {np.std(learned, ddof=1):.2f}" if spread else ""
        each = f" ({', '.join(f'{x:.1f}' for x in learned)})" if spread else ""
        print(f"| {n} | {cells[0]:.2f}{sd}{each} | {cells[1]:.2f} | {cells[2]:.2f} |")
        bars.append(float(np.std(learned, ddof=1)) if spread else 0.0)
    if args.figures:
        plot(
            args.figures / "landmarks_generalisation.png",
            "agents (log)",
            "team return (covered fraction × time − collisions)",
            {
                label: ([r[0] for r in rows], [r[k] for r in rows])
                for k, label in ((1, "gnn_ippo trained at 6"), (2, "scripted"), (3, "random"))
            },
            logx=True,
            errors={"gnn_ippo trained at 6": bars} if spread else None,
        )


def bytes_curve(args: argparse.Namespace, folder: Path) -> None:
    base = dict(CHANNELS)
    talker = checkpoint(train(base, "gnn_ippo", GNN, args.train_episodes), "channels", folder, "g")
    curves: dict[str, tuple[list[float], list[float]]] = {}
    print("\n| scheme | setting | bytes sent / episode | return / episode |")
    print("| --- | --- | ---: | ---: |")

    def point(scheme: str, setting: str, result: dict) -> None:
        xs, ys = curves.setdefault(scheme, ([], []))
        xs.append(result["bytes"])
        ys.append(result["return"])
        print(f"| {scheme} | {setting} | {result['bytes']:.0f} | {result['return']:.2f} |")

    if args.only_gate:
        curves.clear()
    for delta in () if args.only_gate else (0.0, 0.3, 0.6, 1.0, 1.5, math.inf):
        comm = {"comm.send": "event", "comm.delta": delta}
        point("event-triggered", f"δ = {delta:g}", evaluate(base, talker, args.seeds, comm))
    for confidence in () if args.only_gate else (1.01, 0.5, 0.3, 0.1, 0.0):
        comm = {"comm.send": "vbc", "comm.vbc_confidence": confidence, "comm.period": 0.5}
        point("VBC", f"gap < {confidence:g}", evaluate(base, talker, args.seeds, comm))
    for cost in (0.0, 0.002, 0.005, 0.02):
        gated = train(
            base,
            "gnn_ippo",
            {**GNN, "gate": True, "comm_cost": cost},
            args.train_episodes,
            comm={"send": "gate"},
        )
        path = checkpoint(gated, "channels", folder, f"gate{cost}")
        result = evaluate(base, path, args.seeds, {"comm.send": "gate"})
        point("learned gate", f"cost {cost:g} / byte", result)
    for budget in () if args.only_gate else (200.0, 50.0, 20.0, 10.0, 5.0):
        point(
            "budget",
            f"{budget:g} B / time",
            evaluate(base, talker, args.seeds, {"comm.budget": budget}),
        )
    for policy in () if args.only_gate else ("scripted", "random"):
        point(f"no messages ({policy})", policy, evaluate(base, policy, args.seeds))
    if args.figures:
        plot(args.figures / "channels_return_vs_bytes.png", "bytes sent per episode",
             "team return per episode", curves, marker=True)  # fmt: skip


def loss_curve(args: argparse.Namespace, folder: Path) -> None:
    base = dict(CHANNELS)
    methods = {
        "mfq": ("mfq", Q, 20),
        "mfac": ("mfac", {"lr": 3e-3, "critic_lr": 3e-3, "hidden": 32}, 30),
        "gnn_ippo": ("gnn_ippo", GNN, args.train_episodes),
        "gnn_iql": ("gnn_iql", Q, args.train_episodes),
        "gnn_ippo, no messages": ("gnn_ippo", {**GNN, "communicate": False}, args.train_episodes),
    }
    policies = {}
    for label, (name, values, episodes) in methods.items():
        learner = train(base, name, values, episodes)
        policies[label] = checkpoint(learner, "channels", folder, label.replace(" ", "_"))
    policies["scripted"] = "scripted"
    policies["random"] = "random"
    losses = (0.0, 0.2, 0.4, 0.6)
    print("\n| policy | " + " | ".join(f"loss {p:g}" for p in losses) + " |")
    print("| --- |" + " ---: |" * len(losses))
    curves = {}
    for label, policy in policies.items():
        ys = [
            evaluate(base, policy, args.seeds, {"net.loss.model": "bernoulli", "net.loss.p": p})[
                "return"
            ]
            for p in losses
        ]
        curves[label] = (list(losses), ys)
        print(f"| {label} | " + " | ".join(f"{y:.2f}" for y in ys) + " |")
    if args.figures:
        plot(args.figures / "channels_loss.png", "link loss p", "team return per episode", curves,
             marker=True)  # fmt: skip


def inference(args: argparse.Namespace, folder: Path) -> None:
    print(
        "\n| policy | decisions | batches | policy call | per decision | simulation decisions/s |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, name, values in (
        ("gnn_ippo (messages)", "gnn_ippo", {}),
        ("gnn_ippo (no messages)", "gnn_ippo", {"communicate": False}),
        ("ippo (MLP)", "ippo", {}),
    ):
        s = Scenario.build(
            **LANDMARKS,
            n_agents=1000,
            policy="learner",
            learner=learner_config(name, values),
            seed=0,
        ).with_overrides({"horizon": 10.0})
        world = world_class(s.world)(s)
        world.policy = policy = build_policy(s, world)
        spent = [0.0]
        act = policy.act

        def timed(obs, agent_idx, mask, *, explore=True, act=act, spent=spent):
            t0 = time.perf_counter()
            out = act(obs, agent_idx, mask, explore=explore)
            spent[0] += time.perf_counter() - t0
            return out

        policy.act = timed
        world.run_episode(0, "eval")  # warm-up
        talk = getattr(policy, "talk", None)
        while talk is not None and talk.log.size < talk.log.capacity:
            world.run_episode(0, "eval")  # until the ring of decision records stops growing
        best_spent = best_wall = math.inf
        for _ in range(args.repeats):  # the same episode again; the fastest counts
            spent[0] = 0.0
            t0 = time.perf_counter()
            row = world.run_episode(1, "eval")
            best_wall = min(best_wall, time.perf_counter() - t0)
            best_spent = min(best_spent, spent[0])
        spent[0], wall = best_spent, best_wall
        n = row["n_decisions"]
        batches = len(world.batcher.batch_sizes)
        call = spent[0] / batches * 1e3
        per = spent[0] / n * 1e6
        print(f"| {label} | {n} | {batches} | {call:.2f} ms | {per:.1f} µs | {n / wall:,.0f} |")


def plot(
    path: Path,
    xlabel: str,
    ylabel: str,
    curves: dict,
    logx: bool = False,
    marker: bool = False,
    errors: dict | None = None,
) -> None:
    """Curves (label → xs, ys), optionally with ± error bars per label."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for label, (xs, ys) in curves.items():
        order = np.argsort(xs, kind="stable")
        style = "none" if label.startswith("no messages") else "-"
        ax.plot(np.asarray(xs)[order], np.asarray(ys)[order], marker="o", linestyle=style,
                label=label)  # fmt: skip
        if errors and label in errors:
            ax.errorbar(np.asarray(xs)[order], np.asarray(ys)[order],
                        yerr=np.asarray(errors[label])[order], fmt="none", capsize=3,
                        ecolor=ax.lines[-1].get_color())  # fmt: skip
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"\n(figure: {path})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", choices=("generalise", "bytes", "loss", "inference"))
    parser.add_argument("--train-episodes", type=int, default=None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[6, 25, 100, 400, 1000])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--train-seeds", type=int, default=1, help="generalise: policies trained")
    parser.add_argument("--repeats", type=int, default=5, help="inference: timed episodes")
    parser.add_argument("--figures", type=Path, default=None)
    parser.add_argument("--only-gate", action="store_true", help="bytes: the gate rows only")
    args = parser.parse_args()
    if args.train_episodes is None:
        args.train_episodes = 500 if args.experiment == "generalise" else 30
    with tempfile.TemporaryDirectory() as tmp:
        run = {"generalise": generalise, "bytes": bytes_curve, "loss": loss_curve}
        run.get(args.experiment, inference)(args, Path(tmp))


if __name__ == "__main__":
    main()
