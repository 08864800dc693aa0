"""Topic 04: the reparameterisation trick. Checks for the six graded symbols.

* ``reparameterize(mu, logvar, eps=None)``: z = mu + exp(logvar / 2) * eps.
* ``pathwise_gradient(f, mu, log_sigma, n)`` and ``score_function_gradient(f, mu, log_sigma, n)``:
  Monte Carlo estimates of the gradient of E_{z ~ N(mu, exp(log_sigma)^2)}[f(z)].
* ``gumbel_softmax_sample(logits, tau, hard=False)``: relaxed (or straight-through) categorical.
* ``estimator_variances_sympy(mu, sigma)`` and ``optimal_baseline_sympy(mu, sigma)``: exam-practice
  questions answered in sympy (judged by ``autograder.checks.written``).

Stochastic properties are tested at ``FALSE_FAILURE_RATE`` per check (Bonferroni over the
coordinates a check tests); gradient estimators are judged by a CLT t-test on repeated calls.

``TASKS`` is built on first use (``tasks.py`` plus, where the grader has it, ``hidden.py``), so
that a child importing ``probes`` imports no judge.
"""

from __future__ import annotations

from autograder.checks.rows import tasks_on_first_use

TOPIC = "04_reparameterisation"
__getattr__ = tasks_on_first_use(__name__)
