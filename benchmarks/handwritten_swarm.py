"""The swarm world written by hand as a user would without the framework: the performance baseline.

Mesa agents, one SimPy process each, one policy call per agent decision (a batch of one), and one
SimPy event per delivered message. The world's semantics are those of ``dmarl_des.worlds.swarm``
(durations, drift, ring neighbourhood, Bernoulli loss, exponential delay, observation layout).

``sampling="categorical"`` draws the action the way RL code usually does
(``torch.distributions.Categorical(logits=...).sample()``, as in CleanRL); ``"multinomial"`` is a
hand-tuned variant (softmax, then ``torch.multinomial`` with an explicit generator), about 2× cheaper
per call.
"""

from __future__ import annotations

import math

import mesa
import numpy as np
import simpy
import torch

STATE = 4


class Robot(mesa.Agent):
    def __init__(self, model: Swarm, i: int) -> None:
        super().__init__(model)
        self.i = i
        self.inbox: list[np.ndarray] = []

    def observe(self) -> np.ndarray:
        m = self.model
        received = np.mean(self.inbox, axis=0) if self.inbox else np.zeros(STATE, np.float32)
        self.inbox = []
        features = np.concatenate([m.state[self.i], received]).astype(np.float32)
        return np.concatenate([features, np.tanh(features @ m.projection)])

    def life(self):
        m = self.model
        while True:
            if m.period > 0:  # wait for the next control tick
                k = math.ceil(m.env.now / m.period - 1e-9)
                yield m.env.timeout(max(0.0, k * m.period - m.env.now))
            obs = torch.from_numpy(self.observe()).unsqueeze(0)
            with torch.no_grad():
                if m.sampling == "categorical":
                    dist = torch.distributions.Categorical(logits=m.policy(obs))
                    action = int(dist.sample().item())
                else:
                    probs = torch.softmax(m.policy(obs), dim=-1)
                    action = int(torch.multinomial(probs, 1, generator=m.torch_rng).item())
            m.decisions += 1
            spread = 0.0 if m.lockstep else m.spread * (action / 7 - 0.5)
            duration = m.base * (1 + spread) * (1.0 if m.lockstep else m.speed[self.i])
            yield m.env.timeout(duration)
            m.state[self.i] += m.drift[action]
            m.reward += 1.0
            payload = m.state[self.i].copy()
            for j in m.neighbours[self.i]:
                if m.rng.random() < m.loss:
                    continue
                ev = m.env.timeout(m.rng.exponential(m.delay))
                ev.callbacks.append(lambda _e, j=j, p=payload: m.deliver(j, p))


class Swarm(mesa.Model):
    def __init__(
        self,
        n: int,
        *,
        lockstep: bool,
        period: float,
        seed: int = 0,
        k: int = 4,
        loss: float = 0.2,
        delay: float = 0.05,
        sampling: str = "categorical",
    ) -> None:
        super().__init__(seed=seed)
        if sampling not in ("categorical", "multinomial"):
            raise ValueError(f"sampling={sampling!r}: allowed are 'categorical' and 'multinomial'")
        self.sampling = sampling
        rng = np.random.default_rng(seed)
        self.rng = rng
        self.env = simpy.Environment()
        self.lockstep, self.period, self.base, self.spread = lockstep, period, 1.0, 0.5
        self.loss, self.delay = loss, delay
        self.state = rng.normal(size=(n, STATE)).astype(np.float32)
        self.speed = rng.uniform(0.8, 1.2, size=n)
        self.projection = (rng.normal(size=(8, 24)) / np.sqrt(8)).astype(np.float32)
        self.drift = rng.normal(scale=0.1, size=(8, STATE)).astype(np.float32)
        self.neighbours = [[(i + d) % n for d in range(-k, k + 1) if d] for i in range(n)]
        torch.manual_seed(seed)  # the categorical draws use torch's global generator
        self.policy = torch.nn.Sequential(
            torch.nn.Linear(32, 64),
            torch.nn.Tanh(),
            torch.nn.Linear(64, 64),
            torch.nn.Tanh(),
            torch.nn.Linear(64, 8),
        )
        self.torch_rng = torch.Generator().manual_seed(seed)
        self.decisions = 0
        self.delivered = 0
        self.reward = 0.0
        self.robots = [Robot(self, i) for i in range(n)]
        for r in self.robots:
            self.env.process(r.life())

    def deliver(self, j: int, payload: np.ndarray) -> None:
        self.robots[j].inbox.append(payload)
        self.delivered += 1

    def run(self, horizon: float) -> None:
        self.env.run(until=horizon)
