"""A scenario running in steps of simulated time, for the live view: a Mesa model around a World.

``LiveRun`` builds the scenario's world and policy as ``dmarl run`` does and runs its episodes
with the same events in the same order, pausing every ``interval`` of simulated time: ``step()``
processes every event up to and including the next multiple of ``interval`` (so a picture shows
the state after everything that happened at its instant; an event without effect at that instant
brings the clock there when nothing else happens — the simulation's own events keep their order),
then samples what the live plots show. The fault knobs
(``crash_fraction``, ``crash_time``, ``loss``, ``byzantine``, ``seed``) override the scenario; a
Mesa ``SolaraViz`` page builds a new ``LiveRun`` with them when its Reset button is pressed.
"""

from __future__ import annotations

import math
from typing import Any

import mesa
import numpy as np

from dmarl_des.errors import ConfigError
from dmarl_des.learn.protocol import Learner
from dmarl_des.net.kind_stats import FATES
from dmarl_des.scenario import Scenario
from dmarl_des.study.policies import build_policy
from dmarl_des.study.run import run_id_for
from dmarl_des.viz.scene import Scene
from dmarl_des.viz.world_scene import scene_of_world
from dmarl_des.world import World, world_class

DROPPED = tuple(fate for fate in FATES if fate != "delivered")
"""Network counters of messages that did not arrive."""


def knob_overrides(
    scenario: Scenario,
    *,
    seed: int | None = None,
    crash_fraction: float | None = None,
    crash_time: float | None = None,
    loss: float | None = None,
    byzantine: int | None = None,
) -> dict[str, Any]:
    """Dotted-key overrides for the view's fault knobs (None: keep the scenario's value).

    ``crash_fraction`` of the agents crash — at ``crash_time`` when it is > 0, else as the
    scenario says (from the start by default); ``loss`` is a Bernoulli loss probability per
    message; ``byzantine`` agents act adversarially (or as the scenario's Byzantine spec says).
    """
    out: dict[str, Any] = {}
    if seed is not None:
        out["seed"] = int(seed)
    if crash_fraction is not None:
        out.update({"faults.crash.fraction": float(crash_fraction), "faults.crash.count": 0})
        out["faults.crash.ids"] = ()
    if crash_time is not None and crash_time > 0:
        out.update(
            {"faults.crash.start": "at", "faults.crash.at": float(crash_time)}
            | {"faults.crash.rate": 0.0}
        )
    if loss is not None:
        out.update({"net.loss.model": "bernoulli", "net.loss.p": float(loss)})
    if byzantine is not None:
        spec = scenario.faults.byzantine
        out.update({"faults.byzantine.count": int(byzantine), "faults.byzantine.fraction": 0.0})
        out["faults.byzantine.ids"] = ()
        if int(byzantine) > 0 and spec.actions == "none" and not spec.messages:
            out["faults.byzantine.actions"] = "adversarial"
    return out


class LiveRun(mesa.Model):
    """One scenario's episodes, stepped ``interval`` time units at a time (module docstring)."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        seed: int | None = None,
        crash_fraction: float | None = None,
        crash_time: float | None = None,
        loss: float | None = None,
        byzantine: int | None = None,
        interval: float = 1.0,
    ) -> None:
        super().__init__()
        if not (isinstance(interval, int | float) and 0 < interval < math.inf):
            raise ConfigError("interval", interval, "a finite number of time units > 0")
        overrides = knob_overrides(
            scenario,
            seed=seed,
            crash_fraction=crash_fraction,
            crash_time=crash_time,
            loss=loss,
            byzantine=byzantine,
        )
        if overrides.get("net.loss.model") and not world_class(scenario.world).message_kinds:
            del overrides["net.loss.model"], overrides["net.loss.p"]  # a world without messages
        self.scenario = scenario.with_overrides(overrides)
        self.interval = float(interval)
        self.world: World = world_class(self.scenario.world)(
            self.scenario, run_id=run_id_for(self.scenario)
        )
        self.world.policy = build_policy(self.scenario, self.world)
        learning = isinstance(self.world.policy, Learner) and self.scenario.policy == "learner"
        self.phases = ["train" if learning else "eval"] * self.scenario.episodes
        self.phases += ["eval"] * self.scenario.eval_episodes
        self.history: dict[str, list[float | None]] = {
            "time": [],
            "return": [],
            "delivery_rate": [],
            "lost": [],
        }
        """What the live plots show, one entry per step: the team's return so far, the share of
        messages settled in the step that arrived, and the messages lost in it."""
        self.episode = -1
        self._crashed = np.zeros(0, dtype=np.int64)
        self._begin_next()

    # ---------------------------------------------------------------- stepping
    def step(self) -> None:
        """Run ``interval`` time units (to the episode's end at most), then sample."""
        if not self.running:
            return
        world = self.world
        runner = world.episode_runner
        env = world.env
        end = runner.end_event
        assert end is not None
        self._steps_done += 1
        target = self._steps_done * self.interval  # multiples: no drift
        if target > env.now:  # an event without effect, so that the clock reaches the target
            env.timeout(target - env.now)
        faults_before = self._n_faults()
        while not end.processed and env.peek() <= target:
            env.step()
        self._crashed = self._crashed_since(faults_before)
        self._sample()
        if end.processed:
            runner.finish()
            if self.episode + 1 < len(self.phases):
                self._begin_next()
            else:
                self.running = False

    def scene(self) -> Scene:
        """What the world looks like now (crashes since the previous step flashed)."""
        title = f"{self.scenario.name} · episode {self.episode}"
        return scene_of_world(self.world, self._crashed, title)

    # ---------------------------------------------------------------- internals
    def _begin_next(self) -> None:
        self.episode += 1
        self._steps_done = 0
        self.world.episode_runner.begin(self.episode, self.phases[self.episode])
        self._net = self._net_counts()
        for values in self.history.values():
            values.clear()
        self._sample()

    def _net_counts(self) -> tuple[int, int]:
        net = self.world.network
        if net is None:
            return (0, 0)
        stats = net.stats()
        return int(stats["delivered"]), int(sum(stats.get(k, 0) for k in DROPPED))

    def _sample(self) -> None:
        delivered, dropped = self._net_counts()
        d_ok, d_lost = delivered - self._net[0], dropped - self._net[1]
        self._net = (delivered, dropped)
        h = self.history
        h["time"].append(self.world.now)
        h["return"].append(self.world.ledger.total())
        h["delivery_rate"].append(d_ok / (d_ok + d_lost) if d_ok + d_lost else None)
        h["lost"].append(float(d_lost))

    def _n_faults(self) -> int:
        recorder = self.world.recorder
        return recorder.n_rows("faults") if recorder.has("faults") else 0

    def _crashed_since(self, since: int) -> np.ndarray:
        """Slots of the agents that crashed since fault row ``since``."""
        if self._n_faults() == since:
            return np.zeros(0, dtype=np.int64)
        rows = self.world.recorder.frame("faults").slice(since)
        crashed = set(rows.filter(rows["kind"] == "crash")["agent_id"].to_list())
        return np.array(
            [a.idx for a in self.world.sim_agents if a.agent_id in crashed], dtype=np.int64
        )
