"""Topic 04 (reparameterisation): the reference passes, classic bugs are caught and named."""

from __future__ import annotations

from pathlib import Path

import pytest

from autograder.paths import solution_notebook
from tests.helpers import assert_caught, assert_full, grade
from tests.topics.scaffold import TopicTests

TOPIC = "04_reparameterisation"
topic = TopicTests(TOPIC)

REPARAM_HEAD = '''
def reparameterize(mu, logvar, eps=None):
    """Sample z = mu + exp(logvar / 2) * eps."""
'''
PATHWISE_HEAD = '''
def pathwise_gradient(f, mu, log_sigma, n_samples):
    """Pathwise gradient estimate."""
'''
SCORE_HEAD = '''
def score_function_gradient(f, mu, log_sigma, n_samples):
    """Score-function gradient estimate."""
'''
GUMBEL_HEAD = '''
def gumbel_softmax_sample(logits, tau, hard=False):
    """Gumbel-softmax sample."""
'''
GUMBEL_NOISE = '''
    u = torch.rand_like(logits).clamp_min(1e-20)
    g = -torch.log(-torch.log(u))
'''
GUMBEL_HARD = '''
    if not hard:
        return y
    y_hard = torch.nn.functional.one_hot(y.argmax(-1), y.shape[-1]).to(y.dtype)
    return y_hard - y.detach() + y
'''


def test_reference_gets_full_marks() -> None:
    result = grade(solution_notebook(TOPIC))
    assert [t.id for t in result.tasks] == ["reparam.reparameterize", "reparam.pathwise",
                                            "reparam.score_function", "reparam.exam_variances",
                                            "reparam.gumbel_softmax", "reparam.exam_baseline"]
    for task_result in result.tasks:
        assert_full(task_result)


# ------------------------------------------------------------------ reparameterize
REPARAM_CASES = {
    "variance_as_std": (REPARAM_HEAD + '''
    if eps is None:
        eps = torch.randn_like(mu)
    return mu + torch.exp(logvar) * eps
''', ("variance",)),
    "detached": (REPARAM_HEAD + '''
    if eps is None:
        eps = torch.randn_like(mu)
    return (mu + torch.exp(0.5 * logvar) * eps).detach()
''', ("no gradient", "detach")),
    "sample_not_rsample": (REPARAM_HEAD + '''
    std = torch.exp(0.5 * logvar)
    if eps is None:
        return torch.distributions.Normal(mu, std).sample()
    return mu + std * eps
''', (".sample()",)),
}


@pytest.mark.parametrize("case", sorted(REPARAM_CASES))
def test_reparameterize_bugs(tmp_path: Path, case: str) -> None:
    source, concepts = REPARAM_CASES[case]
    result = topic.run(tmp_path, "reparameterize_solution", source, "reparam.reparameterize")
    assert_caught(result, *concepts)


def test_reparameterize_alternative(tmp_path: Path) -> None:
    source = REPARAM_HEAD + '''
    dist = torch.distributions.Normal(mu, logvar.exp().sqrt())
    return dist.rsample() if eps is None else dist.loc + dist.scale * eps
'''
    assert_full(topic.run(tmp_path, "reparameterize_solution", source, "reparam.reparameterize"))


# --------------------------------------------------------------------- pathwise
PATHWISE_CASES = {
    "detached_sample": (PATHWISE_HEAD + '''
    mu = mu.detach().requires_grad_()
    log_sigma = log_sigma.detach().requires_grad_()
    z = torch.distributions.Normal(mu, log_sigma.exp()).sample((n_samples,))
    return torch.autograd.grad(f(z).mean(), (mu, log_sigma))
''', ("detach", ".sample()")),
    "log_sigma_as_sigma": (PATHWISE_HEAD + '''
    mu = mu.detach().requires_grad_()
    log_sigma = log_sigma.detach().requires_grad_()
    z = mu + log_sigma * torch.randn(n_samples, mu.shape[0], dtype=mu.dtype)
    return torch.autograd.grad(f(z).mean(), (mu, log_sigma))
''', ("log_sigma was used as sigma",)),
    "score_function_instead": (PATHWISE_HEAD + '''
    sigma = log_sigma.exp()
    eps = torch.randn(n_samples, mu.shape[0], dtype=mu.dtype, device=mu.device)
    fz = f(mu + sigma * eps).detach()[:, None]
    return (fz * eps / sigma).mean(0), (fz * (eps**2 - 1)).mean(0)
''', ("score-function",)),
}


@pytest.mark.parametrize("case", sorted(PATHWISE_CASES))
def test_pathwise_bugs(tmp_path: Path, case: str) -> None:
    source, concepts = PATHWISE_CASES[case]
    result = topic.run(tmp_path, "pathwise_gradient_solution", source, "reparam.pathwise")
    assert_caught(result, *concepts)


def test_pathwise_alternative(tmp_path: Path) -> None:
    source = PATHWISE_HEAD + '''
    mu = mu.clone().detach().requires_grad_(True)
    log_sigma = log_sigma.clone().detach().requires_grad_(True)
    z = torch.distributions.Normal(mu, torch.exp(log_sigma)).rsample((n_samples,))
    f(z).sum().div(n_samples).backward()
    return mu.grad, log_sigma.grad
'''
    assert_full(topic.run(tmp_path, "pathwise_gradient_solution", source, "reparam.pathwise"))


# ---------------------------------------------------------------- score function
SCORE_CASES = {
    "through_f": (SCORE_HEAD + '''
    mu = mu.detach().requires_grad_()
    log_sigma = log_sigma.detach().requires_grad_()
    q = torch.distributions.Normal(mu, log_sigma.exp())
    z = q.rsample((n_samples,))
    surrogate = (f(z) * q.log_prob(z).sum(-1)).mean()
    return torch.autograd.grad(surrogate, (mu, log_sigma))
''', ("through f", "black box")),
    "missing_minus_one": (SCORE_HEAD + '''
    sigma = log_sigma.exp()
    eps = torch.randn(n_samples, mu.shape[0], dtype=mu.dtype, device=mu.device)
    fz = f(mu + sigma * eps).detach()[:, None]
    return (fz * eps / sigma).mean(0), (fz * eps**2).mean(0)
''', ("-1",)),
    "score_over_sigma": (SCORE_HEAD + '''
    sigma = log_sigma.exp()
    eps = torch.randn(n_samples, mu.shape[0], dtype=mu.dtype, device=mu.device)
    fz = f(mu + sigma * eps).detach()[:, None]
    return (fz * eps).mean(0), (fz * (eps**2 - 1)).mean(0)
''', ("not (z - mu) / sigma",)),
    "log_sigma_as_sigma": (SCORE_HEAD + '''
    sigma = log_sigma
    eps = torch.randn(n_samples, mu.shape[0], dtype=mu.dtype, device=mu.device)
    z = mu + sigma * eps
    fz = f(z).detach()[:, None]
    return (fz * (z - mu) / sigma**2).mean(0), (fz * ((z - mu)**2 / sigma**2 - 1)).mean(0)
''', ("log_sigma was used as sigma",)),
    "pathwise_instead": (SCORE_HEAD + '''
    mu = mu.detach().requires_grad_()
    log_sigma = log_sigma.detach().requires_grad_()
    z = mu + log_sigma.exp() * torch.randn(n_samples, mu.shape[0], dtype=mu.dtype)
    return torch.autograd.grad(f(z).mean(), (mu, log_sigma))
''', ("black box",)),
}


@pytest.mark.parametrize("case", sorted(SCORE_CASES))
def test_score_function_bugs(tmp_path: Path, case: str) -> None:
    source, concepts = SCORE_CASES[case]
    result = topic.run(tmp_path, "score_function_gradient_solution", source,
                     "reparam.score_function")
    assert_caught(result, *concepts)


def test_score_function_alternative(tmp_path: Path) -> None:
    """Autograd on log q of detached samples, with an (unbiased) leave-one-out baseline."""
    source = SCORE_HEAD + '''
    mu = mu.detach().requires_grad_()
    log_sigma = log_sigma.detach().requires_grad_()
    q = torch.distributions.Normal(mu, log_sigma.exp())
    z = q.sample((n_samples,))
    fz = f(z).detach()
    baseline = (fz.sum() - fz) / (n_samples - 1)
    surrogate = ((fz - baseline) * q.log_prob(z).sum(-1)).mean()
    return torch.autograd.grad(surrogate, (mu, log_sigma))
'''
    assert_full(topic.run(tmp_path, "score_function_gradient_solution", source,
                        "reparam.score_function"))


# ----------------------------------------------------------------- gumbel softmax
GUMBEL_CASES = {
    "no_noise": (GUMBEL_HEAD + '''
    y = torch.softmax(logits / tau, dim=-1)
''' + GUMBEL_HARD, ("noise is missing",)),
    "noise_on_probabilities": (GUMBEL_HEAD + GUMBEL_NOISE + '''
    y = torch.softmax((torch.softmax(logits, -1) + g) / tau, dim=-1)
''' + GUMBEL_HARD, ("probabilities",)),
    "exponential_noise": (GUMBEL_HEAD + '''
    u = torch.rand_like(logits).clamp_min(1e-20)
    y = torch.softmax((logits - torch.log(u)) / tau, dim=-1)
''' + GUMBEL_HARD, ("-log(-log(u))",)),
    "hard_without_straight_through": (GUMBEL_HEAD + GUMBEL_NOISE + '''
    y = torch.softmax((logits + g) / tau, dim=-1)
    if not hard:
        return y
    return torch.nn.functional.one_hot(y.argmax(-1), y.shape[-1]).to(y.dtype)
''', ("straight-through",)),
}


@pytest.mark.parametrize("case", sorted(GUMBEL_CASES))
def test_gumbel_bugs(tmp_path: Path, case: str) -> None:
    source, concepts = GUMBEL_CASES[case]
    result = topic.run(tmp_path, "gumbel_softmax_sample_solution", source,
                     "reparam.gumbel_softmax")
    assert_caught(result, *concepts)


def test_gumbel_alternative(tmp_path: Path) -> None:
    source = GUMBEL_HEAD + '''
    return torch.nn.functional.gumbel_softmax(logits, tau=tau, hard=hard, dim=-1)
'''
    assert_full(topic.run(tmp_path, "gumbel_softmax_sample_solution", source,
                        "reparam.gumbel_softmax"))
