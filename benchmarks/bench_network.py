"""Message delivery throughput: delivered messages per second for four ways of moving messages.

Every agent broadcasts to its ~8 neighbours (a ring with k = 4) every ``period`` time units for
``horizon`` time units; links lose 20 % of messages and delay the rest exponentially (mean 0.05).
Receivers take their messages out once per period. Rows:

* ``simpy event per message``: a hand-written baseline, one ``env.timeout`` per delivered message
  whose callback appends the message to the receiver's list;
* ``broadcast, exact``: ``Network.broadcast`` once per agent, exact delivery times;
* ``broadcast, bucketed``: the same with ``resolution = 0.01``;
* ``broadcast_many, bucketed``: one ``Network.broadcast_many`` for all agents per period,
  ``resolution = 0.01``, inboxes read with ``drain_many``.

Each row reports the best of up to ``--repeat`` runs (default 3; runs are repeated only while
the row has taken less than 10 s), since a shared machine makes single timings noisy; the ratio
is to the baseline's messages per second. The process CPU time of the same run is printed too:
everything here runs on one thread, so on a quiet machine CPU and wall-clock time agree, and
on a busy one the CPU figure is the steadier of the two.

Run: ``python benchmarks/bench_network.py [--agents 1000 10000] [--horizon 5] [--repeat 3]``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import time
from collections.abc import Callable

import numpy as np
import simpy

from dmarl_des.net import (
    DelayModel,
    LinkModel,
    LossModel,
    MessageKind,
    Network,
    Topology,
    ring,
)

LOSS = 0.2
DELAY_MEAN = 0.05
RESOLUTION = 0.01
PERIOD = 0.1
KIND = MessageKind("state", (4,), "float32", 64)


class Clock:
    """Wall-clock and process CPU seconds of a block (CPU time is steadier on a shared machine)."""

    def __enter__(self) -> Clock:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


def ticks(env: simpy.Environment, horizon: float, every_tick: Callable[[], None]) -> None:
    """A process calling ``every_tick`` at 0, PERIOD, 2 PERIOD, ... < horizon."""

    def loop():
        for k in range(round(horizon / PERIOD)):
            if k:
                yield env.timeout(k * PERIOD - env.now)
            every_tick()

    env.process(loop())


def run_simpy_baseline(topology: Topology, horizon: float, seed: int) -> tuple[int, float]:
    """One timeout per delivered message; the callback appends to the receiver's list."""
    env = simpy.Environment()
    rng = np.random.default_rng(seed)
    n = topology.n
    inboxes: list[list] = [[] for _ in range(n)]
    state = np.ones((n, 4), dtype=np.float32)
    neighbours = [topology.neighbors(i).tolist() for i in range(n)]
    delivered = [0]

    def deliver_to(dst: int, message: tuple) -> Callable[[simpy.Event], None]:
        def callback(_ev: simpy.Event) -> None:
            inboxes[dst].append(message)

        return callback

    def every_tick() -> None:
        for box in inboxes:
            delivered[0] += len(box)
            box.clear()
        now = env.now
        for src in range(n):
            payload = state[src].copy()
            for dst in neighbours[src]:
                if rng.random() < LOSS:
                    continue
                ev = env.timeout(rng.exponential(DELAY_MEAN))
                ev.callbacks.append(deliver_to(dst, (src, now, payload)))

    ticks(env, horizon, every_tick)
    with Clock() as clock:
        env.run()
    return delivered[0] + sum(len(b) for b in inboxes), clock


def make_network(topology: Topology, resolution: float, seed: int) -> Network:
    link = LinkModel(
        loss=LossModel("bernoulli", p=LOSS), delay=DelayModel("exponential", mean=DELAY_MEAN)
    )
    return Network(
        simpy.Environment(),
        topology,
        link,
        np.random.default_rng(seed),
        resolution=resolution,
        kinds={"state": KIND},
    )


def run_broadcast(topology: Topology, horizon: float, seed: int, resolution: float):
    """One broadcast per agent per period; every agent drains its own inbox each period."""
    net = make_network(topology, resolution, seed)
    n = topology.n
    state = np.ones((n, 4), dtype=np.float32)

    def every_tick() -> None:
        for i in range(n):
            net.inbox(i).drain()
        for i in range(n):
            net.broadcast(i, "state", state[i])

    ticks(net.env, horizon, every_tick)
    with Clock() as clock:
        net.env.run()
    return net.stats()["delivered"], clock


def run_broadcast_many(topology: Topology, horizon: float, seed: int):
    """One broadcast_many for all agents per period; all inboxes drained with drain_many."""
    net = make_network(topology, RESOLUTION, seed)
    n = topology.n
    everyone = np.arange(n)
    state = np.ones((n, 4), dtype=np.float32)

    def every_tick() -> None:
        net.drain_many(everyone)
        net.broadcast_many(everyone, "state", state)

    ticks(net.env, horizon, every_tick)
    with Clock() as clock:
        net.env.run()
    return net.stats()["delivered"], clock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, nargs="+", default=[1000, 10_000])
    parser.add_argument("--horizon", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = [
        ("simpy event per message", run_simpy_baseline),
        ("broadcast, exact", lambda t, h, s: run_broadcast(t, h, s, 0.0)),
        ("broadcast, bucketed", lambda t, h, s: run_broadcast(t, h, s, RESOLUTION)),
        ("broadcast_many, bucketed", run_broadcast_many),
    ]
    print(
        f"ring k=4 (degree 8), loss {LOSS}, exponential delay mean {DELAY_MEAN}, "
        f"resolution {RESOLUTION}, every agent broadcasts every {PERIOD} for {args.horizon}"
    )
    header = (
        f"{'agents':>7}  {'method':<26} {'delivered':>10} {'wall s':>7} {'msgs/s':>11} "
        f"{'ratio':>7} {'cpu s':>7} {'msgs/cpu-s':>11}"
    )
    print(header)
    print("-" * len(header))
    for n in args.agents:
        topology = ring(n, k=4)
        base = None
        for name, run in rows:
            best: tuple[int, Clock] | None = None
            spent, runs = 0.0, 0
            while runs < max(1, args.repeat) and (runs == 0 or spent < 10.0):
                delivered, clock = run(topology, args.horizon, args.seed + runs)
                if best is None or delivered / clock.wall > best[0] / best[1].wall:
                    best = (delivered, clock)
                spent += clock.wall
                runs += 1
            assert best is not None
            delivered, clock = best
            rate = delivered / clock.wall
            base = base or rate
            print(
                f"{n:>7}  {name:<26} {delivered:>10} {clock.wall:>7.2f} {rate:>11,.0f} "
                f"{rate / base:>6.1f}x {clock.cpu:>7.2f} {delivered / clock.cpu:>11,.0f}"
            )


if __name__ == "__main__":
    main()
