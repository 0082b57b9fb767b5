"""Named random streams split from one seed, so adding a stream never shifts another's draws."""

from __future__ import annotations

import hashlib

import numpy as np


def _name_key(name: str) -> int:
    """A stable 32-bit integer for a stream name (independent of Python's hash seed)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=4).digest(), "little")


class RandomStreams:
    """Generators keyed by (seed, stream name[, keys...]) via ``numpy.random.SeedSequence``.

    ``stream("world")`` is the same generator object for the life of this instance, so draws in
    sequence continue; ``fresh("world", episode)`` builds a new generator from (seed, name, episode),
    and ``for_agent("policy", episode, agent_id)`` one per agent, giving common random numbers per
    agent: agent i's draws do not depend on what other agents (or other streams) consumed.
    """

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self._streams: dict[str, np.random.Generator] = {}

    def sequence(self, name: str, *keys: int) -> np.random.SeedSequence:
        """The SeedSequence of one named stream (with optional integer sub-keys)."""
        return np.random.SeedSequence(self.seed, spawn_key=(_name_key(name), *map(int, keys)))

    def stream(self, name: str) -> np.random.Generator:
        """The long-lived generator of stream ``name``."""
        rng = self._streams.get(name)
        if rng is None:
            rng = self._streams[name] = np.random.Generator(np.random.PCG64(self.sequence(name)))
        return rng

    def fresh(self, name: str, *keys: int) -> np.random.Generator:
        """A new generator for (name, keys), e.g. one per episode."""
        return np.random.Generator(np.random.PCG64(self.sequence(name, *keys)))

    def for_agent(self, name: str, episode: int, agent_id: int) -> np.random.Generator:
        """A counter-based generator for one agent in one episode (Philox keyed by the triple)."""
        key = self.sequence(name, episode, agent_id).generate_state(2, np.uint64)
        return np.random.Generator(np.random.Philox(key=key))

    def integer_seed(self, name: str, *keys: int) -> int:
        """A 63-bit integer seed for libraries that take one (torch, networkx)."""
        return int(self.sequence(name, *keys).generate_state(1, np.uint64)[0] >> np.uint64(1))
