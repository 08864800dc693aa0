"""The command line: reports, JSON, exit codes and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.paths import exercise_notebook, solution_notebook
from tests.helpers import topic_points

FULL = topic_points("01_ppca")
"""Topic 01's full marks, from its task table."""


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=600)


def test_grade_prints_a_table_and_writes_the_documented_json(tmp_path):
    out = tmp_path / "report.json"
    done = cli("grade", str(solution_notebook("01_ppca")), "--json", str(out))
    assert done.returncode == 0, done.stderr
    assert "ppca.marginal" in done.stdout and f"total: {FULL:g}/{FULL:g}" in done.stdout
    report = json.loads(out.read_text())
    assert report["score"] == report["max_score"] == FULL
    notebook = report["notebooks"][0]
    assert set(notebook) >= {"path", "score", "max_score", "tasks"}
    assert set(notebook["tasks"][0]) == {"id", "points", "max_points", "status", "message"}
    assert all(t["status"] == "passed" for t in notebook["tasks"])


def test_zero_score_still_exits_zero():
    done = cli("grade", str(exercise_notebook("01_ppca")), "--public-only")
    assert done.returncode == 0, done.stderr
    assert f"total: 0/{FULL:g}" in done.stdout and "not implemented yet" in done.stdout


def test_bad_path_is_a_one_line_error(tmp_path):
    done = cli("grade", str(tmp_path / "nope.ipynb"))
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "no such file" in done.stderr
    assert "Traceback" not in done.stderr


def test_broken_notebook_is_a_one_line_error(tmp_path):
    broken = tmp_path / "01_ppca.ipynb"
    broken.write_text('{"cells": [ this is not json')
    done = cli("grade", str(broken))
    assert done.returncode == 2
    assert "not a readable notebook" in done.stderr and "Traceback" not in done.stderr


def test_folder_lists_notebooks_it_could_not_grade_and_exits_1(tmp_path):
    nb = nbformat.read(str(solution_notebook("01_ppca")), as_version=4)
    (tmp_path / "a").mkdir()
    nbformat.write(nb, str(tmp_path / "a" / "01_ppca.ipynb"))
    nbformat.write(nbformat.v4.new_notebook(), str(tmp_path / "a" / "notes.ipynb"))
    (tmp_path / "b.ipynb").write_text("{ not json")
    out = tmp_path / "report.json"
    done = cli("grade", str(tmp_path), "--public-only", "--json", str(out))
    assert done.returncode == 1, done.stderr
    assert f"total: {FULL:g}/{FULL:g}" in done.stdout
    listed = done.stdout.split("== not graded (2)")[1]
    assert "notes.ipynb: not a course notebook" in listed
    assert "b.ipynb: not a readable notebook" in listed
    assert done.stderr.strip() == ("error: 2 of 3 notebooks could not be graded "
                                   "(listed under 'not graded')")
    report = json.loads(out.read_text())
    assert report["errors"] == 2 and report["device"] == "cpu"
    assert sorted(Path(n["path"]).name for n in report["notebooks"] if "error" in n) == \
        ["b.ipynb", "notes.ipynb"]


def test_device_cuda_without_a_gpu_fails_at_once_in_one_line(tmp_path):
    from autograder.devices import cuda_driver_devices

    if cuda_driver_devices():
        pytest.skip("this machine has a CUDA device")
    done = cli("grade", str(exercise_notebook("01_ppca")), "--device", "cuda")
    assert done.returncode == 2 and done.stdout == ""  # refused before any task is graded
    assert done.stderr.count("\n") == 1 and "no usable CUDA device" in done.stderr


def test_device_auto_reports_the_device_it_chose(tmp_path):
    import torch

    out = tmp_path / "report.json"
    done = cli("grade", str(exercise_notebook("01_ppca")), "--public-only", "--device", "auto",
               "--json", str(out))
    chosen = "cuda" if torch.cuda.is_available() else "cpu"
    assert done.returncode == 0, done.stderr
    assert f"--device auto: grading on {chosen}" in done.stdout
    assert f"[01_ppca]  on {chosen}" in done.stdout
    assert json.loads(out.read_text())["device"] == chosen


def test_help_documents_the_exit_codes():
    done = cli("grade", "--help")
    assert "exit codes:" in done.stdout and "could not be graded" in done.stdout


def test_tasks_lists_the_registry():
    done = cli("tasks")
    assert done.returncode == 0 and "ppca.marginal" in done.stdout
