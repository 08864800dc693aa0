"""How ``pytest exercises/NN_topic`` runs a student's public checks: ``fast`` or ``sandboxed``.

``VAE_COURSE_SELF_CHECK`` chooses. ``sandboxed`` (the course repository's default) grades
exactly as the TA's grader does: children forked from a fork server, each in the sandbox of
``autograder.isolation``. ``fast`` (the student kit's default, set by the kit's
``exercises/conftest.py``) is for students checking their own code on their own machine:
no fork server and no sandbox, each task still in its own child forked straight from the
pytest process, within the same time and memory limits, judged by the same checks with the
same messages. Hidden checks never run in ``fast`` mode (the grader refuses them).
"""

from __future__ import annotations

import ast
import importlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from autograder.preload import PRELOADED, headless_matplotlib

if TYPE_CHECKING:
    from autograder.notebook_code import NotebookCode

SETTING = "VAE_COURSE_SELF_CHECK"
MODES = ("fast", "sandboxed")
DEFAULT = "sandboxed"
MODE_HEADER = {
    "fast": "self-check: public checks only, run without the grading sandbox "
            f"({SETTING}=sandboxed runs them as the grader does)",
    "sandboxed": "self-check: public checks only, each task in the grading sandbox",
}


@dataclass(frozen=True)
class TaskVerdict:
    """A task's public verdict as the self-check reports it: its status, and when it did
    not pass, the whole text (a failing dependency named first)."""

    status: str
    text: str = ""

    def as_dict(self) -> dict[str, str]:
        """The verdict as plain JSON (the check server's reply)."""
        return {"status": self.status, "text": self.text}


class SelfCheckSettingError(ValueError):
    """``VAE_COURSE_SELF_CHECK`` holds something other than ``fast`` or ``sandboxed``."""


def self_check_mode() -> str:
    """The mode ``VAE_COURSE_SELF_CHECK`` asks for (``sandboxed`` when unset)."""
    mode = os.environ.get(SETTING, "").strip().lower() or DEFAULT
    if mode not in MODES:
        raise SelfCheckSettingError(f"{SETTING}={os.environ[SETTING]!r}: use fast or sandboxed")
    return mode


def imported_modules(code: NotebookCode) -> set[str]:
    """The modules the notebook's graded cells import (as written, e.g. ``matplotlib.pyplot``)."""
    found: set[str] = set()
    for cell in code.cells:
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module)
    return found


def preload_for(code: NotebookCode) -> None:
    """Import, once in this process, the heavy libraries the notebook imports, so every
    task's child (forked from here) starts with them; nothing else is imported (matplotlib
    only when the notebook uses it). Sympy's integration tables are not built here: few
    tasks integrate, and the child of one that does builds them for itself."""
    wanted = imported_modules(code)
    tops = {name.split(".")[0] for name in wanted}
    if "matplotlib" in tops:
        headless_matplotlib()
    for name in PRELOADED:
        if name in wanted or name in tops:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - the task's child reports its own import error
                continue
