"""Agent lifecycle within an episode: crash, recover, leave, join, interrupt — and the `faults` rows.

Every change happens at the instant it is called (usually from a fault event, priority
``NORMAL``), in this order:

* **crash** — the slot goes down (the network drops messages to it from now on), its pending
  decision request is withdrawn and its running macro-action is cut now (``done=True``, observed
  now); an agent run as a process is interrupted and cuts it when the interrupt reaches it, at
  the same instant. Returns False when the agent was already down.
* **recover** — downtime is added up, the slot comes up with empty inboxes, the policy forgets
  the agent's memory (and its parameters with ``reset_params``), the world's
  ``reset_agent_state`` hook runs, and the agent asks for a decision, served at this instant's
  flush.
* **leave** — as a crash, but the agent's role becomes ``left`` and its slot may be taken.
* **join** — a new agent (new id) takes the first slot whose agent left: that agent's last
  transition is emitted first (its return stays its own), then as a recovery.
* **interrupt** — the running macro-action ends now and the agent decides again at this instant.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dmarl_des.agent import SimAgent
from dmarl_des.world.slots import Slots
from dmarl_des.world.timed import TimedMacroActions
from dmarl_des.world.transitions import Transitions


class AgentLifecycle:
    """Crash, recover, leave, join and interrupt of the agents in a world's slots."""

    def __init__(
        self,
        world: Any,
        slots: Slots,
        transitions: Transitions,
        timed: TimedMacroActions | None,
    ) -> None:
        self.world = world
        self.slots = slots
        self.transitions = transitions
        self.timed = timed
        """Set when the agents live in arrays (no process to interrupt)."""
        self.original: list[SimAgent] = list(world.sim_agents)
        """The agents every episode starts with (joiners are removed at the next episode)."""
        self.episode_agents: list[SimAgent] = []
        """Every agent of the current episode, leavers and joiners included (the `agents` rows)."""
        self.next_id = len(self.original)

    def begin_episode(self) -> None:
        """Restore the original agents, all up and honest, with fresh statistics."""
        world = self.world
        for agent in self.episode_agents:
            if agent not in self.original:
                agent.remove()
        world.sim_agents = list(self.original)
        self.episode_agents = list(world.sim_agents)
        self.next_id = len(world.sim_agents)
        self.slots.agent_id[:] = [a.agent_id for a in world.sim_agents]
        self.slots.up[:] = True
        for agent in world.sim_agents:
            agent.alive = True
            agent.role = "honest"
            agent.reset_episode()

    # ---------------------------------------------------------------- faults table
    def record_fault(self, kind: str, agent_id: int | None = None, detail: str = "") -> None:
        """One row of the `faults` table at the current time (when the table is kept)."""
        world = self.world
        if world.recorder.has("faults"):
            world.recorder.add(
                "faults",
                episode=world.episode,
                time=world.now,
                kind=kind,
                agent_id=agent_id,
                detail=detail,
            )

    # ---------------------------------------------------------------- stopping
    def cut(self, agent: SimAgent) -> None:
        """Close the agent's running macro-action now because the agent stops (crash, leave)."""
        if self.slots.action[agent.idx] >= 0:
            world = self.world
            idx = np.array([agent.idx], dtype=np.int64)
            self.transitions.close(
                idx, world.now, world.observe_many(idx), world.mask_many(idx), done=True
            )

    def crash(self, idx: int, reason: str = "crash") -> bool:
        world = self.world
        agent = world.sim_agents[idx]
        if not agent.alive or not self.slots.up[idx]:
            return False
        self.slots.up[idx] = False
        agent.alive = False
        agent.down_since = world.now
        if reason == "crash":
            agent.role = "crashed"
        self._halt(agent, reason)
        self.record_fault(reason, agent.agent_id)
        return True

    def _halt(self, agent: SimAgent, reason: str) -> None:
        """End an agent's activity now: its macro-action is cut, its pending request withdrawn."""
        self.world.batcher.cancel(agent.idx)
        if self.timed is not None:
            self.timed.cancel(agent.idx)
            self.cut(agent)
        else:
            agent.stop(reason)

    def leave(self, idx: int) -> bool:
        agent = self.world.sim_agents[idx]
        if agent.role == "left":
            return False
        was_alive = agent.alive
        self.slots.up[idx] = False
        agent.alive = False
        agent.role = "left"
        if was_alive:
            self._halt(agent, "leave")
        self.record_fault("leave", agent.agent_id)
        return True

    def interrupt(self, idx: int) -> None:
        if self.timed is not None:
            slots = self.slots
            if slots.up[idx] and slots.action[idx] >= 0:
                self.timed.cancel(idx)
                self.world.batcher.request_many(np.array([idx]))
        else:
            self.world.sim_agents[idx].interrupt("interrupt")

    # ---------------------------------------------------------------- starting again
    def _resume(self, agent: SimAgent) -> None:
        """Let an agent decide again from now on."""
        if self.timed is not None:
            self.world.batcher.request_many(np.array([agent.idx], dtype=np.int64))
        else:
            agent.start()

    def _fresh_start(self, agent: SimAgent) -> None:
        """An agent (re)enters its slot: empty inbox, policy memory reset, the world's hook."""
        world = self.world
        idx = agent.idx
        self.slots.up[idx] = True
        if world.network is not None:
            world.network.clear_inboxes(idx)
        speech = world._decisions.speech
        if speech is not None:
            speech.forget(np.array([idx], dtype=np.int64))
        world.policy.reset(np.array([idx], dtype=np.int64))

    def recover(self, idx: int, *, reset_params: bool = False) -> bool:
        world = self.world
        agent = world.sim_agents[idx]
        if agent.alive or agent.role == "left":
            return False
        if agent.down_since is not None:
            agent.downtime += world.now - agent.down_since
            agent.down_since = None
        self._fresh_start(agent)
        reset = getattr(world.policy, "reset_parameters", None)
        if reset_params and callable(reset):
            reset(np.array([idx], dtype=np.int64))
        world.reset_agent_state(agent)
        agent.alive = True
        self._resume(agent)
        self.record_fault("recover", agent.agent_id, "params reset" if reset_params else "")
        return True

    def join(self) -> int | None:
        world = self.world
        free = [i for i, a in enumerate(world.sim_agents) if a.role == "left"]
        if not free:
            return None
        idx = free[0]
        self.transitions.emit()  # the leaver's last transition belongs to the leaver
        old = world.sim_agents[idx]
        old.final_stats = self.slots.stats(idx)
        agent = SimAgent(world, idx, self.next_id)
        self.next_id += 1
        self.slots.vacate(idx, agent.agent_id)
        world.sim_agents[idx] = agent
        self.episode_agents.append(agent)
        self._fresh_start(agent)
        world.reset_agent_state(agent)
        self._resume(agent)
        self.record_fault("join", agent.agent_id)
        return agent.agent_id
