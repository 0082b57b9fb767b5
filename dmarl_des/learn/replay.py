"""A numpy ring buffer of squeezed macro-transitions, sampled uniformly."""

from __future__ import annotations

import numpy as np


class ReplayBuffer:
    """Fixed-capacity columns (name -> [capacity, *shape]); the oldest rows are overwritten."""

    def __init__(self, capacity: int, columns: dict[str, tuple[tuple[int, ...], type]]) -> None:
        self.capacity = int(capacity)
        self.columns = {
            name: np.zeros((self.capacity, *shape), dtype=dtype)
            for name, (shape, dtype) in columns.items()
        }
        self.size = 0
        self.cursor = 0

    def __len__(self) -> int:
        return self.size

    def add(self, **rows: np.ndarray) -> None:
        """Append B rows given as one array per column (only the last ``capacity`` rows kept)."""
        n = len(next(iter(rows.values())))
        start = max(0, n - self.capacity)
        where = (self.cursor + np.arange(n - start)) % self.capacity
        for name, column in self.columns.items():
            column[where] = rows[name][start:]
        self.cursor = int((self.cursor + n - start) % self.capacity)
        self.size = min(self.size + n - start, self.capacity)

    def sample(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``n`` rows drawn uniformly with replacement."""
        idx = rng.integers(0, self.size, size=n)
        return {name: column[idx] for name, column in self.columns.items()}
