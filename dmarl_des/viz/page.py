"""The `dmarl view` page: Mesa's SolaraViz around a ``LiveRun`` — the swarm, live plots, knobs.

The page shows the agents in their space coloured by role (honest, Byzantine, crashed, absent),
the links up, the world's map where it has one, a red ring where an agent just crashed, and the
messages lost in the last step; beside it, live plots of the team's return and of the share of
messages that arrived. SolaraViz adds play / pause / step / reset and a card of knobs: seed, crash
fraction and time, message loss, Byzantine agents and the simulated time per step (Reset applies
them).
"""

from __future__ import annotations

import warnings
from typing import Any

import solara

with warnings.catch_warnings():  # Mesa 3.3's page trips a hook-rule check of newer Solaras
    warnings.filterwarnings("ignore", message=".*ComponentsView", category=UserWarning)
    from mesa.visualization import SolaraViz

from dmarl_des.scenario import Scenario
from dmarl_des.viz.live import LiveRun
from dmarl_des.viz.svg import line_chart_svg, scene_svg
from dmarl_des.world import world_class

SCENE_PIXELS = 560


def swarm_view(model: LiveRun) -> Any:
    """The swarm now, with the messages lost in the last step."""
    lost = model.history["lost"][-1] if model.history["lost"] else 0
    with solara.Column(classes=["dmarl-swarm"], gap="4px") as column:
        if model.world.network is not None:
            solara.Text(f"messages lost in the last {model.interval:g} time units: {lost:.0f}")
        solara.HTML(tag="div", unsafe_innerHTML=scene_svg(model.scene(), SCENE_PIXELS))
    return column


def live_plots(model: LiveRun) -> Any:
    """The team's return so far and the share of messages that arrived, per step."""
    h = model.history
    with solara.Column(classes=["dmarl-plots"]) as column:
        solara.HTML(
            tag="div",
            unsafe_innerHTML=line_chart_svg("team return", h["time"], {"return": h["return"]}),
        )
        if model.world.network is not None:
            solara.HTML(
                tag="div",
                unsafe_innerHTML=line_chart_svg(
                    "messages that arrived (share, per step)",
                    h["time"],
                    {"delivery rate": h["delivery_rate"]},
                    y_range=(0.0, 1.0),
                ),
            )
    return column


def knobs(scenario: Scenario, interval: float = 1.0) -> dict[str, Any]:
    """SolaraViz ``model_params``: the scenario (fixed) and the fault knobs, at its values."""
    faults = scenario.faults
    n, horizon = scenario.n_agents, scenario.horizon
    params: dict[str, Any] = {
        "scenario": scenario,
        "interval": _slider("time per step", interval, 0.1, max(10.0, interval), 0.1),
        "seed": _slider("seed", scenario.seed, 0, max(100, scenario.seed), 1),
        "crash_fraction": _slider("crash fraction", faults.crash.wanted(n) / n, 0.0, 0.9, 0.05),
        "crash_time": _slider(
            "crash at (0: as the scenario says)",
            faults.crash.at if faults.crash.start == "at" else 0.0,
            0.0,
            horizon,
            round(horizon / 100, 6),
        ),
        "byzantine": _slider("Byzantine agents", faults.byzantine.wanted(n), 0, max(1, n // 2), 1),
    }
    if world_class(scenario.world).message_kinds:
        p = scenario.net.loss.p if scenario.net.loss.model == "bernoulli" else 0.0
        params["loss"] = _slider("message loss", p, 0.0, 0.95, 0.05)
    return params


def _slider(label: str, value: float, low: float, high: float, step: float) -> dict[str, Any]:
    kind = (
        "SliderInt" if all(isinstance(v, int) for v in (value, low, high, step)) else "SliderFloat"
    )
    return {"type": kind, "label": label, "value": value, "min": low, "max": high, "step": step}


def view_page(scenario: Scenario, *, interval: float = 1.0) -> Any:
    """A Solara ``Page`` component viewing ``scenario`` (one ``LiveRun`` per browser session)."""
    params = knobs(scenario, interval)

    @solara.component
    def Page() -> None:
        model = solara.use_memo(lambda: LiveRun(scenario, interval=interval), [])
        SolaraViz(
            model,
            components=[(swarm_view, 0), (live_plots, 0)],
            model_params=params,
            name=f"dmarl view · {scenario.name}",
            play_interval=150,
        )

    return Page
