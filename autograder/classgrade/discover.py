"""Find the submissions of a class: nbgrader's layout or a flat folder of notebooks."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from autograder.registry import tasks_for_topic, topics_with_tasks

IGNORED_PARTS = (".ipynb_checkpoints", "__pycache__")


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


def discover(root: Path, flat: bool = False,
             assignments: Iterable[str] | None = None) -> list[Submission]:
    """Every submission below ``root``, sorted by student then assignment."""
    wanted = set(assignments or ())
    found = _flat(root) if flat else _nbgrader_layout(root)
    chosen = [s for s in found if not wanted or s.assignment in wanted]
    return sorted(chosen, key=lambda s: (s.student, s.assignment, str(s.path)))


def _visible(path: Path) -> bool:
    return not path.name.startswith(".") and path.name not in IGNORED_PARTS


def _nbgrader_layout(root: Path) -> list[Submission]:
    """``root/<student>/<assignment>/<notebook>.ipynb`` (what ``nbgrader collect`` makes)."""
    submissions = []
    for student_dir in sorted(p for p in root.iterdir() if p.is_dir() and _visible(p)):
        for assignment_dir in sorted(p for p in student_dir.iterdir()
                                     if p.is_dir() and _visible(p)):
            notebook = _main_notebook(assignment_dir)
            if notebook is not None:
                submissions.append(_submission(student_dir.name, assignment_dir.name,
                                               notebook))
    return submissions


def _main_notebook(folder: Path) -> Path | None:
    """``<assignment>.ipynb`` when present, else the first notebook in the folder."""
    named = folder / f"{folder.name}.ipynb"
    if named.is_file():
        return named
    notebooks = sorted(p for p in folder.glob("*.ipynb") if _visible(p))
    return notebooks[0] if notebooks else None


def _flat(root: Path) -> list[Submission]:
    """``root/<student>_<anything>.ipynb``; the assignment is the notebook's topic."""
    submissions = []
    for path in sorted(p for p in root.glob("*.ipynb") if _visible(p)):
        student, sep, _ = path.stem.partition("_")
        if not sep or not student:
            submissions.append(Submission(path.stem, "unknown", None, path,
                                          f"{path.name}: the name does not start with "
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
        return Submission(student, assignment or topic or "unknown", topic, path,
                          f"{path.name}: not a readable notebook ({exc})")
    by_cells = _topic_by_cells(grade_ids, known)
    if assignment is None:
        topic = by_cells or _topic_in_name(path.name, known)
        problem = None if topic else (f"{path.name}: its test cells and name match no course "
                                      "topic")
        return Submission(student, topic or "unknown", topic, path, problem)
    if assignment in known:
        if by_cells is not None and by_cells != assignment and not _overlap(grade_ids,
                                                                            assignment):
            return Submission(student, assignment, assignment, path,
                              f"{path.name}: this notebook holds the test cells of "
                              f"{by_cells}, not of the assignment {assignment}")
        return Submission(student, assignment, assignment, path)
    topic = by_cells or _topic_in_name(path.name, known)
    problem = None if topic else (f"{path.name}: the assignment '{assignment}' is not a course "
                                  "topic and the notebook's test cells match none")
    return Submission(student, assignment, topic, path, problem)


def _grade_ids(path: Path) -> set[str]:
    """The nbgrader grade ids of a notebook's cells (cheap: plain JSON, no validation)."""
    try:
        data = json.loads(path.read_bytes())
        cells = data["cells"]
        return {str(c["metadata"]["nbgrader"]["grade_id"]) for c in cells
                if isinstance(c, dict) and c.get("metadata", {}).get("nbgrader", {})
                .get("grade_id")}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{type(exc).__name__}: {str(exc)[:120]}") from None


def _overlap(grade_ids: set[str], topic: str) -> bool:
    return bool(grade_ids & {t.grade_id for t in tasks_for_topic(topic)})


def _topic_by_cells(grade_ids: set[str], known: tuple[str, ...]) -> str | None:
    scores = {t: len(grade_ids & {task.grade_id for task in tasks_for_topic(t)}) for t in known}
    best = max(scores, key=lambda t: scores[t], default=None)
    return best if best is not None and scores[best] > 0 else None


def _topic_in_name(name: str, known: tuple[str, ...]) -> str | None:
    return next((t for t in known if t in name), None)
