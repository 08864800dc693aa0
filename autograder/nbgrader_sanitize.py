"""nbgrader preprocessors that keep one student's notebook from affecting anyone else.

``RestoreReleasedCells`` runs first in ``nbgrader autograde``'s sanitising steps. nbgrader stops
the whole run (every later student included) when a submission has a duplicated grade id or
cell metadata of another schema version ("old version of the nbgrader metadata format"), and
fails a student whose notebook has grade cells the assignment never had. This step makes the
notebook's nbgrader cells exactly the released ones, from the gradebook's record of the source
notebook:

- a cell with a released grade id gets the released metadata back (points, locked, kind);
- a second copy of a test, read-only or task cell is dropped; of several copies of an answer
  cell the last one stays the answer (nbgrader's own rule) and the others become plain cells;
- a grade or task cell with an unknown id (a "bonus" test) is dropped; other unknown or
  malformed nbgrader metadata is removed, the cell itself kept;
- a released test cell the student deleted is put back after the cell before it.

``SanitizeFeedback`` runs in ``nbgrader generate_feedback``: HTML, Markdown and SVG that a
student's notebook or its outputs carry are cleaned (bleach) or dropped before the page is
rendered, so no ``<script>``, event handler or ``javascript:`` link from a student runs in the
feedback a student or teacher opens.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

import bleach
import nbformat
from nbconvert.preprocessors.sanitize import SanitizeHTML
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Any as AnyTrait
from traitlets import Bool, List, Unicode

SCHEMA_VERSION = 3


@dataclass(frozen=True)
class ReleasedCell:
    """What the gradebook holds about one nbgrader cell of the released notebook."""

    name: str
    cell_type: str
    source: str
    locked: bool
    checksum: str | None
    grade: bool = False
    solution: bool = False
    task: bool = False
    points: float | None = None

    @property
    def is_answer(self) -> bool:
        """A cell the student writes (nbgrader keeps the last of several copies)."""
        return self.solution

    def metadata(self) -> dict[str, Any]:
        """The cell's nbgrader metadata as ``generate_assignment`` released it."""
        meta: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "grade": self.grade,
                                "grade_id": self.name, "locked": self.locked,
                                "solution": self.solution, "task": self.task,
                                "cell_type": self.cell_type}
        if self.checksum:
            meta["checksum"] = self.checksum
        if (self.grade or self.task) and self.points is not None:
            meta["points"] = self.points
        return meta

    def new_cell(self) -> NotebookNode:
        """The released cell itself (for a test cell a student deleted)."""
        make = {"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell
                }.get(self.cell_type, nbformat.v4.new_raw_cell)
        return make(self.source, metadata={"nbgrader": self.metadata(), "editable": False,
                                           "deletable": False})


def released_cells(gradebook: Any, notebook_id: str, assignment_id: str) -> list[ReleasedCell]:
    """The released notebook's nbgrader cells, in notebook order, from an nbgrader gradebook."""
    notebook = gradebook.find_notebook(notebook_id, assignment_id)
    graded = {c.name: float(c.max_score) for c in notebook.grade_cells}
    tasks = {c.name: float(c.max_score) for c in notebook.task_cells}
    answers = {c.name for c in notebook.solution_cells}
    return [ReleasedCell(c.name, c.cell_type, c.source, bool(c.locked), c.checksum,
                         grade=c.name in graded, solution=c.name in answers,
                         task=c.name in tasks, points=graded.get(c.name, tasks.get(c.name)))
            for c in notebook.source_cells]  # stored in notebook order


def restore_cells(cells: list[NotebookNode], released: list[ReleasedCell]
                  ) -> tuple[list[NotebookNode], list[str]]:
    """The cells with exactly the released nbgrader cells (see the module docstring), and one
    note per change."""
    known = {c.name: c for c in released}
    last_answer = {}
    for index, cell in enumerate(cells):
        spec = known.get(_grade_id(cell))
        if spec is not None and spec.is_answer:
            last_answer[spec.name] = index
    kept: list[NotebookNode] = []
    seen: set[str] = set()
    notes: list[str] = []
    for index, cell in enumerate(cells):
        if not isinstance(cell.get("metadata"), dict):
            cell["metadata"] = NotebookNode()
        if "nbgrader" not in cell.metadata:
            kept.append(cell)
            continue
        meta = cell.metadata["nbgrader"]
        grade_id = _grade_id(cell)
        spec = known.get(grade_id)
        if spec is None:
            if isinstance(meta, dict) and (meta.get("grade") or meta.get("task")):
                notes.append(f"cell {index}: a grade cell '{grade_id}' the assignment does not "
                             "have; dropped")
                continue
            del cell.metadata["nbgrader"]
            if isinstance(meta, dict) and (meta.get("solution") or meta.get("locked")):
                notes.append(f"cell {index}: unknown nbgrader id '{grade_id}'; now a plain cell")
            kept.append(cell)
            continue
        copy_of_answer = spec.is_answer and last_answer.get(spec.name) != index
        if spec.name in seen or copy_of_answer:
            if spec.is_answer:
                del cell.metadata["nbgrader"]
                notes.append(f"cell {index}: an earlier copy of '{spec.name}'; now a plain cell")
                kept.append(cell)
            else:
                notes.append(f"cell {index}: a second copy of '{spec.name}'; dropped")
            continue
        seen.add(spec.name)
        if _plain(meta) != spec.metadata():
            notes.append(f"cell {index}: the metadata of '{spec.name}' restored as released")
        cell.metadata["nbgrader"] = NotebookNode(spec.metadata())
        kept.append(cell)
    return _put_back_tests(kept, released, seen, notes), notes


def _put_back_tests(cells: list[NotebookNode], released: list[ReleasedCell], present: set[str],
                    notes: list[str]) -> list[NotebookNode]:
    """Insert each released test cell that is missing after the released cell before it."""
    for position, spec in enumerate(released):
        if spec.name in present or not spec.grade or spec.solution:
            continue
        before = {c.name for c in released[:position]}
        at = max((i + 1 for i, cell in enumerate(cells) if _grade_id(cell) in before),
                 default=len(cells))
        cells.insert(at, spec.new_cell())
        present.add(spec.name)
        notes.append(f"test cell '{spec.name}' was missing; put back")
    return cells


def _grade_id(cell: NotebookNode) -> str | None:
    meta = cell.get("metadata")
    nbg = meta.get("nbgrader") if isinstance(meta, dict) else None
    grade_id = nbg.get("grade_id") if isinstance(nbg, dict) else None
    return grade_id if isinstance(grade_id, str) else None


def _plain(value: Any) -> Any:
    return copy.deepcopy(dict(value)) if isinstance(value, dict) else value


class RestoreReleasedCells(NbGraderPreprocessor):
    """``restore_cells`` with the released cells read from the course's gradebook."""

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]
                   ) -> tuple[NotebookNode, dict[str, Any]]:
        from nbgrader.api import Gradebook

        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gradebook:
            released = released_cells(gradebook, info["notebook"], info["assignment"])
        nb.cells, notes = restore_cells(list(nb.cells), released)
        for note in notes:
            self.log.warning("%s/%s: %s", info.get("student", "?"), info["notebook"], note)
        return nb, resources


FEEDBACK_TAGS = sorted({*bleach.ALLOWED_TAGS, "div", "span", "p", "br", "hr", "pre", "code",
                        "table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption", "h1",
                        "h2", "h3", "h4", "h5", "h6", "sub", "sup", "img", "dl", "dt", "dd"})
FEEDBACK_ATTRIBUTES = {"*": ["class", "title"], "a": ["href", "title"],
                       "img": ["src", "alt", "width", "height"], "th": ["colspan", "rowspan"],
                       "td": ["colspan", "rowspan"], "abbr": ["title"], "acronym": ["title"]}
_GRADE_ID = re.compile(r"[A-Za-z0-9_-]+")


class SanitizeFeedback(SanitizeHTML):
    """nbconvert's ``SanitizeHTML`` with the tags a notebook's tables and text need, and the
    parts of a notebook nbgrader's feedback template writes unescaped cleared.

    Markdown and raw cells and ``text/html``/``text/markdown`` outputs are cleaned by bleach
    (scripts, styles, event handlers and ``javascript:`` links escaped away); any output type
    other than plain text, JSON, LaTeX, PNG and JPEG (JavaScript, SVG, widgets) is dropped;
    outputs lose their metadata (an image's width is written into its tag unquoted), the
    notebook its widget state, and a cell its nbgrader metadata when the grade id is not a
    plain name (the template writes it into links unescaped).
    """

    enabled = Bool(True, help="on by default, as nbgrader's own steps are").tag(config=True)
    tags = List(Unicode(), default_value=FEEDBACK_TAGS,
                help="HTML tags kept in cleaned HTML").tag(config=True)
    attributes = AnyTrait(default_value=FEEDBACK_ATTRIBUTES,
                          help="HTML attributes kept, per tag").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]
                   ) -> tuple[NotebookNode, dict[str, Any]]:
        nb.metadata.pop("widgets", None)
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell: NotebookNode, resources: dict[str, Any], index: int
                        ) -> tuple[NotebookNode, dict[str, Any]]:
        nbg = cell.get("metadata", {}).get("nbgrader")
        if nbg is not None and not (isinstance(nbg, dict) and _GRADE_ID.fullmatch(
                str(nbg.get("grade_id", "")))):
            del cell.metadata["nbgrader"]
        cell, resources = super().preprocess_cell(cell, resources, index)
        for output in cell.get("outputs", []):
            if "metadata" in output:
                output["metadata"] = NotebookNode()
        return cell, resources
