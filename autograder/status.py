"""The statuses of a graded check or task, one list for the grader and every report.

Six statuses say something about the *submission*. ``GRADER_ERROR`` says the grader itself
failed (a broken or unreleased reference, a judge that raised, a sandbox that could not
start): such a task has no score. It is never stored, exported or written to a gradebook as
the student's points; front ends report it to the TA and exit non-zero.
"""

from __future__ import annotations

import enum


class Status(enum.StrEnum):
    """What happened to a check or task (compares equal to its string value)."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    TIMEOUT = "timeout"
    CRASHED = "crashed"
    MISSING = "missing"
    GRADER_ERROR = "grader-error"

    @property
    def mark(self) -> str:
        """The short label of tables and feedback (``ok``, ``FAIL``, …)."""
        return _MARKS[self]

    @property
    def is_grader_side(self) -> bool:
        """Whether the grader, not the submission, is at fault (no score exists)."""
        return self is Status.GRADER_ERROR


_MARKS = {Status.PASSED: "ok", Status.FAILED: "FAIL", Status.ERROR: "ERROR",
          Status.TIMEOUT: "TIMEOUT", Status.CRASHED: "CRASH", Status.MISSING: "TODO",
          Status.GRADER_ERROR: "GRADER"}

STUDENT_STATUSES: tuple[Status, ...] = tuple(s for s in Status if not s.is_grader_side)
"""The statuses a submission can earn, in report order."""


def mark(status: str) -> str:
    """The label of a status given as a string (an unknown one upper-cased)."""
    try:
        return Status(status).mark
    except ValueError:
        return status.upper()


def is_grader_error(status: str) -> bool:
    """Whether a status (string or Status) is a grader-side error."""
    return status == Status.GRADER_ERROR
