"""Topic 02: KL divergences between Gaussians. Checks for the seven graded symbols.

Gaussians are given by mean and log-variance (``logvar``) unless a name says ``cov`` or
``std``/``sigma``. ``KL(q || p) = E_q[log q - log p]``; the first argument is always q.
Public checks (the student kit's) use values worked by hand and properties every KL has
(zero at equality, non-negative, additive over independent dimensions, invariant under an
invertible map); checks comparing with the grader's closed forms are hidden.

``TASKS`` is built on first use (``tasks.py`` plus, where the grader has it, ``hidden.py``), so
that a child importing ``probes`` imports no judge.
"""

from __future__ import annotations

from autograder.checks.rows import tasks_on_first_use

TOPIC = "02_gaussian_kl"
__getattr__ = tasks_on_first_use(__name__)
