"""PPO on the PettingZoo Parallel adapter, CleanRL style: one file, read top to bottom.

Twenty foraging robots (scenarios/foraging.py) share one actor-critic. The environment is
dmarl_des's Parallel adapter, so a step is a decision epoch: only the robots whose macro-action
just ended are in the observations, each robot's reward arrives at its next turn (the squeezed
reward of the macro-action it chose at its previous one) and ``infos[robot]["tau"]`` says how long
that macro-action lasted. The two changes to an ordinary PPO loop:

1. a transition runs from one of a robot's turns to its next (kept per robot name);
2. the discount of a transition is ``gamma ** tau`` (a semi-MDP), in the TD error and in GAE.

Robots that crash or whose episode ends are truncated (bootstrapped from their last observation);
a terminal state is not bootstrapped. Disallowed macro-actions are masked out of the logits.

    python docs/examples/ppo_parallel.py              # about 20 s on one core
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dmarl_des.pettingzoo import parallel_env

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "foraging.py"


@dataclass
class Args:
    iterations: int = 20
    """PPO iterations (each: collect `episodes` episodes, then update)."""
    episodes: int = 2
    n_agents: int = 20
    horizon: float = 100.0
    size: float = 50.0
    """Side of the foraging area (a quarter of the scenario's, so that food is found)."""
    sense_radius: float = 8.0
    gamma: float = 0.99
    gae_lambda: float = 0.95
    lr: float = 3e-3
    update_epochs: int = 4
    minibatches: int = 4
    clip: float = 0.2
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    eval_seeds: int = 4
    seed: int = 1


class Agent(nn.Module):
    """The shared actor-critic (parameter sharing across robots)."""

    def __init__(self, obs_dim: int, n_actions: int) -> None:
        super().__init__()
        self.critic = nn.Sequential(
            nn.Linear(obs_dim, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1)
        )
        self.actor = nn.Sequential(
            nn.Linear(obs_dim, 64),
            nn.Tanh(),
            nn.Linear(64, 64),
            nn.Tanh(),
            nn.Linear(64, n_actions),
        )

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(obs).squeeze(-1)

    def act(self, obs, mask, action=None):
        logits = self.actor(obs).masked_fill(~mask, -1e9)
        dist = torch.distributions.Categorical(logits=logits)
        if action is None:
            action = dist.sample()
        return action, dist.log_prob(action), dist.entropy(), self.value(obs)


def make_env(args: Args):
    overrides = {
        "n_agents": args.n_agents,
        "horizon": args.horizon,
        "gamma": args.gamma,
        "world.size": args.size,
        "world.sense_radius": args.sense_radius,
    }
    return parallel_env(SCENARIO, overrides)


def split(obs: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Observations and masks of some robots as tensors (rows in dict order)."""
    o = np.stack([v["observation"] for v in obs.values()])
    m = np.stack([v["action_mask"] for v in obs.values()]).astype(bool)
    return torch.as_tensor(o), torch.as_tensor(m)


def play(env, agent: Agent, seed: int) -> tuple[list[list[dict]], float]:
    """One episode; returns each robot's transitions (in time order) and the team's return."""
    obs, _ = env.reset(seed=seed)
    open_: dict[str, dict] = {}  # a robot's transition waiting for its reward and next value
    closing: dict[str, dict] = {}  # rewarded, waiting for the value of the robot's next turn
    done: dict[str, list[dict]] = {}
    while True:
        ready = {a: o for a, o in obs.items() if a in env.agents}
        if ready:
            o, m = split(ready)
            with torch.no_grad():
                a, logp, _, v = agent.act(o, m)
            for k, name in enumerate(ready):
                if name in closing:
                    closing.pop(name)["next_value"] = float(v[k])
                open_[name] = {"obs": o[k], "mask": m[k], "action": int(a[k]),
                               "logp": float(logp[k]), "value": float(v[k])}  # fmt: skip
        if not env.agents:
            break
        obs, rewards, terminated, truncated, infos = env.step(
            {name: open_[name]["action"] for name in ready}
        )
        for name, reward in rewards.items():
            tr = open_.pop(name, None)
            if tr is None:
                continue
            tr["reward"] = reward
            tr["discount"] = env.epochs.gamma ** infos[name]["tau"]  # the scenario's gamma
            tr["last"] = terminated[name] or truncated[name]
            done.setdefault(name, []).append(tr)
            if terminated[name]:
                tr["next_value"] = 0.0
            elif truncated[name]:  # cut (a crash, the horizon): bootstrap from where it stopped
                o, _ = split({name: obs[name]})
                with torch.no_grad():
                    tr["next_value"] = float(agent.value(o)[0])
            else:
                closing[name] = tr
    return list(done.values()), env.world.ledger.total()


def advantages(robots: list[list[dict]], lam: float) -> list[dict]:
    """GAE per robot with the semi-MDP discount gamma ** tau of each transition."""
    flat = []
    for transitions in robots:
        gae = 0.0
        for tr in reversed(transitions):
            delta = tr["reward"] + tr["discount"] * tr["next_value"] - tr["value"]
            gae = delta + tr["discount"] * lam * (0.0 if tr["last"] else gae)
            tr["advantage"], tr["return"] = gae, gae + tr["value"]
            flat.append(tr)
    return flat


def update(agent: Agent, optimizer, batch: list[dict], args: Args, rng) -> None:
    obs = torch.stack([t["obs"] for t in batch])
    mask = torch.stack([t["mask"] for t in batch])
    actions = torch.tensor([t["action"] for t in batch])
    old_logp = torch.tensor([t["logp"] for t in batch])
    adv = torch.tensor([t["advantage"] for t in batch], dtype=torch.float32)
    ret = torch.tensor([t["return"] for t in batch], dtype=torch.float32)
    size = max(1, len(batch) // args.minibatches)
    for _ in range(args.update_epochs):
        order = torch.as_tensor(rng.permutation(len(batch)))
        for start in range(0, len(batch), size):
            mb = order[start : start + size]
            _, logp, entropy, value = agent.act(obs[mb], mask[mb], actions[mb])
            a = adv[mb]
            a = (a - a.mean()) / (a.std() + 1e-8) if len(mb) > 1 else a
            ratio = (logp - old_logp[mb]).exp()
            pg = torch.max(-a * ratio, -a * ratio.clamp(1 - args.clip, 1 + args.clip)).mean()
            v_loss = 0.5 * ((value - ret[mb]) ** 2).mean()
            loss = pg - args.ent_coef * entropy.mean() + args.vf_coef * v_loss
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(agent.parameters(), 0.5)
            optimizer.step()


def evaluate(env, agent: Agent, args: Args) -> float:
    """Mean team return of the policy on fixed seeds (the same episodes and action draws for
    every evaluation, so that evaluations compare)."""
    torch.manual_seed(args.seed + 12345)
    return float(np.mean([play(env, agent, 10_000 + s)[1] for s in range(args.eval_seeds)]))


def main(args: Args) -> dict[str, float]:
    torch.set_num_threads(1)  # tiny networks: one thread beats a pool fighting for the cores
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    env = make_env(args)
    env.reset(seed=args.seed)
    robot = env.agents[0]
    agent = Agent(env.observation_space(robot)["observation"].shape[0], env.action_space(robot).n)
    optimizer = torch.optim.Adam(agent.parameters(), lr=args.lr)
    before = evaluate(env, agent, args)
    t0 = time.perf_counter()
    for it in range(args.iterations):
        robots = []
        for e in range(args.episodes):
            transitions, team_return = play(env, agent, seed=args.seed * 1000 + it * 10 + e)
            robots += transitions
        batch = advantages(robots, args.gae_lambda)
        update(agent, optimizer, batch, args, rng)
        print(f"iteration {it:3d}  transitions {len(batch):5d}  team return {team_return:6.1f}")
    after = evaluate(env, agent, args)
    print(f"team return: {before:.1f} before training, {after:.1f} after "
          f"({time.perf_counter() - t0:.0f} s)")  # fmt: skip
    return {"before": before, "after": after}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in vars(Args()).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default)
    main(Args(**vars(parser.parse_args())))
