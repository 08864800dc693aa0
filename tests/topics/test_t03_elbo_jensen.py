"""Topic 03 (ELBO and Jensen): the reference passes, classic bugs fail with a named concept,
and correct answers written differently pass."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from autograder.paths import solution_notebook
from tests.helpers import assert_caught, assert_full, grade
from tests.in_process import assert_public_catch, assert_public_pass
from tests.topics.scaffold import TopicTests

TOPIC = "03_elbo_jensen"
topic = TopicTests(TOPIC)
edit = topic.edit
run = topic.run

LME = "log_mean_exp_solution"
MC = "elbo_mc_solution"
ELBO = "ppca_elbo_solution"
GAP = "elbo_gap_solution"

def test_reference_gets_full_marks() -> None:
    result = grade(solution_notebook(TOPIC))
    assert [t.id for t in result.tasks] == ["elbo.log_mean_exp", "elbo.mc", "elbo.ppca",
                                            "elbo.gap", "elbo.exam_gap_1d",
                                            "elbo.exam_mean_field_gap"]
    for item in result.tasks:
        assert_full(item)


# ------------------------------------------------------------------ log_mean_exp


@pytest.mark.parametrize("source", [
    "def log_mean_exp(a, dim):\n    return torch.logsumexp(a, dim) - math.log(a.shape[dim])\n",
    "def log_mean_exp(a, dim):\n"
    "    m = a.max(dim, keepdim=True).values.detach()\n"
    "    return torch.log(torch.sum(torch.exp(a - m), dim) / a.size(dim)) + m.squeeze(dim)\n",
])
def test_log_mean_exp_alternatives_pass(tmp_path: Path, source: str) -> None:
    assert_full(run(tmp_path, LME, source, "elbo.log_mean_exp"))


def test_log_mean_exp_naive_is_unstable(tmp_path: Path) -> None:
    result = run(tmp_path, LME, "def log_mean_exp(a, dim):\n    return a.exp().mean(dim).log()\n",
                 "elbo.log_mean_exp")
    assert_caught(result, "log-sum-exp")
    assert "overflow" in result.message


def test_log_mean_exp_sum_instead_of_mean(tmp_path: Path) -> None:
    result = run(tmp_path, LME, "def log_mean_exp(a, dim):\n    return torch.logsumexp(a, dim)\n",
                 "elbo.log_mean_exp")
    assert_caught(result, "log n")


def test_log_mean_exp_mean_of_logs(tmp_path: Path) -> None:
    result = run(tmp_path, LME, "def log_mean_exp(a, dim):\n    return a.mean(dim)\n",
                 "elbo.log_mean_exp")
    assert_caught(result, "jensen")


# ------------------------------------------------------------------ elbo_mc


# exact entropy instead of -log q(z): a lower-variance estimator of the same ELBO
MC_EXACT_ENTROPY = ("def elbo_mc(x, log_joint, q, n_samples):\n"
                    "    z = q.rsample(torch.Size([n_samples]))\n"
                    "    return log_joint(x, z).mean(dim=0) + q.entropy()\n")


@pytest.mark.parametrize("source", [
    MC_EXACT_ENTROPY,
    # chunked over samples, with log q at detached samples (a different, unbiased gradient)
    "def elbo_mc(x, log_joint, q, n_samples):\n"
    "    z = q.rsample((n_samples,))\n"
    "    total = 0.0\n"
    "    for chunk in z.split(1000):\n"
    "        total = total + (log_joint(x, chunk) - q.log_prob(chunk.detach())).sum(0)\n"
    "    return total / n_samples\n",
])
def test_elbo_mc_alternatives_pass(tmp_path: Path, source: str) -> None:
    assert_full(run(tmp_path, MC, source, "elbo.mc"))


def test_elbo_mc_sample_blocks_gradients(tmp_path: Path) -> None:
    source = edit(MC, ("q.rsample", "q.sample"))
    assert_caught(run(tmp_path, MC, source, "elbo.mc"), "rsample")


def test_elbo_mc_missing_log_q(tmp_path: Path) -> None:
    source = ("def elbo_mc(x, log_joint, q, n_samples):\n"
              "    z = q.rsample((n_samples,))\n"
              "    return log_joint(x, z).mean(0)\n")
    assert_caught(run(tmp_path, MC, source, "elbo.mc"), "entropy")


def test_elbo_mc_sums_samples(tmp_path: Path) -> None:
    source = edit(MC, (".mean(0)", ".sum(0)"))
    assert_caught(run(tmp_path, MC, source, "elbo.mc"), "summed")


def test_elbo_mc_averages_batch(tmp_path: Path) -> None:
    source = edit(MC, (".mean(0)", ".mean()"))
    assert_caught(run(tmp_path, MC, source, "elbo.mc"), "shape")


# ------------------------------------------------------------------ ppca_elbo


ELBO_VIA_KL = '''
def ppca_elbo(x, W, b, sigma2, q_mean, q_cov):
    p_mean, p_cov = ppca_posterior(x, W, b, sigma2)
    q = torch.distributions.MultivariateNormal(q_mean, covariance_matrix=q_cov)
    p = torch.distributions.MultivariateNormal(p_mean, covariance_matrix=p_cov)
    return ppca_log_marginal(x, W, b, sigma2) - torch.distributions.kl_divergence(q, p)
'''
ELBO_SIGMA2_AS_STD = edit(ELBO, (
    "s2 = torch.as_tensor(sigma2, dtype=W.dtype, device=W.device)",
    "s2 = torch.as_tensor(sigma2, dtype=W.dtype, device=W.device) ** 2"))


def test_ppca_elbo_alternative_passes(tmp_path: Path) -> None:
    assert_full(run(tmp_path, ELBO, ELBO_VIA_KL, "elbo.ppca"))


def test_ppca_elbo_missing_trace(tmp_path: Path) -> None:
    source = edit(ELBO, (" + torch.trace(W.T @ W @ q_cov)", ""))
    assert_caught(run(tmp_path, ELBO, source, "elbo.ppca"), "tr(WᵀW")


def test_ppca_elbo_missing_entropy(tmp_path: Path) -> None:
    source = edit(ELBO, ("recon + prior + entropy", "recon + prior"))
    assert_caught(run(tmp_path, ELBO, source, "elbo.ppca"), "entropy")


def test_ppca_elbo_sigma2_as_std(tmp_path: Path) -> None:
    assert_caught(run(tmp_path, ELBO, ELBO_SIGMA2_AS_STD, "elbo.ppca"), "variance/std")


# ------------------------------------------------------------------ elbo_gap


GAP_VIA_ELBO = ("def elbo_gap(x, W, b, sigma2, q_mean, q_cov):\n"
                "    return ppca_log_marginal(x, W, b, sigma2) - "
                "ppca_elbo(x, W, b, sigma2, q_mean, q_cov)\n")
GAP_REVERSED = ("def elbo_gap(x, W, b, sigma2, q_mean, q_cov):\n"
                "    p_mean, p_cov = ppca_posterior(x, W, b, sigma2)\n"
                "    q = torch.distributions.MultivariateNormal(q_mean, covariance_matrix=q_cov)\n"
                "    p = torch.distributions.MultivariateNormal(p_mean, covariance_matrix=p_cov)\n"
                "    return torch.distributions.kl_divergence(p, q)\n")
GAP_NEGATED = ("def elbo_gap(x, W, b, sigma2, q_mean, q_cov):\n"
               "    return ppca_elbo(x, W, b, sigma2, q_mean, q_cov) - "
               "ppca_log_marginal(x, W, b, sigma2)\n")


@pytest.mark.parametrize("source", [
    GAP_VIA_ELBO,
    "def elbo_gap(x, W, b, sigma2, q_mean, q_cov):\n"
    "    p_mean, p_cov = ppca_posterior(x, W, b, sigma2)\n"
    "    q = torch.distributions.MultivariateNormal(q_mean, covariance_matrix=q_cov)\n"
    "    p = torch.distributions.MultivariateNormal(p_mean, covariance_matrix=p_cov)\n"
    "    return torch.distributions.kl_divergence(q, p)\n",
])
def test_elbo_gap_alternatives_pass(tmp_path: Path, source: str) -> None:
    assert_full(run(tmp_path, GAP, source, "elbo.gap"))


def test_elbo_gap_wrong_direction(tmp_path: Path) -> None:
    assert_caught(run(tmp_path, GAP, GAP_REVERSED, "elbo.gap"), "direction")


def test_elbo_gap_wrong_sign(tmp_path: Path) -> None:
    assert_caught(run(tmp_path, GAP, GAP_NEGATED, "elbo.gap"), "sign")


# ------------------------------------------------------------ public checks (student kit)
# They run without grader-only code: the 1-D model and the mock exam are worked by hand.
TASK_CELL = {"elbo.log_mean_exp": LME, "elbo.mc": MC, "elbo.ppca": ELBO, "elbo.gap": GAP}


@pytest.mark.parametrize("task_id", sorted(TASK_CELL))
def test_public_checks_pass_the_reference_and_refuse_the_stub(task_id: str) -> None:
    assert_public_pass(topic.public_outcomes(task_id))
    stub = topic.public_outcomes(task_id, exercise=True)
    assert {status for status, _ in stub.values()} == {"missing"}, stub


PUBLIC_BUGS = [
    ("elbo.log_mean_exp", "def log_mean_exp(a, dim):\n    return a.exp().mean(dim).log()\n",
     "overflow"),
    ("elbo.log_mean_exp", "def log_mean_exp(a, dim):\n    return torch.logsumexp(a, dim)\n",
     "log n"),
    ("elbo.log_mean_exp", "def log_mean_exp(a, dim):\n    return a.mean(dim)\n", "jensen"),
    ("elbo.mc", edit(MC, (" - q.log_prob(z)", "")), "entropy of q is lost"),
    ("elbo.mc", edit(MC, (" - q.log_prob(z)", " + q.log_prob(z)")), "sign of the entropy"),
    ("elbo.mc", edit(MC, (".mean(0)", ".sum(0)")), "summed"),
    ("elbo.mc", edit(MC, ("q.rsample", "q.sample")), "rsample"),
    ("elbo.ppca", edit(ELBO, (" + torch.trace(W.T @ W @ q_cov)", "")), "tr(WᵀW"),
    ("elbo.ppca", edit(ELBO, ("recon + prior + entropy", "recon + prior")), "entropy"),
    ("elbo.ppca", ELBO_SIGMA2_AS_STD, "variance/std"),
    ("elbo.gap", edit(GAP, ("diff = p_mean - q_mean", "diff = 2 * (p_mean - q_mean)")), "gap"),
    ("elbo.gap", GAP_NEGATED, "sign"),
    ("elbo.gap", GAP_REVERSED, "direction"),
]


@pytest.mark.parametrize("task_id,source,concept", PUBLIC_BUGS,
                         ids=[f"{b[0]}-{i}" for i, b in enumerate(PUBLIC_BUGS)])
def test_public_checks_name_realistic_bugs(task_id: str, source: str, concept: str) -> None:
    assert_public_catch(topic.public_outcomes(task_id, {TASK_CELL[task_id]: source}), concept)


@pytest.mark.parametrize("task_id,source", [
    ("elbo.mc", MC_EXACT_ENTROPY),
    ("elbo.mc", "def elbo_mc(x, log_joint, q, n_samples):\n"
                "    z = q.rsample((n_samples,))\n"
                "    return (log_joint(x, z) - q.log_prob(z.detach())).mean(0)\n"),
    ("elbo.ppca", ELBO_VIA_KL),
    ("elbo.gap", GAP_VIA_ELBO),
])
def test_public_checks_accept_answers_written_differently(task_id: str, source: str) -> None:
    assert_public_pass(topic.public_outcomes(task_id, {TASK_CELL[task_id]: source}))


def test_hand_worked_mock_values_agree_with_the_grader_closed_forms() -> None:
    """The public judges' hand-computed ELBO, gap and bug values are the trusted formulas'."""
    from autograder.checks.api import CheckFailed, Judgement
    from autograder.registry import get_task
    from autograder.topics.t03_elbo_jensen import hidden, public
    from autograder.topics.t03_elbo_jensen import inputs as builders
    from autograder.trusted.ppca import Ppca

    inputs = builders.mock_exam()
    model = Ppca.of(inputs)
    x, mu, cov = inputs["x"], inputs["q_mean"], inputs["q_cov"]
    post_mean, post_cov = model.posterior(x)
    mock = builders.mock_with_posterior()
    assert torch.allclose(mock["post_mean"], post_mean) and torch.allclose(mock["post_cov"],
                                                                           post_cov)
    public.judge_elbo_mock(Judgement(inputs, model.elbo(x, mu, cov), None, False, "cpu"))
    for concept, wrong in hidden.elbo_hints(model, x, mu, cov).items():
        with pytest.raises(CheckFailed, match="Likely cause") as caught:
            public.judge_elbo_mock(Judgement(inputs, wrong, None, False, "cpu"))
        assert concept in str(caught.value)
    gap = model.kl_to_posterior(x, mu, cov)
    judge_gap_mock = get_task("elbo.gap").check("mock").judge  # with its tolerance
    judge_gap_mock(Judgement(mock, (torch.zeros(3, dtype=torch.float64), gap), None, False,
                                 "cpu"))
    for concept, wrong in hidden.gap_hints(model, x, mu, cov).items():
        with pytest.raises(CheckFailed) as caught:
            judge_gap_mock(Judgement(mock, (torch.zeros(3, dtype=torch.float64), wrong),
                                         None, False, "cpu"))
        assert concept in str(caught.value)
