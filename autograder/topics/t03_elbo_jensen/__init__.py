"""Topic 03: the ELBO, Jensen's inequality and the gap. Checks for the six graded symbols, two of
them exam-practice questions answered in sympy (judged by ``autograder.checks.written``).

PPCA (topic 01) is the test bed: its log p(x) and posterior are known in closed form, so the
judges compute exact ELBOs and gaps in float64 from generic Gaussian formulas (grader-only
code). The public checks (the student kit's) need none of it: they use the mock exam and a
1-D model (z ~ N(0, 1), x | z ~ N(z, 1)) worked by hand.
Model: p(z) = N(0, I_M), p(x|z) = N(Wz + b, sigma2 I_D); W [D, M], b [D].

``TASKS`` is built on first use (``tasks.py`` plus, where the grader has it, ``hidden.py``), so
that a child importing ``probes`` imports no judge.
"""

from __future__ import annotations

from autograder.checks.rows import tasks_on_first_use

TOPIC = "03_elbo_jensen"
__getattr__ = tasks_on_first_use(__name__)
