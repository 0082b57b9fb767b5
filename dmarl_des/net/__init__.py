"""Communication layer: topologies, link models, messages, inboxes and delivery between agents."""

from dmarl_des.net.inbox import Inbox, InboxWait
from dmarl_des.net.inbox_store import Drained, DrainedRefs
from dmarl_des.net.links import Arq, Bandwidth, DelayModel, LinkModel, LossModel
from dmarl_des.net.messages import REJECT_REASONS, Message, MessageKind, check_payload
from dmarl_des.net.network import Network
from dmarl_des.net.proximity import ProximityTopology
from dmarl_des.net.topology import (
    Topology,
    complete,
    grid,
    random_geometric,
    ring,
    scale_free,
    small_world,
)

__all__ = [
    "REJECT_REASONS",
    "Arq",
    "Bandwidth",
    "DelayModel",
    "Drained",
    "DrainedRefs",
    "Inbox",
    "InboxWait",
    "LinkModel",
    "LossModel",
    "Message",
    "MessageKind",
    "Network",
    "ProximityTopology",
    "Topology",
    "check_payload",
    "complete",
    "grid",
    "random_geometric",
    "ring",
    "scale_free",
    "small_world",
]
