"""The live view: the page renders (swarm, plots, controls, knobs), and stepping changes nothing."""

import re

import numpy as np
import polars as pl
import pytest

pytest.importorskip("solara", reason="the live view needs the viz extra")

import ipyvuetify as v
import solara
import solara.widgets

from dmarl_des.scenario import load_scenario
from dmarl_des.study import WALL_CLOCK_COLUMNS, run_scenario
from dmarl_des.viz.live import LiveRun, knob_overrides
from dmarl_des.viz.page import knobs, view_page
from dmarl_des.viz.svg import line_chart_svg, scene_svg

COVERAGE = "scenarios/coverage.py"


def _render(scenario):
    page = view_page(scenario)

    @solara.component
    def App():
        with solara.AppLayout():  # SolaraViz puts its controls in the app's sidebar
            page()

    return solara.render(App(), handle_error=False)[1]


def _pictures(rc):
    return [h.widget.unsafe_innerHTML for h in rc.find(solara.widgets.HTML)]


def _click(rc, label):
    rc.find(v.Btn, children=[label]).widget.fire_event("click", {})


def test_the_page_draws_the_swarm_and_steps_and_resets_with_the_knobs():
    scenario = load_scenario(COVERAGE, {"n_agents": 30, "horizon": 20.0})
    rc = _render(scenario)
    swarm, returns, delivery = _pictures(rc)
    assert 'class="dmarl-scene"' in swarm and 'data-time="0"' in swarm
    assert swarm.count('class="agent honest"') == 30
    assert 'class="world-map"' in swarm and 'class="link"' in swarm
    assert "team return" in returns and "delivery rate" in delivery
    _click(rc, "Step")
    _click(rc, "Step")
    swarm, returns, _ = _pictures(rc)
    assert 'data-time="2"' in swarm
    assert returns.count('class="series"') == 1
    assert len(re.search(r'points="([^"]*)"', returns).group(1).split()) == 3  # t = 0, 1, 2
    rc.find(v.Slider, label="crash fraction").widget.v_model = 0.5
    _click(rc, "Reset")
    _click(rc, "Step")
    swarm = _pictures(rc)[0]
    assert 'data-time="1"' in swarm  # a new run
    assert swarm.count('class="agent crashed"') == 15
    assert swarm.count('class="agent honest"') == 15


def test_stepping_the_live_run_is_dmarl_run():
    overrides = {
        "n_agents": 25,
        "horizon": 12.0,
        "episodes": 2,
        "faults.crash.fraction": 0.2,
        "faults.crash.start": "poisson",
        "faults.crash.rate": 0.05,
        "net.loss.model": "bernoulli",
        "net.loss.p": 0.3,
    }
    scenario = load_scenario(COVERAGE, overrides)
    live = LiveRun(scenario, interval=0.7)
    while live.running:
        live.step()
    theirs = run_scenario(scenario).frames
    ours = live.world.recorder.frames()
    for name, frame in theirs.items():
        if name == "runs":
            continue
        drop = [c for c in WALL_CLOCK_COLUMNS if c in frame.columns]
        assert ours[name].drop(drop).equals(frame.drop(drop)), name
    assert live.episode == 1 and live.history["time"][-1] == pytest.approx(12.0)


def test_a_live_scene_shows_roles_links_up_and_the_map():
    scenario = load_scenario(COVERAGE, {"n_agents": 20, "horizon": 10.0})
    live = LiveRun(scenario, crash_fraction=0.25, crash_time=3.0, loss=0.5)
    assert live.scenario.faults.crash.start == "at" and live.scenario.net.loss.p == 0.5
    for _ in range(2):
        live.step()
    assert live.scene().counts()["crashed"] == 0
    live.step()  # t = 3: the step shows everything that happened up to t = 3 included
    scene = live.scene()
    assert scene.counts()["crashed"] == 5 and len(scene.flashes) == 5
    up = live.world.up
    assert [r == "crashed" for r in scene.roles] == (~up).tolist()
    assert len(scene.links) and up[scene.links].all()  # no link to or from a crashed agent
    assert scene.world_map is not None and scene.world_map.label == "covered"
    live.step()
    assert len(live.scene().flashes) == 0  # a flash marks the step of the crash only
    assert live.history["lost"][-1] > 0
    assert 0.0 < live.history["delivery_rate"][-1] < 1.0


def test_a_world_without_a_space_is_drawn_on_a_circle():
    live = LiveRun(load_scenario("scenarios/consensus.py", {"n_agents": 12, "horizon": 5.0}))
    live.step()
    scene = live.scene()
    assert scene.world_map is None
    assert np.allclose(np.hypot(*scene.positions.T), 1.0)
    assert len(scene.links) == 12 * 4  # a ring, two neighbours on each side
    assert scene_svg(scene).count('class="agent honest"') == 12


def test_knobs_start_at_the_scenario_values_and_map_to_its_keys():
    scenario = load_scenario(
        COVERAGE, {"faults.crash.fraction": 0.2, "net.loss.model": "bernoulli", "net.loss.p": 0.1}
    )
    params = knobs(scenario)
    assert params["scenario"] is scenario
    assert params["crash_fraction"]["value"] == pytest.approx(0.2)
    assert params["loss"]["value"] == pytest.approx(0.1)
    assert params["byzantine"]["type"] == "SliderInt"
    assert "loss" not in knobs(load_scenario("scenarios/box_pushing.py"))  # no messages
    keys = knob_overrides(scenario, crash_fraction=0.4, crash_time=0.0, byzantine=2, seed=9)
    changed = scenario.with_overrides(keys)
    assert changed.faults.crash.fraction == 0.4 and changed.faults.crash.start == "begin"
    assert changed.faults.byzantine.count == 2 and changed.faults.byzantine.actions == "adversarial"
    assert changed.seed == 9


def test_a_chart_leaves_gaps_where_there_is_no_value():
    svg = line_chart_svg("rate", [0, 1, 2, 3, 4], {"r": [0.5, 0.6, None, 0.7, float("nan")]})
    runs = re.findall(r'points="([^"]*)"', svg)
    assert [len(r.split()) for r in runs] == [2, 1]
    assert pl.Series([0.5]).len() == 1
