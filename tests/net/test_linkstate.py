"""Per-link state table: stable rows per key, creation flags, columns keep values as they grow."""

import numpy as np

from dmarl_des.net.linkstate import LinkTable


def test_rows_are_stable_and_created_once():
    table = LinkTable()
    table.add_column("busy", np.float64, -np.inf)
    table.add_column("ring", np.float64, 0.0, width=3)
    rng = np.random.default_rng(0)
    seen: dict[int, int] = {}
    for _ in range(200):
        keys = rng.choice(5000, size=int(rng.integers(1, 20)), replace=False)
        rows, created = table.rows(keys)
        for k, r, c in zip(keys.tolist(), rows.tolist(), created.tolist()):
            assert c == (k not in seen)
            assert seen.setdefault(k, r) == r
        table.column("busy")[rows] = keys.astype(float)
        table.column("ring")[rows, 1] = keys.astype(float)
    assert len(table) == len(seen)
    assert sorted(seen.values()) == list(range(len(seen)))
    keys = np.array(sorted(seen))
    rows, created = table.rows(keys)
    assert not created.any()
    np.testing.assert_array_equal(table.column("busy")[rows], keys.astype(float))
    np.testing.assert_array_equal(table.column("ring")[rows, 1], keys.astype(float))
    assert np.all(table.column("ring")[rows, 0] == 0.0)
