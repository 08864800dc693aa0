"""Topic 01: probabilistic PCA. Checks for the six graded symbols.

Model: p(z) = N(0, I_M), p(x|z) = N(Wz + b, sigma2 I_D); W [D, M], b [D].

``TASKS`` is built on first use (``tasks.py`` plus, where the grader has it, ``hidden.py``), so
that a child importing ``probes`` imports no judge.
"""

from __future__ import annotations

from autograder.checks.rows import tasks_on_first_use

TOPIC = "01_ppca"
__getattr__ = tasks_on_first_use(__name__)
