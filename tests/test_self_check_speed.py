"""The fast self-check (``VAE_COURSE_SELF_CHECK=fast``) judges like the sandboxed one.

Behaviour only (speed lives in ``bench/student_loop.py``): the same per-task outcomes and
messages on a solved, an untouched and a buggy notebook of topic 01; hidden checks refused;
a task that loops forever or kills its process fails alone, with a clear message.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from autograder.registry import tasks_for_topic
from tests.helpers import PPCA_SQUARED_SIGMA2_MARGINAL, fill

ROOT = Path(__file__).resolve().parents[1]
RELEASED = ROOT / "exercises" / "01_ppca" / "01_ppca.ipynb"
SOLUTION = ROOT / "solutions" / "01_ppca" / "01_ppca.ipynb"
BUGGY_MARGINAL = PPCA_SQUARED_SIGMA2_MARGINAL


def _env(mode: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "VAE_COURSE_SELF_CHECK": mode}


def _notebooks(tmp_path: Path) -> Path:
    """solved/, untouched/ and buggy/ folders, each with topic 01's notebook."""
    folder = tmp_path / "notebooks"
    fill(RELEASED, SOLUTION, folder / "solved" / "01_ppca.ipynb")
    (folder / "untouched").mkdir()
    shutil.copy(RELEASED, folder / "untouched" / "01_ppca.ipynb")  # every task left as released
    fill(RELEASED, SOLUTION, folder / "buggy" / "01_ppca.ipynb",
         override={"ppca_marginal_solution": BUGGY_MARGINAL})
    (folder / "conftest.py").write_text('pytest_plugins = ["autograder.pytest_plugin"]\n')
    return folder


def _self_check(folder: Path, mode: str) -> dict[str, tuple[str, str]]:
    """Each test's outcome and failure text, by '<folder>::<task>', in ``mode``."""
    report = folder / f"{mode}.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider",
                    f"--junitxml={report}", "--rootdir", str(folder), str(folder)],
                   cwd=folder, env=_env(mode), capture_output=True, text=True, timeout=560)
    outcomes = {}
    for case in ET.parse(report).iter("testcase"):
        failure = case.find("failure")
        key = f"{case.get('classname')}::{case.get('name')}"
        outcomes[key] = ("failed", failure.text or "") if failure is not None else ("passed", "")
    return outcomes


def test_fast_and_sandboxed_self_checks_agree_on_solved_untouched_and_buggy(tmp_path):
    folder = _notebooks(tmp_path)
    fast = _self_check(folder, "fast")
    sandboxed = _self_check(folder, "sandboxed")
    assert len(fast) == 3 * len(tasks_for_topic("01_ppca")) and fast == sandboxed
    by_folder = {name: {k.rsplit("::", 1)[1]: v for k, v in fast.items()
                        if k.split("::")[0].split(".")[0] == name}
                 for name in ("solved", "untouched", "buggy")}
    assert {s for s, _ in by_folder["solved"].values()} == {"passed"}, fast
    assert {s for s, _ in by_folder["untouched"].values()} == {"failed"}
    assert "not implemented yet" in by_folder["untouched"]["ppca.marginal"][1]
    buggy = by_folder["buggy"]
    assert buggy["ppca.marginal"][0] == "failed" and buggy["ppca.sample"][0] == "passed"
    assert "ppca.marginal: " in buggy["ppca.marginal"][1]


FAST_GRADE = '''
import json, sys
from pathlib import Path
from autograder import sandbox
from autograder.grading import Grader
from autograder.notebook_code import load_notebook_code
from autograder.registry import tasks_for_topic
from autograder.self_check import preload_for
sandbox.fork_directly()
grader = Grader(device="cpu", include_hidden=sys.argv[2] == "hidden", sandbox="off",
                timeout_s=float(sys.argv[3]))
code = load_notebook_code(Path(sys.argv[1]))
preload_for(code)
print(json.dumps({t.id: [r.status, r.message] for t in tasks_for_topic("01_ppca")
                  for r in [grader.grade_task(code, t)]}))
'''


def _fast_grade(notebook: Path, hidden: bool, timeout_s: float) -> dict[str, list[str]]:
    done = subprocess.run([sys.executable, "-c", FAST_GRADE, str(notebook),
                           "hidden" if hidden else "public", str(timeout_s)],
                          env=_env("fast"), capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_hidden_checks_never_run_on_the_fast_path(tmp_path):
    notebook = tmp_path / "01_ppca.ipynb"
    fill(RELEASED, SOLUTION, notebook)
    results = _fast_grade(notebook, hidden=True, timeout_s=60)
    refused = [task for task, (status, message) in results.items()
               if status == "error" and "hidden checks never run" in message]
    # every topic-01 task has a hidden check
    assert len(refused) == len(results) == len(tasks_for_topic("01_ppca")), results


@pytest.mark.parametrize("body, status, words", [
    ("    while True:\n        pass\n", "timeout", "stopped after 15 s"),
    ("    import os\n    os._exit(3)\n", "crashed", "ended abruptly (exit code 3)"),
])
def test_a_loop_or_crash_on_the_fast_path_fails_only_its_task(tmp_path, body, status, words):
    notebook = tmp_path / "01_ppca.ipynb"
    fill(RELEASED, SOLUTION, notebook, override={
        "ppca_posterior_solution": f"def ppca_posterior(x, W, b, sigma2):\n{body}"})
    results = _fast_grade(notebook, hidden=False, timeout_s=15)
    assert results["ppca.posterior"][0] == status and words in results["ppca.posterior"][1]
    others = {task: s for task, (s, _) in results.items() if task != "ppca.posterior"}
    assert set(others.values()) == {"passed"}, results
