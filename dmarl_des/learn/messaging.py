"""What a communicating policy says and hears: learned messages sent when agents decide, received through the network.

A *communicating* policy (``Messaging``) gives every agent that decides a message — a learned
embedding (graph-attention policies) or its announced macro-action (mean-field learners) — as a
float32 vector of a declared size (``MessageSpec``). The simulator (``dmarl_des.comm.speech``)
carries those vectors through the world's network as messages of their own kind, under the
scenario's sending rule and byte budget (``comm.*``), and before each decision batch hands the
policy what its deciding agents *heard* (``Heard``): for each of its current neighbours, the
latest message that arrived from it, if any, with its age. Nothing here knows the network: the
records are plain arrays.

Order at a decision flush (``dmarl_des.world.decisions``): ``hear`` (the batch's messages) →
the batch's ending macro-actions are closed and handed to a learner → ``act`` → ``spoken``
(the batch's messages and send scores) → the rule and the budget decide who transmits →
``transmitted`` (who did, and the bytes each put on the air).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from dmarl_des.errors import ConfigError

__all__ = ["Heard", "MessageSpec", "Messaging", "Spoken"]


@dataclass(frozen=True, slots=True)
class MessageSpec:
    """The message a policy's agents send: ``size`` float32 entries of magnitude at most
    ``bound`` (receivers reject larger ones), as message kind ``name``. With ``position`` the
    simulator appends the sender's position (2 entries, world units) in worlds that have
    positions, and hands receivers each message's offset from them (``Heard.offset``)."""

    name: str
    size: int
    bound: float = 1e3
    position: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError("message.name", self.name, "a non-empty name")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 1:
            raise ConfigError(f"message[{self.name}].size", self.size, "an integer >= 1")
        if not (isinstance(self.bound, int | float) and self.bound > 0):
            raise ConfigError(f"message[{self.name}].bound", self.bound, "a number > 0")


@dataclass(frozen=True, slots=True)
class Heard:
    """What the agents of one decision batch heard: the latest message of each neighbour.

    ``agents`` [B] are the deciding agents in batch order. Message ``m`` was heard by
    ``agents[row[m]]`` from ``sender[m]``, a current neighbour (rows ascend; within a row,
    senders ascend); it was sent ``age[m]`` time units ago (≥ 0) and ``fresh[m]`` says whether
    it arrived since the receiver's previous decision. ``vectors`` [M, size] are the message
    entries as received (tampered ones included); ``offset`` [M, 2] (or None) is the sender's
    position when it sent minus the receiver's position now. A neighbour none of whose
    messages arrived is absent: a receiver with no row heard nothing.
    """

    time: float
    agents: np.ndarray
    row: np.ndarray
    sender: np.ndarray
    age: np.ndarray
    fresh: np.ndarray
    vectors: np.ndarray
    offset: np.ndarray | None = None
    counts: Mapping[str, int] = field(default_factory=dict)
    """What the batch found: ``used`` messages, of which ``stale`` (the sender has sent a newer
    one since, lost or still in flight), ``missing`` (neighbours that sent this episode but none
    of whose messages arrived) and ``silent`` (neighbours that have sent nothing yet)."""

    def __len__(self) -> int:
        return int(self.row.shape[0])

    @staticmethod
    def empty(time: float, agents: np.ndarray, size: int, offsets: bool = False) -> Heard:
        """A batch that heard nothing."""
        none = np.zeros(0, dtype=np.int64)
        return Heard(
            time=time,
            agents=np.asarray(agents, dtype=np.int64),
            row=none,
            sender=none,
            age=np.zeros(0),
            fresh=np.zeros(0, dtype=bool),
            vectors=np.zeros((0, size), dtype=np.float32),
            offset=np.zeros((0, 2), dtype=np.float32) if offsets else None,
        )


@dataclass(frozen=True, slots=True)
class Spoken:
    """The messages of the agents that just decided (batch order) and what a sending rule needs.

    ``vectors`` [B, size] float32; ``confidence`` [B] the gap between the two best macro-actions'
    scores (Q-values or probabilities; ``vbc`` requests messages when it is small), or None;
    ``gate`` [B] bool, the policy's learned send/no-send decision (``gate`` rule), or None.
    """

    vectors: np.ndarray
    confidence: np.ndarray | None = None
    gate: np.ndarray | None = None


@runtime_checkable
class Messaging(Protocol):
    """A policy whose agents send learned messages when they decide (module docstring)."""

    def message_spec(self) -> MessageSpec:
        """The message the agents send (fixed for the policy's lifetime)."""
        ...

    def hear(self, heard: Heard) -> None:
        """What the agents of the coming decision batch heard (before the batch's transitions
        close and before ``act``)."""
        ...

    def spoken(self, agents: np.ndarray) -> Spoken:
        """Right after ``act``: the messages of ``agents`` (the batch just served)."""
        ...

    def transmitted(self, agents: np.ndarray, sent_bytes: np.ndarray) -> None:
        """Which of ``agents`` transmitted, and how many bytes each put on the air (0: none)."""
        ...


def messaging(policy: object) -> bool:
    """True for a policy that sends learned messages (a ``Messaging`` policy whose
    ``communicates`` attribute, if any, is true)."""
    return (
        callable(getattr(policy, "message_spec", None))
        and callable(getattr(policy, "hear", None))
        and bool(getattr(policy, "communicates", True))
    )
