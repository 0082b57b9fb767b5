"""The warehouse's scripted fleet controller and its Byzantine robots' actions.

The greedy controller decides for each robot alone, from its observation and initiation set:

* carrying a requested shelf: deliver it (to the nearest goal);
* carrying a shelf no longer requested: put it back (in the nearest free slot);
* carrying nothing: fetch the nearest requested shelf that no robot is heard to have claimed;
* nothing allowed of that: wait one step.

A robot whose last macro-action was stopped by a blocked move steps aside instead, with
probability ``aside`` (drawn from the policy's stream): robots facing each other in a corridor
both stop (they cannot swap cells), and retrying the same plan would stop them again.
"""

from __future__ import annotations

import numpy as np

from dmarl_des.worlds.warehouse_observe import BLOCKED, LOADED, REQUESTED


class GreedyFleet:
    """The scripted policy (see the module); macro-action indices from the world's layout:
    ``fetch`` the first fetch candidate, then ``deliver``, ``put_back``, ``wait``, ``aside``."""

    def __init__(
        self, rng: np.random.Generator, fetch: int, deliver: int, aside: float = 0.5
    ) -> None:
        self.rng = rng
        self.fetch = fetch
        self.deliver = deliver
        self.put_back = deliver + 1
        self.wait = deliver + 2
        self.step_aside = deliver + 3
        self.aside = aside

    def act(
        self, obs: np.ndarray, agent_idx: np.ndarray, mask: np.ndarray, *, explore: bool = True
    ) -> np.ndarray:
        loaded = obs[:, LOADED] > 0.5
        wanted = obs[:, REQUESTED] > 0.5
        deliver = wanted & mask[:, self.deliver]
        put_back = loaded & ~wanted & mask[:, self.put_back]
        fetch = ~loaded & mask[:, self.fetch]
        choice = np.full(len(agent_idx), self.wait, dtype=np.int64)
        choice[fetch] = self.fetch
        choice[put_back] = self.put_back
        choice[deliver] = self.deliver
        dodge = (obs[:, BLOCKED] > 0.5) & (self.rng.random(len(agent_idx)) < self.aside)
        choice[dodge & mask[:, self.step_aside]] = self.step_aside
        return choice

    def reset(self, agent_idx: np.ndarray | None = None) -> None:
        """Stateless."""


def hoarding_actions(loaded: np.ndarray, mask: np.ndarray, fetch: int, deliver: int) -> np.ndarray:
    """What a Byzantine robot does to hurt the fleet: fetch requested shelves and put them back
    elsewhere, never delivering (wait when neither is allowed); ``loaded`` [B] bool."""
    put_back, wait = deliver + 1, deliver + 2
    choice = np.full(len(loaded), wait, dtype=np.int64)
    choice[~loaded & mask[:, fetch]] = fetch
    choice[loaded & mask[:, put_back]] = put_back
    return choice
