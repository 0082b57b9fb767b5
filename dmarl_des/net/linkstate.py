"""Per-link state rows addressed by integer pair keys, looked up and created in batches."""

from __future__ import annotations

import numpy as np


class LinkTable:
    """Maps int64 keys (``a * n + b`` for a pair of agents) to dense row numbers.

    Rows are created on first use; columns are numpy arrays registered with :meth:`add_column`
    and grown together. Lookups are vectorized (binary search over the sorted keys).
    """

    def __init__(self) -> None:
        self._keys = np.empty(0, dtype=np.int64)  # sorted
        self._rows = np.empty(0, dtype=np.int64)  # row of each sorted key
        self._n_rows = 0
        self._capacity = 0
        self._columns: dict[str, tuple[np.ndarray, object]] = {}

    def __len__(self) -> int:
        return self._n_rows

    def add_column(self, name: str, dtype: np.dtype | type, fill: object, width: int = 0) -> None:
        """Register a column (``width > 0`` makes it [rows, width]) whose new rows hold ``fill``."""
        shape = (self._capacity, width) if width else (self._capacity,)
        self._columns[name] = (np.full(shape, fill, dtype=dtype), fill)

    def column(self, name: str) -> np.ndarray:
        """The column array (rows beyond ``len(self)`` are unused)."""
        return self._columns[name][0]

    def rows(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows for distinct ``keys``, creating missing ones; returns (rows, created mask)."""
        keys = np.asarray(keys, dtype=np.int64)
        size = self._keys.size
        if size:
            pos = np.minimum(np.searchsorted(self._keys, keys), size - 1)
            found = self._keys[pos] == keys
            if found.all():
                return self._rows[pos], np.zeros(keys.shape, dtype=bool)
        else:
            pos = np.zeros(keys.shape, dtype=np.int64)
            found = np.zeros(keys.shape, dtype=bool)
        out = np.empty(keys.shape, dtype=np.int64)
        out[found] = self._rows[pos[found]]
        created = ~found
        n_new = int(created.sum())
        if n_new:
            new_keys = keys[created]
            new_rows = np.arange(self._n_rows, self._n_rows + n_new, dtype=np.int64)
            self._grow(self._n_rows + n_new)
            self._n_rows += n_new
            out[created] = new_rows
            order = np.argsort(new_keys, kind="stable")
            at = np.searchsorted(self._keys, new_keys[order])
            self._keys = np.insert(self._keys, at, new_keys[order])
            self._rows = np.insert(self._rows, at, new_rows[order])
        return out, created

    def _grow(self, need: int) -> None:
        if need <= self._capacity:
            return
        cap = max(need, 2 * self._capacity, 64)
        for name, (arr, fill) in self._columns.items():
            grown = np.full((cap, *arr.shape[1:]), fill, dtype=arr.dtype)
            grown[: self._n_rows] = arr[: self._n_rows]
            self._columns[name] = (grown, fill)
        self._capacity = cap
