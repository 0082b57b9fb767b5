"""Serving a decision batch: observe, close the ending macro-actions, decide, start the new ones.

``serve(idx)`` is the ``DecisionBatcher``'s callback; it runs at the decision flush of an instant
(priority ``DECISIONS``), after every other event of that instant, for the slots that asked, in
the order they asked. In this order it

1. ends the episode instead when the decision budget (``max_decisions``) is spent;
2. reads the observations (``observe_many``) and initiation sets (``mask_many``) of the batch —
   so they reflect everything that happened at this instant;
3. closes the macro-actions that end here into transitions and emits every pending transition
   (rewards given up to now are counted; the learner sees them before it decides);
4. calls the policy once for the batch (``explore`` in training episodes), then lets faults
   replace the actions of Byzantine agents (``action_override``);
5. records the new macro-actions (index, start, observation, mask) and, for joint learners, hands
   over the decision epoch;
6. starts timed macro-actions (``begin_many``) when the agents live in arrays; agents run as
   processes start their behaviours when the batcher answers them, right after this flush.

With a policy that sends learned messages (``dmarl_des.comm.Speech``), the batch first *hears*
(before step 2: what arrived from each neighbour is handed to the policy) and *speaks* right
after step 4 (the rule and the byte budget choose who transmits its message).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from dmarl_des.learn.protocol import Policy
from dmarl_des.world.learning import Learning
from dmarl_des.world.slots import Slots
from dmarl_des.world.timed import TimedMacroActions
from dmarl_des.world.transitions import Transitions

ActionOverride = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


class DecisionServer:
    """Serves the decision batches of a world (see the module docstring for the order)."""

    def __init__(
        self,
        world: Any,
        slots: Slots,
        transitions: Transitions,
        learning: Learning,
        timed: TimedMacroActions | None,
    ) -> None:
        self.world = world
        self.slots = slots
        self.transitions = transitions
        self.learning = learning
        self.timed = timed
        """Set when the agents live in arrays: new macro-actions are started here."""
        self.max_decisions: int | None = world.scenario.max_decisions
        self.stop_episode: Callable[[], None] = lambda: None
        """Ends the episode now (set by the world: the episode runner's ``end_now``)."""
        self.speech: Any = None
        """The episode's learned messages (``dmarl_des.comm.Speech``), or None."""

    def decide(self, obs: np.ndarray, idx: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The policy's actions for a batch, after fault overrides (Byzantine agents)."""
        world = self.world
        policy: Policy = world.policy
        actions = policy.act(obs, idx, mask, explore=world.phase == "train")
        override: ActionOverride | None = world.action_override
        if override is not None:
            actions = override(idx, np.asarray(actions, dtype=np.int64), mask)
        return np.asarray(actions, dtype=np.int64)

    def serve(self, idx: np.ndarray) -> np.ndarray | None:
        """One decision batch for slots ``idx``; None when the episode ended instead."""
        limit = self.max_decisions
        if limit is not None and self.world.batcher.n_decisions >= limit:
            self.stop_episode()
            return None
        speech = self.speech
        if speech is not None:
            speech.hear(idx)
        obs, mask = self.prepare(idx)
        actions = self.decide(obs, idx, mask)
        if speech is not None:
            speech.speak(idx)
        self.apply(idx, actions, obs, mask)
        return actions

    def serve_window(self, idx: np.ndarray, at: np.ndarray) -> np.ndarray:
        """One decision batch for the rows of a window of exact instants (``windows.py``):
        slot ``idx[k]`` decides at time ``at[k]``; counted as one batch."""
        obs, mask = self.prepare(idx, at)
        actions = self.decide(obs, idx, mask)
        self.apply(idx, actions, obs, mask, at)
        self.world.batcher.answer(idx, None, actions)
        return actions

    def prepare(
        self, idx: np.ndarray, at: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Steps 2–3: the batch's observations and masks, with its ending macro-actions closed
        (now, or each row at its time ``at``) and every pending transition emitted. A driver
        that decides elsewhere (one decision at a time) calls ``prepare``, then ``apply`` with
        its actions."""
        world = self.world
        obs = world.observe_many(idx)
        mask = world.mask_many(idx)
        now: float | np.ndarray = float(world.env.now) if at is None else at
        was_open = self.slots.action[idx] >= 0
        if was_open.all():
            self.transitions.close(idx, now, obs, mask, done=False)
        elif was_open.any():
            if at is not None:
                now = at[was_open]
            self.transitions.close(idx[was_open], now, obs[was_open], mask[was_open], done=False)
        self.transitions.emit()
        return obs, mask

    def apply(
        self,
        idx: np.ndarray,
        actions: np.ndarray,
        obs: np.ndarray,
        mask: np.ndarray,
        at: np.ndarray | None = None,
    ) -> None:
        """Steps 5–6: record and start the chosen macro-actions of slots ``idx`` (now, or each
        at its time ``at``)."""
        slots = self.slots
        now: float | np.ndarray = float(self.world.env.now) if at is None else at
        one = len(idx) == 1 and getattr(obs, "ndim", 0) == 2 and getattr(mask, "ndim", 0) == 2
        if one and at is not None:
            now = float(at[0])
        if one:  # one agent (continuous time): the same writes through an int index
            i = int(idx[0])
            slots.action[i] = actions[0]
            slots.t_start[i] = now
            slots.obs[i] = obs[0]
            slots.mask[i] = mask[0]
            slots.n_decisions[i] += 1
        else:
            slots.action[idx] = actions
            slots.t_start[idx] = now
            slots.obs[idx] = obs
            slots.mask[idx] = mask
            slots.n_decisions[idx] += 1
        if self.learning.joint is not None:
            deciding = np.zeros(slots.n, dtype=bool)
            deciding[idx] = True
            self.learning.epoch(deciding, self.world.global_state(), done=False, terminal=False)
        if self.timed is not None:
            self.timed.start(idx, actions, at)
