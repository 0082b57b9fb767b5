"""The robustness notebook executes against a tiny study of two policies, with a damaged run in it:
policies side by side, degradation curves and a per-agent view, the damaged run left out."""

from pathlib import Path

import nbformat
import torch
from nbclient import NotebookClient

from dmarl_des.learn import learner_config, make_learner, save_checkpoint
from dmarl_des.study import Study, run_study

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "robustness.ipynb"
TINY = ROOT / "tests" / "study" / "tiny_scenario.py"


def test_committed_notebook_has_no_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


def _working_checkpoint(folder):
    """A greedy policy for the tiny world that always works (macro-action 0)."""
    learner = make_learner(
        learner_config("iql", {"hidden": 8}), obs_dim=2, n_actions=2, n_agents=4, gamma=0.9, seed=0
    )
    with torch.no_grad():
        for p in learner.agents.online.parameters():
            p.zero_()
        learner.agents.online.head.bias[:, 0] = 1.0
    return save_checkpoint(folder, learner, {"world": {"name": "tiny"}})


def test_notebook_runs_on_a_tiny_study_with_a_damaged_run(tmp_path, monkeypatch):
    out = tmp_path / "study"
    monkeypatch.chdir(tmp_path)
    ckpt = _working_checkpoint(Path("models") / "tiny-work")  # named by a relative path
    study = Study(
        TINY,
        grid={"world.crash_fraction": [0.0, 0.5], "policy": ["random", str(ckpt)]},
        seeds=2,
        base_overrides={"horizon": 10.0},
    )
    result = run_study(study, out, workers=1, progress=False)
    assert result.ok
    damaged = next((out / "agents").rglob("*.parquet"))
    damaged.write_bytes(damaged.read_bytes()[:100])  # truncated after the study
    monkeypatch.setenv("DMARL_STUDY_DIR", str(out))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 3  # policies side by side, degradation curves, per-agent view
    text = "\n".join(o.get("data", {}).get("text/plain", "") for o in outputs)
    text += "\n".join(o.get("text", "") for o in outputs)
    assert str(out) in text  # the folder came from DMARL_STUDY_DIR
    assert f"left out: run {damaged.stem}" in text  # named, not read half
    assert "7 completed runs" in text
    assert "models/tiny-work" in text and "random" in text  # both policies, as named
    assert "crashed" in text and "honest" in text  # the per-agent table splits roles
