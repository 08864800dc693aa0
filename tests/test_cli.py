"""The command line: reports, JSON, exit codes and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat

from autograder.paths import exercise_notebook, solution_notebook


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=600)


def test_grade_prints_a_table_and_writes_the_documented_json(tmp_path):
    out = tmp_path / "report.json"
    done = cli("grade", str(solution_notebook("01_ppca")), "--json", str(out))
    assert done.returncode == 0, done.stderr
    assert "ppca.marginal" in done.stdout and "total: 12/12" in done.stdout
    report = json.loads(out.read_text())
    assert report["score"] == report["max_score"] == 12
    notebook = report["notebooks"][0]
    assert set(notebook) >= {"path", "score", "max_score", "tasks"}
    assert set(notebook["tasks"][0]) == {"id", "points", "max_points", "status", "message"}
    assert all(t["status"] == "passed" for t in notebook["tasks"])


def test_zero_score_still_exits_zero():
    done = cli("grade", str(exercise_notebook("01_ppca")), "--public-only")
    assert done.returncode == 0, done.stderr
    assert "total: 0/12" in done.stdout and "not implemented yet" in done.stdout


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


def test_folder_grading_reports_each_notebook_and_unknown_ones(tmp_path):
    nb = nbformat.read(str(solution_notebook("01_ppca")), as_version=4)
    (tmp_path / "a").mkdir()
    nbformat.write(nb, str(tmp_path / "a" / "01_ppca.ipynb"))
    nbformat.write(nbformat.v4.new_notebook(), str(tmp_path / "a" / "notes.ipynb"))
    done = cli("grade", str(tmp_path), "--public-only")
    assert done.returncode == 0, done.stderr
    assert "total: 12/12" in done.stdout
    assert "not a course notebook" in done.stdout


def test_tasks_lists_the_registry():
    done = cli("tasks")
    assert done.returncode == 0 and "ppca.marginal" in done.stdout
