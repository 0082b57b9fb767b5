"""The network's outgoing filter under faults: omission, then Byzantine message attacks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from dmarl_des.faults.message_attacks import MessageAttack
from dmarl_des.faults.target import FaultTarget, FaultyAgent
from dmarl_des.net.fanout import PairVerdicts, PayloadRows

_NONE = np.empty(0, dtype=np.int64)
_NONE.flags.writeable = False


class OutgoingFaults:
    """Per sender slot: an omission probability and whether its sends are tampered with.

    A fault is tied to the agent it struck, not to the slot: once that agent left and another
    joined in its slot, the newcomer sends normally.

    Called by the network on every send as ``fn(src, dsts, payloads, kind)``:

    1. an omitting sender drops each recipient independently with probability ``p`` (one uniform
       draw per recipient from the omission rng, whatever the outcome);
    2. a Byzantine sender's remaining payloads go through its :class:`MessageAttack`.

    ``many`` decides a whole ``broadcast_many`` call at once with the same draws and values
    (omission draws for the omitting senders' recipients in call order, then the attack on the
    kept recipients of the Byzantine ones), when the attack works row by row on a numeric stack.
    """

    clock_free = True
    """Verdicts never read the clock (faults change at their own events): a network with this
    filter keeps its lookahead, so windows of exact instants stay on."""

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
        self._active = np.zeros(n, dtype=bool)

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

    def senders(self) -> np.ndarray:
        """The slots this filter may act on: every slot that omits or tampers, or will."""
        return np.flatnonzero(self._active)

    def watch(self, idx: np.ndarray) -> None:
        """Slots whose agents are targeted (struck now or later)."""
        self._active[idx] = True

    def many(
        self,
        kind: str,
        ids: np.ndarray,
        filtered: np.ndarray,
        sender: np.ndarray,
        dsts: np.ndarray,
        rows: PayloadRows,
    ) -> PairVerdicts | None:
        """The verdicts on every (sender, recipient) pair of one ``broadcast_many`` call (see
        the class), or None when the attack must run send after send."""
        agents = self.target.sim_agents
        at = np.flatnonzero(filtered)
        srcs = ids[at].tolist()
        omitter, byzantine, attack = self._omitter, self._byzantine, self.attack
        omitting = [k for k, s in enumerate(srcs) if omitter[s] is agents[s]]
        tampering = []
        if attack is not None:
            tampering = [
                k
                for k, s in enumerate(srcs)
                if byzantine[s] is agents[s] and agents[s].role == "byzantine"
            ]
        stack = rows.block.stack
        if tampering and (
            attack is None
            or not attack.row_wise
            or stack is None
            or rows.block.objects
            or stack.dtype == object
        ):
            return None  # before any draw: the filter then runs sender after sender
        keep = None
        if omitting:
            on = np.zeros(ids.size, dtype=bool)
            on[at[omitting]] = True
            sel = np.flatnonzero(on[sender])  # the omitters' pairs, in call order
            keep = np.ones(sender.size, dtype=bool)
            keep[sel] = self.rng.random(sel.size) >= self.p[ids[sender[sel]]]
        if not tampering:
            return PairVerdicts(keep, _NONE, None)
        assert attack is not None and stack is not None
        on = np.zeros(ids.size, dtype=bool)
        on[at[tampering]] = True
        hit = on[sender]
        if keep is not None:
            hit &= keep
        t = np.flatnonzero(hit)
        if not t.size:
            return PairVerdicts(keep, _NONE, None)
        owner = sender[t]
        positions = None
        if attack.needs_positions:
            first = np.flatnonzero(np.concatenate(([True], owner[1:] != owner[:-1])))
            positions = np.arange(t.size) - np.repeat(first, np.diff(np.append(first, t.size)))
        tampered = attack.tamper_rows(stack[rows.entry[owner]], positions)
        return PairVerdicts(keep, t, tampered)
