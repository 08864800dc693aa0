"""Find the submissions of a class: nbgrader's layout or a flat folder of notebooks.

Only real folders and regular files are read: a symbolic link, a named pipe or a device is
never followed or opened in a way that could block, and a notebook is read with a size cap
(``notebook_code.read_notebook_bytes``). A refused notebook is that student's error; entries
that are no student's submission (hidden names, files among the student folders, linked
folders) are reported as skipped, one line each.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from autograder.escaping import for_terminal
from autograder.notebook_code import NotebookError, read_notebook_bytes
from autograder.registry import tasks_for_topic, topics_with_tasks

IGNORED_PARTS = (".ipynb_checkpoints", "__pycache__")
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Submission:
    """One student's notebook for one assignment.

    ``topic`` is the course topic the notebook is graded as (None when it cannot be told);
    ``problem`` says why the notebook cannot be graded at all (None when it can).
    """

    student: str
    assignment: str
    topic: str | None
    path: Path
    problem: str | None = None

    @property
    def label(self) -> str:
        """``student/assignment``, for messages."""
        return f"{self.student}/{self.assignment}"


def report_skipped(line: str) -> None:
    """The default report of a skipped entry: a warning on stderr."""
    print(f"warning: {for_terminal(line)}", file=sys.stderr, flush=True)


def discover(root: Path, flat: bool = False, assignments: Iterable[str] | None = None,
             on_skip: Callable[[str], None] = report_skipped) -> list[Submission]:
    """Every submission below ``root``, sorted by student then assignment.

    ``on_skip`` gets one line for each entry that is not read as a submission.
    """
    wanted = set(assignments or ())
    found = _flat(root, on_skip) if flat else _nbgrader_layout(root, on_skip)
    chosen = [s for s in found if not wanted or s.assignment in wanted]
    return sorted(chosen, key=lambda s: (s.student, s.assignment, str(s.path)))


def _text(name: str) -> str:
    """A file name as text (bytes that are not UTF-8 written as ``\\xNN``)."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _real_folder(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def _skipped(path: Path, on_skip: Callable[[str], None]) -> bool:
    """True (and reported, unless a tool's own folder) when ``path`` is not a submission."""
    if path.name in IGNORED_PARTS:
        return True
    if path.name.startswith("."):
        on_skip(f"{_text(str(path))} skipped: a hidden name")
        return True
    if path.is_symlink():
        on_skip(f"{_text(str(path))} skipped: a symbolic link (only real folders and files "
                "are graded)")
        return True
    return False


def _nbgrader_layout(root: Path, on_skip: Callable[[str], None]) -> list[Submission]:
    """``root/<student>/<assignment>/<notebook>.ipynb`` (what ``nbgrader collect`` makes)."""
    submissions = []
    for student_dir in _entries(root, on_skip):
        if _skipped(student_dir, on_skip):
            continue
        if not _real_folder(student_dir):
            on_skip(f"{_text(str(student_dir))} skipped: not a student's folder")
            continue
        student = _text(student_dir.name)
        for assignment_dir in _entries(student_dir, on_skip):
            if assignment_dir.name in IGNORED_PARTS:
                continue
            assignment = _text(assignment_dir.name)
            if assignment_dir.is_symlink():
                topic = assignment if assignment in topics_with_tasks() else None
                submissions.append(Submission(student, assignment, topic, assignment_dir,
                                              f"{assignment}: a symbolic link, not a folder "
                                              "(only real folders and files are graded)"))
            elif _skipped(assignment_dir, on_skip):
                continue
            elif not assignment_dir.is_dir():
                on_skip(f"{_text(str(assignment_dir))} skipped: not an assignment folder")
            elif (notebook := _main_notebook(assignment_dir, on_skip)) is None:
                on_skip(f"{_text(str(assignment_dir))} skipped: no notebook in it")
            else:
                submissions.append(_submission(student, assignment, notebook))
    return submissions


def _main_notebook(folder: Path, on_skip: Callable[[str], None]) -> Path | None:
    """``<assignment>.ipynb`` when present (whatever its kind), else the first notebook."""
    named = folder / f"{folder.name}.ipynb"
    if os.path.lexists(named):
        return named
    notebooks = [p for p in _entries(folder, on_skip)
                 if p.name.endswith(".ipynb") and not p.name.startswith(".")]
    return notebooks[0] if notebooks else None


def _entries(folder: Path, on_skip: Callable[[str], None]) -> list[Path]:
    """A folder's entries, sorted ([] and reported when it cannot be listed)."""
    try:
        return sorted(folder.iterdir())
    except OSError as exc:
        on_skip(f"{_text(str(folder))} skipped: cannot be listed ({exc.strerror})")
        return []


def _flat(root: Path, on_skip: Callable[[str], None]) -> list[Submission]:
    """``root/<student>_<anything>.ipynb``; the assignment is the notebook's topic."""
    submissions = []
    for path in (p for p in _entries(root, on_skip) if p.name.endswith(".ipynb")):
        if path.name.startswith("."):
            on_skip(f"{_text(str(path))} skipped: a hidden name")
            continue
        student, sep, _ = _text(path.stem).partition("_")
        if not sep or not student:
            submissions.append(Submission(_text(path.stem), UNKNOWN, None, path,
                                          f"{_text(path.name)}: the name does not start with "
                                          "'<student>_', so the student cannot be told"))
            continue
        submissions.append(_submission(student, None, path))
    return submissions


def _submission(student: str, assignment: str | None, path: Path) -> Submission:
    """A submission with its topic told from the assignment, the test cells or the name."""
    known = topics_with_tasks()
    try:
        grade_ids = _grade_ids(path)
    except ValueError as exc:
        topic = assignment if assignment in known else _topic_in_name(path.name, known)
        return Submission(student, assignment or topic or UNKNOWN, topic, path,
                          f"{_text(path.name)}: {exc}")
    by_cells = _topic_by_cells(grade_ids, known)
    if assignment is None:
        topic = by_cells or _topic_in_name(path.name, known)
        problem = None if topic else (f"{_text(path.name)}: its test cells and name match no "
                                      "course topic")
        return Submission(student, topic or UNKNOWN, topic, path, problem)
    if assignment in known:
        if by_cells is not None and by_cells != assignment and not _overlap(grade_ids,
                                                                            assignment):
            return Submission(student, assignment, assignment, path,
                              f"{_text(path.name)}: this notebook holds the test cells of "
                              f"{by_cells}, not of the assignment {assignment}")
        return Submission(student, assignment, assignment, path)
    topic = by_cells or _topic_in_name(path.name, known)
    problem = None if topic else (f"{_text(path.name)}: the assignment '{assignment}' is not "
                                  "a course topic and the notebook's test cells match none")
    return Submission(student, assignment, topic, path, problem)


def _grade_ids(path: Path) -> set[str]:
    """The nbgrader grade ids of a notebook's cells (cheap: plain JSON, no validation).

    Raises ValueError, with one line that never quotes the file, when it cannot be read.
    """
    try:
        data = json.loads(read_notebook_bytes(path))
    except NotebookError as exc:
        raise ValueError(str(exc).removeprefix(f"{path}: ")) from None
    except (ValueError, RecursionError):
        raise ValueError("not a readable notebook (invalid JSON)") from None
    try:
        cells = data["cells"]
        return {str(c["metadata"]["nbgrader"]["grade_id"]) for c in cells
                if isinstance(c, dict) and c.get("metadata", {}).get("nbgrader", {})
                .get("grade_id")}
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a readable notebook ({type(exc).__name__})") from None


def _overlap(grade_ids: set[str], topic: str) -> bool:
    return bool(grade_ids & {t.grade_id for t in tasks_for_topic(topic)})


def _topic_by_cells(grade_ids: set[str], known: tuple[str, ...]) -> str | None:
    scores = {t: len(grade_ids & {task.grade_id for task in tasks_for_topic(t)}) for t in known}
    best = max(scores, key=lambda t: scores[t], default=None)
    return best if best is not None and scores[best] > 0 else None


def _topic_in_name(name: str, known: tuple[str, ...]) -> str | None:
    return next((t for t in known if t in name), None)
