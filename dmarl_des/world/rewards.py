"""Reward events of one episode: the team's and each agent's own, and the macro-actions they belong to.

Who earns a reward is said by its *stamp* (the ``dmarl_des.macro`` docstring has the exact
windows): a macro-action chosen at ``t0`` whose transition closes at ``t1`` owns the rewards
stamped in ``[t0, t1)``, the team's rewards for every agent's running macro-action, an agent's own
rewards for that agent's only. ``World.give_reward`` picks the stamp when none is given:

* A reward given *by a running macro-action* — from ``end_many`` while it ends (timed worlds), or
  from its behaviour (worlds whose agents run as processes) after its start instant — is stamped
  ``t⁻``, the float just below now. It belongs to the macro-actions running up to now, the
  ending ones included, and to none starting now. This is "a reward produced when a macro-action
  ends belongs to that macro-action" (an arrival, a delivery, a push completing).
* A reward given by anything else at ``t`` — a world process (``every``), a tick, a fault, a
  message handler — or by a behaviour at its own start instant is stamped ``t``: it belongs to
  the macro-actions running from ``t`` on (a reward at a decision instant goes to the macro-action
  that starts there).
* A stamp never reaches back into windows already squeezed: ``t⁻`` becomes ``t`` when the
  transitions ending at ``t`` were already closed (a macro-action of zero duration, ended after
  the decisions of its own instant, owns no time and hence no reward). An explicit stamp there is
  an error.

Rewards are discounted from their stamp, so ``t⁻`` and ``t`` weigh the same to within one unit
in the last place.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import simpy

from dmarl_des.agent import AgentProcess, SimAgent
from dmarl_des.errors import ConfigError
from dmarl_des.macro import RewardLedger
from dmarl_des.world.slots import Slots


class Rewards:
    """The team's ledger, the agents' own ledgers and how far transitions were squeezed.

    ``pooled`` holds every own reward once per agent it was given to (an agent's own reward of
    ``r`` given to ``k`` agents adds ``k · r``): the team earned the team's rewards plus the pooled
    ones, and its average reward is ``team + pooled / N`` (N slots).
    """

    def __init__(self) -> None:
        self.team = RewardLedger()
        self.own: dict[int, RewardLedger] = {}
        self.pooled = RewardLedger()
        self.squeezed_until = 0.0
        """Latest end ``t1`` of a squeezed transition this episode: stamps before it are closed."""
        self.ending = False
        """True while ``end_many`` runs: rewards given then belong to the ending macro-actions."""

    def clear(self) -> None:
        """Forget the episode's rewards."""
        self.team.clear()
        self.own.clear()
        self.pooled.clear()
        self.squeezed_until = 0.0
        self.ending = False

    def credit_stamp(self, now: float) -> float:
        """The default stamp of a reward given by a running macro-action at ``now``: ``now⁻``
        (or ``now`` when the windows ending at ``now`` were already squeezed)."""
        before = math.nextafter(now, -math.inf)
        return before if before >= self.squeezed_until else now

    def add(
        self, amount: float, stamp: float, now: float, slots: Iterable[int] | None = None
    ) -> None:
        """Record a reward of the team (``slots=None``) or of the agents in ``slots``."""
        if stamp > now + 1e-12:
            raise ConfigError("reward stamp", stamp, f"a time <= now ({now})")
        if stamp < self.squeezed_until:
            raise ConfigError(
                "reward stamp",
                stamp,
                f"a time >= {self.squeezed_until}: a macro-action owning that stamp was already "
                "squeezed; give rewards no later than the decision instant that ends it",
            )
        if slots is None:
            self.team.add(float(amount), stamp)
            return
        count = 0
        for i in slots:
            ledger = self.own.get(i)
            if ledger is None:
                ledger = self.own[i] = RewardLedger(16)
            ledger.add(float(amount), stamp)
            count += 1
        if count:
            self.pooled.add(float(amount) * count, stamp)

    def total(self) -> float:
        """Σ r of the episode: the team's rewards and every agent's own."""
        return self.team.total() + self.pooled.total()

    def discounted_total(self, gamma: float) -> float:
        """Σ γ^s r_s from t = 0 over the team's rewards and every agent's own."""
        return self.team.discounted_total(gamma) + self.pooled.discounted_total(gamma)

    def average_windows(
        self, t0: np.ndarray, t1: np.ndarray, done: np.ndarray, gamma: float, n: int
    ) -> np.ndarray:
        """Per row, the team-average reward squeezed over the row's window:
        Σ γ^(s−t0) (team + pooled / n) — what every agent earned there, averaged over ``n``."""
        team, _ = self.team.windows(t0, t1, gamma, done)
        if len(self.pooled):
            pooled, _ = self.pooled.windows(t0, t1, gamma, done)
            team = team + pooled / n
        return team

    def windows(
        self,
        idx: np.ndarray,
        t0: np.ndarray,
        t1: np.ndarray,
        done: np.ndarray,
        gamma: float,
        *,
        discounted: bool,
    ) -> tuple[np.ndarray | None, np.ndarray]:
        """Per row: (Σ γ^(s−t0) r or None when not ``discounted``, Σ r) over the row's window —
        the team's rewards plus the row agent's own; ``done`` rows are closed on the right."""
        if discounted:
            rewards, totals = self.team.windows(t0, t1, gamma, done)
        else:
            rewards, totals = None, self.team.totals(t0, t1, done)
        if self.own:
            for k, i in enumerate(idx.tolist()):
                own = self.own.get(i)
                if own is not None:
                    d2, t2 = own.window(t0[k], t1[k], gamma, done[k])
                    if rewards is not None:
                        rewards[k] += d2
                    totals[k] += t2
        return rewards, totals


def given_by_behaviour(env: simpy.Environment, agents: Sequence[SimAgent], slots: Slots) -> bool:
    """True when the code running now is an agent's macro-action behaviour past its start
    instant (the active SimPy process is that agent's, and its macro-action started earlier)."""
    process = env.active_process
    if not isinstance(process, AgentProcess):
        return False
    agent = process.agent
    i = agent.idx
    return agents[i] is agent and slots.action[i] >= 0 and slots.t_start[i] < env.now
