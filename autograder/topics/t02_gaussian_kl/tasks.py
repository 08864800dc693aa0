"""Topic 02's task table: one row per graded task, in notebook order.

Each row lists the task's public checks (probe from ``probes``, judge from ``public``, inputs
from ``inputs``); tolerances are the judges' named keyword parameters, set here. The
grader-only checks of a task are in ``hidden.py`` and follow these, or take the places the
row's ``check_order`` gives them.
"""

from __future__ import annotations

from functools import partial

import torch

from autograder.checks.api import Check, Task
from autograder.checks.stats import FALSE_FAILURE_RATE
from autograder.topics.t02_gaussian_kl import TOPIC, inputs, probes, public, public_exam

F64 = torch.float64

REVERSE_RATE = "measured false-failure rate 0/{}"
"""How often the reverse-KL fit checks failed correct fits (seeds x correct variants;
bench/false_failure_rates.py)."""

TASKS = (
    Task("kl.sympy", TOPIC, ("kl_normal_sympy",), 2.0, (
        Check("KL(N(0, 1) || N(1, 2^2)) = log 2 - 1/4 and KL(N(2, 3^2) || N(-1, 1)) = "
              "17/2 - log 3", probes.probe_sympy_general, public.judge_sympy_mock, id="mock",
              confirm=public.confirm_sympy_mock),
        Check("KL of a Gaussian with itself is 0", probes.probe_sympy_equal,
              public.judge_sympy_equal, id="equal", confirm=public.confirm_sympy_equal),
    ), timeout_s=180.0, description="univariate Gaussian KL by symbolic integration",
        check_order=("mock", "general", "equal", "reference")),
    Task("kl.diag", TOPIC, ("kl_diag_gaussians", "kl_standard_normal"), 3.0, (
        Check("hand-checkable values (p broadcast over q's batch)", probes.diag,
              public.judge_diag_mock, inputs.diag_mock, id="mock"),
        Check("float32: shape, KL(q||q) = 0, KL >= 0, broadcasting, sum over dimensions, "
              "invariance under x -> 3x - 1", probes.probe_diag_properties,
              partial(public.judge_diag_properties, zero_atol=1e-5),
              partial(inputs.diag_random, dtype=torch.float32), id="properties"),
        Check("kl_standard_normal: hand-checkable values", probes.standard_normal,
              public.judge_std_mock, inputs.std_mock, id="std_mock"),
        Check("kl_standard_normal: KL is 0 for q = N(0, I); float32 shapes",
              probes.probe_std_zero, public.judge_std_zero, id="std_zero"),
    ), description="KL between diagonal Gaussians, and to N(0, I) (the VAE regulariser)",
        check_order=("mock", "properties", "invariants", "reference", "reference_hidden",
                     "std_mock", "std_zero", "std_reference")),
    Task("kl.mvn", TOPIC, ("kl_mvn",), 2.0, (
        Check("hand-checkable 2-D example (unbatched)", probes.mvn, public.judge_mvn_mock,
              inputs.mvn_mock, id="mock"),
        Check("stable in float32 (batch [3], D = 40, tiny/huge/ill-conditioned covariances): "
              "KL(N0||N0) = 0, the closed form for cov1 = c cov0", probes.probe_mvn_scaled,
              partial(public.judge_mvn_scaled, self_atol=1e-3, rtol=2e-3, atol=1e-3),
              inputs.mvn_scaled, id="scaled"),
    ), description="full-covariance KL via Cholesky factors"),
    Task("kl.monte_carlo", TOPIC, ("kl_monte_carlo",), 2.0, (
        Check(f"Normal q, p (batch [4]): within the CLT bound of the exact KL (false-failure "
              f"rate {FALSE_FAILURE_RATE:g}), random, and 0 for q = p", probes.probe_mc,
              public.judge_mc_normal, inputs.mc_normal_inputs, id="mc_normal"),
    ), description="Monte Carlo estimate of KL(q || p)"),
    Task("kl.exam_log_ratio_variance", TOPIC, ("kl_log_ratio_variance",), 2.0, (
        Check("Var_q[log q - log p] at two points worked by hand",
              probes.probe_exam_log_ratio_variance, public_exam.judge_exam_log_ratio_variance,
              id="mock", confirm=public_exam.confirm_exam_log_ratio_variance),
    ), timeout_s=120.0,
        description="exam practice: the variance of the Monte Carlo KL's log-ratio"),
    Task("kl.fit_forward", TOPIC, ("fit_gaussian_forward_kl",), 1.0, (
        Check("moment matching on 1-D samples of a two-mode mixture", probes.forward,
              partial(public.judge_forward, mean_rtol=1e-4, mean_atol=1e-4, std_rtol=1e-4,
                      std_atol=1e-5),
              inputs.mixture_samples, id="forward"),
        Check("moment matching per dimension on [N, 3] float64 samples", probes.forward,
              partial(public.judge_forward, mean_rtol=1e-4, mean_atol=1e-4, std_rtol=1e-4,
                      std_atol=1e-5),
              partial(inputs.mixture_samples, 5000, 3, F64), id="forward_2"),
    ), description="forward-KL Gaussian fit: match the moments"),
    Task("kl.fit_reverse", TOPIC, ("fit_gaussian_reverse_kl",), 2.0, (
        Check(f"converges to a single Gaussian target N(2, 0.5^2) from (0, 1) "
              f"({REVERSE_RATE.format(100)})",
              probes.probe_reverse,
              partial(public.judge_reverse_gauss, mu_atol=0.2, sigma_atol=0.15),
              partial(inputs.reverse_inputs, "gauss", 0.0, 1.0), id="reverse_gauss"),
        Check(f"locks onto one mode of a two-mode mixture (mode-seeking; "
              f"{REVERSE_RATE.format(60)})", probes.probe_reverse,
              partial(public.judge_reverse_mixture, mu_atol=0.3, sigma_atol=0.2),
              partial(inputs.reverse_inputs, "mixture", 1.0, 1.0), id="reverse_mixture"),
        Check(f"converges to N(2, 0.5^2) from a far, wide start (4, 2) "
              f"({REVERSE_RATE.format(60)})", probes.probe_reverse,
              partial(public.judge_reverse_gauss, mu_atol=0.2, sigma_atol=0.15),
              partial(inputs.reverse_inputs, "gauss", 4.0, 2.0), id="reverse_gauss_2", seed=8),
        Check(f"locks onto the left mode from mu0 = -1 ({REVERSE_RATE.format(60)})",
              probes.probe_reverse,
              partial(public.judge_reverse_mixture, mu_atol=0.3, sigma_atol=0.2),
              partial(inputs.reverse_inputs, "mixture", -1.0, 1.5), id="reverse_mixture_2",
              seed=9),
    ), timeout_s=120.0, description="reverse-KL Gaussian fit by reparameterised gradient descent"),
    Task("kl.exam_mean_field", TOPIC, ("mean_field_variances",), 2.0, (
        Check("s1, s2, rho: the four variances at two points worked by hand",
              probes.probe_exam_mean_field, public_exam.judge_exam_mean_field,
              partial(inputs.symbol_names, "s1", "s2", "rho"), id="mock",
              confirm=public_exam.confirm_exam_mean_field),
    ), timeout_s=120.0,
        description="exam practice: mean-field fits to a correlated Gaussian, both directions"),
)
