"""The folder a lecturer hands to students: ``python -m autograder student-kit OUT``.

It holds the released exercises, the course library (``vaelib``), the parts of the
autograder that run the public checks (``check(...)`` in test cells, ``pytest``), a
``pyproject.toml`` (``pip install -e OUT``) and a README for students. It never holds the
solutions, hidden checks (topic modules are rewritten by ``autograder.public_checks``),
grader-only code (``autograder/trusted``) or the lecturer's tools (nbgrader plugin, release).
"""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path

from autograder import __version__
from autograder.paths import TOPICS, course_root
from autograder.public_checks import NotPublic, public_source, topic_imports, verify_public

LEFT_OUT = frozenset({"trusted", "nbgrader_plugin.py", "release.py", "student_kit.py",
                      "authoring.py", "public_checks.py", "classgrade", "__pycache__"})
"""Entries of ``autograder/`` that stay with the lecturer."""
NOT_FOR_STUDENTS = ("nbgrader", "ruff", "nbconvert", "nbclient")
"""Course dependencies only lecturers and TAs need."""
FORBIDDEN_MARKERS = ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "hidden=True")
KIT_README = Path("docs") / "student-kit-README.md"


class KitError(Exception):
    """The kit could not be built, or would contain something students must not get."""


def build_kit(out: str | Path, topics: list[str] | None = None) -> list[str]:
    """Write the student kit into the new (or empty) folder ``out``; one line per part."""
    out, root = Path(out), course_root()
    if out.exists() and any(out.iterdir()):
        raise KitError(f"{out}: the folder is not empty; give a new one")
    chosen = topics or [t for t in TOPICS if (root / "exercises" / t / f"{t}.ipynb").is_file()]
    missing = [t for t in chosen if not (root / "exercises" / t / f"{t}.ipynb").is_file()]
    if missing:
        raise KitError(f"no released notebook for {missing}; run python -m autograder release")
    out.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints", "*.pyc")
    for topic in chosen:
        shutil.copytree(root / "exercises" / topic, out / "exercises" / topic, ignore=ignore)
    shutil.copy2(root / "exercises" / "conftest.py", out / "exercises" / "conftest.py")
    shutil.copytree(root / "vaelib", out / "vaelib", ignore=ignore)
    unchecked = _copy_autograder(root / "autograder", out / "autograder")
    (out / "pyproject.toml").write_text(pyproject(root / "pyproject.toml"))
    shutil.copy2(root / KIT_README, out / "README.md")
    _refuse_private_content(out)
    return [f"exercises: {', '.join(chosen)}", "course library: vaelib",
            "public checks: autograder (hidden checks and grader-only code left out)",
            *([f"warning: no self-check in the kit for {', '.join(unchecked)} (their checks "
               "need grader-only code)"] if unchecked else []),
            f"install: pip install -e {out}", f"student kit ready in {out}"]


def public_topic_sources(topics_dir: Path) -> dict[str, str]:
    """Every topic module rewritten public, keeping what the others' public code imports."""
    originals = {p.stem: p.read_text() for p in sorted(topics_dir.glob("t*.py"))}
    keep: dict[str, set[str]] = {stem: set() for stem in originals}
    while True:
        public = {stem: public_source(text, stem, frozenset(keep[stem]))
                  for stem, text in originals.items()}
        grown = False
        for text in public.values():
            for stem, names in topic_imports(text).items():
                if stem in keep and not names <= keep[stem]:
                    keep[stem] |= names
                    grown = True
        if not grown:
            return public


def _copy_autograder(source: Path, dest: Path) -> list[str]:
    """The autograder package minus the lecturer's parts, topic modules rewritten public;
    returns the tasks left without any public check."""
    unchecked: list[str] = []
    public = public_topic_sources(source / "topics")
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if set(relative.parts) & LEFT_OUT or path.is_dir() or path.suffix == ".pyc":
            continue
        target = dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if relative.parts[0] == "topics" and path.stem in public:
            text = public[path.stem]
            try:
                unchecked += verify_public(text, f"kit_{path.stem}")
            except NotPublic as exc:
                raise KitError(f"topic {path.stem[1:]} cannot be shipped: {exc}") from None
            target.write_text(text)
        else:
            shutil.copy2(path, target)
    return unchecked


def pyproject(course_pyproject: Path) -> str:
    """The kit's ``pyproject.toml``: the course's dependencies minus the lecturer's tools."""
    project = tomllib.loads(course_pyproject.read_text())["project"]
    names = [d for d in project["dependencies"]
             if re.split(r"[<>=!~ \[]", d, maxsplit=1)[0].lower() not in NOT_FOR_STUDENTS]
    deps = "\n".join(f'    "{d}",' for d in [*names, "jupyterlab>=4"])
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
