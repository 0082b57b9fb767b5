"""The network's outgoing filter under faults: omission, then Byzantine message attacks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from dmarl_des.faults.message_attacks import MessageAttack
from dmarl_des.faults.target import FaultTarget, FaultyAgent


class OutgoingFaults:
    """Per sender slot: an omission probability and whether its sends are tampered with.

    A fault is tied to the agent it struck, not to the slot: once that agent left and another
    joined in its slot, the newcomer sends normally.

    Called by the network on every send as ``fn(src, dsts, payloads, kind)``:

    1. an omitting sender drops each recipient independently with probability ``p`` (one uniform
       draw per recipient from the omission rng, whatever the outcome);
    2. a Byzantine sender's remaining payloads go through its :class:`MessageAttack`.
    """

    def __init__(
        self,
        target: FaultTarget,
        omission_rng: np.random.Generator,
        attack: MessageAttack | None = None,
    ) -> None:
        n = len(target.sim_agents)
        self.target = target
        self.rng = omission_rng
        self.attack = attack
        self.p = np.zeros(n, dtype=np.float64)
        self._omitter: list[FaultyAgent | None] = [None] * n
        self._byzantine: list[FaultyAgent | None] = [None] * n

    def omit(self, idx: int, p: float) -> None:
        """From now on, the agent in slot ``idx`` drops each outgoing message with probability p."""
        self.p[idx] = p
        self._omitter[idx] = self.target.sim_agents[idx]

    def tamper(self, idx: int) -> None:
        """From now on, the agent in slot ``idx`` sends tampered payloads."""
        self._byzantine[idx] = self.target.sim_agents[idx]

    def __call__(
        self, src: int, dsts: np.ndarray, payloads: list[Any], kind: str = ""
    ) -> tuple[np.ndarray, Sequence[Any]]:
        agent = self.target.sim_agents[src]
        if self._omitter[src] is agent and dsts.size:
            keep = self.rng.random(dsts.size) >= self.p[src]
            if not keep.all():
                dsts = dsts[keep]
                payloads = [p for p, k in zip(payloads, keep.tolist(), strict=True) if k]
        if (
            self.attack is not None
            and dsts.size
            and self._byzantine[src] is agent
            and agent.role == "byzantine"
        ):
            payloads = self.attack(src, payloads, kind)
        return dsts, payloads
