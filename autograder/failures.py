"""The messages of a task whose code could not run to a result: a child that timed out,
crashed or sent too much, a raised exception, a symbol that could not be defined."""

from __future__ import annotations

from typing import Any

from autograder import sandbox
from autograder.checks.api import Task
from autograder.notebook_code import CodeCell, NotebookCode
from autograder.status import Status

OVERSIZE_MESSAGE = (f"stopped for sending back more than {sandbox.MAX_RESULT_BYTES // 2**20} "
                    "MiB of results (are the outputs far larger than the docstring says?).")


RUN_STATUS = {"timeout": Status.TIMEOUT, "memory": Status.CRASHED, "crashed": Status.CRASHED,
               "finished": Status.CRASHED, "oversize": Status.ERROR,
               "sandbox": Status.GRADER_ERROR, "complex": Status.ERROR}


def run_message(run: sandbox.ChildRun, timeout_s: float, memory_mb: int) -> str:
    """What a check's message says when its child ended without a result."""
    if run.status == "timeout":
        return (f"stopped after {timeout_s:g} s without finishing (an infinite loop, or far "
                "too much work for this check).")
    if run.status == "memory":
        return f"stopped for using more than {memory_mb} MiB of memory."
    if run.status == "oversize":
        return OVERSIZE_MESSAGE
    if run.status == "complex":
        return sandbox.too_complex_message(run.detail)
    if run.status == "sandbox":
        return f"grader error: the grading sandbox could not start ({run.detail})."
    return (f"the process running this task's code ended abruptly (exit code {run.exitcode}); "
            "does the code call os._exit or sys.exit, or crash Python?")


def exception_message(record: dict[str, Any], memory_mb: int) -> str:
    kind, text, where = record.get("type", "Exception"), record.get("message", ""), \
        record.get("where", "")
    if kind == "MemoryError":
        return f"ran out of memory (the limit is {memory_mb} MiB)."
    location = f" {where}" if where else ""
    if kind == "NotImplementedError":
        location = (f" inside a library called {where}" if where else " inside a library"
                    ) + " (not the notebook's `raise NotImplementedError()` stub)"
    return f"raised {kind}{location}: {text}" if text else f"raised {kind}{location}."


def load_problem(code: NotebookCode, task: Task, run: sandbox.ChildRun, load: Any,
                  reference: NotebookCode | None = None) -> tuple[str, str] | None:
    """A status and message when the task's symbols could not even be defined.

    ``reference`` (the solution's code) tells which answer cell should define a symbol, so
    that a cell rewritten beyond recognition and broken is still named as the cause.
    """
    if not isinstance(load, dict):
        if run.status == "sandbox":
            return Status.GRADER_ERROR, ("grader error: the grading sandbox could not start "
                                         f"({run.detail}).")
        if run.status == "oversize":
            return "error", OVERSIZE_MESSAGE
        if run.status == "complex":
            return "error", sandbox.too_complex_message(run.detail)
        if run.status == "timeout":
            return "timeout", ("the notebook code for this task did not finish loading "
                               "(an infinite loop at the top level of a cell?).")
        if run.status == "memory":
            return "crashed", "loading the notebook code used too much memory."
        return "crashed", ("the notebook code for this task ended the process while loading "
                           f"(exit code {run.exitcode}).")
    failures = load.get("failures", {}) if isinstance(load.get("failures"), dict) else {}
    present = load.get("present", {}) if isinstance(load.get("present"), dict) else {}
    for symbol in task.symbols:
        if present.get(symbol):
            continue
        for cell in (*code.defining_cells(symbol), *answer_cells(reference, code, symbol)):
            if cell.syntax_error:
                return "error", f"`{symbol}` could not be defined: {cell.syntax_error}"
            failure = failures.get(str(cell.index))
            if isinstance(failure, dict):
                where = f" {failure['where']}" if failure.get("where") else ""
                return "error", (f"`{symbol}` could not be defined: its cell raised "
                                 f"{failure.get('type')}{where}: {failure.get('message', '')}")
        return "missing", f"`{symbol}` is not defined in the notebook."
    return None


def answer_cells(reference: NotebookCode | None, code: NotebookCode,
                  symbol: str) -> tuple[CodeCell, ...]:
    """The submission's cells with the grade_ids of the reference cells defining ``symbol``."""
    if reference is None:
        return ()
    found = (code.cell_with_id(c.grade_id) for c in reference.defining_cells(symbol)
             if c.grade_id)
    return tuple(c for c in found if c is not None)
