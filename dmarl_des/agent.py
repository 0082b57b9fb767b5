"""SimAgent: one agent's lifecycle as a SimPy process — observe, ask, act, accrue, emit, repeat.

The lifecycle of an alive agent is a loop:

1. ask the decision batcher and wait for the answer — when the request is served (after every other
   event of that instant) the world reads the agent's observation and initiation set, closes the
   macro-action that just ended into a squeezed macro-transition, and decides; the observation
   stays frozen until the agent's own next macro-action ends;
2. run the chosen macro-action's behaviour inside this process until it returns. The process is an
   ``AgentProcess``, which knows its agent: a reward the behaviour gives after its start instant
   belongs to this macro-action, the one given as it returns included.

An ``Interrupt`` whose cause is not ``Stop`` ends the running macro-action at that instant (the agent
then decides again); ``Stop`` ends the lifecycle (crash, leaving) and cuts the open macro-action at
that instant — also one that ended (or was interrupted) at that instant and still waits for the
decision that would close it, as agents kept in arrays do. Either way the event the
behaviour was waiting on is cancelled when it can be (a store get, a resource request), so no request
is left queued on any SimPy store and no later message is swallowed.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import mesa
import numpy as np
import simpy

from dmarl_des.macro import MacroAction


@dataclass(frozen=True, slots=True)
class Stop:
    """Interrupt cause that ends an agent's lifecycle (crash, leave)."""

    reason: str = "crash"


class DecisionQueue(Protocol):
    """Where an agent asks for its next macro-action (the world's ``DecisionBatcher``)."""

    def request(self, agent_idx: int) -> simpy.Event: ...

    def cancel(self, agent_idx: int) -> None: ...


class AgentHost(Protocol):
    """What an agent needs from the world it lives in (a ``World`` provides it)."""

    env: simpy.Environment
    batcher: DecisionQueue
    macro_actions: Sequence[MacroAction]
    cur_action: np.ndarray  # [N] running macro-action per slot (-1: none)
    t_start: np.ndarray  # [N] when it started
    dec_obs: np.ndarray  # [N, obs_dim] the observation it was chosen on
    n_decisions: np.ndarray  # [N] decisions this episode

    def cut_macro(self, agent: SimAgent) -> None:
        """Close the agent's running macro-action now (the agent stops)."""
        ...


class AgentProcess(simpy.Process):
    """The SimPy process running one agent's lifecycle; ``agent`` says whose it is (so a reward
    given from inside a behaviour is known to come from that agent's macro-action)."""

    def __init__(
        self, env: simpy.Environment, generator: Generator[Any, Any, Any], agent: SimAgent
    ):
        self.agent = agent
        super().__init__(env, generator)


class SimAgent(mesa.Agent):
    """An agent of the simulation: a Mesa agent whose behaviour is a SimPy process."""

    model: AgentHost

    def __init__(self, model: mesa.Model, idx: int, agent_id: int, role: str = "honest") -> None:
        super().__init__(model)
        self.idx = idx
        self.agent_id = agent_id
        self.role = role
        self.alive = True
        self.process: AgentProcess | None = None
        self.reset_episode()

    def reset_episode(self) -> None:
        """Forget the previous episode's downtime and statistics."""
        self.downtime = 0.0
        self.down_since: float | None = None
        self.final_stats: tuple[float, int, float, int] | None = None

    # ------------------------------------------------------------------ decision state (arrays)
    @property
    def action(self) -> int:
        """The running macro-action's index (-1 when none is open)."""
        return int(self.model.cur_action[self.idx])

    @property
    def t_start(self) -> float:
        """When the running macro-action started."""
        return float(self.model.t_start[self.idx])

    @property
    def obs(self) -> np.ndarray:
        """The observation the running macro-action was chosen on."""
        return self.model.dec_obs[self.idx]

    @property
    def n_decisions(self) -> int:
        return int(self.model.n_decisions[self.idx])

    # ------------------------------------------------------------------ control
    def start(self) -> None:
        """Start (or restart) the lifecycle process in the world's current environment."""
        self.alive = True
        self.process = AgentProcess(self.model.env, self._lifecycle(), self)

    def interrupt(self, cause: Any = "interrupt") -> None:
        """End the running macro-action now; with ``Stop`` cause, end the lifecycle."""
        if self.process is not None and self.process.is_alive:
            self.process.interrupt(cause)

    def stop(self, reason: str = "crash") -> None:
        """Stop acting and communicating (the running macro-action is cut at this instant)."""
        self.interrupt(Stop(reason))

    @property
    def running(self) -> bool:
        """True while a macro-action is open (chosen and not yet closed)."""
        return self.action >= 0

    # ------------------------------------------------------------------ lifecycle
    def _lifecycle(self) -> Generator[simpy.Event, Any, None]:
        world = self.model
        while True:
            answer = world.batcher.request(self.idx)
            while True:
                try:
                    action = yield answer
                    break
                except simpy.Interrupt as intr:
                    if isinstance(intr.cause, Stop):
                        world.batcher.cancel(self.idx)
                        world.cut_macro(self)  # the ended macro-action is open until decided
                        self.alive = False
                        return
            try:
                yield from world.macro_actions[int(action)].behaviour(self)
            except simpy.Interrupt as intr:
                self._cancel_wait()
                if isinstance(intr.cause, Stop):
                    world.cut_macro(self)
                    self.alive = False
                    return

    def _cancel_wait(self) -> None:
        """Withdraw the request the interrupted behaviour was waiting on (store get, resource)."""
        target = self.process.target if self.process is not None else None
        cancel = getattr(target, "cancel", None)
        if target is not None and not target.triggered and callable(cancel):
            cancel()
