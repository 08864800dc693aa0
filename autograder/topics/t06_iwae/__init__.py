"""Topic 06: the importance-weighted autoencoder (Burda et al., 2016). Checks for the six graded
functions/classes and a training run.

Log weights are laid out [K, B]: sample index first, example second. Most checks drive the
student's code with a PPCA model on tiny 3x4 "images" (p(z) = N(0, I_2), p(x|z) =
N(W z + b, s^2 I)) whose columns of W are orthogonal, so the exact posterior is a diagonal
Gaussian: with it as q every log weight equals log p(x) (zero variance), and with a poorer q
the ELBO and its gradient are analytic. The judges' reference numbers (the exact posterior and
log p(x), Monte Carlo expectations of the bound and of gradient estimators, the trained model's
test bound) come from the grader-only ``autograder/trusted/iwae.py``, used by ``hidden.py``
only; public checks use closed forms of tiny cases (a decoder that ignores z, weights whose
means are known). Statistical checks state their false-failure rate (``FALSE_FAILURE_RATE``).

``TASKS`` is built on first use (``tasks.py`` plus, where the grader has it, ``hidden.py``), so
that a child importing ``probes`` imports no judge.
"""

from __future__ import annotations

from autograder.checks.rows import tasks_on_first_use

TOPIC = "06_iwae"
__getattr__ = tasks_on_first_use(__name__)
