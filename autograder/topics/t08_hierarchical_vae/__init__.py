"""Topic 08: two-layer hierarchical VAEs. Checks for the eight graded symbols,
two of them written (exam-practice) questions answered by a function.

Model: p(x, z1, z2) = p(x|z1) p(z1|z2) p(z2), p(z2) = N(0, I). Bottom-up inference
q(z1|x) q(z2|z1); top-down inference q(z2|x) q(z1|z2, x) with q(z1|z2, x) the precision-weighted
merge of a bottom-up estimate of z1 and p(z1|z2) (Ladder VAE).

The model checks drive the student's classes with fixed modules (``probes.py``: one free
parameter row per example for the inference modules, an affine p(z1|z2), a linear Bernoulli
decoder over 2-D latents). The hidden judges compute the expected ELBO terms and gradients with
the grader's own implementation (``autograder/trusted/hvae.py``, float64, 40 000 draws); public
checks use exact expectations of a tiny linear-Gaussian case; both test the student's draws
statistically, and analytic and Monte Carlo KL terms both pass. The training check trains the
grader's fixed networks with the student's classes and warm-up; the judge rebuilds them from
the returned weights and evaluates test ELBO and active units on test images the child never
receives.

``TASKS`` is built on first use (``tasks.py`` plus, where the grader has it, ``hidden.py``), so
that a child importing ``probes`` imports no judge.
"""

from __future__ import annotations

from autograder.checks.rows import tasks_on_first_use

TOPIC = "08_hierarchical_vae"
__getattr__ = tasks_on_first_use(__name__)
