"""The folder a lecturer hands to students: ``python -m autograder student-kit OUT``.

It holds the released exercises, the course library (``vaelib``), the parts of the
autograder that run the public checks (``check(...)`` in test cells, ``pytest``), a
``pyproject.toml`` (``pip install -e OUT``) and a README for students. It never holds the
solutions, hidden checks (a topic package ships without its ``hidden.py``),
grader-only code (``autograder/trusted``) or the lecturer's tools (nbgrader plugin, release).

It never ships an exercise together with a later topic whose notebook reveals that
exercise's answers (``autograder.kit_plan``), unless the lecturer lets those answers out;
``add_to_kit`` adds the next topics to a kit built before, under the same rule.
"""

from __future__ import annotations

import json
import re
import shutil
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from autograder import __version__
from autograder.answer_lines import read_reveals
from autograder.kit_plan import conflicts, ordered, refusal, safe_prefix
from autograder.kit_topics import NotShippable, is_topic_package, shipped_files, verify_package
from autograder.paths import TOPICS, course_root, exercise_notebook

LEFT_OUT = frozenset({"trusted", "nbgrader_plugin.py", "release.py", "student_kit.py",
                      "authoring.py", "classgrade", "__pycache__",
                      "answer_lines.py", "kit_plan.py", "kit_topics.py", "release_manifest.py"})
"""Entries of ``autograder/`` that stay with the lecturer."""
NOT_FOR_STUDENTS = ("nbgrader", "ruff", "nbconvert", "nbclient")
"""Course dependencies only lecturers and TAs need."""
KIT_EXTRAS = ("jupyterlab>=4", "ipywidgets>=8")
"""What students need beyond the course's dependencies: JupyterLab, and ipywidgets so that
tqdm draws one progress bar in a notebook instead of one text line per update."""
FORBIDDEN_MARKERS = ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "hidden=True")
KIT_README = Path("docs") / "student-kit-README.md"


class KitError(Exception):
    """The kit could not be built, or would contain something students must not get."""


KIT_MANIFEST = "kit.json"
"""What a kit holds: its topics and the earlier answers the lecturer allowed out."""


@dataclass(frozen=True)
class KitContents:
    """The topics of a kit and the topics whose answers it may reveal."""

    topics: list[str]
    answers_out: list[str] = field(default_factory=list)


def released_topics() -> list[str]:
    """Topics with a released exercise notebook, in course order."""
    return [t for t in TOPICS if exercise_notebook(t).is_file()]


def build_kit(out: str | Path, topics: list[str] | None = None,
              answers_out: list[str] | None = None) -> list[str]:
    """Write the student kit into the new (or empty) folder ``out``; one line per part.

    Without ``topics``, the kit holds the first released topics up to the first one whose
    notebook would reveal an earlier exercise's answers (the lines say which were left out).
    """
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise KitError(f"{out}: the folder is not empty; give a new one (or --add to a kit)")
    allowed = ordered(answers_out or [])
    reveals = read_reveals()
    notes: list[str] = []
    if topics:
        chosen = ordered(topics)
        _refuse_unreleased(chosen)
        found = conflicts(chosen, allowed, reveals)
        if found:
            raise KitError(refusal(found))
    else:
        plan = safe_prefix(released_topics(), allowed, reveals)
        chosen = plan.topics
        if plan.left_out:
            notes.append(f"left out {', '.join(plan.left_out)}: {plan.reason} (name the "
                         "topics, with --answers-out for answers that may be public, or add "
                         "them later with --add)")
    if not chosen:
        raise KitError("no topic can be shipped: " + "; ".join(notes))
    contents = KitContents(chosen, allowed)
    out.mkdir(parents=True, exist_ok=True)
    for topic in chosen:
        _copy_exercise(topic, out)
    unchecked = _write_shared_parts(out, contents)
    return [f"exercises: {', '.join(chosen)}", *notes, *_summary(out, unchecked)]


def add_to_kit(kit: str | Path, topics: list[str],
               answers_out: list[str] | None = None) -> list[str]:
    """Add later topics to a kit built before (progressive release), with the same refusal.

    The exercises already in the kit are never touched; the library and the public checks
    are brought up to date for the new set of topics.
    """
    kit = Path(kit)
    before = read_kit_manifest(kit)
    new = [t for t in ordered(topics) if t not in before.topics]
    if not new:
        raise KitError(f"{kit} already holds {', '.join(ordered(topics))}; nothing to add")
    _refuse_unreleased(new)
    allowed = ordered(before.answers_out + (answers_out or []))
    chosen = ordered(before.topics + new)
    found = conflicts(chosen, allowed, read_reveals())
    if found:
        raise KitError(refusal(found))
    for topic in new:
        _copy_exercise(topic, kit)
    shutil.rmtree(kit / "autograder")
    unchecked = _write_shared_parts(kit, KitContents(chosen, allowed))
    return [f"added exercises: {', '.join(new)} (the kit now holds {', '.join(chosen)})",
            *_summary(kit, unchecked)]


def read_kit_manifest(kit: Path) -> KitContents:
    """The contents a kit records; KitError when the folder is not a kit."""
    try:
        data = json.loads((kit / KIT_MANIFEST).read_text())
        return KitContents(ordered(list(data["topics"])), ordered(list(data["answers_out"])))
    except (OSError, ValueError, KeyError, TypeError):
        raise KitError(f"{kit}: not a student kit built by `python -m autograder student-kit` "
                       f"(no readable {KIT_MANIFEST})") from None


def _refuse_unreleased(topics: list[str]) -> None:
    missing = [t for t in topics if not exercise_notebook(t).is_file()]
    if missing:
        raise KitError(f"no released notebook for {', '.join(missing)}; run python -m "
                       "autograder release")


KIT_CONFTEST = '''"""Lets ``pytest exercises/NN_topic`` run the public checks on your notebook
(one test per task).

The kit checks your code the fast way: no grading sandbox, each task in its own process
forked from pytest's. ``VAE_COURSE_SELF_CHECK=sandboxed pytest exercises/...`` runs them
sandboxed, as the course's grader does (slower to start).
"""

import os

os.environ.setdefault("VAE_COURSE_SELF_CHECK", "fast")

pytest_plugins = ["autograder.pytest_plugin"]
'''


def _copy_exercise(topic: str, out: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints", "*.pyc")
    shutil.copytree(course_root() / "exercises" / topic, out / "exercises" / topic,
                    ignore=ignore)


def _write_shared_parts(out: Path, contents: KitContents) -> list[str]:
    """Library, public checks of the kit's topics, pyproject, README, manifest; returns the
    tasks left without a self-check."""
    root = course_root()
    ignore = shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints", "*.pyc")
    (out / "exercises").mkdir(parents=True, exist_ok=True)
    (out / "exercises" / "conftest.py").write_text(KIT_CONFTEST)
    if (out / "vaelib").exists():
        shutil.rmtree(out / "vaelib")
    shutil.copytree(root / "vaelib", out / "vaelib", ignore=ignore)
    unchecked = _copy_autograder(root / "autograder", out / "autograder", contents.topics)
    (out / "pyproject.toml").write_text(pyproject(root / "pyproject.toml"))
    shutil.copy2(root / KIT_README, out / "README.md")
    (out / KIT_MANIFEST).write_text(json.dumps(
        {"version": __version__, "topics": contents.topics,
         "answers_out": contents.answers_out}, indent=1) + "\n")
    _refuse_private_content(out)
    return unchecked


def _summary(out: Path, unchecked: list[str]) -> list[str]:
    return ["course library: vaelib",
            "public checks: autograder (hidden checks and grader-only code left out)",
            *([f"warning: no self-check in the kit for {', '.join(unchecked)} (their checks "
               "need grader-only code)"] if unchecked else []),
            f"install: pip install -e {out}", f"student kit ready in {out}"]


def _copy_autograder(source: Path, dest: Path, topics: list[str]) -> list[str]:
    """The autograder package minus the lecturer's parts and the other topics' packages, the
    kit's topic packages without their grader-only files; returns the tasks left without a
    public check."""
    unchecked: list[str] = []
    packages = {p.name for p in (source / "topics").iterdir() if is_topic_package(p)}
    for name in sorted(packages & {f"t{topic}" for topic in topics}):
        unchecked += _copy_topic_package(source / "topics" / name, dest / "topics" / name)
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if set(relative.parts) & LEFT_OUT or path.is_dir() or path.suffix == ".pyc" or (
                relative.parts[0] == "topics" and relative.parts[1] in packages):
            continue
        target = dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    return unchecked


def _copy_topic_package(package: Path, dest: Path) -> list[str]:
    """A topic package minus its grader-only files; the tasks left without a public check."""
    try:
        unchecked = verify_package(package)
    except NotShippable as exc:
        raise KitError(f"topic {package.name[1:]} cannot be shipped: {exc}") from None
    dest.mkdir(parents=True, exist_ok=True)
    for path in shipped_files(package):
        shutil.copy2(path, dest / path.name)
    return unchecked


# pytest plugins that other packages of a student's environment install and the self-check
# never uses; anyio's alone costs a quarter of a second of every ``pytest`` start.
KIT_PYTEST_ADDOPTS = 'addopts = "-p no:anyio -p no:platformdirs"'


def pyproject(course_pyproject: Path) -> str:
    """The kit's ``pyproject.toml``: the course's dependencies minus the lecturer's tools."""
    project = tomllib.loads(course_pyproject.read_text())["project"]
    names = [d for d in project["dependencies"]
             if re.split(r"[<>=!~ \[]", d, maxsplit=1)[0].lower() not in NOT_FOR_STUDENTS]
    deps = "\n".join(f'    "{d}",' for d in [*names, *KIT_EXTRAS])
    return f'''[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "vae-course-student-kit"
version = "{__version__}"
description = "Exercises and public self-checks of the vae-course."
readme = "README.md"
requires-python = "{project.get("requires-python", ">=3.11")}"
dependencies = [
{deps}
]

[tool.setuptools.packages.find]
include = ["autograder*", "vaelib*"]

[tool.pytest.ini_options]
testpaths = ["exercises"]
{KIT_PYTEST_ADDOPTS}
'''


def _refuse_private_content(out: Path) -> None:
    """Fail when any file of the kit holds solution or hidden-test markers."""
    for path in out.rglob("*"):
        if not path.is_file() or path.suffix not in (".py", ".ipynb", ".md", ".toml"):
            continue
        text = path.read_text(errors="replace")
        for marker in FORBIDDEN_MARKERS:
            if marker in text:
                raise KitError(f"{path}: contains {marker!r}; the kit was not finished")
