"""Closed-form Gaussian KLs for the topic-02 judges (grading process only).

They are topic 02's graded answers, so they live here, where a child running student code
cannot import them.
"""

from __future__ import annotations

from typing import Any

import sympy
import torch

F64 = torch.float64


def diag_kl(mu_q: torch.Tensor, lv_q: torch.Tensor, mu_p: torch.Tensor, lv_p: torch.Tensor
            ) -> torch.Tensor:
    """KL(N(mu_q, e^lv_q) || N(mu_p, e^lv_p)) per dimension (no sum), in float64."""
    mu_q, lv_q, mu_p, lv_p = (t.to(F64) for t in (mu_q, lv_q, mu_p, lv_p))
    return 0.5 * (lv_p - lv_q + (lv_q.exp() + (mu_q - mu_p) ** 2) / lv_p.exp() - 1.0)


def mvn_kl(mu0: torch.Tensor, cov0: torch.Tensor, mu1: torch.Tensor, cov1: torch.Tensor
           ) -> torch.Tensor:
    """KL(N(mu0, cov0) || N(mu1, cov1)) in float64 via Cholesky factors (batched)."""
    mu0, cov0, mu1, cov1 = (t.to(F64) for t in (mu0, cov0, mu1, cov1))
    l0, l1 = torch.linalg.cholesky(cov0), torch.linalg.cholesky(cov1)
    m = torch.linalg.solve_triangular(l1, l0, upper=False)
    diff = torch.linalg.solve_triangular(l1, (mu1 - mu0).unsqueeze(-1), upper=False)
    logdet = 2 * (l1.diagonal(dim1=-2, dim2=-1).log() - l0.diagonal(dim1=-2, dim2=-1).log())
    return 0.5 * ((m**2).sum((-2, -1)) + (diff**2).sum((-2, -1)) - mu0.shape[-1]
                  + logdet.sum(-1))


def sympy_closed_form(mu1: Any, s1: Any, mu2: Any, s2: Any) -> Any:
    """log(s2/s1) + (s1^2 + (mu1 - mu2)^2) / (2 s2^2) - 1/2."""
    return sympy.log(s2 / s1) + (s1**2 + (mu1 - mu2) ** 2) / (2 * s2**2) - sympy.Rational(1, 2)
