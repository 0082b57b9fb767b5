"""What fault injection needs from a world: the `FaultTarget` protocol (a World provides it)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
import simpy

from dmarl_des.net import Network

ActionOverride = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
"""fn(agent_idx [B], actions [B], mask [B, A]) -> actions [B]: replaces the actions of a batch."""


class FaultyAgent(Protocol):
    """The parts of an agent fault injection reads (and ``role``, which it sets to byzantine)."""

    agent_id: int
    role: str  # "honest" | "crashed" | "byzantine" | "left"
    alive: bool


class FaultTarget(Protocol):
    """The services of a world that faults act through.

    Agents are addressed by their slot ``idx`` (0..N-1, the network's agent index); a slot keeps
    its index when its agent leaves and a new one (with a new ``agent_id``) joins in it.
    """

    env: simpy.Environment
    network: Network | None
    sim_agents: Sequence[FaultyAgent]
    up: np.ndarray  # [N] bool: the slot's agent is present and not crashed
    action_override: ActionOverride | None

    @property
    def n_actions(self) -> int: ...

    def crash_agent(self, idx: int, reason: str = "crash") -> bool:
        """Stop the agent now (records the `crash` row); False when it was already down."""
        ...

    def recover_agent(self, idx: int, *, reset_params: bool = False) -> bool:
        """Restart a crashed agent (records the `recover` row); False when it cannot."""
        ...

    def leave_agent(self, idx: int) -> bool:
        """The agent leaves the episode (records the `leave` row); False when it already left."""
        ...

    def join_agent(self) -> int | None:
        """A new agent joins a free slot (records the `join` row); its id, or None if none free."""
        ...

    def record_fault(self, kind: str, agent_id: int | None = None, detail: str = "") -> None:
        """One row of the `faults` table at the current time."""
        ...

    def learning_fault(self, idx: int, mode: str) -> None:
        """From now on agent ``idx`` learns as ``mode`` says (``greedy`` or ``faulty``, see
        ``faults.byzantine.learning``); a world whose policy does not learn ignores it."""
        ...

    def adversarial_actions(self, agent_idx: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
        """Actions that hurt the team for these agents, or None when the world has none."""
        ...
