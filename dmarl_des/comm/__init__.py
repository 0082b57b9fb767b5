"""Learning over the network: a learner's exchanged vectors as message kinds, rounds at their cadence.

Learners declare what their agents exchange (``dmarl_des.learn.exchange.Exchange``: a named
per-agent float32 vector of a declared size, bound and cadence); ``LearningRounds`` carries those
vectors through the world's ``Network`` as messages of their own kinds and inboxes, at rounds
that are world events, and hands the learner what arrived (``collect``). See docs/declearn.md.
"""

from dmarl_des.comm.collect import collect
from dmarl_des.comm.kinds import LEARNING_TRAFFIC, exchange_kind, learning_inbox_limit
from dmarl_des.comm.rounds import LearningRounds, exchanging

__all__ = [
    "LEARNING_TRAFFIC",
    "LearningRounds",
    "collect",
    "exchange_kind",
    "exchanging",
    "learning_inbox_limit",
]
