"""Checkpoints: weights load with weights_only=True, the card describes them, round trips act alike."""

import json

import numpy as np
import pytest
import torch

from dmarl_des.errors import ConfigError
from dmarl_des.learn import (
    TransitionBatch,
    check_card,
    learner_config,
    library_versions,
    load_checkpoint,
    make_learner,
    save_checkpoint,
)

OBS_DIM, N_ACTIONS, N_AGENTS = 3, 4, 3


def _trained(name, extra):
    config = learner_config(name, {"hidden": 8, **extra})
    learner = make_learner(
        config,
        obs_dim=OBS_DIM,
        n_actions=N_ACTIONS,
        n_agents=N_AGENTS,
        state_dim=2,
        gamma=0.95,
        seed=11,
        groups=[0, 1, 1],
    )
    with torch.no_grad():  # move away from the seed's initial weights
        for module in vars(learner).values():
            if isinstance(module, torch.nn.Module):
                for p in module.parameters():
                    p.add_(0.1 * torch.randn_like(p))
        if hasattr(learner, "agents"):
            for p in learner.agents.online.parameters():
                p.add_(0.1 * torch.randn_like(p))
    return learner


def _acts(learner):
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(6, OBS_DIM)).astype(np.float32)
    mask = rng.random((6, N_ACTIONS)) < 0.6
    mask[:, 0] = True
    learner.reset(None)
    return learner.act(obs, np.array([0, 1, 2, 2, 1, 0]), mask, explore=False)


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("iql", {"params": "per_agent"}),
        ("ippo", {"params": "per_group"}),
        ("vdn", {}),
        ("qmix", {"network": "gru"}),
    ],
)
def test_round_trip_gives_the_same_actions(tmp_path, name, extra):
    learner = _trained(name, extra)
    card = {"world": "toy", "seed": 11, "metrics": {"team_return": np.float32(1.5)}}
    save_checkpoint(tmp_path / "ckpt", learner, card)
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["card.json", "weights.pt"]
    payload = torch.load(tmp_path / "ckpt" / "weights.pt", weights_only=True)
    assert payload["algorithm"] == name
    written = json.loads((tmp_path / "ckpt" / "card.json").read_text())
    assert written["world"] == "toy" and written["metrics"]["team_return"] == 1.5
    assert written["learner"]["name"] == name and written["params"] == learner.config.params
    assert written["spec"]["obs_dim"] == OBS_DIM and written["spec"]["groups"] == [0, 1, 1]
    assert {"python", "torch", "numpy"} <= set(written["versions"])
    loaded, loaded_card = load_checkpoint(tmp_path / "ckpt", device="cpu")
    assert loaded_card == written
    assert type(loaded) is type(learner) and loaded.config == learner.config
    np.testing.assert_array_equal(_acts(loaded), _acts(learner))
    for (k, a), (_, b) in zip(
        loaded.state_dict()["nets"].items(), learner.state_dict()["nets"].items(), strict=True
    ):
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=k)


def test_a_loaded_learner_keeps_training(tmp_path):
    learner = _trained("iql", {"learning_starts": 0, "batch_size": 2, "train_every": 1})
    save_checkpoint(tmp_path, learner, {})
    loaded, _ = load_checkpoint(tmp_path)
    obs = np.zeros((2, OBS_DIM), np.float32)
    mask = np.ones((2, N_ACTIONS), bool)
    loaded.observe(
        TransitionBatch(
            agent_idx=np.array([0, 1]),
            obs=obs,
            action=np.array([0, 1]),
            mask=mask,
            reward=np.ones(2),
            obs_next=obs,
            mask_next=mask,
            tau=np.ones(2),
            done=np.zeros(2, bool),
            terminal=np.zeros(2, bool),
            t_start=np.zeros(2),
            t_end=np.ones(2),
        )
    )
    assert loaded.ready() and np.isfinite(loaded.update()["loss"])


def test_check_card_names_the_mismatched_field(tmp_path):
    save_checkpoint(tmp_path, _trained("iql", {}), {})
    _, card = load_checkpoint(tmp_path)
    check_card(card, OBS_DIM, N_ACTIONS, N_AGENTS)
    with pytest.raises(ConfigError, match="obs_dim"):
        check_card(card, OBS_DIM + 1, N_ACTIONS, N_AGENTS)
    with pytest.raises(ConfigError, match="n_actions"):
        check_card(card, OBS_DIM, 2, N_AGENTS)
    with pytest.raises(ConfigError, match="n_agents"):
        check_card(card, OBS_DIM, N_ACTIONS, 10)


def test_a_card_contradicting_the_learner_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="card.params"):
        save_checkpoint(tmp_path, _trained("iql", {}), {"params": "per_agent"})
    assert not (tmp_path / "weights.pt").exists()


def test_missing_or_foreign_checkpoints_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="checkpoint"):
        load_checkpoint(tmp_path / "nothing")
    save_checkpoint(tmp_path, _trained("iql", {}), {})
    card = json.loads((tmp_path / "card.json").read_text())
    card["learner"]["name"] = "dqn"
    (tmp_path / "card.json").write_text(json.dumps(card))
    with pytest.raises(ConfigError, match="card.learner.name"):
        load_checkpoint(tmp_path)


def test_rewriting_a_checkpoint_leaves_no_temporary_files(tmp_path):
    learner = _trained("vdn", {})
    for _ in range(2):
        save_checkpoint(tmp_path, learner, {"round": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["card.json", "weights.pt"]
    assert set(library_versions()) >= {"python", "torch", "numpy", "pydantic", "dmarl_des"}


@pytest.mark.parametrize(
    ("name", "extra", "agents", "other"),
    [
        ("iql", {"params": "per_agent"}, "online", None),
        ("ippo", {"critic": "state"}, "net", "critic"),
        ("qmix", {"network": "gru"}, "online", "mixer"),
    ],
)
def test_an_optimizer_state_over_per_layer_tensors_still_loads(name, extra, agents, other):
    # checkpoints may hold one torch.optim.Adam over every trained per-layer tensor, in order
    learner = _trained(name, extra)
    nets = learner.state_dict()["nets"]
    groups = [list(nets[agents].values())] + ([list(nets[other].values())] if other else [])
    tensors = [t.clone().requires_grad_() for group in groups for t in group]
    reference = torch.optim.Adam(tensors, lr=1e-3)
    for _ in range(2):
        for t in tensors:
            t.grad = torch.randn_like(t)
        reference.step()
    state = {**learner.state_dict(), "optimizer": reference.state_dict()}
    loaded = _trained(name, extra)
    loaded.load_state_dict(state)
    n_sets = nets[agents][next(iter(nets[agents]))].shape[0]
    expected = torch.cat(
        [reference.state[t]["exp_avg_sq"].reshape(n_sets, -1) for t in tensors[: len(groups[0])]],
        dim=1,
    )
    torch.testing.assert_close(loaded.optimizer.exp_avg_sq, expected, rtol=0, atol=0)
    assert loaded.optimizer.steps.tolist() == [2.0] * n_sets
    if other == "mixer":
        first = reference.state[tensors[len(groups[0])]]["exp_avg"]
        own = loaded.mixer_optimizer.state_dict()["state"][0]["exp_avg"]
        torch.testing.assert_close(own, first, rtol=0, atol=0)
    elif other == "critic":
        assert loaded.critic_optimizer.steps.tolist() == [2.0]


# ---------------------------------------------------------------- damaged or hostile checkpoints


@pytest.fixture
def saved(tmp_path):
    """A valid iql checkpoint (its folder)."""
    folder = tmp_path / "ckpt"
    save_checkpoint(folder, _trained("iql", {}), {"world": {"name": "toy"}})
    return folder


def _edit_card(folder, edit):
    card = json.loads((folder / "card.json").read_text())
    edit(card)
    (folder / "card.json").write_text(json.dumps(card))


def _refused(folder, match, **kwargs):
    """load_checkpoint raises a one-line ConfigError matching ``match``."""
    with pytest.raises(ConfigError, match=match) as info:
        load_checkpoint(folder, **kwargs)
    assert "\n" not in str(info.value)
    return info.value


def test_world_dims_are_checked_from_the_card_before_any_weight_is_read(saved):
    (saved / "weights.pt").unlink()
    error = _refused(saved, "card.spec.obs_dim", dims=(OBS_DIM + 2, N_ACTIONS, N_AGENTS))
    assert error.value == OBS_DIM and "this world" in error.allowed
    _refused(saved, "card.spec.n_actions", dims=(OBS_DIM, N_ACTIONS + 1, N_AGENTS))


def test_a_card_whose_dims_disagree_with_its_weights_is_a_config_error(saved):
    _edit_card(saved, lambda card: card["spec"].update(obs_dim=OBS_DIM + 2))
    error = _refused(
        saved, "weights.pt.*card.json describes", dims=(OBS_DIM + 2, N_ACTIONS, N_AGENTS)
    )
    assert error.field == str(saved / "weights.pt")


@pytest.mark.parametrize("key", ["obs_dim", "n_actions", "n_agents", "gamma", "seed"])
def test_a_missing_spec_key_is_named(saved, key):
    _edit_card(saved, lambda card: card["spec"].pop(key))
    assert _refused(saved, f"card.spec.{key}").field == f"card.spec.{key}"


def test_a_card_that_is_not_json_is_a_config_error(saved):
    (saved / "card.json").write_text('{"learner": {"name": "iql",')
    error = _refused(saved, "card.json")
    assert "line 1" in str(error.value)
    (saved / "card.json").write_text("[1, 2]")
    _refused(saved, "card.json.*a JSON object")


@pytest.mark.parametrize("damage", ["truncated", "empty", "missing"])
def test_damaged_weights_are_config_errors(saved, damage):
    weights = saved / "weights.pt"
    if damage == "truncated":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif damage == "empty":
        weights.write_bytes(b"")
    else:
        weights.unlink()
    assert _refused(saved, "weights.pt").field == str(saved / "weights.pt")


def test_weights_of_another_structure_are_a_config_error(saved, tmp_path):
    other = tmp_path / "other"
    save_checkpoint(other, _trained("iql", {"hidden": 16}), {})
    (saved / "weights.pt").write_bytes((other / "weights.pt").read_bytes())
    _refused(saved, "weights.pt.*size mismatch")
    payload = torch.load(other / "weights.pt", weights_only=True)
    del payload["state"]["nets"]["online"]
    torch.save(payload, saved / "weights.pt")
    _refused(saved, "weights.pt.*online")


def test_an_absurd_hidden_size_is_refused_before_building_the_network(saved):
    # the widest hidden layer a config accepts (larger ones are refused by the config itself)
    _edit_card(saved, lambda card: card["learner"].update(hidden=8192))
    error = _refused(saved, "card.learner.hidden")
    assert error.value == 8192 and "saved weights" in error.allowed


def test_nan_weights_are_refused(saved):
    payload = torch.load(saved / "weights.pt", weights_only=True)
    weight = payload["state"]["nets"]["online"]["layers.0.weight"]
    weight[0, 0, 0] = float("nan")
    torch.save(payload, saved / "weights.pt")
    error = _refused(saved, "NaN or inf")
    assert "layers.0.weight" in str(error.value)


class _Code:
    """Unpickling this would call a function: what weights_only refuses."""

    def __reduce__(self):
        import os

        return (os.getpid, ())


def test_a_pickle_with_code_is_refused_as_a_config_error(saved):
    torch.save({"algorithm": "iql", "state": _Code()}, saved / "weights.pt")
    error = _refused(saved, "weights.pt")
    assert "refused" in error.allowed
