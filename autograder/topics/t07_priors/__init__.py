"""Topic 07: learned priors. Checks for the mixture density, the MoG and Vamp priors, the
Monte Carlo-KL ELBO, the aggregate posterior, the hole fraction and a training run.

Everything a judge computes beyond the raw outputs of the student's functions (mixture and
aggregate densities, exact ELBOs, hole fractions, the test ELBO of trained models) comes from
the grader-only ``autograder/trusted/priors.py``, used by the hidden judges (``hidden.py``);
public checks use closed forms of tiny cases. Mixture checks compare behaviour (log densities
at the grader's points, moments of samples), never parameters by position, so any component
order, softmax or log_softmax weights, ``MixtureSameFamily`` or a hand-written logsumexp, and
any pseudo-input parameterisation that stays in [0, 1] pass.

``TASKS`` is built on first use (``tasks.py`` plus, where the grader has it, ``hidden.py``), so
that a child importing ``probes`` imports no judge.
"""

from __future__ import annotations

from autograder.checks.rows import tasks_on_first_use

TOPIC = "07_priors"
__getattr__ = tasks_on_first_use(__name__)
