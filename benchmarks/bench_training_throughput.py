"""Training throughput in agent-transitions per second, per-agent vs shared, and the consensus mixing step.

Run: ``python benchmarks/bench_training_throughput.py`` (``--quick`` for shorter timings,
``--device cuda`` on a machine with a GPU, ``--clock process`` to count this process's CPU time
instead of wall time on a machine shared with other jobs). A synthetic stream stands in for the
simulator: at every tick all N agents decide in one batched ``act`` (exploring), the tick's
squeezed transitions arrive as one ``TransitionBatch`` (``observe``), and the learner updates
``while ready()`` — the calls and cadence the world makes, without the world's own cost.
Observations are 30 floats and there are 9 macro-actions (the sizes of the coverage world);
episodes last 25 ticks; MLP 64 × 64. Learners, default hyperparameters unless named:

- Mac-IQL: one pooled replay, a minibatch of 64 per 4 stored transitions;
- Mac-IQL ``replay = per_agent``: each agent its own replay; one update per 4 transitions of each
  agent trains every agent on 64 of its own (the same 16 replayed rows per stored transition);
- Mac-IPPO: one update per episode, 4 epochs × 4 minibatches;
- networked actor-critic (Algorithm 1, critics over each agent's observation): one update per
  tick (the paper's cadence) with a consensus round every tick or every 5 ticks, or one update
  of 5 ticks' transitions with a round per update; rounds run through a simulated network of
  their own (``ConsensusRounds``: the critics travel as messages, are checked at the receivers
  and combined, as in a world; 8 neighbours, ideal links). Its parameter mode is the actors';
  its critics are per agent in both columns;
- resilient actor-critic (Algorithm 2 with resilient projections: at a round each agent values
  every arrived critic and reward model on its last 32 inputs, clipped mean H = 1, 5 fitting
  steps): one update of 5 ticks' transitions and a round per update, as above.

Then one consensus mixing round ``θ_i ← Σ_j C_ij θ_j`` over stacked per-agent parameters (8
neighbours on a ring lattice over a random order of the agents, Metropolis weights, F parameters
per agent; median time of a round): the CSR sparse product of ``dmarl_des.learn.mixing`` against
gathering neighbours' rows and summing them with ``index_add``.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import torch

from dmarl_des.errors import ConfigError
from dmarl_des.learn import TransitionBatch, learner_config, make_learner
from dmarl_des.learn.config import resolve_device
from dmarl_des.learn.mixing import metropolis_weights, mix, mixing_matrix

OBS_DIM = 30
N_ACTIONS = 9
EPISODE_TICKS = 25
LEARNERS = {  # label -> (learner name, hyperparameters besides the parameter mode)
    "Mac-IQL": ("iql", {}),
    "Mac-IQL replay=per_agent": ("iql", {"replay": "per_agent"}),
    "Mac-IPPO": ("ippo", {}),
    "networked AC, round/tick": ("networked_ac", {"consensus_period": 1.0}),
    "networked AC, round/5 ticks": ("networked_ac", {"consensus_period": 5.0}),
    "networked AC, 5 ticks/update": (
        "networked_ac",
        {"consensus_period": 5.0, "ticks_per_update": 5},
    ),
    "resilient AC, 5 ticks/update": (
        "resilient_ac",
        {"consensus_period": 5.0, "ticks_per_update": 5},
    ),
}
"""``ticks_per_update`` k sets ``update_every = k · N`` (all agents' transitions of k ticks)."""
NETWORK_DEGREE = 8
"""Neighbours of each agent in the networked actor-critic's consensus graph."""


class ConsensusRounds:
    """The networked actor-critic's consensus rounds in a simulated network of its own: a ring
    lattice of ``NETWORK_DEGREE`` neighbours over a random order of the agents, ideal links
    (no loss, no delay), every agent up. ``advance()`` after each tick runs the rounds due at
    that tick (the tick's time is its index): critics sent as messages through the network,
    received, checked, and combined (``dmarl_des.comm.LearningRounds``, as in a world)."""

    def __init__(self, learner, n_agents: int) -> None:
        import math

        import simpy

        from dmarl_des.comm import LearningRounds
        from dmarl_des.log import Recorder
        from dmarl_des.net import LinkModel, Network, Topology

        indptr, indices = shuffled_ring(n_agents, NETWORK_DEGREE, np.random.default_rng(0))
        self.env = simpy.Environment()
        network = Network(
            self.env,
            Topology(indptr, indices),
            LinkModel(),
            np.random.default_rng(0),
            kinds={},
        )
        self.rounds = LearningRounds(learner, Recorder("bench", tables=()))
        self.rounds.begin_episode(self.env, network, np.ones(n_agents, bool), 0, math.inf)
        self.tick = 0

    def advance(self) -> None:
        self.env.run(until=self.tick + 0.5)
        self.tick += 1


def synthetic_stream(n_agents: int, rng: np.random.Generator):
    """Endless ticks of (episode, tick, observations [N, D], rewards [N])."""
    episode = 0
    while True:
        for tick in range(EPISODE_TICKS + 1):
            obs = rng.random((n_agents, OBS_DIM), dtype=np.float32)
            yield episode, tick, obs, rng.standard_normal(n_agents)
        episode += 1


def measure(
    learner_name: str,
    settings: dict,
    mode: str,
    n_agents: int,
    seconds: float,
    device: str,
    clock: Callable[[], float] = time.perf_counter,
) -> dict:
    """Transitions/s and updates/s of one learner, parameter mode and swarm size."""
    settings = dict(settings)
    ticks = settings.pop("ticks_per_update", 0)
    if ticks:
        settings["update_every"] = ticks * n_agents
    config = learner_config(learner_name, {**settings, "params": mode, "device": device})
    learner = make_learner(
        config, obs_dim=OBS_DIM, n_actions=N_ACTIONS, n_agents=n_agents, gamma=0.99, seed=1
    )
    rng = np.random.default_rng(1)
    idx = np.arange(n_agents, dtype=np.int64)
    mask = np.ones((n_agents, N_ACTIONS), dtype=bool)
    stream = synthetic_stream(n_agents, rng)
    counts = {"transitions": 0, "updates": 0}
    rounds = ConsensusRounds(learner, n_agents) if getattr(learner, "exchanges", None) else None
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
        if rounds is not None:
            rounds.advance()

    while counts["updates"] < 2:  # warm-up: first optimizer step, allocator, first kernels
        tick()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    counts.update(transitions=0, updates=0)
    rounds_before = rounds.rounds.n_rounds if rounds is not None else 0
    t0 = clock()
    while clock() - t0 < seconds or counts["updates"] == 0:
        tick()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    elapsed = clock() - t0
    done = rounds.rounds.n_rounds - rounds_before if rounds is not None else 0
    return {
        "rate": counts["transitions"] / elapsed,
        "updates_s": counts["updates"] / elapsed,
        "rounds_s": done / elapsed,
        "seconds": elapsed,
    }


def shuffled_ring(n: int, degree: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """CSR neighbourhoods of an undirected ring lattice (each agent hears the ``degree`` nearest
    others around the ring) over a random order of the agents: neighbours' rows lie anywhere in
    memory, as in a swarm whose agent ids say nothing about where agents are."""
    degree = min(degree, n - 1)
    offsets = np.array([k for j in range(1, degree // 2 + 1) for k in (-j, j)][:degree])
    order = rng.permutation(n)  # agent at ring position p
    position = np.argsort(order)
    around = order[(position[:, None] + offsets[None, :]) % n]  # [agent, neighbour]
    indices = np.sort(around, axis=1)
    return np.arange(0, n * degree + 1, degree), indices.reshape(-1)


def index_add_mix(
    theta: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """The same round without a sparse matrix: gather every neighbour's row, weight it, add it
    to its receiver (self weights included as entries)."""
    out = torch.zeros_like(theta)
    return out.index_add_(0, rows, theta.index_select(0, cols) * weights[:, None])


def time_call(fn: Callable[[], object], seconds: float, clock: Callable[[], float]) -> float:
    """Seconds per call: the median of repeated calls for ``seconds`` (after one warm-up)."""
    fn()
    times: list[float] = []
    start = clock()
    while clock() - start < seconds or len(times) < 3:
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return float(np.median(times))


def mixing_row(n: int, n_params: int, seconds: float, device: str, clock) -> dict:
    """Milliseconds per consensus round over ``n`` agents: CSR product vs index_add."""
    indptr, indices = shuffled_ring(n, 8, np.random.default_rng(0))
    weights = metropolis_weights(indptr, indices)
    matrix = mixing_matrix(indptr, indices, weights, device=device)
    coo = matrix.to_sparse_coo().coalesce()
    rows, cols = coo.indices()
    values = coo.values()
    theta = torch.randn(n, n_params, generator=torch.Generator().manual_seed(0)).to(device)
    torch.testing.assert_close(mix(matrix, theta), index_add_mix(theta, rows, cols, values))
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def csr() -> None:
        mix(matrix, theta)
        sync()

    def gathered() -> None:
        index_add_mix(theta, rows, cols, values)
        sync()

    return {
        "degree": len(indices) // n,
        "csr_ms": 1e3 * time_call(csr, seconds, clock),
        "index_add_ms": 1e3 * time_call(gathered, seconds, clock),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="about 1 s per configuration")
    parser.add_argument("--seconds", type=float, default=5.0, help="timed seconds per config")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument(
        "--clock", choices=("wall", "process"), default="wall", help="wall time or CPU time"
    )
    parser.add_argument("--sizes", default="10,100,1000", help="swarm sizes N")
    parser.add_argument("--mix-params", type=int, default=10_000, help="F of the mixing round")
    parser.add_argument(
        "--learners",
        default="",
        help="comma-separated labels to run (default: all), e.g. 'networked'",
    )
    args = parser.parse_args()
    try:
        resolve_device(args.device)
    except ConfigError as error:
        raise SystemExit(f"--device: {error}") from None
    torch.set_num_threads(args.threads)
    seconds = 1.0 if args.quick else args.seconds
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    sizes = [int(n) for n in args.sizes.split(",")]
    print(
        f"device {args.device}, torch threads {args.threads}, {seconds:g} s per configuration, "
        f"{args.clock} clock"
    )
    header = (
        f"{'learner':<30}{'N':>6}{'shared tr/s':>14}{'per_agent tr/s':>16}"
        f"{'per_agent/shared':>18}{'upd/s shared':>14}{'upd/s per_agent':>17}"
        f"{'rounds/s per_agent':>20}"
    )
    print(header)
    print("-" * len(header))
    wanted = [w.strip() for w in args.learners.split(",") if w.strip()]
    for label, (name, settings) in LEARNERS.items():
        if wanted and not any(w in label for w in wanted):
            continue
        for n in sizes:
            shared = measure(name, settings, "shared", n, seconds, args.device, clock)
            own = measure(name, settings, "per_agent", n, seconds, args.device, clock)
            print(
                f"{label:<30}{n:>6}{shared['rate']:>14,.0f}{own['rate']:>16,.0f}"
                f"{own['rate'] / shared['rate']:>18.2f}"
                f"{shared['updates_s']:>14,.1f}{own['updates_s']:>17,.1f}"
                f"{own['rounds_s']:>20,.1f}",
                flush=True,
            )
    print()
    print(f"consensus mixing round over per-agent parameters (F = {args.mix_params:,} per agent)")
    header = (
        f"{'N':>6}{'degree':>8}{'CSR ms':>10}{'index_add ms':>14}{'index_add/CSR':>15}"
        f"{'N / CSR round (agents/s)':>26}"
    )
    print(header)
    print("-" * len(header))
    for n in sizes:
        row = mixing_row(n, args.mix_params, min(seconds, 2.0), args.device, clock)
        print(
            f"{n:>6}{row['degree']:>8}{row['csr_ms']:>10.2f}{row['index_add_ms']:>14.2f}"
            f"{row['index_add_ms'] / row['csr_ms']:>15.1f}{n / row['csr_ms'] * 1e3:>26,.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
