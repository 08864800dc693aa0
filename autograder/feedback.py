"""How a task's outcome reads for a student: each failure once, its likely cause first."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Protocol

from autograder.status import mark as status_mark

_TRAILING_CAUSE = re.compile(r"^(?P<body>.+?)\s*Likely cause: (?P<cause>.+)$", re.S)


class CheckLike(Protocol):
    """What a check's outcome needs to be shown (``autograder.grading.CheckOutcome``)."""

    name: str
    status: str
    message: str


def lead_with_cause(message: str) -> str:
    """``message`` with a trailing "Likely cause: …" moved to the front."""
    match = _TRAILING_CAUSE.match(message.strip())
    if match is None:
        return message.strip()
    cause = match["cause"].strip().rstrip(".")
    return f"Likely cause: {cause}. {sentence(match['body'].strip())}"


def sentence(text: str) -> str:
    """``text`` with its first word capitalised, unless that word is code (``ppca_marginal``)."""
    word = text.split(" ", 1)[0]
    return text[0].upper() + text[1:] if word.isalpha() and word.islower() else text


def check_lines(name: str, status: str, message: str = "") -> list[str]:
    """One check: its mark and message (likely cause first), then the check's name."""
    mark = status_mark(status)
    if status == "passed":
        return [f"  {mark:<5} {name}"]
    return [f"  {mark:<5} {lead_with_cause(message) or status}", f"        (check: {name})"]


def headline(task_id: str, checks: Iterable[CheckLike], kind: str = "") -> str:
    """'task: n of m checks failed' (or passed)."""
    checks = list(checks)
    failing = sum(c.status != "passed" for c in checks)
    kind = f"{kind} " if kind else ""
    if not failing:
        return f"{task_id}: all {len(checks)} {kind}checks passed"
    return f"{task_id}: {failing} of {len(checks)} {kind}checks failed"


def task_text(task_id: str, status: str, message: str, checks: Iterable[CheckLike],
              kind: str = "", dependency: str = "") -> str:
    """A task's outcome: a headline, then one entry per check, each failure said once.

    A task whose code never ran its checks (not implemented, could not be defined, a crash
    or a time-out) is one line; otherwise the checks speak, and the task's summary message,
    which repeats the first failure, is not printed. A check failing with the same message
    as the previous one says so instead of repeating it. ``dependency``, the sentence naming
    a graded function this task uses that fails its own task, comes first either way (once,
    also when ``message`` already starts with it).
    """
    checks = list(checks)
    dependency = dependency.strip()
    if dependency and message.startswith(dependency):
        message = message[len(dependency):].lstrip()
    if status in ("timeout", "crashed"):
        message = next((c.message for c in checks if c.status == status), message)
    if status in ("missing", "timeout", "crashed") or not checks:
        lead = f"{dependency} " if dependency else ""
        return f"{task_id}: {lead}{lead_with_cause(message)}"
    return "\n".join([headline(task_id, checks, kind), *([dependency] if dependency else []),
                      *checks_lines(checks)])


def checks_lines(checks: Iterable[CheckLike]) -> list[str]:
    """The entries of several checks; a failure repeating the previous one says so."""
    lines: list[str] = []
    previous = None
    for check in checks:
        repeated = check.status != "passed" and check.message == previous
        lines += check_lines(check.name, check.status,
                             "the same as above." if repeated else check.message)
        previous = check.message if check.status != "passed" else None
    return lines
