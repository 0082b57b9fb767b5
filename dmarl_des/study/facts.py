"""What a study ran, in words, for its report's header: world and swarm, policies, learner, fault
timing, and the metric declarations of its world (written into ``study.json``)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dmarl_des.scenario import Scenario
from dmarl_des.scenario.faults import FaultSpec, TargetSpec, TimingSpec

TARGETED = ("crash", "omission", "byzantine")


def _levels(values: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if value not in out:
            out.append(value)
    return sorted(out) if all(isinstance(v, int | float) for v in out) else out


def timing_words(timing: TimingSpec, horizon: float) -> str:
    """When a fault strikes, in words (with the share striking before the horizon)."""
    if timing.start == "poisson":
        share = 1.0 - math.exp(-timing.rate * horizon)
        return (
            f"at an exponential time of rate {timing.rate:g} per targeted agent (mean "
            f"{1.0 / timing.rate:g}; {100 * share:.0f}% strike before the horizon {horizon:g})"
        )
    if timing.start == "at":
        return f"at t = {timing.at:g}"
    return "from the start (t = 0)"


def _targets(spec: TargetSpec, swept: bool) -> str:
    if swept:
        return "a swept share of the agents"
    if spec.ids:
        return f"agents {list(spec.ids)}"
    if spec.count:
        return f"{spec.count} agents"
    return f"{100 * spec.fraction:g}% of the agents"


def loss_words(scenarios: Sequence[Scenario], swept: Sequence[str]) -> list[str]:
    """The link loss model of the runs that lose messages, with its levels."""
    lossy = [s.net.loss for s in scenarios if s.net.loss.model != "none"]
    if not lossy:
        return []
    models = ", ".join(str(m) for m in _levels([loss.model for loss in lossy]))
    levels = ", ".join(f"{p:g}" for p in _levels([loss.p for loss in lossy]))
    state = " (swept)" if "net.loss.p" in swept else ""
    return [f"link loss: {models}, p = {levels}{state}, from the start"]


def fault_words(
    specs: Sequence[FaultSpec], horizons: Sequence[float], swept: Sequence[str]
) -> list[str]:
    """One line per kind of fault that any run configures: whom it hits and when."""
    lines: list[str] = []
    horizon = max(horizons) if horizons else 0.0
    for kind in TARGETED:
        used = [getattr(s, kind) for s in specs if getattr(s, kind).targets_any]
        if not used:
            continue
        hit = any(k.startswith(f"faults.{kind}.") for k in swept)
        timings = _levels([timing_words(u, horizon) for u in used])
        extra = ""
        if kind == "omission":
            extra = f", dropping each message with probability {_levels([u.p for u in used])}"
        lines.append(f"{kind}: {_targets(used[0], hit)}{extra}, {' or '.join(timings)}")
    recovering = [s.recover for s in specs if s.recover.enabled]
    if recovering:
        r = recovering[0]
        lines.append(
            f"recover: crashed agents come back after a {r.downtime} downtime of mean {r.mean:g}"
        )
    parts = [s.partition for s in specs if s.partition.groups]
    if parts:
        p = parts[0]
        lines.append(f"partition: {p.groups} groups during [{p.at:g}, {p.at + p.duration:g})")
    churn = [s.churn for s in specs if s.churn.leave_rate or s.churn.join_rate]
    if churn:
        c = churn[0]
        lines.append(f"churn: leave rate {c.leave_rate:g}, join rate {c.join_rate:g}")
    cuts = [s.cut_links for s in specs if s.cut_links]
    if cuts:
        lines.append(f"cut links: {len(cuts[0])}")
    return lines


def learner_words(scenarios: Sequence[Scenario]) -> str | None:
    """The learner of the runs that train one, with its settings that differ from the defaults."""
    learners = [s.learner for s in scenarios if s.policy == "learner" and s.learner is not None]
    if not learners:
        return None
    from dmarl_des.learn.registry import learner_config

    config = learners[0]
    name = getattr(config, "name", "?")
    defaults = learner_config(name).model_dump(mode="json")
    values = config.model_dump(mode="json")
    changed = [f"{k} = {v}" for k, v in values.items() if k != "name" and defaults.get(k) != v]
    episodes = _levels([s.episodes for s in scenarios if s.policy == "learner"])
    text = f"`{name}` trained in the run ({', '.join(map(str, episodes))} training episodes)"
    return text + (f"; {', '.join(changed)}" if changed else "; default settings")


def checkpoint_words(scenarios: Sequence[Scenario]) -> str | None:
    """What the evaluated checkpoints are, from their cards: learner, parameters, training."""
    from dmarl_des.learn.checkpoint import read_card
    from dmarl_des.scenario.model import POLICY_KINDS

    lines = []
    for path in _levels([s.policy for s in scenarios if s.policy not in POLICY_KINDS]):
        try:
            card = read_card(path)
        except Exception:
            continue
        learner = card.get("learner") if isinstance(card.get("learner"), dict) else {}
        trained = card.get("training_scenario") or {}
        where = f"scenario `{card.get('scenario', '?')}`"
        if isinstance(trained, dict) and trained.get("n_agents"):
            where += f", {trained['n_agents']} agents, horizon {trained.get('horizon')}"
        lines.append(
            f"`{Path(path).as_posix()}`: `{learner.get('name', '?')}` ({card.get('params', '?')} "
            f"parameters), trained {card.get('episodes', '?')} episodes in {where}, seed "
            f"{card.get('seed', '?')}; not trained further here"
        )
    return "; ".join(lines) or None


def study_facts(
    scenarios: Sequence[Scenario],
    labels: Sequence[str],
    swept: Sequence[str],
    scenario_file: str,
) -> dict[str, Any]:
    """The facts of a study's runs (JSON-able)."""
    from dmarl_des.world import world_class

    first = scenarios[0]
    file = Path(scenario_file)
    with contextlib.suppress(ValueError):
        file = file.resolve().relative_to(Path.cwd())
    try:
        metrics = [m.to_dict() for m in world_class(first.world).metrics]
    except Exception:  # a world the report cannot find still gets a report
        metrics = []
    return {
        "scenario": first.name,
        "file": file.as_posix(),
        "world": first.world.name,
        "n_agents": _levels([s.n_agents for s in scenarios]),
        "horizon": _levels([s.horizon for s in scenarios]),
        "episodes": _levels([s.episodes for s in scenarios]),
        "eval_episodes": _levels([s.eval_episodes for s in scenarios]),
        "policies": list(labels),
        "learner": learner_words(scenarios) or checkpoint_words(scenarios),
        "faults": fault_words([s.faults for s in scenarios], [s.horizon for s in scenarios], swept)
        + loss_words(scenarios, swept),
        "metrics": metrics,
    }
