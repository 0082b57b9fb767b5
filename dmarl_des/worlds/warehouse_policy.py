"""The warehouse's scripted fleet controller and its Byzantine robots' actions.

The greedy controller decides for each robot alone, from its observation and initiation set:

* carrying a requested shelf: deliver it (to the nearest goal);
* carrying a shelf no longer requested: put it back (in the nearest free slot);
* carrying nothing: fetch the nearest requested shelf that no robot is heard to have claimed;
* nothing allowed of that: wait one step.

A robot stopped by a refused move simply chooses again: the world's backing off (a random step
aside before the next plan, ``world.backoff``) dissolves the jams.
"""

from __future__ import annotations

import numpy as np

from dmarl_des.worlds.warehouse_observe import LOADED, REQUESTED
from dmarl_des.worlds.warehouse_plans import MacroIndex


class GreedyFleet:
    """The scripted policy (see the module) over the macro-actions ``index``."""

    def __init__(self, index: MacroIndex) -> None:
        self.fetch = 0
        self.deliver = index.deliver
        self.put_back = index.put_back
        self.wait = index.wait

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
        return choice

    def reset(self, agent_idx: np.ndarray | None = None) -> None:
        """Stateless."""


def hoarding_actions(loaded: np.ndarray, mask: np.ndarray, index: MacroIndex) -> np.ndarray:
    """What a Byzantine robot does to hurt the fleet: fetch requested shelves and put them back
    elsewhere, never delivering (wait when neither is allowed); ``loaded`` [B] bool."""
    choice = np.full(len(loaded), index.wait, dtype=np.int64)
    choice[~loaded & mask[:, 0]] = 0
    choice[loaded & mask[:, index.put_back]] = index.put_back
    return choice
