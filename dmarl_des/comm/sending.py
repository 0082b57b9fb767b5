"""Who transmits a learned message: the sending rules of `comm.send` and the byte budget's token bucket.

``SendingRule.choose`` says, for agents offering a message now, which of them the rule lets
transmit (see ``dmarl_des.scenario.comm``):

* ``always`` — every one;
* ``event`` — an agent that never sent this episode, or whose message moved by at least
  ``delta`` (Euclidean norm) since the last one it *transmitted*: ``δ = 0`` sends every time,
  ``δ = inf`` never after the first;
* ``vbc`` — an agent that heard a request since it last transmitted, whose message's variance
  across its entries is at least ``vbc_variance`` (an uninformative, flat message is not worth
  the bytes); requests come from agents whose decision gap is below ``vbc_confidence``;
* ``gate`` — an agent whose policy's gate says send.

``TokenBucket`` enforces ``comm.budget``: each agent's bucket holds at most ``depth`` bytes,
starts full, refills at ``budget`` bytes per time unit, and pays each transmission's bytes; a
transmission it cannot pay is held back. So by time ``t`` of an episode an agent has transmitted
at most ``depth + budget · t`` bytes.
"""

from __future__ import annotations

import numpy as np

from dmarl_des.scenario.comm import CommSpec

__all__ = ["SendingRule", "TokenBucket"]


class TokenBucket:
    """A per-agent byte budget (module docstring); ``rate = 0`` means no budget."""

    def __init__(self, n: int, rate: float, depth: float) -> None:
        self.rate = float(rate)
        self.depth = float(depth)
        self.n = int(n)
        self.reset()

    def reset(self) -> None:
        """Full buckets at time 0 (a new episode)."""
        self.tokens = np.full(self.n, self.depth)
        self.t_last = np.zeros(self.n)

    def pay(self, agents: np.ndarray, cost: np.ndarray, now: float) -> np.ndarray:
        """Refill ``agents``' buckets up to ``now`` and pay ``cost`` [S] bytes where the bucket
        holds enough; returns the mask of those that paid (all of them without a budget).
        ``agents`` are distinct."""
        if self.rate <= 0.0:
            return np.ones(agents.size, dtype=bool)
        level = np.minimum(
            self.depth, self.tokens[agents] + self.rate * (now - self.t_last[agents])
        )
        ok = level + 1e-9 >= cost
        self.tokens[agents] = np.where(ok, level - cost, level)
        self.t_last[agents] = now
        return ok


class SendingRule:
    """The ``comm.send`` rule over ``n`` agents with messages of ``size`` entries."""

    def __init__(self, spec: CommSpec, n: int, size: int) -> None:
        self.spec = spec
        self.n = int(n)
        self.size = int(size)
        self.reset()

    def reset(self) -> None:
        """Nothing sent, nothing requested (a new episode)."""
        self.last_sent = np.zeros((self.n, self.size), dtype=np.float32)
        self.has_sent = np.zeros(self.n, dtype=bool)
        self.requested = np.zeros(self.n, dtype=bool)

    def forget(self, agents: np.ndarray) -> None:
        """Agents that start over (recovered): as if they had never sent."""
        self.has_sent[agents] = False
        self.requested[agents] = False

    def choose(
        self,
        agents: np.ndarray,
        vectors: np.ndarray,
        gate: np.ndarray | None = None,
    ) -> np.ndarray:
        """Mask of ``agents`` (distinct) the rule lets transmit ``vectors`` [S, size] now."""
        rule = self.spec.send
        if rule == "always":
            return np.ones(agents.size, dtype=bool)
        if rule == "event":
            change = vectors.astype(np.float64) - self.last_sent[agents].astype(np.float64)
            moved = np.linalg.norm(change, axis=1)
            return ~self.has_sent[agents] | (moved >= self.spec.delta)
        if rule == "vbc":
            spread = vectors.var(axis=1) if vectors.shape[1] > 1 else np.abs(vectors[:, 0])
            return self.requested[agents] & (spread >= self.spec.vbc_variance)
        if gate is None:  # rule "gate" with a policy without a gate: it never sends
            return np.zeros(agents.size, dtype=bool)
        return np.asarray(gate, dtype=bool).copy()

    def requests(self, confidence: np.ndarray | None) -> np.ndarray | None:
        """Mask of deciding agents that request messages (rule ``vbc``: decision gap below
        ``vbc_confidence``), or None under the other rules."""
        if self.spec.send != "vbc":
            return None
        if confidence is None:
            return np.zeros(0, dtype=bool)
        return np.asarray(confidence) < self.spec.vbc_confidence

    def sent(self, agents: np.ndarray, vectors: np.ndarray) -> None:
        """``agents`` transmitted ``vectors``: the event rule's reference, requests answered."""
        self.last_sent[agents] = vectors
        self.has_sent[agents] = True
        self.requested[agents] = False
