"""Comparing a table from a run served in windows of exact instants with one served an instant at a time."""

import numpy as np
import polars as pl

ROUNDED = {("transitions", "obs"), ("transitions", "obs_next"), ("transitions", "reward")}
"""Columns that batched products (the observation's projection, discounted sums over a batch)
may round differently in the last place (within 1e-6). Other float columns (delivery instants,
latencies) may differ by a unit in the last place: a delivery timer made ahead of its message's
send time lands on the first instant it can reach (docs/concepts.md)."""

IGNORED = {("episodes", "mean_batch"), ("episodes", "wall_s")}
"""Decisions per policy call (windows make fewer, bigger calls) and the wall clock."""


def assert_same_table(windowed: pl.DataFrame, alone: pl.DataFrame, name: str) -> None:
    """Every column of table ``name`` equal, floats to the last place, rounded ones to 1e-6."""
    assert windowed.shape == alone.shape, name
    assert windowed.columns == alone.columns, name
    for col in windowed.columns:
        if (name, col) in IGNORED:
            continue
        if (name, col) in ROUNDED:
            x = np.array(windowed[col].to_list(), dtype=np.float64)
            y = np.array(alone[col].to_list(), dtype=np.float64)
            np.testing.assert_allclose(x, y, rtol=1e-9, atol=1e-6, err_msg=f"{name}.{col}")
        elif windowed[col].dtype == pl.Float64:
            x, y = windowed[col].to_numpy(), alone[col].to_numpy()
            np.testing.assert_allclose(x, y, rtol=1e-13, atol=0, err_msg=f"{name}.{col}")
        else:
            assert windowed[col].equals(alone[col]), f"{name}.{col}"
