"""Running a world one decision batch at a time: the simulation pauses whenever decisions are due.

``EpisodeDriver`` owns one ``World`` built from a scenario and steps its episodes itself. It
sets the episode's decision batcher to *hold* its batches (``DecisionBatcher.hold``): at a
decision flush — after every other event of that instant, exactly where ``dmarl run`` would call
the policy — the driver checks the decision budget, lets the decision server ``prepare`` the batch
(observations, initiation sets, the ending macro-actions closed into squeezed transitions) and
stops there. ``decide(actions)`` then does what the rest of a flush does — Byzantine agents'
actions replaced by the faults, the macro-actions recorded and started, the batch counted and
answered — and runs the simulation on to the next batch or the episode's end.

So, given the same actions, an episode driven here is the episode ``dmarl run`` simulates with the
same scenario and seed: same events in the same order, same random draws, same tables. Faults,
the network and the recorder stay as they are; the policy the world holds is a placeholder that
is never asked (the decisions come from ``decide``).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import simpy

from dmarl_des.learn.protocol import TransitionBatch
from dmarl_des.log import check_output_folder
from dmarl_des.scenario import Scenario
from dmarl_des.study.run import add_runs_row, run_id_for
from dmarl_des.world import World, world_class


@dataclass(frozen=True)
class Batch:
    """Decisions due now: the deciding slots in request order, their observations and masks."""

    time: float
    slots: np.ndarray
    """[B] int64 agent slots, in the order their requests were made."""
    obs: np.ndarray
    """[B, obs_dim] float32, read at this instant (``observe_many``)."""
    mask: np.ndarray
    """[B, n_actions] bool initiation sets (True: the macro-action may start)."""
    answers: list[simpy.Event | None] | None
    """The requests' answer events (agents run as processes), handed back to the batcher."""


class DecidedElsewhere:
    """The policy a driven world holds: never asked, since its decisions come from ``decide``."""

    def act(
        self, obs: np.ndarray, agent_idx: np.ndarray, mask: np.ndarray, *, explore: bool = True
    ) -> np.ndarray:
        raise RuntimeError("the decisions of a driven world come from EpisodeDriver.decide")

    def reset(self, agent_idx: np.ndarray | None = None) -> None:
        """Nothing to forget."""


class EpisodeDriver:
    """Runs the episodes of one world, pausing at every decision batch (module docstring).

    ``out``: write the run's tables there (as ``dmarl run`` does) when the driver is closed;
    without it the rows of each episode are dropped when the next one begins.
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        out: str | Path | None = None,
        agents_as_processes: bool | None = None,
    ) -> None:
        self.scenario = scenario
        self.out = None if out is None else check_output_folder(out, "out")
        self.run_id = run_id_for(scenario)
        self.world: World = world_class(scenario.world)(
            scenario, run_id=self.run_id, agents_as_processes=agents_as_processes
        )
        self.world.policy = DecidedElsewhere()
        self._closed: list[TransitionBatch] = []
        self.world.watch_transitions(self._closed.append)
        self.episode = -1
        self.batch: Batch | None = None
        """The decisions due now (None while no batch waits: before the start, at the end)."""
        self.over = True
        """True when no episode is running (before the first, after the end of one)."""
        self.terminal = False
        """True when the last episode ended in a terminal state (``World.terminate``)."""
        self.written = False
        self._started = dt.datetime.now(dt.UTC)
        self._t0 = time.perf_counter()

    # ---------------------------------------------------------------- episodes
    def begin(self) -> None:
        """Start the next episode (the one running, if any, is cut now) and run to its first
        decision batch — or its end, when no agent ever decides."""
        if not self.over:
            self.cut()
        if self.out is None:
            self.world.recorder.clear()
        self.episode += 1
        self._closed.clear()
        runner = self.world.episode_runner
        runner.begin(self.episode, "eval")
        self.world.batcher.hold = self._hold
        self.over = False
        self.terminal = False
        self._run()

    def decide(self, actions: np.ndarray) -> None:
        """The actions [B] of the waiting batch (aligned with ``batch.slots``); the simulation
        then runs on to the next batch or the episode's end."""
        batch = self.batch
        if batch is None:
            raise RuntimeError("no decision is due (the episode is over or not started)")
        world = self.world
        actions = np.asarray(actions, dtype=np.int64).reshape(-1)
        if actions.shape != batch.slots.shape:
            raise ValueError(f"{batch.slots.size} actions expected, got {actions.size}")
        override = world.action_override
        if override is not None:  # Byzantine agents: the faults replace their actions
            actions = np.asarray(override(batch.slots, actions, batch.mask), dtype=np.int64)
        world.decision_server.apply(batch.slots, actions, batch.obs, batch.mask)
        world.batcher.answer(batch.slots, batch.answers, actions)
        self.batch = None
        self._run()

    def cut(self) -> None:
        """End the running episode now, as its horizon would (open macro-actions cut)."""
        if self.over:
            return
        self.batch = None
        self._finish()

    def take_closed(self) -> list[TransitionBatch]:
        """The squeezed transitions emitted since the last call (oldest first)."""
        closed = list(self._closed)
        self._closed.clear()
        return closed

    # ---------------------------------------------------------------- tables
    def write_tables(self) -> dict[str, Path]:
        """Write the run's tables under ``out`` (once, when an episode ran; the running episode
        is cut first)."""
        if self.out is None or self.written or self.episode < 0:
            return {}
        self.cut()
        recorder = self.world.recorder
        add_runs_row(
            recorder,
            self.scenario,
            wall_s=time.perf_counter() - self._t0,
            started_at=self._started,
        )
        self.written = True
        return recorder.write(self.out)

    # ---------------------------------------------------------------- the simulation
    def _hold(self, slots: np.ndarray, answers: list[simpy.Event | None] | None) -> None:
        """A decision flush: the batch waits for ``decide`` (what ``DecisionServer.serve`` does
        up to the policy call)."""
        world = self.world
        server = world.decision_server
        limit = server.max_decisions
        if limit is not None and world.batcher.n_decisions >= limit:
            server.stop_episode()  # the budget is spent: this batch is refused
            return
        obs, mask = server.prepare(slots)
        self.batch = Batch(world.now, slots, obs, mask, answers)

    def _run(self) -> None:
        """Process events until a batch waits or the episode's end event was processed (what
        ``env.run(until=end)`` does, one event at a time)."""
        env = self.world.env
        end = self.world.episode_runner.end_event
        assert end is not None
        step = env.step
        while self.batch is None and not end.processed:
            step()
        if self.batch is None:
            self._finish()

    def _finish(self) -> None:
        runner = self.world.episode_runner
        runner.end_now()
        self.terminal = runner.terminal
        runner.finish()
        self.over = True
