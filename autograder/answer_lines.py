"""Which released notebooks reveal another topic's graded answers.

A topic's *answer lines* are the distinctive statements inside the ``### BEGIN SOLUTION`` /
``### END SOLUTION`` regions of its solution notebook (what the released exercise blanks
out), each attributed to the graded symbols its cell defines. A later topic's released
notebook *reveals* a symbol when its cells hold at least half of that symbol's answer lines
(for example a read-only setup cell that gives the students a working ``ppca_marginal``); a
single shared line of plumbing (``q = model.encoder(x)``) in a longer answer does not.
``release`` records the result in ``solutions/REVEALS.json``; ``student-kit`` reads it.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import nbformat

from autograder.paths import TOPICS, course_root, exercise_notebook, solution_notebook

REVEALS_FILE = "REVEALS.json"
MIN_LENGTH = 20
"""Shorter statements (``return mean``, ``n, d = x.shape``) say nothing about an answer."""
_SPACES = re.compile(r"\s+")


def normalise(line: str) -> str:
    """A source line with its indentation dropped and inner white space folded."""
    return _SPACES.sub(" ", line.strip())


def is_distinctive(line: str) -> bool:
    """A statement long enough, and doing enough (an assignment or a return), to give an
    answer away; comments and docstrings never are."""
    return len(line) >= MIN_LENGTH and not line.startswith(("#", '"', "'")) and \
        ("=" in line or line.startswith("return "))


def notebook_lines(path: Path) -> set[str]:
    """Every normalised line of every cell of a notebook."""
    cells = nbformat.read(str(path), as_version=4).cells
    return {normalise(line) for cell in cells for line in cell.source.splitlines()}


def _defined_names(source: str) -> list[str]:
    """Top-level functions and classes a cell defines (empty if it does not parse)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    return [node.name for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]


def answer_lines(topic: str) -> dict[str, set[str]]:
    """Graded symbol -> its distinctive answer lines, for one topic.

    Lines the released exercise shows anyway (given code, signatures) are not answers.
    """
    given = notebook_lines(exercise_notebook(topic))
    answers: dict[str, set[str]] = {}
    for cell in nbformat.read(str(solution_notebook(topic)), as_version=4).cells:
        if cell.cell_type != "code" or "BEGIN SOLUTION" not in cell.source:
            continue
        inside, lines = False, set()
        for raw in cell.source.splitlines():
            line = normalise(raw)
            if line == "### BEGIN SOLUTION":
                inside = True
            elif line == "### END SOLUTION":
                inside = False
            elif inside and is_distinctive(line) and line not in given:
                lines.add(line)
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "?")
        for name in _defined_names(cell.source) or [grade_id]:
            answers.setdefault(name, set()).update(lines)
    return {name: lines for name, lines in answers.items() if lines}


REVEALED_FRACTION = 0.5
"""A symbol is given away when at least this share of its answer lines is shown."""


def revealed_symbols(answers: dict[str, set[str]], lines: set[str]) -> list[str]:
    """The symbols of ``answers`` at least half of whose answer lines are in ``lines``."""
    return sorted(name for name, own in answers.items()
                  if own & lines and len(own & lines) >= REVEALED_FRACTION * len(own))


def compute_reveals(topics: list[str] | None = None) -> dict[str, dict[str, list[str]]]:
    """Released topic -> {other topic -> graded symbols whose answers it shows}."""
    chosen = [t for t in topics or TOPICS
              if solution_notebook(t).is_file() and exercise_notebook(t).is_file()]
    answers = {topic: answer_lines(topic) for topic in chosen}
    reveals: dict[str, dict[str, list[str]]] = {}
    for topic in chosen:
        lines = notebook_lines(exercise_notebook(topic))
        shown = {other: revealed_symbols(answers[other], lines)
                 for other in chosen if other != topic}
        shown = {other: symbols for other, symbols in shown.items() if symbols}
        if shown:
            reveals[topic] = shown
    return reveals


def reveals_path(root: Path | None = None) -> Path:
    """``solutions/REVEALS.json`` of the course."""
    return (root or course_root()) / "solutions" / REVEALS_FILE


def write_reveals(root: Path | None = None) -> dict[str, dict[str, list[str]]]:
    """Compute what every released notebook reveals and record it; returns it."""
    reveals = compute_reveals()
    reveals_path(root).write_text(json.dumps(reveals, indent=1, sort_keys=True) + "\n")
    return reveals


def read_reveals(root: Path | None = None) -> dict[str, dict[str, list[str]]]:
    """The recorded reveals; raises OSError/ValueError with the path when unreadable."""
    path = reveals_path(root)
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise OSError(f"{path} is missing or unreadable ({exc.strerror}); run `python -m "
                      "autograder release`") from None
    except json.JSONDecodeError:
        raise ValueError(f"{path} is not valid JSON; run `python -m autograder release`") \
            from None
    return {str(k): {str(o): list(map(str, s)) for o, s in v.items()} for k, v in data.items()}
