"""The robustness notebook executes against a tiny study and draws its curves and per-agent view."""

from pathlib import Path

import nbformat
from nbclient import NotebookClient

from dmarl_des.study import Study, run_study

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "robustness.ipynb"
TINY = ROOT / "tests" / "study" / "tiny_scenario.py"


def test_committed_notebook_has_no_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


def test_notebook_runs_on_a_tiny_study(tmp_path, monkeypatch):
    out = tmp_path / "study"
    study = Study(
        TINY, grid={"world.crash_fraction": [0.0, 0.5]}, seeds=2, base_overrides={"horizon": 10.0}
    )
    assert run_study(study, out, workers=1, progress=False).ok
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
    assert len(images) == 2  # degradation curves, per-agent view
    text = "\n".join(o.get("data", {}).get("text/plain", "") for o in outputs)
    assert str(out) in text  # the folder came from DMARL_STUDY_DIR
    assert "crashed" in text and "honest" in text  # the per-agent table splits roles
