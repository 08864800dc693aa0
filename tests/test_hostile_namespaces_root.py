"""With namespaces, a child's file-system view is a new root built from the allow-list.

At level ``namespaces`` (no Landlock, as on a kernel < 5.13) nothing but the mount namespace
stands between student code and the grader's files: the child's root holds only the trees a
Landlock ruleset would allow (Python, the course library, the training data) and its
scratch. The course, its data and the submissions live under ``/var/tmp`` here, outside the
private ``/tmp``, so only the new root hides them. Levels the kernel lacks are skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from autograder.paths import course_root
from tests.helpers import variant
from tests.test_hostile_sandbox import (
    LEVELS,
    _build_course,
    _env,
    _grade,
    _levels,
    _probe,
    _report,
    available_levels,
)
from vaelib.data import RAW_FILES

TOPIC = "01_ppca"

ATTEMPTS = '''
CODES = {FileNotFoundError: "N", PermissionError: "P"}
for name, path in READS.items():
    try:
        with open(path, "rb") as handle:
            seen.append(name + ("=R" if handle.read(16) else "=0"))
    except OSError as exc:
        seen.append(name + "=" + CODES.get(type(exc), "E"))
for name, path in WRITES.items():
    try:
        with open(path, "a") as handle:
            handle.write("tampered")
        seen.append(name + "=W")
    except OSError as exc:
        seen.append(name + "=" + CODES.get(type(exc), "E"))
seen.append(f"mnist={all(os.path.isfile(path) for path in MNIST)}")  # torchvision's check
'''
"""Reads ``READS`` and appends to ``WRITES``; ``seen`` gets name=R (read), 0 (opened, empty:
a stand-in), W (written), N (not there), P (refused) or E (another error, e.g. a read-only
file system), and whether all four MNIST files are listed. Short, as the task's message
keeps 300 characters."""

FORBIDDEN_READS = ("sol", "trusted", "pyc", "t10k", "alice", "gb", "grades", "hidden",
                   "judges")
FORBIDDEN_WRITES = ("vartmp", "course", "lib_w", "alice_w", "gb_w")


@pytest.fixture(scope="module")
def course_outside_tmp():
    """A course (autograder, vaelib, solutions), MNIST-named files, a gradebook and two
    students' submissions, all under /var/tmp."""
    root = Path(tempfile.mkdtemp(prefix="vae-hostile-root-", dir="/var/tmp"))
    try:
        paths = _build_course(root)
        course = paths["course"]
        cache = course / "autograder" / "trusted" / "__pycache__"
        cache.mkdir()
        (cache / "gaussian_kl.cpython-311.pyc").write_bytes(b"\x00" * 32)
        (course / "gradebook.db").write_bytes(b"SQLite format 3\x00")
        (course / "grades").mkdir()
        (course / "grades" / "alice.json").write_text('{"score": 12}')
        other = course / "submitted" / "alice" / TOPIC
        other.mkdir(parents=True)
        shutil.copy(course / "solutions" / TOPIC / f"{TOPIC}.ipynb", other)
        yield {**paths, "other": other / f"{TOPIC}.ipynb", "root": root}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _targets(paths: dict[str, Path]) -> tuple[dict[str, str], dict[str, str]]:
    course = paths["course"]
    trusted = course / "autograder" / "trusted"
    reads = {"sol": course / "solutions" / TOPIC / f"{TOPIC}.ipynb",
             "trusted": trusted / "ppca.py",
             "pyc": trusted / "__pycache__" / "gaussian_kl.cpython-311.pyc",
             "t10k": paths["raw"] / "t10k-images-idx3-ubyte",
             "alice": paths["other"],
             "gb": course / "gradebook.db",
             "grades": course / "grades" / "alice.json",
             "train": paths["raw"] / "train-images-idx3-ubyte",
             "lib": course / "vaelib" / "__init__.py",
             "topic": course / "autograder" / "topics" / "t01_ppca" / "probes.py",
             "hidden": course / "autograder" / "topics" / "t01_ppca" / "hidden.py",
             "judges": course / "autograder" / "topics" / "t01_ppca" / "public.py"}
    writes = {"vartmp": Path("/var/tmp") / f"vae-pwned-{os.getpid()}",
              "course": course / "pwned.txt",
              "lib_w": course / "vaelib" / "__init__.py",
              "alice_w": paths["other"],
              "gb_w": course / "gradebook.db",
              "scratch": Path("scratch-file.txt")}
    return ({k: str(v) for k, v in reads.items()}, {k: str(v) for k, v in writes.items()})


def test_a_graded_task_reaches_nothing_off_the_allow_list(course_outside_tmp):
    """References, grader-only modules (and their bytecode), the MNIST test files, another
    student's submission, the gradebook and grades are neither readable nor writable; nor
    are /var/tmp and the course folder (a file next to a readable one, as the MNIST test
    files, may be listed as an empty stand-in); nor a topic's judges or hidden checks. The
    library, the topic's probes and the training files stay readable, all four MNIST files
    listed, the task's scratch writable."""
    levels = _levels(*LEVELS)
    if "namespaces" not in levels:
        pytest.skip(f"sandbox level namespaces: {available_levels()['namespaces']}")
    paths = course_outside_tmp
    reads, writes = _targets(paths)
    mnist = [str(paths["raw"] / name) for name in RAW_FILES]
    setup = f"READS = {reads!r}\nWRITES = {writes!r}\nMNIST = {mnist!r}\n"
    cell = setup + _probe(ATTEMPTS, "ppca_marginal(W, b, sigma2)")
    notebook = variant(TOPIC, paths["course"] / "submitted" / "mallory" / TOPIC,
                       {"ppca_marginal_solution": cell}, name="template")
    env = _env(PYTHONPATH=str(paths["course"]), VAE_COURSE_DATA=str(paths["data"]))
    env.pop("VAE_COURSE_ROOT", None)
    before = {name: Path(path).read_bytes() for name, path in writes.items()
              if name != "scratch" and Path(path).exists()}
    results = _grade(notebook, [(level, ["ppca.marginal"], True) for level in levels],
                     paths["course"], env)
    for level in levels:
        report = _report(results, f"{level}/ppca.marginal").split()
        for name in FORBIDDEN_READS:
            assert {f"{name}=N", f"{name}=P", f"{name}=0"} & set(report), (
                level, name, report)
        for name in FORBIDDEN_WRITES:
            assert f"{name}=W" not in report and any(
                entry.startswith(name + "=") for entry in report), (level, name, report)
        for name in ("train", "lib", "topic"):
            assert f"{name}=R" in report, (level, name, report)
        assert "scratch=W" in report and "mnist=True" in report, (level, report)
    assert not Path(writes["vartmp"]).exists() and not Path(writes["course"]).exists()
    for name, content in before.items():
        assert Path(writes[name]).read_bytes() == content, name


KERNEL_READS = '''
import sys
reads = dict(arg.split("=", 1) for arg in sys.argv[1:])
found = []
for name, path in reads.items():
    try:
        open(path, "rb").read(1)
        found.append(name)
    except OSError:
        pass
sys.exit(0 if found == ["notebook_dir"] else 3)
'''


def test_the_feedback_kernel_sees_its_notebook_folder_and_nothing_else(course_outside_tmp,
                                                                       tmp_path):
    """``isolation.launch`` at level namespaces: the notebook's own folder is readable, the
    references, grader-only modules and another student's folder are not there."""
    from autograder.isolation.kernel import POLICY_FILE, sandboxed_kernel_manager
    from autograder.isolation.policy import build_policy

    if "namespaces" not in _levels("namespaces"):
        pytest.skip(f"sandbox level namespaces: {available_levels()['namespaces']}")
    paths = course_outside_tmp
    sandboxed_kernel_manager(build_policy("auto", landlock=False, namespaces=True), tmp_path)
    mine = paths["course"] / "submitted" / "bob" / TOPIC
    mine.mkdir(parents=True, exist_ok=True)
    (mine / "inputs.txt").write_text("mine")
    reads, _ = _targets(paths)
    wanted = {"notebook_dir": mine / "inputs.txt", **{k: reads[k] for k in FORBIDDEN_READS}}
    done = subprocess.run(
        [sys.executable, "-m", "autograder.isolation.launch", "--policy",
         str(tmp_path / POLICY_FILE), "--", sys.executable, "-c", KERNEL_READS,
         *(f"{name}={path}" for name, path in wanted.items())],
        cwd=mine, capture_output=True, text=True, timeout=120, env=_env())
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])


FULL_MARKS = r'''
import json, sys
from autograder.grading import Grader
from autograder.isolation import policy as policies
grader = Grader(device="cpu", jobs=1, timeout_s=120.0)
grader.policy = policies.build_policy("auto", landlock=False, namespaces=True)
assert grader.policy.namespaces and not grader.policy.landlock_abi, grader.policy
result = grader.grade_notebook(sys.argv[1])
print("RESULT " + json.dumps({"score": result.score, "max_score": result.max_score,
                              "tasks": [[t.id, t.status, t.message] for t in result.tasks]}))
'''


def test_a_correct_notebook_gets_full_marks_at_level_namespaces(tmp_path):
    """Python, torch, sympy (its judge child too), vaelib and the topic modules work in the
    new root: the reference notebook of topic 01 gets every point."""
    if "namespaces" not in _levels("namespaces"):
        pytest.skip(f"sandbox level namespaces: {available_levels()['namespaces']}")
    notebook = tmp_path / f"{TOPIC}.ipynb"
    shutil.copy(course_root() / "solutions" / TOPIC / f"{TOPIC}.ipynb", notebook)
    done = subprocess.run([sys.executable, "-c", FULL_MARKS, str(notebook)], cwd=course_root(),
                          capture_output=True, text=True, timeout=900, env=_env())
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT "):])
    assert result["max_score"] > 0 and result["score"] == result["max_score"], result
    assert all(status == "passed" for _, status, _ in result["tasks"]), result
