"""The notebooks run top to bottom on small settings (nbclient, a real Jupyter kernel)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
pytestmark = [pytest.mark.notebook, pytest.mark.slow]


def _run(name: str, tmp_path, monkeypatch, env: dict[str, str]) -> nbformat.NotebookNode:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        f"{name} is committed with outputs; clear them"
    )
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    return nb


def _text(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", "") or str(out.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


def test_explore_embeddings_notebook(demo_workspace, tmp_path, monkeypatch):
    nb = _run(
        "01_explore_embeddings.ipynb",
        tmp_path,
        monkeypatch,
        {"SHELFWISE_HOME": str(demo_workspace.root), "SHELFWISE_NB_SAMPLE": "300"},
    )
    text = _text(nb)
    assert "2000 products, d=384" in text
    assert "share of 10 nearest neighbours in the same category" in text
    images = sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    assert images >= 4  # three maps... plus neighbours and the session path


def test_policy_learning_notebook(demo_workspace, tmp_path, monkeypatch):
    nb = _run("02_policy_learning.ipynb", tmp_path, monkeypatch,
              {"SHELFWISE_HOME": str(demo_workspace.root), "SHELFWISE_NB_SCALE": "0.5"})
    text = _text(nb)
    for name in ("linucb", "lints", "slateq", "reinforce", "random", "oracle"):
        assert name in text
    assert "relative errors" in text and "truth" in text
    images = sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    assert images == 3  # learning curves, synthetic OPE, OBD
