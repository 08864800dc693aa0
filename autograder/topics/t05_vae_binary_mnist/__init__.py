"""Topic 05: a VAE for binarized MNIST. Checks for the four graded classes.

Model: p(z) = N(0, I_M); q(z|x) = N(mean, diag(exp(logvar))) with [mean, logvar] = net(x);
p(x|z) = prod_pixels Bernoulli(logits = net(z)); ELBO(x) = E_q[log p(x|z)] - KL(q || p).

The ELBO and sampling checks drive the student's ``VAE`` with fixed modules
(``autograder.fixtures.modules``: a linear Bernoulli decoder over a 2-D latent space), so the
judge computes exact expectations by Gauss-Hermite quadrature and tests the student's Monte
Carlo output statistically (false-failure rate ``FALSE_FAILURE_RATE`` per check): the mean, and
the variance against the exact variance of one draw. Any RNG order and an analytic or Monte
Carlo KL pass.

Probes return raw outputs only; every evaluation (exact moments, the trained networks' test
ELBO) happens in the judges with the grader-only code of ``autograder/trusted`` (see
docs/design.md, "Trust"). The training probe trains the grader's fixed networks through the
student's classes and returns their weights; the judge reads them as the specified model on test
images the child never gets.

The public checks (the student kit's) need none of it: a decoder that ignores z (its ELBO is
-784 log 2 - KL exactly), a decoder reading z_1 only (the KL alone moves q's second coordinate),
pixels that switch at known quantiles of z, and a short training smoke test on random images.

``TASKS`` is built on first use (``tasks.py`` plus, where the grader has it, ``hidden.py``), so
that a child importing ``probes`` imports no judge.
"""

from __future__ import annotations

from autograder.checks.rows import tasks_on_first_use

TOPIC = "05_vae_binary_mnist"
__getattr__ = tasks_on_first_use(__name__)
