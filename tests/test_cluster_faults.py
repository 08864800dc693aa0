"""``grade-class --scheduler``: a submission that takes down every worker that grades it.

The class (topic 01): alice hands in the reference solution; mallory a notebook whose metadata
holds millions of empty JSON lists, under the 32 MiB size limit but several hundred MiB once
parsed, more than a worker of the test's ``distributed.LocalCluster`` may use: Dask's nanny
kills the worker each time it reads the notebook. After ``allowed-failures`` + 1 tries the
submission is recorded as ``crashed``; alice is graded; nothing is lost or counted twice.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.classgrade.store import ResultStore
from autograder.paths import exercise_notebook, solution_notebook
from autograder.registry import tasks_for_topic
from tests.test_grade_class import P01, read_csv, stored_results, summary_counts

# ~100 CPU-s: two notebooks graded, two workers ended and restarted (`pytest -m exhaustive`)
pytestmark = pytest.mark.exhaustive
ALLOWED_FAILURES = 1
WORKER_MEMORY = "1.25GiB"
BLOATED_MIB = 31


def bloated_notebook(path: Path) -> None:
    """The exercise notebook with a metadata entry of millions of ``[]``: ~31 MiB on disk."""
    notebook = nbformat.read(str(exercise_notebook(P01)), as_version=4)
    notebook.metadata["scratch"] = "@@"
    text = nbformat.writes(notebook)
    count = (BLOATED_MIB * 2**20 - len(text)) // 3
    path.parent.mkdir(parents=True)
    path.write_text(text.replace('"@@"', "[" + ",".join(["[]"] * count) + "]"))


def build_class(root: Path) -> Path:
    submitted = root / "submitted"
    (submitted / "alice" / P01).mkdir(parents=True)
    (submitted / "alice" / P01 / f"{P01}.ipynb").write_bytes(solution_notebook(P01).read_bytes())
    bloated_notebook(submitted / "mallory" / P01 / f"{P01}.ipynb")
    return submitted


def test_a_submission_that_ends_every_worker_is_recorded_crashed(tmp_path):
    import dask
    from distributed import LocalCluster

    submitted, out = build_class(tmp_path), tmp_path / "grades"
    with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES}), \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                         dashboard_address=":0", memory_limit=WORKER_MEMORY) as cluster:
        done = subprocess.run(
            [sys.executable, "-m", "autograder", "grade-class", str(submitted), "--out",
             str(out), "--scheduler", cluster.scheduler_address],
            capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert summary_counts(done) == (2, 0)
    assert {p.parent.name for p in stored_results(out)} == {"alice", "mallory"}
    store = ResultStore(out)
    mallory = json.loads(store.path("mallory", P01).read_text())
    tries = ALLOWED_FAILURES + 1
    assert {t["status"] for t in mallory["tasks"]} == {"crashed"}
    assert f"ended the worker process {tries} times" in mallory["error"]
    rows = {r["student"]: r for r in read_csv(out / "grades.csv")}
    assert float(rows["mallory"][f"{P01}/total"]) == 0
    assert float(rows["alice"][f"{P01}/total"]) == sum(t.points for t in tasks_for_topic(P01))
    long = read_csv(out / "grades_long.csv")
    assert len(long) == len({(r["student"], r["task"]) for r in long})
    assert {r["student"] for r in long} == {"alice", "mallory"}
