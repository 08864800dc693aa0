"""nbgrader preprocessors that route autograding through the isolated grader."""

from __future__ import annotations

import contextlib
import copy
import os
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import nbformat
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.api import MissingEntry
from nbgrader.preprocessors import ClearHiddenTests, Execute, OverwriteCells

from autograder.feedback import task_text
from autograder.grading import Grader, NotebookResult, ReferenceNotReleased, TaskResult
from autograder.isolation.kernel import PID_FILE, kill_sandbox, sandboxed_kernel_manager
from autograder.notebook import DEFERRED_ENV
from autograder.notebook_code import extract_code
from autograder.registry import tasks_for_topic, topic_for_grade_ids
from autograder.status import Status


class IsolatedExecute(Execute):
    """Run the notebook as nbgrader does, then set each test cell's result from the grader.

    The kernel run keeps students' outputs for the feedback, but test cells only print that
    they are graded in isolation; afterwards the notebook (as nbgrader restored it) is graded
    by ``autograder.grading`` and each test cell gets the task's message and points.

    Before anything runs, the topic's reference must be the released one: otherwise the
    whole autograde stops with one line and exit code 2, and nothing reaches the gradebook.
    A grader error on a task fails this submission's autograde (nbgrader reports it and
    stores no score) instead of writing a zero.
    """

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]
                   ) -> tuple[NotebookNode, dict[str, Any]]:
        name = (resources.get("unique_key") or "notebook").split("/")[-1]
        try:
            _shared_grader(_device()).check_references([notebook_topic(nb, name)])
        except ReferenceNotReleased as exc:
            self.log.error("%s", exc)
            discard_submission(resources)
            raise SystemExit(2) from None
        previous = os.environ.get(DEFERRED_ENV)
        os.environ[DEFERRED_ENV] = "1"
        started = time.time()
        with tempfile.TemporaryDirectory(prefix="vae-kernel-") as tmp:
            policy = _shared_grader(_device()).policy
            if policy.active:
                self.kernel_manager_class = sandboxed_kernel_manager(policy, Path(tmp))
            try:
                nb, resources = super().preprocess(nb, resources)
            except Exception as exc:  # noqa: BLE001 - a kernel run never costs the grade
                self.log.warning(
                    "The feedback run of this notebook stopped early (%s); cells after that "
                    "point have no outputs. Grades come from the isolated grader and are "
                    "unaffected.", type(exc).__name__)
            finally:
                kill_sandbox(Path(tmp) / PID_FILE, started)
                if previous is None:
                    os.environ.pop(DEFERRED_ENV, None)
                else:
                    os.environ[DEFERRED_ENV] = previous
        result = apply_isolated_grades(nb, name)
        if result is not None and result.grader_errors:
            discard_submission(resources, keep_output=True)
            raise GraderFailed(f"grader error, no score stored for this submission: "
                               f"{result.grader_errors[0]}")
        return nb, resources


    def output(self, outs: list[NotebookNode], msg: dict[str, Any], display_id: str | None,
               cell_index: int) -> NotebookNode | None:
        """Keep at most ``MAX_CELL_OUTPUT_CHARS`` of output per cell (a flood stays small)."""
        content = msg.get("content", {}) if isinstance(msg.get("content"), dict) else {}
        data = content.get("data", {}) if isinstance(content.get("data"), dict) else {}
        size = len(str(content.get("text", ""))) + sum(len(str(v)) for v in data.values())
        sizes = self.__dict__.setdefault("_vae_output_sizes", {})
        used = sizes.get(cell_index, 0)
        sizes[cell_index] = used + size
        if used + size > MAX_CELL_OUTPUT_CHARS:
            if used <= MAX_CELL_OUTPUT_CHARS:
                outs.append(nbformat.v4.new_output(
                    "stream", name="stderr",
                    text=f"[output truncated: this cell printed more than "
                         f"{MAX_CELL_OUTPUT_CHARS:,} characters]\n"))
            return None
        return super().output(outs, msg, display_id, cell_index)


MAX_CELL_OUTPUT_CHARS = 1_000_000


class GraderFailed(Exception):
    """The grader failed on a task of this submission: nbgrader must store no score."""


def notebook_topic(nb: NotebookNode, name: str) -> str | None:
    """The topic of a notebook, from its name or its test cells."""
    return topic_for_grade_ids(extract_code(nb, f"{name}.ipynb").grade_ids, name)


def discard_submission(resources: dict[str, Any], keep_output: bool = False) -> None:
    """Undo what nbgrader prepared for a submission that will not be graded.

    ``nbgrader autograde`` creates the submission in the gradebook (and writes the
    sanitised notebook) before its preprocessors run; a submission holding no score at all
    is removed again, and unless ``keep_output`` so is that notebook, so the failed run
    leaves nothing behind.
    """
    info = resources.get("nbgrader", {})
    with contextlib.suppress(Exception):  # best effort: the run stops either way
        from nbgrader.api import Gradebook

        with Gradebook(info["db_url"]) as gb:
            submission = gb.find_submission(info["assignment"], info["student"])
            if all(g.auto_score is None and g.manual_score is None
                   for nb in submission.notebooks for g in nb.grades):
                gb.remove_submission(info["assignment"], info["student"])
    folder = resources.get("metadata", {}).get("path")
    if not keep_output and folder and resources.get("unique_key"):
        with contextlib.suppress(OSError):
            (Path(folder) / f"{resources['unique_key']}.ipynb").unlink()
            Path(folder).rmdir()  # only when nothing else is there
            Path(folder).parent.rmdir()
    sys.stderr.flush()


def apply_isolated_grades(nb: NotebookNode, name: str) -> NotebookResult | None:
    """Grade ``nb`` in isolation and write each task's outcome into its test cell."""
    code = extract_code(nb, f"{name}.ipynb")
    topic = topic_for_grade_ids(code.grade_ids, name)
    if topic is None:
        return None
    grader = _shared_grader(_device())
    code_only = copy.deepcopy(nb)  # the grader needs the code, not the kernel's outputs
    for cell in code_only.cells:
        if cell.get("cell_type") == "code":
            cell.outputs = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.ipynb"
        nbformat.write(code_only, str(path))
        result = grader.grade_notebook(path, topic)
    by_grade_id = {t.grade_id: t for t in tasks_for_topic(topic)}
    results = {r.id: r for r in result.tasks}
    for task in by_grade_id.values():  # a notebook the grader could not read: 0, said why
        results.setdefault(task.id, TaskResult(task.id, 0.0, task.points, "error",
                                               result.error or "not graded"))
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        task = by_grade_id.get(grade_id)
        if task is None or not cell.metadata["nbgrader"].get("grade"):
            continue
        cell.outputs = task_outputs(results[task.id])
    return result


_GRADERS: dict[str, Grader] = {}
SANDBOX_ENV = "AUTOGRADER_SANDBOX"


def _device() -> str:
    return os.environ.get("AUTOGRADER_DEVICE", "cpu")


def _shared_grader(device: str) -> Grader:
    """One grader per device for the whole nbgrader run, so references are computed once.

    ``$AUTOGRADER_SANDBOX`` (auto, require, off) chooses the sandbox, as ``--sandbox`` does
    for the command line.
    """
    if device not in _GRADERS:
        _GRADERS[device] = Grader(device=device,
                                  sandbox=os.environ.get(SANDBOX_ENV, "auto"))
    return _GRADERS[device]


FEEDBACK_WIDTH = 100
"""Characters per line of a test cell's text (feedback shows outputs unwrapped)."""


def task_outputs(result: TaskResult) -> list[NotebookNode]:
    """Outputs nbgrader scores as the task's points: the task's text and the points.

    A task with no points ends with an error output (nbgrader's zero) whose text only gives
    the points, so the feedback states each failure once, in the stream above it. Partial
    credit is nbgrader's numeric ``execute_result``; full marks need no output at all (a
    cell without an error scores its points), so a passed task shows only its text.
    """
    text = wrap_lines(task_text(result.id, result.status, result.message, result.checks,
                                dependency=result.dependency))
    points = f"{result.points:g}/{result.max_points:g} points"
    outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"{text}\n{points}\n")]
    if result.points <= 0:
        outputs.append(nbformat.v4.new_output(
            "error", ename=f"Task{result.status.capitalize()}", evalue=points,
            traceback=[f"{result.id}: {points}"]))
    elif result.points < result.max_points:
        outputs.append(nbformat.v4.new_output(
            "execute_result", data={"text/plain": f"{result.points:g}"}, execution_count=None))
    return outputs


def wrap_lines(text: str, width: int = FEEDBACK_WIDTH) -> str:
    """Each line of ``text`` wrapped at ``width``, continuation lines under its message."""
    wrapped = []
    for line in text.splitlines():
        body = line.lstrip()
        indent = line[: len(line) - len(body)]
        marked = body.split(" ", 1)[0] in {s.mark for s in Status}
        hanging = indent + " " * (6 if marked else 2)  # under the text after "FAIL  "
        wrapped += textwrap.wrap(line, width, initial_indent="", subsequent_indent=hanging,
                                 break_on_hyphens=False, drop_whitespace=True) or [""]
    return "\n".join(wrapped)


class HideHiddenTests(ClearHiddenTests):
    """Remove hidden-test regions from test cells before feedback is rendered."""

    enforce_metadata = False


class OverwriteReleasedCells(OverwriteCells):
    """nbgrader's ``OverwriteCells`` without its false "checksum has changed" warnings.

    ``generate_assignment`` stores a test cell's source and checksum in the gradebook *before*
    it strips the hidden tests from the released copy (nbgrader issue #1961), so every
    untouched test cell with hidden tests was reported as changed. A locked cell whose source
    is exactly the released form of the stored one gets the stored source (hidden tests
    included) back before the comparison, which is what ``OverwriteCells`` does anyway after
    warning; any other difference is still reported and overwritten.
    """

    def preprocess_cell(self, cell: NotebookNode, resources: dict[str, Any], cell_index: int
                        ) -> tuple[NotebookNode, dict[str, Any]]:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id is not None and utils.is_locked(cell):
            try:
                stored = self.gradebook.find_source_cell(grade_id, self.notebook_id,
                                                         self.assignment_id)
            except MissingEntry:
                stored = None
            if stored is not None and stored.locked and \
                    cell.source == released_source(stored.source):
                cell.source = stored.source
        return super().preprocess_cell(cell, resources, cell_index)


def released_source(source: str) -> str:
    """A test cell's source as ``generate_assignment`` releases it (hidden tests removed)."""
    cell = nbformat.v4.new_code_cell(source)
    HideHiddenTests()._remove_hidden_test_region(cell)
    return cell.source
