"""PPCA's exact maths for the topic-03 judges (grading process only).

The posterior, the log-marginal, the exact ELBO and its gap are graded answers of topics 01
and 03, so they live here, where a child running student code cannot import them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from autograder.checks.compare import as_tensor

F64 = torch.float64
LOG_2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class Ppca:
    """A PPCA model in float64 and the quantities of its posterior."""

    W: torch.Tensor
    b: torch.Tensor
    s2: float

    @classmethod
    def of(cls, inputs: dict[str, Any]) -> Ppca:
        return cls(inputs["W"].to(F64), inputs["b"].to(F64),
                   float(as_tensor(inputs["sigma2"], "sigma2")))

    @property
    def precision(self) -> torch.Tensor:
        """A = I + WᵀW / sigma2: minus the Hessian of log p(x, z) in z (= posterior precision)."""
        m = self.W.shape[1]
        return torch.eye(m, dtype=F64) + self.W.T @ self.W / self.s2

    def linear(self, x: torch.Tensor) -> torch.Tensor:
        """h_n = Wᵀ(x_n - b) / sigma2, so that log p(x, z) = -½ zᵀAz + zᵀh + const."""
        return (x.to(F64) - self.b) @ self.W / self.s2

    @property
    def marginal_cov(self) -> torch.Tensor:
        """W Wᵀ + sigma2 I: the covariance of p(x) (a topic-01 answer)."""
        d = self.W.shape[0]
        return self.W @ self.W.T + self.s2 * torch.eye(d, dtype=F64)

    def log_marginal(self, x: torch.Tensor) -> torch.Tensor:
        return torch.distributions.MultivariateNormal(
            self.b, covariance_matrix=self.marginal_cov).log_prob(x.to(F64))

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cov = torch.linalg.inv(self.precision)
        cov = 0.5 * (cov + cov.T)
        return self.linear(x) @ cov, cov

    def _q_and_posterior(self, x: torch.Tensor, q_mean: torch.Tensor, q_cov: torch.Tensor
                         ) -> tuple[torch.distributions.Distribution,
                                    torch.distributions.Distribution]:
        p_mean, p_cov = self.posterior(x)
        q = torch.distributions.MultivariateNormal(q_mean.to(F64),
                                                   covariance_matrix=q_cov.to(F64))
        p = torch.distributions.MultivariateNormal(p_mean, covariance_matrix=p_cov)
        return q, p

    def kl_to_posterior(self, x: torch.Tensor, q_mean: torch.Tensor, q_cov: torch.Tensor
                        ) -> torch.Tensor:
        """KL(q || p(z|x)) for q = N(q_mean[n], q_cov), by torch.distributions."""
        q, p = self._q_and_posterior(x, q_mean, q_cov)
        return torch.distributions.kl_divergence(q, p)

    def kl_from_posterior(self, x: torch.Tensor, q_mean: torch.Tensor, q_cov: torch.Tensor
                          ) -> torch.Tensor:
        """KL(p(z|x) || q): the wrong direction."""
        q, p = self._q_and_posterior(x, q_mean, q_cov)
        return torch.distributions.kl_divergence(p, q)

    def elbo(self, x: torch.Tensor, q_mean: torch.Tensor, q_cov: torch.Tensor) -> torch.Tensor:
        """log p(x) - KL(q || p(z|x)): the exact ELBO."""
        return self.log_marginal(x) - self.kl_to_posterior(x, q_mean, q_cov)

    def elbo_parts(self, x: torch.Tensor, q_mean: torch.Tensor, q_cov: torch.Tensor
                   ) -> dict[str, torch.Tensor]:
        """The ELBO's terms, to predict what classic bugs produce."""
        x, mu, cov = x.to(F64), q_mean.to(F64), q_cov.to(F64)
        d, m = self.W.shape
        resid = ((x - mu @ self.W.T - self.b) ** 2).sum(1)
        trace = torch.trace(self.W.T @ self.W @ cov)
        return {
            "const_lik": torch.full_like(resid, -0.5 * d * LOG_2PI),
            "logdet_lik": torch.full_like(resid, -0.5 * d * math.log(self.s2)),
            "resid": -resid / (2 * self.s2), "trace": -trace / (2 * self.s2) + 0 * resid,
            "prior": -0.5 * m * LOG_2PI - 0.5 * ((mu**2).sum(1) + torch.trace(cov)),
            "entropy": 0.5 * m * (1 + LOG_2PI) + 0.5 * torch.logdet(cov) + 0 * resid,
        }


def log_mean_exp64(a: torch.Tensor, dim: int) -> torch.Tensor:
    """The definition, evaluated stably in float64."""
    a = a.to(F64)
    return torch.logsumexp(a, dim) - math.log(a.shape[dim])
