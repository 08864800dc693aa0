"""The student kit: no reference code in it, installable, and its self-checks still work."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest

from autograder.answer_lines import read_reveals
from autograder.paths import course_root
from autograder.registry import all_tasks
from autograder.release import available_topics
from autograder.student_kit import KitError, build_kit
from tests.helpers import fill

TOPIC = "01_ppca"
BUGGY_MARGINAL = '''def ppca_marginal(W, b, sigma2):
    return b.clone(), W @ W.T + sigma2 ** 2 * torch.eye(W.shape[0], dtype=W.dtype)
'''
EXAMPLE = re.compile(r"<!-- example-failure -->\n```\n(.*?)```\n<!-- /example-failure -->", re.S)


@pytest.fixture(scope="module")
def kit(tmp_path_factory) -> Path:
    """A kit of every released topic, the answers later notebooks reveal let out."""
    out = tmp_path_factory.mktemp("kit") / "vae-course"
    revealed = sorted({topic for shown in read_reveals().values() for topic in shown})
    build_kit(out, available_topics(), answers_out=revealed)
    return out


@pytest.fixture(scope="module")
def code(kit: Path) -> dict[Path, str]:
    """The kit's Python code with string literals blanked (messages may name a formula),
    and its other text files as they are (released notebooks are checked separately)."""
    texts = {}
    for path in kit.rglob("*"):
        if path.suffix == ".py":
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    node.value = ""
            texts[path] = ast.unparse(tree)
        elif path.suffix in (".md", ".toml", ".txt", ".cfg"):
            texts[path] = path.read_text()
    return texts


def released_lines() -> set[str]:
    """Every line of the released notebooks: what students get anyway.

    (A later topic may give an earlier topic's answer in a setup cell: 03 gives
    ``ppca_posterior``; a kit should hold only the topics released so far.)
    """
    root = course_root()
    return {line.strip() for topic in available_topics()
            for c in nbformat.read(str(root / "exercises" / topic / f"{topic}.ipynb"),
                                   as_version=4).cells
            for line in c.source.splitlines()}


def solution_lines(topic: str, public: set[str]) -> set[str]:
    """Statements of a topic's answers (solution and hidden-test regions) not in ``public``."""
    source = nbformat.read(str(course_root() / "solutions" / topic / f"{topic}.ipynb"),
                           as_version=4)
    lines: set[str] = set()
    for cell in source.cells:
        inside = False
        for line in cell.source.splitlines():
            text = line.strip()
            if text in ("### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS"):
                inside = True
            elif text in ("### END SOLUTION", "### END HIDDEN TESTS"):
                inside = False
            elif inside and len(text) >= 20 and text not in public and \
                    ("=" in text or text.startswith("return ")):
                lines.add(text)
    return lines


def test_kit_holds_the_exercises_library_and_public_checks_only(kit):
    for topic in available_topics():  # every released topic ships with its public checks
        topics = kit / "autograder" / "topics"
        assert (topics / f"t{topic}.py").is_file() or (topics / f"t{topic}").is_dir(), topic
        assert (kit / "exercises" / topic / f"{topic}.ipynb").is_file(), topic
    assert (kit / "vaelib" / "data.py").is_file()
    assert (kit / "autograder" / "notebook.py").is_file()
    assert (kit / "pyproject.toml").is_file() and (kit / "README.md").is_file()
    for private in ("solutions", "tests", "autograder/trusted", "autograder/nbgrader_plugin.py",
                    "autograder/release.py", "nbgrader_config.py"):
        assert not (kit / private).exists(), private
    assert "nbgrader" not in (kit / "pyproject.toml").read_text()


@pytest.mark.parametrize("topic", available_topics())
def test_kit_code_contains_no_answer(code, topic):
    answers = solution_lines(topic, released_lines())
    assert len(answers) >= 5, answers  # the probe would be vacuous otherwise
    leaked = [(line, path.name) for line in answers for path, text in code.items()
              if line in text]
    assert not leaked, leaked[:5]


def test_kit_has_no_hidden_test_or_solution_marker(kit):
    for path in kit.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            for marker in ("hidden=True", "BEGIN SOLUTION", "BEGIN HIDDEN TESTS"):
                assert marker not in text, (path, marker)
    topics = kit / "autograder" / "topics"
    for path in [*topics.glob("t*.py"), *topics.glob("t*/*.py")]:
        text = path.read_text()
        assert "j.ref" not in text and "autograder.trusted" not in text, path


def kit_env(path: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(path)}


def test_kit_registry_has_every_public_check_and_no_hidden_one(kit):
    code = ("import json; from autograder.registry import all_tasks; print(json.dumps("
            "{t.id: [[c.name, c.hidden] for c in t.checks] for t in all_tasks().values()}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=kit_env(kit), cwd=kit, timeout=300)
    assert done.returncode == 0, done.stderr
    kit_tasks = json.loads(done.stdout)
    assert set(kit_tasks) == set(all_tasks())
    for task in all_tasks().values():
        public = [[c.name, False] for c in task.checks if not c.hidden]
        assert public, f"{task.id} has no public check"
        assert kit_tasks[task.id] == public, task.id


def test_kit_refuses_a_folder_that_is_not_empty(tmp_path):
    (tmp_path / "something").write_text("x")
    with pytest.raises(KitError, match="not empty"):
        build_kit(tmp_path)


@pytest.mark.slow
def test_installed_kit_runs_the_self_checks_in_notebook_order(kit, tmp_path):
    site = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--no-build-isolation", "--target", str(site), str(kit)],
        capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-2000:]
    assert (site / "autograder" / "pytest_plugin.py").is_file()
    assert not (site / "autograder" / "trusted").exists()
    work = tmp_path / "work"
    released = kit / "exercises" / TOPIC / f"{TOPIC}.ipynb"
    source = course_root() / "solutions" / TOPIC / f"{TOPIC}.ipynb"
    (work / "untouched").mkdir(parents=True)
    (work / "untouched" / released.name).write_bytes(released.read_bytes())
    fill(released, source, work / "solved" / released.name)
    fill(released, source, work / "buggy" / released.name,
         override={"ppca_marginal_solution": BUGGY_MARGINAL})
    (work / "conftest.py").write_bytes((kit / "exercises" / "conftest.py").read_bytes())
    report = tmp_path / "report.xml"
    done = subprocess.run([sys.executable, "-m", "pytest", str(work), "-p", "no:cacheprovider",
                           f"--junitxml={report}"], capture_output=True, text=True,
                          env=kit_env(site), cwd=tmp_path, timeout=900)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-2000:]
    outcome: dict[str, dict[str, bool]] = {}
    order: dict[str, list[str]] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        classname, task = case.get("classname", ""), case.get("name", "").split("::")[-1]
        folder = next(f for f in ("untouched", "solved", "buggy") if f in classname.split("."))
        outcome.setdefault(folder, {})[task] = case.find("failure") is None
        order.setdefault(folder, []).append(task)
    tasks = [t for t in all_tasks().values() if t.topic == TOPIC]
    assert all(outcome["solved"].values()) and len(outcome["solved"]) == len(tasks), outcome
    assert not any(outcome["untouched"].values())
    assert not outcome["buggy"]["ppca.marginal"] and outcome["buggy"]["ppca.mle"]
    cells = nbformat.read(str(released), as_version=4).cells
    test_cells = [c.metadata["nbgrader"]["grade_id"] for c in cells
                  if c.metadata.get("nbgrader", {}).get("grade")]
    assert [t.replace(".", "_") for t in order["solved"]] == test_cells
    example = EXAMPLE.search((kit / "README.md").read_text())
    assert example and example[1].strip() in done.stdout  # the README quotes a real message
    # Once in the failure report; pytest's own one-line summary (untruncated when CI is set)
    # is left out of the count.
    report_part = done.stdout.split("short test summary info")[0]
    assert report_part.count("Likely cause: sigma2 was used as a standard deviation") == 1
    assert example[1] in (course_root() / "README.md").read_text()
