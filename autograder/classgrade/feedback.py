"""Per-student feedback pages: each task's points, status and messages, escaped.

Only what the grader says to students goes in (task and check messages, which by design give
error sizes and positions, never hidden inputs or reference values); no test code.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from autograder.classgrade.names import submission_path
from autograder.classgrade.records import Record, TaskGrade
from autograder.classgrade.store import write_atomic

FOLDER = "feedback"
STYLE = """body{font-family:sans-serif;max-width:60rem;margin:2rem auto;line-height:1.4}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.3rem .5rem;
vertical-align:top;text-align:left}.passed{color:#176117}.failed,.error,.timeout,.crashed,
.missing{color:#a01818}ul{margin:.2rem 0;padding-left:1.2rem}"""


def feedback_html(record: Record) -> str:
    """The feedback page of one submission."""
    e = escape
    title = f"{record.assignment} — feedback for {record.student}"
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{e(title)}</title>",
             f"<style>{STYLE}</style></head><body>", f"<h1>{e(title)}</h1>",
             f"<p><b>Score: {record.score:g} / {record.max_score:g}</b></p>"]
    if record.error:
        parts.append(f"<p class='error'>Your notebook could not be graded: {e(record.error)}</p>")
    if record.tasks:
        parts.append("<table><tr><th>task</th><th>points</th><th>status</th>"
                     "<th>message</th></tr>")
        parts += [_task_row(task) for task in record.tasks]
        parts.append("</table>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _task_row(task: TaskGrade) -> str:
    e = escape
    checks = "".join(
        f"<li>{'ok' if c.get('status') == 'passed' else 'FAIL'} {e(str(c.get('name', '')))}"
        + (f": {e(str(c.get('message')))}" if c.get("message") else "") + "</li>"
        for c in task.checks)
    details = f"<ul>{checks}</ul>" if checks else ""
    return (f"<tr><td>{e(task.id)}</td><td>{task.points:g} / {task.max_points:g}</td>"
            f"<td class='{e(task.status)}'>{e(task.status)}</td>"
            f"<td>{e(task.message)}{details}</td></tr>")


def write_feedback(records: list[Record], out: Path) -> None:
    """``<out>/feedback/<student>/<assignment>.html`` for every record (names encoded)."""
    for record in records:
        path = submission_path(out / FOLDER, record.student, record.assignment, ".html")
        write_atomic(path, feedback_html(record).encode())
