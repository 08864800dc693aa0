"""Topic 01: probabilistic PCA. Checks for the six graded symbols.

Model: p(z) = N(0, I_M), p(x|z) = N(Wz + b, sigma2 I_D); W [D, M], b [D].

``TASKS`` is built on first use (``tasks.py`` plus, where the grader has it, ``hidden.py``), so
that a child importing ``probes`` imports no judge.
"""

from __future__ import annotations

from typing import Any

TOPIC = "01_ppca"


def __getattr__(name: str) -> Any:
    if name == "TASKS":
        from autograder.checks.rows import topic_tasks
        from autograder.topics.t01_ppca import tasks

        globals()["TASKS"] = topic_tasks(__name__, tasks.TASKS)
        return globals()["TASKS"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
