"""The head of a report: what was run (scenario, world, policies, learner, fault timing, seeds, the
exact command), read from the study's ``study.json``; and the metric declarations it carries."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from dmarl_des.log import EPISODE_METRICS, Metric, generic_metric
from dmarl_des.report.markdown import fmt, markdown_table

DESCRIPTION_FILE = "study.json"


def read_description(root: str | Path) -> dict[str, Any]:
    """The study's ``study.json`` as a dict (empty when missing or unreadable)."""
    path = Path(root) / DESCRIPTION_FILE
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def declared_metrics(
    description: Mapping[str, Any], metrics: Sequence[str], booleans: Iterable[str] = ()
) -> dict[str, Metric]:
    """Each metric's declaration: the world's (from ``study.json``), else the built-in episode
    metrics', else a generic one (a rate when its column is boolean)."""
    out = {m.name: m for m in EPISODE_METRICS}
    for values in description.get("facts", {}).get("metrics", []):
        try:
            metric = Metric.from_dict(values)
        except (KeyError, TypeError):
            continue
        out[metric.name] = metric
    flags = set(booleans)
    for name in metrics:
        if name not in out:
            out[name] = generic_metric(name, boolean=name in flags)
    return {name: out[name] for name in metrics}


def _one_or_list(values: Any) -> str:
    if isinstance(values, list | tuple):
        shown = [fmt(v) if isinstance(v, float) else str(v) for v in values]
        return shown[0] if len(shown) == 1 else ", ".join(shown)
    return fmt(values) if isinstance(values, float) else str(values)


def _seeds(seeds: Sequence[int]) -> str:
    seeds = list(seeds)
    if not seeds:
        return "none"
    if seeds == list(range(seeds[0], seeds[0] + len(seeds))) and len(seeds) > 2:
        span = f"{seeds[0]}–{seeds[-1]}"
    else:
        span = ", ".join(str(s) for s in seeds)
    return f"{len(seeds)} ({span}), the same at every level: differences are paired by seed"


def header_markdown(
    root: Path,
    description: Mapping[str, Any],
    report: Any,
    keys: Sequence[str],
    metrics: Sequence[str],
    level: float,
    command: str | None = None,
) -> str:
    """Title, a table of what was run, and how the numbers are computed."""
    facts = description.get("facts", {})
    name = description.get("name", root.name)
    rows: list[list[str]] = []
    compared = f", for each `{report.compare}`" if report.compare else ""
    swept = ", ".join(f"`{k}`" for k in keys if k != report.compare) or "nothing"
    rows.append(
        ["question", f"how {', '.join(f'`{m}`' for m in metrics)} change along {swept}{compared}"]
    )
    if facts:
        world = f"world `{facts.get('world')}`, {_one_or_list(facts.get('n_agents'))} agents, "
        world += f"horizon {_one_or_list(facts.get('horizon'))}"
        episodes = f"{_one_or_list(facts.get('episodes'))} episode(s) per run"
        evals = facts.get("eval_episodes") or [0]
        if any(evals):
            episodes += f" then {_one_or_list(evals)} greedy evaluation episode(s)"
        rows.append(
            [
                "scenario",
                f"`{facts.get('scenario')}` ({facts.get('file', '')}): {world}; {episodes}",
            ]
        )
    policies = report.levels if report.compare == "policy" else facts.get("policies", [])
    if policies:
        shown = [f"`{p}`" + (" (reference)" if p == report.reference else "") for p in policies]
        rows.append(["policies", ", ".join(shown)])
    if facts:
        rows.append(["learner", facts.get("learner") or "none (fixed policies)"])
        faults = facts.get("faults") or []
        rows.append(["faults, when", "; ".join(faults) if faults else "no faults configured"])
    grid = description.get("grid", {})
    if grid:
        levels = description.get("levels", {})
        rows.append(
            [
                "swept",
                "; ".join(f"`{k}`: {_one_or_list(levels.get(k, v))}" for k, v in grid.items()),
            ]
        )
    if "seeds" in description:
        rows.append(["seeds", _seeds(description["seeds"])])
    runs = f"{report.n_ok} ok, {report.n_failed} failed (left out)"
    if report.skipped:
        runs += f", {len(report.skipped)} damaged (left out; `dmarl study` redoes them)"
    rows.append(["runs", runs])
    if description.get("command"):
        rows.append(["study command", f"`{description['command']}`"])
    if command:
        rows.append(["report command", f"`{command}`"])
    head = [
        f"# Study report: {name}",
        "",
        markdown_table(["", ""], rows),
        "",
        "A run's value of a metric is its mean over the run's final evaluation episodes (all its "
        "episodes when it has none). Means over seeds come with a "
        f"{100 * level:g}% t-interval; rates (shares of episodes) with a Wilson interval, always "
        "inside [0, 100%], and their changes in percentage points (pp). Changes are paired by "
        "seed. The degradation score is the normalized area under "
        "r(x) = 1 ± (m(x) − m(x0)) / |m(x0)| (+ when higher is better, − when lower is; 1 = no "
        "degradation); the breakdown point is the lowest level where r(x) < "
        f"{report.fraction:g}.",
        "",
    ]
    if report.skipped:
        head += [
            f"Left out, damaged ({len(report.skipped)}; `dmarl study` on this folder redoes them):",
            "",
            *(f"- {line}" for line in report.skipped),
            "",
        ]
    head += ["## Metrics", ""]
    return "\n".join(head)
