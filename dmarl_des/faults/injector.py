"""The fault injector: turns a scenario's `faults` section into events of one episode.

A world creates one ``FaultInjector(spec, world, rng)`` per episode, after its own processes and
network exist and before its agents start, and calls :meth:`FaultInjector.start`. Every random
choice comes from ``rng`` (the episode's "faults" stream), split once into independent child
generators, one per concern (selection, crash times, downtimes, omission drops, ...), so the
world's and the network's draws never depend on the faults, and changing one fault setting does
not shift the draws of another concern.

What happens at ``start()`` (time 0), in this order:

1. targets: first the explicit ids of every kind, then the random draws, each in the order
   Byzantine, crash, omission (a greedy random draw under ``faults.bound``; the three sets are
   disjoint; see ``selection``);
2. the network filters are installed (outgoing: omission and message attacks; links: cuts and the
   partition) and the action override for Byzantine action attacks;
3. one ``cut`` row per cut link;
4. strikes with ``start="begin"`` happen at once (a crashed agent is then never started);
   the others are scheduled, as are the partition window and the churn processes.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from dmarl_des.errors import ConfigError
from dmarl_des.faults.action_attacks import ActionAttack
from dmarl_des.faults.links import LinkFaults, partition_groups
from dmarl_des.faults.message_attacks import MessageAttack
from dmarl_des.faults.outgoing import OutgoingFaults
from dmarl_des.faults.selection import FaultBounds, FaultySet
from dmarl_des.faults.target import ActionOverride, FaultTarget, FaultyAgent
from dmarl_des.faults.timing import downtime, strike_times
from dmarl_des.scenario.faults import FaultSpec, TimingSpec

CONCERNS = (
    "selection",
    "crash",
    "recover",
    "omission",
    "omission_drops",
    "byzantine",
    "byzantine_actions",
    "byzantine_messages",
    "partition",
    "leave",
    "join",
)
"""The child generators split from the fault rng, in this fixed order."""

FAULTY_KINDS = ("byzantine", "crash", "omission")
"""Kinds whose targets count as faulty agents for the bounds, in the order they are chosen."""


class FaultInjector:
    """Injects the faults of ``spec`` into ``target`` for one episode, drawing only from ``rng``."""

    def __init__(self, spec: FaultSpec, target: FaultTarget, rng: np.random.Generator) -> None:
        if not isinstance(spec, FaultSpec):
            raise ConfigError("faults", spec, "a FaultSpec")
        if not isinstance(rng, np.random.Generator):
            raise ConfigError("rng", rng, "a numpy.random.Generator")
        self.spec = spec
        self.target = target
        self.rngs: dict[str, np.random.Generator] = dict(
            zip(CONCERNS, rng.spawn(len(CONCERNS)), strict=True)
        )
        self.targets: dict[str, np.ndarray] = {}
        """Slot indices chosen per kind (byzantine, crash, omission), set by :meth:`start`."""
        self.partition_groups: np.ndarray | None = None
        """Group label per slot when a partition is configured."""
        self.outgoing: OutgoingFaults | None = None
        self.links: LinkFaults | None = None
        self.actions: ActionAttack | None = None
        self._started = False

    # ================================================================== start
    def start(self) -> FaultInjector:
        """Choose targets, install filters and schedule every fault of the episode."""
        if self._started:
            raise ConfigError("FaultInjector.start", "called twice", "one start per injector")
        self._started = True
        spec, target = self.spec, self.target
        n = len(target.sim_agents)
        spec.check(n)
        self._check_network()
        self._choose_targets(n)
        self._install(n)
        for i, j in spec.cut_links:
            target.record_fault("cut", None, f"{i}-{j}")
        self._schedule_strikes()
        self._schedule_partition()
        self._schedule_churn()
        return self

    def _check_network(self) -> None:
        if self.target.network is not None:
            return
        spec = self.spec
        needs = {
            "faults.omission": spec.omission.targets_any,
            "faults.byzantine.messages": spec.byzantine.targets_any
            and bool(spec.byzantine.messages),
            "faults.cut_links": bool(spec.cut_links),
            "faults.partition.groups": spec.partition.groups > 0,
        }
        for field, needed in needs.items():
            if needed:
                raise ConfigError(
                    field, "set", "nothing: the agents of this world exchange no messages"
                )

    def _choose_targets(self, n: int) -> None:
        bound = self.spec.bound
        net = self.target.network
        chosen = FaultySet(
            n, FaultBounds(bound.total, bound.local), net.topology if net is not None else None
        )
        rng = self.rngs["selection"]
        for kind in FAULTY_KINDS:
            ids = getattr(self.spec, kind).ids
            self.targets[kind] = chosen.take_ids(ids, f"faults.{kind}.ids")
        for kind in FAULTY_KINDS:
            ks = getattr(self.spec, kind)
            if not ks.ids:
                self.targets[kind] = chosen.draw(ks.wanted(n), rng)

    def _install(self, n: int) -> None:
        spec, target = self.spec, self.target
        byz = spec.byzantine
        has_byz = self.targets["byzantine"].size > 0
        attack = None
        if has_byz and byz.messages:
            attack = MessageAttack(
                byz.messages,
                self.rngs["byzantine_messages"],
                scale=byz.scale,
                value=byz.value,
                lag=byz.lag,
            )
        net = target.network
        if net is not None and (attack is not None or self.targets["omission"].size):
            self.outgoing = OutgoingFaults(target, self.rngs["omission_drops"], attack)
            self.outgoing.watch(self.targets["omission"])
            if attack is not None:
                self.outgoing.watch(self.targets["byzantine"])
            # only the targeted senders pass through the filter: the others stay vectorized
            net.set_outgoing_filter(self.outgoing, senders=self.outgoing.senders())
        if has_byz and byz.actions != "none":
            self.actions = ActionAttack(byz.actions, target, self.rngs["byzantine_actions"])
            target.action_override = _compose(target.action_override, self.actions)
        groups = spec.partition.groups
        if net is not None and (spec.cut_links or groups):
            if groups:
                self.partition_groups = partition_groups(n, groups, self.rngs["partition"])
            window = (spec.partition.at, spec.partition.at + spec.partition.duration)
            self.links = LinkFaults(
                n, lambda: float(target.env.now), spec.cut_links, self.partition_groups, window
            )
            net.set_link_filter(self.links)

    # ================================================================== timed events
    def _at(self, t: float, fn: Callable[[], None]) -> None:
        """Run ``fn`` at simulated time ``t`` (through a timeout event; never if t is infinite)."""
        if not math.isfinite(t):
            return
        env = self.target.env
        env.timeout(max(t - float(env.now), 0.0)).callbacks.append(lambda _ev: fn())

    def _when(self, timing: TimingSpec, kind: str, act: Callable[[int, FaultyAgent], None]) -> None:
        idx = self.targets[kind]
        times = strike_times(timing, idx.size, self.rngs[kind])
        agents = self.target.sim_agents
        for i, t in zip(idx.tolist(), times.tolist(), strict=True):
            agent = agents[i]
            if timing.start == "begin":
                act(i, agent)
            else:
                self._at(t, lambda i=i, agent=agent: act(i, agent))

    def _schedule_strikes(self) -> None:
        spec = self.spec
        self._when(spec.byzantine, "byzantine", self._corrupt)
        self._when(spec.crash, "crash", self._crash)
        self._when(spec.omission, "omission", self._omit)

    def _present(self, idx: int, agent: FaultyAgent) -> bool:
        """The struck agent still holds its slot and has not left."""
        return self.target.sim_agents[idx] is agent and agent.role != "left"

    def _corrupt(self, idx: int, agent: FaultyAgent) -> None:
        if not self._present(idx, agent) or agent.role != "honest":
            return
        agent.role = "byzantine"
        if self.outgoing is not None:
            self.outgoing.tamper(idx)
        if self.actions is not None:
            self.actions.corrupt(idx)
        byz = self.spec.byzantine
        detail = f"actions={byz.actions} messages={'+'.join(byz.messages) or 'none'}"
        if byz.learning != "none":
            self.target.learning_fault(idx, byz.learning)
            detail += f" learning={byz.learning}"
        self.target.record_fault("byzantine", agent.agent_id, detail)

    def _omit(self, idx: int, agent: FaultyAgent) -> None:
        if not self._present(idx, agent):
            return
        assert self.outgoing is not None
        self.outgoing.omit(idx, self.spec.omission.p)
        self.target.record_fault("omission", agent.agent_id, f"p={self.spec.omission.p}")

    def _crash(self, idx: int, agent: FaultyAgent) -> None:
        if not self._present(idx, agent) or not self.target.crash_agent(idx):
            return
        recover = self.spec.recover
        if recover.enabled:
            t = float(self.target.env.now) + downtime(recover, self.rngs["recover"])
            self._at(t, lambda: self._recover(idx, agent))

    def _recover(self, idx: int, agent: FaultyAgent) -> None:
        if not self._present(idx, agent) or agent.alive:
            return
        reset = not self.spec.recover.keep_params
        if (
            self.target.recover_agent(idx, reset_params=reset)
            and self.spec.crash.start == "poisson"
        ):
            rate = self.spec.crash.rate
            t = float(self.target.env.now) + float(self.rngs["crash"].exponential(1.0 / rate))
            self._at(t, lambda: self._crash(idx, agent))

    def _schedule_partition(self) -> None:
        groups = self.partition_groups
        if groups is None:
            return
        part = self.spec.partition
        sizes = ",".join(str(int(s)) for s in np.bincount(groups, minlength=part.groups))
        detail = f"groups={part.groups} sizes={sizes}"
        self._at(part.at, lambda: self.target.record_fault("partition_start", None, detail))
        self._at(part.at + part.duration, lambda: self.target.record_fault("partition_end"))

    def _schedule_churn(self) -> None:
        churn = self.spec.churn
        if churn.leave_rate > 0:
            self._next_arrival("leave", churn.leave_rate, self._leave)
        if churn.join_rate > 0:
            self._next_arrival("join", churn.join_rate, self.target.join_agent)

    def _next_arrival(self, concern: str, rate: float, fn: Callable[[], object]) -> None:
        """Poisson process: run ``fn`` after an exponential gap, then schedule the next arrival."""
        gap = float(self.rngs[concern].exponential(1.0 / rate))

        def arrive() -> None:
            fn()
            self._next_arrival(concern, rate, fn)

        self._at(float(self.target.env.now) + gap, arrive)

    def _leave(self) -> None:
        present = np.flatnonzero(self.target.up)
        if present.size:
            idx = int(present[self.rngs["leave"].integers(present.size)])
            self.target.leave_agent(idx)


def _compose(first: ActionOverride | None, second: ActionOverride) -> ActionOverride:
    """An action override applying ``first`` (if any) then ``second``."""
    if first is None:
        return second
    return lambda idx, actions, mask: second(idx, first(idx, actions, mask), mask)
