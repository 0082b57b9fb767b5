"""Fault injection: crash-stop and crash-recover, omission, Byzantine agents, link cuts, partitions, churn."""

from dmarl_des.faults.action_attacks import ActionAttack
from dmarl_des.faults.injector import CONCERNS, FAULTY_KINDS, FaultInjector
from dmarl_des.faults.links import LinkFaults, partition_groups
from dmarl_des.faults.message_attacks import GARBAGE_KINDS, MESSAGE_ATTACKS, MessageAttack
from dmarl_des.faults.outgoing import OutgoingFaults
from dmarl_des.faults.selection import FaultBounds, FaultySet, bounds_hold
from dmarl_des.faults.target import ActionOverride, FaultTarget, FaultyAgent
from dmarl_des.faults.timing import downtime, strike_times

__all__ = [
    "CONCERNS",
    "FAULTY_KINDS",
    "GARBAGE_KINDS",
    "MESSAGE_ATTACKS",
    "ActionAttack",
    "ActionOverride",
    "FaultBounds",
    "FaultInjector",
    "FaultTarget",
    "FaultyAgent",
    "FaultySet",
    "LinkFaults",
    "MessageAttack",
    "OutgoingFaults",
    "bounds_hold",
    "downtime",
    "partition_groups",
    "strike_times",
]
