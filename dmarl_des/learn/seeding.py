"""A learner's random streams, all derived from one seed so that none shifts another."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class LearnerStreams:
    """``rng``: numpy (replay sampling, minibatches); ``init``: torch (parameter init);
    ``noise``: torch (action sampling, exploration).

    The torch generators live on the CPU: noise drawn from them is moved to the learner's device,
    so the same seed gives the same draws on every device. Initialization has its own stream, so
    a change of parameter mode (which draws more or fewer initial weights) leaves action draws
    unchanged.
    """

    rng: np.random.Generator
    init: torch.Generator
    noise: torch.Generator


def _torch_generator(seq: np.random.SeedSequence) -> torch.Generator:
    generator = torch.Generator(device="cpu")
    generator.manual_seed(int(seq.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1)))
    return generator


def learner_streams(seed: int) -> LearnerStreams:
    """The three streams of a learner seeded with ``seed``."""
    numpy_seq, init_seq, noise_seq = np.random.SeedSequence(int(seed)).spawn(3)
    return LearnerStreams(
        np.random.default_rng(numpy_seq), _torch_generator(init_seq), _torch_generator(noise_seq)
    )
