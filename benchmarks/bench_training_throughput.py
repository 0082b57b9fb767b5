"""Training throughput of Mac-IQL and Mac-IPPO in agent-transitions per second: per-agent vs shared.

Run: ``python benchmarks/bench_training_throughput.py`` (``--quick`` for shorter timings,
``--device cuda`` on a machine with a GPU). A synthetic stream stands in for the simulator: at every
tick all N agents decide in one batched ``act`` (exploring), the tick's squeezed transitions arrive
as one ``TransitionBatch`` (``observe``), and the learner updates ``while ready()`` — the calls and
cadence the world makes, without the world's own cost. Observations are 30 floats and there are
9 macro-actions (the sizes of the coverage world); episodes last 25 ticks. Default
hyperparameters throughout (Mac-IQL: one minibatch of 64 per 4 transitions; Mac-IPPO: one update
per episode, 4 epochs × 4 minibatches). Prints transitions/s for both parameter modes and the ratio
per-agent / shared.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import torch

from dmarl_des.errors import ConfigError
from dmarl_des.learn import TransitionBatch, learner_config, make_learner
from dmarl_des.learn.config import resolve_device

OBS_DIM = 30
N_ACTIONS = 9
EPISODE_TICKS = 25


def synthetic_stream(n_agents: int, rng: np.random.Generator):
    """Endless ticks of (episode, tick, observations [N, D], rewards [N])."""
    episode = 0
    while True:
        for tick in range(EPISODE_TICKS + 1):
            obs = rng.random((n_agents, OBS_DIM), dtype=np.float32)
            yield episode, tick, obs, rng.standard_normal(n_agents)
        episode += 1


def measure(learner_name: str, mode: str, n_agents: int, seconds: float, device: str) -> dict:
    """Transitions/s and updates/s of one learner, parameter mode and swarm size."""
    config = learner_config(learner_name, {"params": mode, "device": device})
    learner = make_learner(
        config, obs_dim=OBS_DIM, n_actions=N_ACTIONS, n_agents=n_agents, gamma=0.99, seed=1
    )
    rng = np.random.default_rng(1)
    idx = np.arange(n_agents, dtype=np.int64)
    mask = np.ones((n_agents, N_ACTIONS), dtype=bool)
    stream = synthetic_stream(n_agents, rng)
    counts = {"transitions": 0, "updates": 0}
    prev: tuple[np.ndarray, np.ndarray] | None = None

    def tick() -> None:
        nonlocal prev
        episode, t, obs, reward = next(stream)
        if t == 0:
            learner.reset(None)
        if prev is not None:
            last_obs, action = prev
            done = np.full(n_agents, t == EPISODE_TICKS)
            learner.observe(
                TransitionBatch(
                    agent_idx=idx,
                    obs=last_obs,
                    action=action,
                    mask=mask,
                    reward=reward,
                    obs_next=obs,
                    mask_next=mask,
                    tau=np.ones(n_agents),
                    done=done,
                    terminal=np.zeros(n_agents, dtype=bool),
                    t_start=np.full(n_agents, t - 1.0),
                    t_end=np.full(n_agents, float(t)),
                    episode=episode,
                )
            )
            counts["transitions"] += n_agents
        if t == EPISODE_TICKS:
            learner.end_episode(episode)
            prev = None
        else:
            prev = (obs, learner.act(obs, idx, mask, explore=True))
        while learner.ready():
            learner.update()
            counts["updates"] += 1

    while counts["updates"] < 2:  # warm-up: first optimizer step, allocator, first kernels
        tick()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    counts.update(transitions=0, updates=0)
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds or counts["updates"] == 0:
        tick()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    return {
        "rate": counts["transitions"] / wall,
        "updates_s": counts["updates"] / wall,
        "wall": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="about 1 s per configuration")
    parser.add_argument("--seconds", type=float, default=5.0, help="timed seconds per config")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    try:
        resolve_device(args.device)
    except ConfigError as error:
        raise SystemExit(f"--device: {error}") from None
    torch.set_num_threads(args.threads)
    seconds = 1.0 if args.quick else args.seconds
    print(f"device {args.device}, torch threads {args.threads}, {seconds:g} s per configuration")
    header = (
        f"{'learner':<8}{'N':>6}{'shared tr/s':>14}{'per_agent tr/s':>16}"
        f"{'per_agent/shared':>18}{'upd/s shared':>14}{'upd/s per_agent':>17}"
    )
    print(header)
    print("-" * len(header))
    for name in ("iql", "ippo"):
        for n in (10, 100, 1000):
            shared = measure(name, "shared", n, seconds, args.device)
            own = measure(name, "per_agent", n, seconds, args.device)
            print(
                f"{name:<8}{n:>6}{shared['rate']:>14,.0f}{own['rate']:>16,.0f}"
                f"{own['rate'] / shared['rate']:>18.2f}"
                f"{shared['updates_s']:>14,.1f}{own['updates_s']:>17,.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
