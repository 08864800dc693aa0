"""The statistical tests never let a NaN or a degenerate sample pass a threshold."""

from __future__ import annotations

import math

import torch

from autograder.checks.stats import (
    chi2_threshold,
    gaussian_cov_statistic,
    gaussian_mean_statistic,
    normal_threshold,
    z_statistic,
)


def test_samples_on_a_subspace_give_an_infinite_covariance_statistic():
    torch.manual_seed(0)
    w = torch.tensor([[1.0], [2.0], [0.5]])
    flat = torch.randn(4000, 1) @ w.T  # no noise: rank 1 in 3 dimensions
    cov = w @ w.T + 0.3 * torch.eye(3)
    assert gaussian_cov_statistic(flat, torch.zeros(3), cov) == math.inf
    honest = torch.distributions.MultivariateNormal(torch.zeros(3), cov).sample((4000,))
    assert gaussian_cov_statistic(honest, torch.zeros(3), cov) < chi2_threshold(6)


def test_not_finite_draws_fail_the_mean_and_z_tests():
    nan = torch.tensor([1.0, float("nan"), 2.0])
    assert gaussian_mean_statistic(nan.reshape(3, 1), torch.zeros(1), torch.eye(1)) == math.inf
    assert z_statistic(nan, 1.5)[2] == math.inf
    assert z_statistic(torch.tensor([1.0, 2.0, 1.5]), 1.5)[2] < normal_threshold()
