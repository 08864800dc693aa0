"""Human and JSON reports of grading results.

The human report is for a terminal: every text in it that a notebook can influence (paths,
messages, errors) goes through ``escaping.for_terminal``, so no escape sequence in a
student's exception can move the cursor or forge a row.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from autograder.escaping import for_terminal as safe
from autograder.grading import NotebookResult


def format_table(result: NotebookResult, width: int = 100, device: str | None = None) -> str:
    """A table of task, points, status and message for one notebook, then its total."""
    lines = [f"== {safe(result.path)}" + (f"  [{safe(result.topic)}]" if result.topic else "")
             + (f"  on {device}" if device and not result.error else "")]
    if result.error:
        lines.append(f"   cannot grade: {safe(result.error)}")
        return "\n".join(lines)
    if result.grader_error:
        lines.append(f"   grader error (no score): {result.grader_error}")
        return "\n".join(lines)
    id_width = max([len(t.id) for t in result.tasks] + [4])
    header = f"   {'task':<{id_width}}  {'points':>11}  {'status':<8}  message"
    lines += [header, "   " + "-" * (len(header) - 3 + 20)]
    indent = " " * (3 + id_width + 2 + 11 + 2 + 8 + 2)
    for task in result.tasks:
        pts = f"{task.points:g}/{task.max_points:g}"
        wrapped = textwrap.wrap(safe(task.message), max(30, width - len(indent))) or [""]
        lines.append(f"   {task.id:<{id_width}}  {pts:>11}  {task.status:<8}  {wrapped[0]}")
        lines += [indent + more for more in wrapped[1:]]
    broken = len(result.grader_errors)
    lines.append(f"   total: {result.score:g}/{result.max_score:g}"
                 + (f" INCOMPLETE: {broken} task{'s' if broken > 1 else ''} not graded "
                    "(grader error, not the submission's fault)" if broken else "")
                 + f"   ({result.elapsed_s:.1f} s)")
    return "\n".join(lines)


def format_not_graded(results: list[NotebookResult]) -> str:
    """The notebooks that could not be graded, one per line with the reason."""
    lines = [f"== not graded ({len(results)}): these count for nothing above"]
    lines += [f"   {safe(r.error)}" for r in results]
    return "\n".join(lines)


def as_json(results: list[NotebookResult], device: str | None = None,
            sandbox: dict | None = None) -> dict:
    """The documented JSON report.

    ``errors`` counts the notebooks that could not be graded; each of them has an ``error``
    key (why) and no tasks. ``grader_errors`` counts what the grader itself failed at
    (tasks with status ``grader-error``, listed per notebook under ``grader_errors``): those
    tasks have no score. ``device`` is the device the checks ran on, ``sandbox`` what
    isolated the student code.
    """
    report: dict = {
        **({"sandbox": sandbox} if sandbox is not None else {}),
        "score": round(sum(r.score for r in results), 2),
        "max_score": round(sum(r.max_score for r in results), 2),
        "errors": sum(1 for r in results if r.error),
        "grader_errors": sum(len(r.grader_errors) for r in results),
    }
    if device:
        report["device"] = device
    report["notebooks"] = [{**r.as_dict(), **({"error": r.error} if r.error else {})}
                           for r in results]
    return report


def write_json(results: list[NotebookResult], path: str | Path,
               device: str | None = None, sandbox: dict | None = None) -> None:
    """Write the JSON report to a file."""
    Path(path).write_text(json.dumps(as_json(results, device, sandbox), indent=2) + "\n")
