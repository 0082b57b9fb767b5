"""Figures of docs/world_traffic.md: the delay checks against theory, and the controllers compared.

Run from the repository root::

    python docs/figures/traffic.py theory      # ~5 min: deterministic and Webster sweeps
    python docs/figures/traffic.py policies    # ~5 min on 2 cores: 4 controllers × faults × seeds

``theory`` simulates one fixed-time intersection (cycle 60 s: 25 s green, 5 s yellow + all red,
25 s, 5 s; saturation flow 0.5 veh/s) for 100,000 s per run and prints, for degrees of
saturation x = 0.3 … 0.9, the mean delay against the uniform-delay formula (deterministic
arrivals) and Webster's formula (Poisson arrivals, 4 seeds); it draws
``traffic_delay_theory.png``. ``policies`` runs ``scenarios/traffic.py`` (4 × 4 signals, one
hour) for fixed-time, max-pressure, random and the Mac-IPPO checkpoint ``models/traffic-ippo``
over 5 seeds, at message loss 0, 0.3, 0.6, 0.9 and at crashed fractions 0, 0.25, 0.5 (all on
the same seeds: common random numbers), prints the table and draws ``traffic_policies.png``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
TRAFFIC = ROOT / "scenarios" / "traffic.py"
CHECKPOINT = ROOT / "models" / "traffic-ippo"
SEEDS = range(5)
POLICIES = {
    "fixed-time": {"world.controller": "fixed_time"},
    "max-pressure": {},
    "random": {"policy": "random"},
    "Mac-IPPO": {"policy": str(CHECKPOINT)},
}


def _webster(c: float, g: float, q: float, s: float) -> float:
    lam, x = g / c, q * c / (g * s)
    return (
        c * (1 - lam) ** 2 / (2 * (1 - lam * x))
        + x * x / (2 * q * (1 - x))
        - 0.65 * (c / q**2) ** (1 / 3) * x ** (2 + 5 * lam)
    )


def _uniform(c: float, g: float, q: float, s: float) -> float:
    return c * (1 - g / c) ** 2 / (2 * (1 - q / s))


def _signal_delay(args: tuple[str, float, int]) -> float:
    """Mean delay of the north-south approaches of one fixed-time signal (one run)."""
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    from dmarl_des.scenario import Scenario
    from dmarl_des.study.policies import build_policy
    from dmarl_des.worlds.traffic import TrafficParams, TrafficWorld

    arrivals, q, seed = args
    horizon, c = 100_000.0, 60.0
    params = TrafficParams(
        arrivals=arrivals,
        rate_ns=q,
        rate_ew=q,
        saturation_flow=0.5,
        greens=(25.0,),
        fixed_greens=(25.0, 25.0),
        controller="fixed_time",
        min_green=25.0,
        max_green=25.0,
        report_period=0.0,
    )
    scenario = Scenario.build(
        name="theory", world=params, n_agents=1, horizon=horizon, policy="scripted", seed=seed
    )
    world = TrafficWorld(scenario)
    world.log_passages = True
    world.policy = build_policy(scenario, world)
    world.run_episode(0, "eval")
    got = world.vehicles.passages()
    keep = (got["arrival"] > 5 * c) & (got["arrival"] < horizon - 20 * c)
    keep &= np.isin(got["approach"], (0, 2))
    return float((got["crossing"] - got["arrival"])[keep].mean())


def theory(workers: int) -> None:
    import matplotlib.pyplot as plt

    c, g, s = 60.0, 25.0, 0.5
    # x · (1 + √2/100): arrivals per cycle (q·c) irrational, so the arrival instants sweep the cycle
    xs = [x * (1 + math.sqrt(2) / 100) for x in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)]
    rates = [x * g * s / c for x in xs]
    jobs = [("deterministic", q, 0) for q in rates]
    jobs += [("poisson", q, seed) for q in rates for seed in range(4)]
    with ProcessPoolExecutor(workers) as pool:
        got = list(pool.map(_signal_delay, jobs))
    det, poi = got[: len(xs)], np.array(got[len(xs) :]).reshape(len(xs), 4)
    print(
        "| x | uniform delay | deterministic, simulated | error | Webster | Poisson, simulated "
        "(4 seeds) | error |"
    )
    print("|---|---|---|---|---|---|---|")
    for x, q, d, p in zip(xs, rates, det, poi, strict=True):
        u, w = _uniform(c, g, q, s), _webster(c, g, q, s)
        m, se = p.mean(), p.std(ddof=1) / 2
        print(
            f"| {x:.3f} | {u:.2f} | {d:.2f} | {d / u - 1:+.2%} | {w:.2f} | {m:.2f} ± {se:.2f} | "
            f"{m / w - 1:+.1%} |"
        )
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.plot(xs, [_uniform(c, g, q, s) for q in rates], "k-", label="uniform delay (formula)")
    ax.plot(xs, det, "ko", mfc="none", label="deterministic arrivals (simulated)")
    ax.plot(xs, [_webster(c, g, q, s) for q in rates], "C0-", label="Webster (formula)")
    ax.errorbar(
        xs,
        poi.mean(axis=1),
        yerr=1.96 * poi.std(axis=1, ddof=1) / 2,
        fmt="C0s",
        mfc="none",
        label="Poisson arrivals (simulated, 95% CI)",
    )
    ax.set(
        xlabel="degree of saturation x",
        ylabel="mean delay per vehicle (s)",
        title="One fixed-time signal, c = 60 s, g = 25 s, s = 0.5 veh/s",
    )
    ax.legend(frameon=False)
    fig.tight_layout()
    fig.savefig(HERE / "traffic_delay_theory.png", dpi=110)


def _policy_run(args: tuple[str, str, float, int]) -> tuple[str, str, float, int, float]:
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)
    from dmarl_des.scenario import load_scenario
    from dmarl_des.study import run_scenario

    policy, key, level, seed = args
    overrides = {**POLICIES[policy], "seed": seed}
    if key:
        overrides[key] = level
    result = run_scenario(load_scenario(TRAFFIC).with_overrides(overrides))
    return policy, key, level, seed, float(result.frames["traffic"]["delay_per_vehicle"][0])


def policies(workers: int) -> None:
    import matplotlib.pyplot as plt

    sweeps = {"net.loss.p": [0.0, 0.3, 0.6, 0.9], "faults.crash.fraction": [0.0, 0.25, 0.5]}
    jobs = [(p, "", 0.0, s) for p in POLICIES for s in SEEDS]
    jobs += [
        (p, k, v, s) for p in POLICIES for k, vs in sweeps.items() for v in vs[1:] for s in SEEDS
    ]
    with ProcessPoolExecutor(workers) as pool:
        rows = list(pool.map(_policy_run, jobs))
    delay: dict[tuple[str, str, float], list[float]] = {}
    for p, k, v, _, d in rows:
        for key in [k] if k else list(sweeps):
            delay.setdefault((p, key, v), []).append(d)
    print(
        "| controller | " + " | ".join(f"{k} = {v}" for k, vs in sweeps.items() for v in vs) + " |"
    )
    print("|---" * (1 + sum(len(v) for v in sweeps.values())) + "|")
    for p in POLICIES:
        cells = []
        for k, vs in sweeps.items():
            for v in vs:
                d = np.array(delay[p, k, v])
                cells.append(f"{d.mean():.1f} ± {1.96 * d.std(ddof=1) / math.sqrt(d.size):.1f}")
        print(f"| {p} | " + " | ".join(cells) + " |")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, (k, vs) in zip(axes, sweeps.items(), strict=True):
        for i, p in enumerate(POLICIES):
            d = np.array([delay[p, k, v] for v in vs])
            ci = 1.96 * d.std(axis=1, ddof=1) / math.sqrt(d.shape[1])
            ax.errorbar(vs, d.mean(axis=1), yerr=ci, marker="os^D"[i], capsize=3, label=p)
        ax.set(xlabel=k, title=f"delay per vehicle vs {k}")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("delay per vehicle (s), mean and 95% CI over 5 seeds")
    axes[0].legend(frameon=False)
    fig.suptitle("4 × 4 signals, 1 h, Poisson 0.13 veh/s per entry")
    fig.tight_layout()
    fig.savefig(HERE / "traffic_policies.png", dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["theory", "policies"])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    {"theory": theory, "policies": policies}[args.what](args.workers)


if __name__ == "__main__":
    main()
