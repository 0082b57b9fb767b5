"""Interrupted macro-actions end cleanly and leave no request queued on any SimPy store."""

import simpy
from timer_world import ScriptedSequence, TimerParams, TimerWorld, store_wait, timer_scenario

from dmarl_des.macro import MacroAction


class StoreWorld(TimerWorld):
    def setup(self):
        super().setup()
        self.macro_actions = [MacroAction("listen", store_wait), *self.macro_actions]
        self.received = []

    def reset_episode(self, episode):
        super().reset_episode(episode)
        self.store = simpy.Store(self.env)
        self.queue_after_interrupt = None

    def start_processes(self):
        def script():
            yield self.env.timeout(1.0)
            self.sim_agents[0].interrupt("wake up")
            yield self.env.timeout(0.5)
            self.queue_after_interrupt = len(self.store.get_queue)
            yield self.env.timeout(0.5)
            self.store.put("hello")

        self.env.process(script())


def test_interrupted_store_wait_does_not_swallow_the_next_message():
    world = StoreWorld(timer_scenario(n_agents=1, horizon=5.0, world=TimerParams(reward_every=0)))
    world.policy = ScriptedSequence({0: [0, 0]})  # listen, (interrupted) listen again
    world.run()
    assert world.queue_after_interrupt == 1  # only the second, live request
    assert world.received == [(0, "hello")]
    tr = world.recorder.frame("transitions")
    assert tr["t_end"][0] == 1.0 and tr["tau"][0] == 1.0  # ended at the interrupt instant


def test_stopped_agent_leaves_no_process_and_no_request():
    class StopWorld(StoreWorld):
        def start_processes(self):
            def script():
                yield self.env.timeout(1.0)
                self.sim_agents[0].stop("crash")
                yield self.env.timeout(1.0)
                self.queue_after_interrupt = len(self.store.get_queue)
                self.store.put("late")

            self.env.process(script())

    world = StopWorld(timer_scenario(n_agents=1, horizon=5.0, world=TimerParams(reward_every=0)))
    world.policy = ScriptedSequence({0: [0]})
    world.run()
    agent = world.sim_agents[0]
    assert not agent.process.is_alive and not agent.alive
    assert world.queue_after_interrupt == 0
    assert world.received == []
    assert world.store.items == ["late"]
