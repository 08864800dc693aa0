"""The kit's fast self-check (no sandbox, children forked straight from pytest) judges like the
grader's sandboxed public path, and never runs a hidden check.

Behaviour only (speed lives in ``bench/student_loop.py``). For a few tasks of topics 01 and 02
(a statistical check, a symbolic answer judged in a child, a numeric check), on a
solved, an untouched and a buggy notebook, both paths give the same status, message and
per-check outcomes. A kit built by ``student-kit`` ships no hidden check, grades only public
ones, and says in pytest's header how it runs them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from autograder import registry
from autograder.self_check import MODE_HEADER
from tests.helpers import fill

ROOT = Path(__file__).resolve().parents[1]

GRADE = '''
import json, sys
from pathlib import Path
from autograder import sandbox
from autograder.grading import Grader
from autograder.notebook_code import load_notebook_code
from autograder.registry import tasks_for_topic
from autograder.self_check import preload_for
mode, topic, wanted, paths = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4:]
if mode == "fast":
    sandbox.fork_directly()
grader = Grader(device="cpu", include_hidden=False, sandbox="off" if mode == "fast" else "auto")
out = {}
for path in paths:
    code = load_notebook_code(Path(path), validate=mode != "fast")
    if mode == "fast":
        preload_for(code)
    for task in tasks_for_topic(topic):
        if task.id in wanted:
            r = grader.grade_task(code, task)
            out[f"{Path(path).parent.name}::{task.id}"] = [
                r.status, r.message, [[c.name, c.hidden, c.status, c.message] for c in r.checks]]
print(json.dumps(out))
'''

BUGS = {
    "01_ppca": {  # b left out of the samples; sigma2 used as a standard deviation
        "ppca_sample_solution": '''def ppca_sample(n, W, b, sigma2):
    D, M = W.shape
    z = torch.randn(n, M, dtype=W.dtype, device=W.device)
    eps = torch.randn(n, D, dtype=W.dtype, device=W.device)
    return z @ W.T + math.sqrt(float(sigma2)) * eps
''',
        "ppca_marginal_solution": '''def ppca_marginal(W, b, sigma2):
    D = W.shape[0]
    eye = torch.eye(D, dtype=W.dtype, device=W.device)
    return b.clone(), W @ W.T + torch.as_tensor(sigma2, dtype=W.dtype) ** 2 * eye
''',
    },
    "02_gaussian_kl": {  # the KL's sign flipped; the Monte Carlo estimate of KL(p || q)
        "kl_normal_sympy_solution": '''def kl_normal_sympy(mu1, s1, mu2, s2):
    return sympy.log(s1 / s2) + (s2**2 + (mu1 - mu2) ** 2) / (2 * s1**2) - sympy.Rational(1, 2)
''',
        "kl_monte_carlo_solution": '''def kl_monte_carlo(q, p, n_samples):
    x = q.sample((n_samples,))
    return (p.log_prob(x) - q.log_prob(x)).mean(0)
''',
    },
}
TASKS = {
    "01_ppca": ("ppca.sample", "ppca.marginal", "ppca.marginal_sympy"),
    "02_gaussian_kl": ("kl.sympy", "kl.monte_carlo", "kl.diag"),
}


def _env(mode: str, python_path: Path = ROOT) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(python_path), "VAE_COURSE_SELF_CHECK": mode}


def _notebooks(topic: str, folder: Path) -> list[Path]:
    """solved/, untouched/ and buggy/ copies of the topic's exercise."""
    released = ROOT / "exercises" / topic / f"{topic}.ipynb"
    solution = ROOT / "solutions" / topic / f"{topic}.ipynb"
    paths = [folder / state / f"{topic}.ipynb" for state in ("solved", "untouched", "buggy")]
    fill(released, solution, paths[0])
    fill(released, solution, paths[1], keep_stub=set(BUGS[topic]) | {
        "ppca_marginal_sympy_solution", "kl_standard_normal_solution"})
    fill(released, solution, paths[2], override=BUGS[topic])
    return paths


def _grade(mode: str, topic: str, paths: list[Path]) -> dict[str, list]:
    done = subprocess.run([sys.executable, "-c", GRADE, mode, topic, ",".join(TASKS[topic]),
                           *map(str, paths)], env=_env(mode), capture_output=True, text=True,
                          timeout=500)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("topic", sorted(TASKS))
def test_fast_path_gives_the_sandboxed_verdicts_and_messages(tmp_path, topic):
    paths = _notebooks(topic, tmp_path)
    fast = _grade("fast", topic, paths)
    sandboxed = _grade("sandboxed", topic, paths)
    assert len(fast) == 3 * len(TASKS[topic]) and fast == sandboxed
    status = {key: value[0] for key, value in fast.items()}
    assert {status[f"solved::{t}"] for t in TASKS[topic]} == {"passed"}, fast
    assert {status[f"untouched::{t}"] for t in TASKS[topic]} == {"missing"}, fast
    for task in TASKS[topic][:2]:  # the two tasks with a bug fail, with a message
        assert status[f"buggy::{task}"] == "failed" and fast[f"buggy::{task}"][1], fast
    assert status[f"buggy::{TASKS[topic][2]}"] == "passed", fast
    assert not any(hidden for *_, checks in fast.values() for _, hidden, _, _ in checks)


KIT_GRADE = '''
import importlib.util, json, sys
from pathlib import Path
from autograder import sandbox
from autograder.registry import tasks_for_topic
from autograder.self_check_session import NotebookSelfCheck
check = NotebookSelfCheck(Path(sys.argv[1]), "fast")
verdicts = check.verdicts(check.task_ids)
tasks = tasks_for_topic("01_ppca")
results = list(check._results.values())
print(json.dumps({
    "hidden_module": importlib.util.find_spec("autograder.topics.t01_ppca.hidden") is not None,
    "hidden_declared": sum(c.hidden for t in tasks for c in t.checks),
    "include_hidden": check._grader.include_hidden,
    "forks_directly": sandbox.forks_directly(),
    "statuses": sorted({v.status for v in verdicts.values()}),
    "hidden_run": sum(c.hidden for r in results for c in r.checks),
}))
'''


def test_the_kit_ships_and_runs_no_hidden_check_and_says_how_it_checks(tmp_path):
    kit = tmp_path / "kit"
    subprocess.run([sys.executable, "-m", "autograder", "student-kit", str(kit), "01_ppca"],
                   cwd=ROOT, env=_env("sandboxed"), capture_output=True, text=True,
                   timeout=300, check=True)
    assert not (kit / "autograder" / "topics" / "t01_ppca" / "hidden.py").exists()
    notebook = kit / "exercises" / "01_ppca" / "01_ppca.ipynb"
    fill(notebook, ROOT / "solutions" / "01_ppca" / "01_ppca.ipynb", notebook)
    env = {k: v for k, v in _env("fast", kit).items() if k != "VAE_COURSE_SELF_CHECK"}
    seen = subprocess.run([sys.executable, "-c", KIT_GRADE, str(notebook)], cwd=kit,
                          env={**env, "VAE_COURSE_SELF_CHECK": "fast"}, capture_output=True,
                          text=True, timeout=300)
    assert seen.returncode == 0, seen.stderr[-2000:]
    facts = json.loads(seen.stdout.strip().splitlines()[-1])
    assert facts == {"hidden_module": False, "hidden_declared": 0, "include_hidden": False,
                     "forks_directly": True, "statuses": ["passed"], "hidden_run": 0}
    # As a student runs it: the kit's conftest chooses the fast path and pytest says so.
    report = tmp_path / "report.xml"
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                          f"--junitxml={report}", "exercises/01_ppca"], cwd=kit, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.stdout.count(MODE_HEADER["fast"]) == 1, run.stdout[-2000:]
    cases = list(ET.parse(report).iter("testcase"))
    assert len(cases) == len(registry.tasks_for_topic("01_ppca"))
    assert not any(case.find("failure") is not None for case in cases)


NBFORMAT_IMPORT = '''
import importlib.util, json, sys
from autograder.notebook_format import import_nbformat
nbformat = import_nbformat()
skipped = "rfc3987_syntax" not in sys.modules and "jsonschema" in sys.modules
later = importlib.util.find_spec("rfc3987_syntax") is not None
if later:
    import rfc3987_syntax  # noqa: F401 - still importable afterwards
print(json.dumps({"skipped": skipped, "reads": callable(nbformat.reads)}))
'''


def test_nbformat_is_imported_without_the_iri_grammar_and_reads_the_same_without_validation():
    done = subprocess.run([sys.executable, "-c", NBFORMAT_IMPORT], env=_env("fast"),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == {"skipped": True, "reads": True}
    from autograder.notebook_code import load_notebook_code

    for topic in ("01_ppca", "05_vae_binary_mnist"):
        path = ROOT / "solutions" / topic / f"{topic}.ipynb"
        assert load_notebook_code(path, validate=False) == load_notebook_code(path)
