"""A study expands into validated runs whose ids are the hash of their complete scenario."""

import numpy as np
import pytest
from study_testkit import TINY

from dmarl_des.errors import ConfigError
from dmarl_des.scenario import load_scenario
from dmarl_des.study import Study, load_study, run_id_for


def test_runs_are_grid_product_times_seeds_with_scenario_hash_ids():
    study = Study(
        TINY,
        grid={"world.crash_fraction": [0, 0.5], "world.noise": [0.0, 0.1, 0.2]},
        seeds=[3, 5],
        base_overrides={"n_agents": 3},
    )
    runs = study.runs()
    assert len(runs) == 2 * 3 * 2
    assert len({r.run_id for r in runs}) == len(runs)
    first = runs[0]
    assert first.seed == 3 and first.overrides == {
        "n_agents": 3,
        "world.crash_fraction": 0,
        "world.noise": 0.0,
    }
    # the id is the scenario's own: name + hash of the full validated scenario (seed included)
    scenario = load_scenario(TINY, {**first.overrides, "seed": 3})
    assert first.run_id == run_id_for(scenario)
    assert scenario.n_agents == 3 and scenario.seed == 3
    # partitions hold the validated values (int 0 on a float field becomes 0.0)
    assert first.partition == {"world.crash_fraction": 0.0, "world.noise": 0.0}
    assert isinstance(first.partition["world.crash_fraction"], float)
    # the runs table records the validated values of every override (so 0 and 0.0 agree)
    assert first.params == {"n_agents": 3, "world.crash_fraction": 0.0, "world.noise": 0.0}
    # last key varies fastest, then seeds
    assert [(r.partition["world.noise"], r.seed) for r in runs[:4]] == [
        (0.0, 3),
        (0.0, 5),
        (0.1, 3),
        (0.1, 5),
    ]


def test_seed_count_and_numpy_grid_values():
    study = Study(TINY, grid={"world.noise": np.array([0.0, 0.5])}, seeds=np.int64(3))
    assert study.seeds == (0, 1, 2)
    assert Study(TINY, seeds=np.arange(2, 4)).seeds == (2, 3)
    assert [r.seed for r in study.runs()] == [0, 1, 2, 0, 1, 2]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"grid": {"seed": [0, 1]}}, "grid"),
        ({"grid": {"world.noise": []}}, "grid world.noise"),
        ({"grid": {"world.noise": "0.1"}}, "grid world.noise"),
        ({"grid": {"world.noise": [0.1]}, "base_overrides": {"world.noise": 0.2}}, "grid"),
        ({"seeds": 0}, "seeds"),
        ({"seeds": [1, 1]}, "seeds"),
        ({"seeds": [-1]}, "seeds"),
        ({"base_overrides": {"seed": 4}}, "base_overrides"),
        ({"name": "a/b"}, "study name"),
    ],
)
def test_bad_study_arguments_are_config_errors(kwargs, field):
    with pytest.raises(ConfigError) as info:
        Study(TINY, **kwargs)
    assert info.value.field == field


def test_bad_grid_value_fails_before_any_run(tmp_path):
    study = Study(TINY, grid={"world.noise": [0.0, 1.5]}, seeds=1)
    with pytest.raises(ConfigError) as info:
        study.runs()
    assert "world.noise" in str(info.value) and "1.5" in str(info.value)


def test_values_giving_the_same_scenario_are_rejected():
    with pytest.raises(ConfigError, match="same run"):
        Study(TINY, grid={"world.noise": [0, 0.0]}).runs()


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as info:
        Study(tmp_path / "nope.py")
    assert info.value.field == "scenario"


def test_load_study_uses_the_files_default_and_lets_arguments_replace_parts():
    default = load_study(TINY)
    assert default.grid == {"world.crash_fraction": (0.0, 0.25, 0.5)}
    assert default.seeds == (0, 1)
    changed = load_study(TINY, seeds=4, base_overrides={"horizon": 5.0}, name="other")
    assert changed.grid == default.grid and changed.seeds == (0, 1, 2, 3)
    assert changed.base_overrides == {"horizon": 5.0} and changed.name == "other"
    explicit = load_study(TINY, grid={"world.noise": [0.0, 0.3]})
    assert explicit.grid == {"world.noise": (0.0, 0.3)} and len(explicit.seeds) == 3
