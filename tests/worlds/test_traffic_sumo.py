"""The traffic world co-simulated with SUMO (``world.engine = sumo``, the `traffic` extra)."""

from pathlib import Path

import numpy as np
import pytest

from dmarl_des.errors import ConfigError
from dmarl_des.scenario import load_scenario
from dmarl_des.study import run_scenario
from dmarl_des.study.policies import build_policy
from dmarl_des.worlds.traffic import TrafficWorld
from dmarl_des.worlds.traffic_demand import turns
from dmarl_des.worlds.traffic_grid import PHASE_SIDES, SIDES, exit_side, opposite
from dmarl_des.worlds.traffic_sumo import sumo_available

TRAFFIC = Path(__file__).resolve().parents[2] / "scenarios" / "traffic.py"
WHY = sumo_available()
needs_sumo = pytest.mark.skipif(
    WHY is not None, reason=f"SUMO co-simulation needs the traffic extra: {WHY}"
)


def _scenario(**overrides):
    return load_scenario(TRAFFIC).with_overrides(
        {"n_agents": 4, "world.engine": "sumo", "horizon": 900.0, **overrides}
    )


class _Watch:
    """Wraps a policy: at each decision checks SUMO's clock and the lights it shows."""

    def __init__(self, world, inner):
        self.world, self.inner = world, inner
        self.checks = 0

    def act(self, obs, agent_idx, mask, *, explore=True):
        import libsumo

        w = self.world
        assert libsumo.simulation.getTime() == pytest.approx(w.now)  # SUMO is at the event time
        for i in agent_idx.tolist():
            state = libsumo.trafficlight.getRedYellowGreenState(w.vehicles.tls[i])
            phase = w.signals.phase[i]
            if phase >= 0 and w.signals.green_from[i] <= w.now:  # green shown now
                assert state == w.vehicles.greens[i][phase]
                links = libsumo.trafficlight.getControlledLinks(w.vehicles.tls[i])
                green_sides = {
                    w.vehicles.in_edge.index(link[0][0].rsplit("_", 1)[0]) % SIDES
                    for link, letter in zip(links, state, strict=True)
                    if letter in "Gg"
                }
                assert green_sides == set(PHASE_SIDES[phase])
                self.checks += 1
        return self.inner.act(obs, agent_idx, mask, explore=explore)

    def reset(self, agent_idx=None):
        self.inner.reset(agent_idx)


@needs_sumo
def test_sumo_steps_to_every_event_time_and_shows_the_chosen_phases():
    scenario = _scenario(policy="random")
    world = TrafficWorld(scenario)
    world.policy = _Watch(world, build_policy(scenario, world))
    world.run()
    assert world.policy.checks > 50
    row = world.recorder.frames()["traffic"].row(0, named=True)
    assert row["entered"] > 300 and row["exited"] > 200 and row["total_delay"] > 0


@needs_sumo
def test_the_same_demand_and_routes_as_the_queue_network():
    """Vehicle (s, k) departs at the same time in both engines and SUMO drives the route its
    turn draws give in the queue network."""
    import libsumo

    scenario = _scenario(horizon=300.0)
    world = TrafficWorld(scenario)
    world.policy = build_policy(scenario, world)
    world.run_episode(0, "eval")
    queues = TrafficWorld(scenario.with_overrides({"world.engine": "queues"}))
    queues.policy = build_policy(scenario, queues)
    queues.run_episode(0, "eval")
    a = world.recorder.frames()["traffic"]["entered"][0]
    assert a == queues.recorder.frames()["traffic"]["entered"][0] > 50
    # a fresh episode: check the routes SUMO was given against the draws
    vehicles = world._new_vehicles(1)
    try:
        vehicles.advance(120.0)
        checked = 0
        for name in libsumo.vehicle.getIDList():
            vid = int(name)
            edges = list(libsumo.vehicle.getRoute(name))
            i, side = divmod(vehicles.in_edge.index(edges[0]), SIDES)
            for hop, edge in enumerate(edges[1:]):
                turn = turns(vehicles.key, np.array([vid]), np.array([hop]), 0.1, 0.1)[0]
                leave = int(exit_side(side, turn))
                assert edge == vehicles.out_edge[i][leave]
                i, side = int(world.grid.neighbour[i, leave]), int(opposite(leave))
            checked += 1
        assert checked > 10
    finally:
        vehicles.close_episode()


@needs_sumo
def test_max_pressure_beats_random_in_sumo_and_crashed_signals_blink():
    import libsumo

    def delay(**overrides):
        return run_scenario(_scenario(**overrides)).frames["traffic"]["delay_per_vehicle"][0]

    assert delay() < 0.8 * delay(policy="random")
    scenario = _scenario(**{"faults.crash.count": 1, "faults.crash.ids": ()})
    world = TrafficWorld(scenario)
    world.policy = build_policy(scenario, world)
    world._runner.begin(0, "eval")
    world.env.run(until=10.0)
    crashed = [i for i in range(4) if not world.up[i]]
    assert len(crashed) == 1
    state = libsumo.trafficlight.getRedYellowGreenState(world.vehicles.tls[crashed[0]])
    assert set(state) == {"o"}
    world.vehicles.close_episode()


def test_sumo_settings_are_checked():
    if WHY is not None:  # without SUMO the engine itself is refused, naming the extra
        with pytest.raises(ConfigError, match="traffic"):
            _scenario()
        return
    with pytest.raises(ConfigError, match="n_agents"):
        _scenario(n_agents=9)
    with pytest.raises(ConfigError, match="decision_period"):
        _scenario(decision_period=0.0)
    with pytest.raises(ConfigError, match="world.yellow"):
        _scenario(**{"world.yellow": 2.5})
