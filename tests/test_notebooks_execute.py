"""Every solution notebook runs top to bottom on CPU (fast mode), its checks included."""

from __future__ import annotations

import os

import nbformat
import pytest
from nbclient import NotebookClient

from autograder.paths import TOPICS, solution_notebook
from tests.helpers import skip_without_data

AUTHORED = [t for t in TOPICS if solution_notebook(t).is_file()]
LONGEST = ("06_iwae", "07_priors", "08_hierarchical_vae")
"""Run under ``pytest -m exhaustive`` only (1-2 min each even in fast mode)."""


@pytest.mark.slow
@pytest.mark.parametrize("topic", [pytest.param(t, marks=pytest.mark.exhaustive)
                                   if t in LONGEST else t for t in AUTHORED])
def test_solution_notebook_runs_top_to_bottom(topic, monkeypatch):
    skip_without_data(topic)
    monkeypatch.setenv("VAE_COURSE_FAST", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.delenv("AUTOGRADER_DEFERRED", raising=False)
    path = solution_notebook(topic)
    nb = nbformat.read(str(path), as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    errors = [(i, o.get("ename"), o.get("evalue")) for i, c in enumerate(nb.cells)
              if c.cell_type == "code" for o in c.get("outputs", [])
              if o.output_type == "error"]
    assert not errors
    assert os.environ.get("VAE_COURSE_FAST") == "1"
