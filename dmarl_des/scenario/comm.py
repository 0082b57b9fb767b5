"""The `comm.*` keys: how agents send the learned messages of a communicating policy, and their byte budget.

A communicating policy (graph-attention messages, announced macro-actions for mean-field
learners; see docs/declearn_comm.md) computes a message for every agent that decides. These keys
say which of those messages actually go on the air:

* ``send`` — the sending rule: ``always`` (every message), ``event`` (event-triggered: only when
  the message moved by at least ``delta`` in Euclidean norm since the agent's last sent one; the
  first one is always sent), ``vbc`` (variance-based control: an agent whose decision is
  uncertain — the gap between its two best macro-actions below ``vbc_confidence`` — broadcasts a
  request; an agent that heard a request since it last sent replies with its message when the
  message's variance across its entries is at least ``vbc_variance``), ``gate`` (the policy's
  own learned send/no-send gate);
* ``budget`` — bytes per unit time each agent may put on the air (0: no budget), enforced by a
  token bucket of depth ``burst`` bytes (0: one message) that starts full: a broadcast costs its
  message size once (one transmission on the radio, whoever hears it; the network's tables count
  it once per recipient), and one the bucket cannot pay is not sent, so an agent never transmits
  more than ``burst + budget · t`` bytes by time ``t`` of an episode;
* ``period`` — a communication tick (0: none): besides the decision instants, every ``period``
  every agent up offers its latest message again, under the same rule and budget.

The defaults (always send, no budget, no tick) are the papers' ideal channel; the section is left
out of a scenario's canonical form while it has them, so scenarios without it keep their run ids.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field

from dmarl_des.bounds import Period, Real, RealOrInf
from dmarl_des.scenario.validation import Spec

SEND_RULES = ("always", "event", "vbc", "gate")


class CommSpec(Spec):
    """How the learned messages of a communicating policy are sent (module docstring)."""

    send: Literal["always", "event", "vbc", "gate"] = Field(
        "always", description="sending rule: always | event | vbc | gate"
    )
    delta: RealOrInf = Field(
        0.0,
        ge=0.0,
        description="event rule: send when the message moved by >= delta since the last sent "
        "one (0: every time; inf: never after the first)",
    )
    vbc_confidence: RealOrInf = Field(
        0.0, ge=0.0, description="vbc rule: request messages when the decision gap is below it"
    )
    vbc_variance: RealOrInf = Field(
        0.0, ge=0.0, description="vbc rule: reply when the message's variance is at least it"
    )
    budget: Real = Field(
        0.0, ge=0.0, description="bytes per unit time each agent may send (0: no budget)"
    )
    burst: Real = Field(
        0.0,
        ge=0.0,
        description="depth of the budget's token bucket in bytes (0: one message)",
    )
    period: Period = Field(0.0, ge=0.0, description="communication tick (0: decision instants)")

    @property
    def is_default(self) -> bool:
        """True for the ideal channel (nothing configured)."""
        return self == CommSpec()

    @property
    def limited(self) -> bool:
        """True when a byte budget applies."""
        return self.budget > 0.0 and math.isfinite(self.budget)
