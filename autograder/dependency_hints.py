"""A failing task's message names the graded symbol it uses that is wrong, to fix first."""

from __future__ import annotations

from autograder.checks.api import Task
from autograder.notebook_code import NotebookCode
from autograder.outcomes import TaskResult


def graded_dependencies(code: NotebookCode, task: Task, tasks: list[Task] | tuple[Task, ...]
                        ) -> list[Task]:
    """The other tasks whose graded symbols ``task`` uses (found from the names its cells use,
    plus its extra symbols): the tasks ``dependency_prefix`` needs the results of."""
    used = code.names_reached(task.symbols) | set(task.extra_symbols)
    return [other for other in tasks if other.id != task.id and
            any(symbol in used and symbol not in task.symbols for symbol in other.symbols)]


def dependency_prefix(code: NotebookCode, task: Task, results: dict[str, TaskResult],
                      tasks: list[Task] | tuple[Task, ...]) -> str:
    """The sentence a failing task's message starts with when a graded symbol it uses (found
    from the names its cells use, plus its extra symbols) is another task's and that task
    did not pass: that symbol is the first thing to fix. Empty when there is none."""
    used = code.names_reached(task.symbols) | set(task.extra_symbols)
    sentences = []
    for other in tasks:
        result = results.get(other.id)
        if other.id == task.id or result is None or result.status == "passed":
            continue
        for symbol in other.symbols:
            if symbol not in used or symbol in task.symbols:
                continue
            state = {"failed": "is wrong", "missing": "is not implemented yet"}.get(
                result.status, f"does not pass its own task ({result.status})")
            sentences.append(f"`{symbol}`, which this uses, {state} ({other.id}): fix it "
                             "first.")
            used = used - {symbol}
    return " ".join(sentences) + " " if sentences else ""


def add_dependency_hints(code: NotebookCode, tasks: list[Task] | tuple[Task, ...],
                         results: list[TaskResult]) -> None:
    """Prefix, in place, each non-passing task's message with ``dependency_prefix`` (also kept
    as its ``dependency``, for the texts in which the checks speak, not the message)."""
    by_id = {r.id: r for r in results}
    prefixes = {r.id: dependency_prefix(code, t, by_id, tasks) if r.status != "passed" else ""
                for t, r in zip(tasks, results, strict=True)}
    for result in results:
        result.message = prefixes[result.id] + result.message
        result.dependency = prefixes[result.id].strip()
