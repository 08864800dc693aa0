"""Which files of a topic package go into the student kit, and the proof that they are public.

A topic package ships minus ``hidden.py`` (and its bytecode): ``__init__.py``, ``tasks.py``,
``inputs.py``, ``probes.py`` and ``public.py`` hold public checks only, never read the
reference's results (``j.ref``) and never import ``hidden`` or ``autograder.trusted``.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

GRADER_ONLY_FILES = frozenset({"hidden.py"})
"""Files of a topic package that stay with the lecturer."""
GRADER_ONLY_MODULES = ("autograder.trusted", "hidden")
"""What no shipped file of a topic package may import (a module, or a package's part)."""


class NotShippable(Exception):
    """A shipped file of a topic package holds something a student must not get."""


def is_topic_package(path: Path) -> bool:
    """Whether ``path`` is a topic package (``autograder/topics/tNN_name/``)."""
    return path.is_dir() and path.name.startswith("t") and (path / "__init__.py").is_file()


def shipped_files(package: Path) -> list[Path]:
    """The package's files that go into a kit (sources only, ``hidden.py`` left out)."""
    return [p for p in sorted(package.glob("*.py")) if p.name not in GRADER_ONLY_FILES]


def grader_only_imports(source: str) -> list[str]:
    """The grader-only modules ``source`` imports (``autograder.trusted...``, ``hidden``)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            names = [base, *(f"{base}.{a.name}" if base else a.name for a in node.names)]
        for name in names:
            parts = name.split(".")
            if name.startswith(GRADER_ONLY_MODULES[0]) or GRADER_ONLY_MODULES[1] in parts:
                found.append(name)
    return sorted(set(found))


def verify_package(package: Path) -> list[str]:
    """Raise ``NotShippable`` unless the shipped files of ``package`` are public; returns the
    ids of its tasks left without a public check (all their checks are in ``hidden.py``)."""
    for path in shipped_files(package):
        source = path.read_text()
        imported = grader_only_imports(source)
        if imported:
            raise NotShippable(f"{path.name} imports grader-only code: {', '.join(imported)}")
        if any(isinstance(n, ast.Attribute) and n.attr == "ref" for n in ast.walk(
                ast.parse(source))):
            raise NotShippable(f"{path.name}: a judge reads the reference's results (.ref)")
    rows = importlib.import_module(f"autograder.topics.{package.name}.tasks").TASKS
    hidden = [f"{t.id}: {c.id}" for t in rows for c in t.checks if c.hidden]
    if hidden:
        raise NotShippable(f"tasks.py holds hidden checks (they belong in hidden.py): {hidden}")
    return [t.id for t in rows if not t.checks]
