"""Tiny problems with known optima, and harnesses that drive a learner through its protocol."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dmarl_des.learn.protocol import DecisionEpoch, TransitionBatch


@dataclass(frozen=True)
class MacroChain:
    """A deterministic SMDP: states 0..n-1, the last one terminal; macro-actions of set durations.

    ``next_state[s, a]``, ``duration[s, a]`` and ``reward[s, a]`` (paid when the macro-action ends)
    define it; ``allowed[s, a]`` is the initiation set. Observations are one-hot states.
    """

    next_state: np.ndarray
    duration: np.ndarray
    reward: np.ndarray
    allowed: np.ndarray
    gamma: float

    @property
    def n_states(self) -> int:
        return self.next_state.shape[0]

    @property
    def terminal(self) -> int:
        return self.n_states - 1

    def obs(self, states: np.ndarray) -> np.ndarray:
        return np.eye(self.n_states, dtype=np.float32)[states]

    def value(self, policy: np.ndarray) -> np.ndarray:
        """Exact values of a stochastic policy [S, A]: V = Σ_a π(a|s) γ^d (R + V(s'))."""
        n = self.n_states
        discount = self.gamma**self.duration
        matrix = np.zeros((n, n))
        rhs = np.zeros(n)
        for s in range(n - 1):
            for a in np.flatnonzero(self.allowed[s]):
                matrix[s, self.next_state[s, a]] += policy[s, a] * discount[s, a]
                rhs[s] += policy[s, a] * discount[s, a] * self.reward[s, a]
        return np.linalg.solve(np.eye(n) - matrix, rhs)

    def optimal_value(self) -> np.ndarray:
        values = np.zeros(self.n_states)
        discount = self.gamma**self.duration
        for _ in range(500):
            q = discount * (self.reward + values[self.next_state])
            q[~self.allowed] = -np.inf
            values[:-1] = q[:-1].max(axis=1)
        return values

    def random_policy(self) -> np.ndarray:
        return self.allowed / self.allowed.sum(axis=1, keepdims=True)


def step_or_leap_chain(gamma: float = 0.9) -> MacroChain:
    """States 0..3 (3 terminal, +10 on arrival). 'step' (d=1) moves one state, 'leap' (d=3) two,
    'rest' (d=0.5, +0.3) stays (not allowed in state 2). With γ^τ discounting stepping is optimal;
    discounting once per macro-action would make leaping look better."""
    n, goal = 4, 3
    next_state = np.zeros((n, 3), dtype=np.int64)
    duration = np.zeros((n, 3))
    reward = np.zeros((n, 3))
    for s in range(n):
        next_state[s] = [min(s + 1, goal), min(s + 2, goal), s]
        duration[s] = [1.0, 3.0, 0.5]
        reward[s] = [10.0 * (min(s + 1, goal) == goal), 10.0 * (min(s + 2, goal) == goal), 0.3]
    allowed = np.ones((n, 3), dtype=bool)
    allowed[2, 2] = False
    return MacroChain(next_state, duration, reward, allowed, gamma)


def run_chain_episodes(
    learner,
    chain: MacroChain,
    *,
    episodes: int,
    n_agents: int,
    horizon: float,
    first_episode: int = 0,
) -> list[dict[str, float]]:
    """Each agent runs its own copy of ``chain`` from state 0; agents whose macro-actions end at
    the same instant decide in one ``act`` call. A macro-action that ends at or after ``horizon``
    closes the agent's episode (done, bootstrapped unless terminal). Returns the update metrics."""
    metrics = []
    all_agents = np.arange(n_agents)
    for episode in range(first_episode, first_episode + episodes):
        learner.reset(None)
        state = np.zeros(n_agents, dtype=np.int64)
        actions = learner.act(chain.obs(state), all_agents, chain.allowed[state], explore=True)
        start = np.zeros(n_agents)
        end = chain.duration[state, actions]
        active = np.ones(n_agents, dtype=bool)
        while active.any():
            now = end[active].min()
            ending = np.flatnonzero(active & (end == now))
            s, a = state[ending], actions[ending]
            s_next = chain.next_state[s, a]
            tau = end[ending] - start[ending]
            terminal = s_next == chain.terminal
            done = terminal | (now >= horizon)
            learner.observe(
                TransitionBatch(
                    agent_idx=ending,
                    obs=chain.obs(s),
                    action=a,
                    mask=chain.allowed[s],
                    reward=chain.gamma**tau * chain.reward[s, a],
                    obs_next=chain.obs(s_next),
                    mask_next=chain.allowed[s_next],
                    tau=tau,
                    done=done,
                    terminal=terminal,
                    t_start=start[ending],
                    t_end=end[ending],
                    episode=episode,
                )
            )
            while learner.ready():
                metrics.append(learner.update())
            state[ending] = s_next
            active[ending[done]] = False
            going = ending[~done]
            if len(going):
                chosen = learner.act(chain.obs(state[going]), going, chain.allowed[state[going]])
                actions[going] = chosen
                start[going] = now
                end[going] = now + chain.duration[state[going], chosen]
        learner.end_episode(episode)
        while learner.ready():
            metrics.append(learner.update())
    return metrics


def greedy_chain_policy(learner, chain: MacroChain, agent: int) -> np.ndarray:
    """The learner's greedy choice in every non-terminal state, as a one-hot policy [S, A]."""
    states = np.arange(chain.n_states - 1)
    idx = np.full(len(states), agent)
    chosen = learner.act(chain.obs(states), idx, chain.allowed[states], explore=False)
    policy = np.zeros(chain.allowed.shape)
    policy[states, chosen] = 1.0
    policy[-1, 0] = 1.0
    return policy


def matrix_game_episode(learner, payoff: np.ndarray, episode: int, *, explore: bool = True):
    """A one-shot two-agent game: both decide at t=0, the team gets payoff[a0, a1] at t=1.

    Fed to a joint learner as two decision epochs (and the agents' squeezed transitions)."""
    n_actions = payoff.shape[0]
    obs = np.eye(2, dtype=np.float32)
    mask = np.ones((2, n_actions), dtype=bool)
    agents = np.arange(2)
    state = np.ones(1, dtype=np.float32)
    learner.reset(None)
    actions = learner.act(obs, agents, mask, explore=explore)
    common = {
        "state": state,
        "obs": obs,
        "mask": mask,
        "action": actions,
        "alive": np.ones(2, dtype=bool),
        "episode": episode,
    }
    learner.observe_epoch(
        DecisionEpoch(
            time=0.0,
            tau=0.0,
            reward=0.0,
            deciding=np.ones(2, bool),
            done=False,
            terminal=False,
            **common,
        )
    )
    reward = float(payoff[actions[0], actions[1]])
    learner.observe_epoch(
        DecisionEpoch(
            time=1.0,
            tau=1.0,
            reward=reward,
            deciding=np.zeros(2, bool),
            done=True,
            terminal=True,
            **common,
        )
    )
    learner.observe(
        TransitionBatch(
            agent_idx=agents,
            obs=obs,
            action=actions,
            mask=mask,
            reward=np.full(2, reward),
            obs_next=obs,
            mask_next=mask,
            tau=np.ones(2),
            done=np.ones(2, bool),
            terminal=np.ones(2, bool),
            t_start=np.zeros(2),
            t_end=np.ones(2),
            episode=episode,
        )
    )
    metrics = []
    while learner.ready():
        metrics.append(learner.update())
    learner.end_episode(episode)
    while learner.ready():
        metrics.append(learner.update())
    return actions, metrics
