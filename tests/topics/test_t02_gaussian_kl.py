"""Topic 02 (Gaussian KL): the reference passes, classic bugs are caught and named, and
correct implementations written differently get full marks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from autograder.paths import solution_notebook
from autograder.registry import get_task
from tests.helpers import assert_caught, assert_full, grade
from tests.in_process import assert_public_catch, assert_public_pass
from tests.topics.scaffold import TopicTests

TOPIC = "02_gaussian_kl"
topic = TopicTests(TOPIC)
public_outcomes = topic.public_outcomes

SYMPY_HEAD = '''
def kl_normal_sympy(mu1, s1, mu2, s2):
    """KL(N(mu1, s1^2) || N(mu2, s2^2))."""
'''
DIAG_HEAD = '''
def kl_diag_gaussians(mu_q, logvar_q, mu_p, logvar_p):
    """Diagonal Gaussian KL summed over the last dim."""
'''
STD_HEAD = '''
def kl_standard_normal(mu, logvar):
    """KL(q || N(0, I)) summed over the last dim."""
'''
MVN_HEAD = '''
def kl_mvn(mu0, cov0, mu1, cov1):
    """Full-covariance KL."""
'''
MC_HEAD = '''
def kl_monte_carlo(q, p, n_samples):
    """Monte Carlo KL(q || p)."""
'''
FORWARD_HEAD = '''
def fit_gaussian_forward_kl(samples):
    """Moment matching."""
'''
REVERSE_HEAD = '''
def fit_gaussian_reverse_kl(log_p, mu0, sigma0, steps, lr):
    """Reverse-KL fit."""
    mu = torch.as_tensor(mu0).clone().float().requires_grad_()
    log_sigma = torch.as_tensor(sigma0).clone().float().log().requires_grad_()
    opt = torch.optim.Adam([mu, log_sigma], lr=lr)
    for _ in range(steps):
        q = torch.distributions.Normal(mu, log_sigma.exp())
'''
REVERSE_TAIL = '''
        opt.zero_grad()
        loss.backward()
        opt.step()
    return mu.detach(), log_sigma.exp().detach()
'''


def test_reference_gets_full_marks() -> None:
    result = grade(solution_notebook(TOPIC))
    assert [t.id for t in result.tasks] == [
        "kl.sympy", "kl.diag", "kl.mvn", "kl.monte_carlo", "kl.exam_log_ratio_variance",
        "kl.fit_forward", "kl.fit_reverse", "kl.exam_mean_field"]
    for item in result.tasks:
        assert_full(item)
    assert result.score == result.max_score == 16


# ----------------------------------------------------------------------- kl.sympy
SYMPY_CASES = {
    "direction": ("    return sympy.log(s1 / s2) + (s2**2 + (mu1 - mu2)**2) / (2 * s1**2) - "
                  "sympy.Rational(1, 2)\n", ("direction",)),
    "variance": ("    return sympy.log(sympy.sqrt(s2 / s1)) + (s1 + (mu1 - mu2)**2) / (2 * s2) - "
                 "sympy.Rational(1, 2)\n", ("variance",)),
    "half": ("    return sympy.log(s2 / s1) + (s1**2 + (mu1 - mu2)**2) / s2**2 - 1\n", ("1/2",)),
}


@pytest.mark.parametrize("bug", sorted(SYMPY_CASES))
def test_sympy_bugs_are_caught(tmp_path: Path, bug: str) -> None:
    body, concepts = SYMPY_CASES[bug]
    result = topic.run(tmp_path, "kl_normal_sympy_solution", SYMPY_HEAD + body, "kl.sympy")
    assert_caught(result, *concepts)


def test_sympy_written_with_log_differences_passes(tmp_path: Path) -> None:
    body = ("    d = mu1 - mu2\n"
            "    return sympy.log(s2) - sympy.log(s1) + s1**2 / (2 * s2**2) + d**2 / (2 * s2**2)"
            " - sympy.S.Half\n")
    assert_full(topic.run(tmp_path, "kl_normal_sympy_solution", SYMPY_HEAD + body, "kl.sympy"))


# ------------------------------------------------------------------------ kl.diag
DIAG_CASES = {
    "mean over dims": ("    return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p)**2)"
                       " / logvar_p.exp() - 1).mean(-1)\n", ("mean",)),
    "log-std": ("    return (logvar_p - logvar_q + 0.5 * ((2 * logvar_q).exp() + (mu_q - mu_p)**2)"
                " / (2 * logvar_p).exp() - 0.5).sum(-1)\n", ("log standard deviation",)),
    "direction": ("    return 0.5 * (logvar_q - logvar_p + (logvar_p.exp() + (mu_q - mu_p)**2)"
                  " / logvar_q.exp() - 1).sum(-1)\n", ("direction",)),
}


@pytest.mark.parametrize("bug", sorted(DIAG_CASES))
def test_diag_bugs_are_caught(tmp_path: Path, bug: str) -> None:
    body, concepts = DIAG_CASES[bug]
    result = topic.run(tmp_path, "kl_diag_gaussians_solution", DIAG_HEAD + body, "kl.diag")
    assert_caught(result, *concepts)


def test_diag_via_torch_distributions_passes(tmp_path: Path) -> None:
    body = ("    N = torch.distributions.Normal\n"
            "    q = N(mu_q, torch.exp(0.5 * logvar_q))\n"
            "    p = N(mu_p, torch.exp(0.5 * logvar_p))\n"
            "    return torch.distributions.kl_divergence(q, p).sum(dim=-1)\n")
    assert_full(topic.run(tmp_path, "kl_diag_gaussians_solution", DIAG_HEAD + body, "kl.diag"))


# ----------------------------------- kl.diag, part 2: kl_standard_normal (graded with it)
STD_CASES = {
    "half": ("    return (mu**2 + logvar.exp() - 1 - logvar).sum(-1)\n", ("1/2",)),
    "std as variance": ("    return 0.5 * (mu**2 + (0.5 * logvar).exp() - 1 - 0.5 * logvar)"
                        ".sum(-1)\n", ("variance",)),
}


@pytest.mark.parametrize("bug", sorted(STD_CASES))
def test_standard_normal_bugs_are_caught(tmp_path: Path, bug: str) -> None:
    body, concepts = STD_CASES[bug]
    result = topic.run(tmp_path, "kl_standard_normal_solution", STD_HEAD + body, "kl.diag")
    assert_caught(result, *concepts)


def test_standard_normal_reusing_the_diagonal_kl_passes(tmp_path: Path) -> None:
    body = ("    zeros = torch.zeros_like(mu)\n"
            "    return kl_diag_gaussians(mu, logvar, zeros, zeros)\n")
    assert_full(topic.run(tmp_path, "kl_standard_normal_solution", STD_HEAD + body, "kl.diag"))


# ------------------------------------------------------------------------- kl.mvn
MVN_NAIVE = '''
    inv = torch.inverse(cov1)
    d = (mu1 - mu0).unsqueeze(-1)
    tr = torch.diagonal(inv @ cov0, dim1=-2, dim2=-1).sum(-1)
    maha = (d.transpose(-1, -2) @ inv @ d)[..., 0, 0]
    D = mu0.shape[-1]
'''
MVN_CASES = {
    "log det": (MVN_NAIVE + "    return 0.5 * (tr + maha - D + torch.log(torch.det(cov1) / "
                "torch.det(cov0)))\n", ("cholesky",)),
    "direction": ("    return torch.distributions.kl_divergence(\n"
                  "        torch.distributions.MultivariateNormal(mu1, cov1),\n"
                  "        torch.distributions.MultivariateNormal(mu0, cov0))\n", ("direction",)),
    "half": (MVN_NAIVE + "    return tr + maha - D + torch.logdet(cov1) - torch.logdet(cov0)\n",
             ("1/2",)),
}


@pytest.mark.parametrize("bug", sorted(MVN_CASES))
def test_mvn_bugs_are_caught(tmp_path: Path, bug: str) -> None:
    body, concepts = MVN_CASES[bug]
    assert_caught(topic.run(tmp_path, "kl_mvn_solution", MVN_HEAD + body, "kl.mvn"), *concepts)


def test_mvn_with_solve_and_slogdet_passes(tmp_path: Path) -> None:
    body = ('''
    d = (mu1 - mu0).unsqueeze(-1)
    tr = torch.linalg.solve(cov1, cov0).diagonal(dim1=-2, dim2=-1).sum(-1)
    maha = (d * torch.linalg.solve(cov1, d)).sum((-2, -1))
    logdet = torch.linalg.slogdet(cov1)[1] - torch.linalg.slogdet(cov0)[1]
    return 0.5 * (tr + maha - mu0.shape[-1] + logdet)
''')
    assert_full(topic.run(tmp_path, "kl_mvn_solution", MVN_HEAD + body, "kl.mvn"))


# ----------------------------------------------------------------- kl.monte_carlo
MC_CASES = {
    "sign": ("    x = q.rsample((n_samples,))\n"
             "    return (p.log_prob(x) - q.log_prob(x)).mean(0)\n", ("sign",)),
    "direction": ("    x = p.sample((n_samples,))\n"
                  "    return (p.log_prob(x) - q.log_prob(x)).mean(0)\n", ("KL(p || q)",)),
    "sum": ("    x = q.rsample((n_samples,))\n"
            "    return (q.log_prob(x) - p.log_prob(x)).sum(0)\n", ("summed",)),
    "closed form": ("    return torch.distributions.kl_divergence(q, p)\n", ("closed form",)),
}


@pytest.mark.parametrize("bug", sorted(MC_CASES))
def test_monte_carlo_bugs_are_caught(tmp_path: Path, bug: str) -> None:
    body, concepts = MC_CASES[bug]
    result = topic.run(tmp_path, "kl_monte_carlo_solution", MC_HEAD + body, "kl.monte_carlo")
    assert_caught(result, *concepts)


def test_monte_carlo_in_chunks_with_sample_passes(tmp_path: Path) -> None:
    body = ('''
    total, done = 0.0, 0
    while done < n_samples:
        k = min(1000, n_samples - done)
        x = q.sample(torch.Size([k]))
        total = total + (q.log_prob(x) - p.log_prob(x)).sum(dim=0)
        done += k
    return total / n_samples
''')
    assert_full(topic.run(tmp_path, "kl_monte_carlo_solution", MC_HEAD + body, "kl.monte_carlo"))


# ----------------------------------------------------------------- kl.fit_forward
FORWARD_CASES = {
    "variance": ("    return samples.mean(0), samples.var(0)\n", ("variance",)),
    "all dims": ("    return samples.mean(), samples.std()\n", ("first dimension", "shape")),
}


@pytest.mark.parametrize("bug", sorted(FORWARD_CASES))
def test_forward_bugs_are_caught(tmp_path: Path, bug: str) -> None:
    body, concepts = FORWARD_CASES[bug]
    result = topic.run(tmp_path, "fit_gaussian_forward_kl_solution", FORWARD_HEAD + body,
                     "kl.fit_forward")
    assert_caught(result, *concepts)


def test_forward_with_unbiased_std_passes(tmp_path: Path) -> None:
    body = ("    m = samples.mean(dim=0)\n"
            "    n = samples.shape[0]\n"
            "    return m, torch.sqrt(((samples - m) ** 2).sum(dim=0) / (n - 1))\n")
    assert_full(topic.run(tmp_path, "fit_gaussian_forward_kl_solution", FORWARD_HEAD + body,
                        "kl.fit_forward"))


# ----------------------------------------------------------------- kl.fit_reverse
REVERSE_CASES = {
    "sample": ("        x = q.sample((256,))\n"
               "        loss = (q.log_prob(x) - log_p(x)).mean()\n", ("rsample",)),
    "no entropy": ("        x = q.rsample((256,))\n"
                   "        loss = -log_p(x).mean()\n", ("entropy",)),
    "ascent": ("        x = q.rsample((256,))\n"
               "        loss = (log_p(x) - q.log_prob(x)).mean()\n", ("maximising",)),
}


@pytest.mark.parametrize("bug", sorted(REVERSE_CASES))
def test_reverse_bugs_are_caught(tmp_path: Path, bug: str) -> None:
    body, concepts = REVERSE_CASES[bug]
    result = topic.run(tmp_path, "fit_gaussian_reverse_kl_solution",
                     REVERSE_HEAD + body + REVERSE_TAIL, "kl.fit_reverse")
    assert_caught(result, *concepts)


def test_reverse_with_plain_sgd_and_softplus_passes(tmp_path: Path) -> None:
    source = '''
def fit_gaussian_reverse_kl(log_p, mu0, sigma0, steps, lr):
    """Plain gradient descent on (mu, softplus^-1(sigma)), 100 samples, entropy in closed form."""
    mu = torch.as_tensor(mu0, dtype=torch.float32).clone().requires_grad_()
    raw = torch.log(torch.expm1(torch.as_tensor(sigma0, dtype=torch.float32))).requires_grad_()
    for _ in range(steps):
        sigma = torch.nn.functional.softplus(raw)
        x = mu + sigma * torch.randn(100, device=mu.device)
        loss = -torch.log(sigma) - log_p(x).mean()
        g_mu, g_raw = torch.autograd.grad(loss, [mu, raw])
        with torch.no_grad():
            mu -= lr * g_mu
            raw -= lr * g_raw
    return float(mu), float(torch.nn.functional.softplus(raw))
'''
    assert_full(topic.run(tmp_path, "fit_gaussian_reverse_kl_solution", source, "kl.fit_reverse"))


def test_unsimplified_sympy_answers_with_constants_are_read_back() -> None:
    """Constants (pi, E, oo) and sets travel in the structural encoding and come back equal."""
    import sympy

    from autograder.sympy_tree import encode, rebuild

    s = sympy.Symbol("s", positive=True)
    expr = sympy.log(sympy.sqrt(2 * sympy.pi) * s) + sympy.exp(-s) * sympy.E + sympy.erf(s)
    assert rebuild(encode(expr)) == expr
    assert rebuild(encode(sympy.Interval(-sympy.oo, sympy.oo))) == sympy.S.Reals


# ------------------------------------------------------------ public checks (student kit)
# They run without grader-only code: hand-worked values and properties of the KL.
PUBLIC_TASKS = {"kl.sympy": ("kl_normal_sympy_solution", SYMPY_HEAD),
                "kl.diag": ("kl_diag_gaussians_solution", DIAG_HEAD),
                "kl.mvn": ("kl_mvn_solution", MVN_HEAD),
                "kl.monte_carlo": ("kl_monte_carlo_solution", MC_HEAD)}
STD_CELL = ("kl_standard_normal_solution", STD_HEAD)
"""kl.diag's second cell: a bug listed under "kl.diag:std" is put there."""


@pytest.mark.parametrize("task_id", sorted(PUBLIC_TASKS))
def test_public_checks_pass_the_reference_and_refuse_the_stub(task_id: str) -> None:
    assert_public_pass(public_outcomes(task_id))
    stub = public_outcomes(task_id, exercise=True)
    assert {status for status, _ in stub.values()} == {"missing"}, stub


PUBLIC_BUGS = [
    *[("kl.sympy", body, concepts) for body, concepts in SYMPY_CASES.values()],
    ("kl.sympy", "    return -(sympy.log(s2 / s1) + (s1**2 + (mu1 - mu2)**2) / (2 * s2**2) - "
                 "sympy.Rational(1, 2))\n", ("sign",)),
    *[("kl.diag:std", body, concepts) for body, concepts in STD_CASES.values()],
    *[("kl.diag", body, concepts) for body, concepts in DIAG_CASES.values()],
    ("kl.diag", "    return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p)**2)"
                " / logvar_p.exp()).sum(-1)\n", ("'- 1'",)),
    ("kl.diag", "    vq, vp = torch.exp(0.5 * logvar_q), torch.exp(0.5 * logvar_p)  # std\n"
                "    d2 = (mu_q - mu_p) ** 2\n"
                "    return 0.5 * (vp.log() - vq.log() + (vq + d2) / vp - 1).sum(-1)\n",
     ("variance/std",)),
    *[("kl.mvn", body, concepts) for body, concepts in MVN_CASES.values()],
    *[("kl.monte_carlo", body, concepts) for body, concepts in MC_CASES.values()],
]


@pytest.mark.parametrize("task_id,body,concepts", PUBLIC_BUGS,
                         ids=[f"{b[0]}-{i}" for i, b in enumerate(PUBLIC_BUGS)])
def test_public_checks_name_realistic_bugs(task_id: str, body: str, concepts: tuple[str, ...]
                                           ) -> None:
    task_id, _, part = task_id.partition(":")
    grade_id, head = STD_CELL if part else PUBLIC_TASKS[task_id]
    assert_public_catch(public_outcomes(task_id, {grade_id: head + body}), *concepts)


def test_public_diag_properties_need_no_closed_form() -> None:
    """A KL that is right on the hand-worked example can still fail the properties check:
    here the last dimension is dropped, which only the sum over dimensions reveals."""
    body = ("    ratio = (logvar_q.exp() + (mu_q - mu_p) ** 2) / logvar_p.exp()\n"
            "    terms = 0.5 * (logvar_p - logvar_q + ratio - 1.0)\n"
            "    return terms[..., :2].sum(-1)\n")
    outcomes = public_outcomes("kl.diag", {"kl_diag_gaussians_solution": DIAG_HEAD + body})
    assert [status for status, _ in outcomes.values()] == ["passed", "failed", "passed",
                                                           "passed"], outcomes
    assert "sum of the 5 one-dimensional KLs" in outcomes["properties"][1]


def test_hand_worked_values_agree_with_the_grader_closed_forms() -> None:
    """The public judges' hand-computed KLs, bug values and Monte Carlo variances are the
    trusted formulas' on the same inputs."""
    from autograder.checks.api import CheckFailed, Judgement
    from autograder.topics.t02_gaussian_kl import hidden, inputs, probes, public
    from autograder.trusted.gaussian_kl import diag_kl, mvn_kl

    def judged(judge, inputs, got) -> str:
        try:
            judge(Judgement(inputs, got, None, False, "cpu"))
        except CheckFailed as exc:
            return str(exc)
        return "passed"

    diag = inputs.diag_mock()
    args = probes.diag_args(diag)
    assert judged(public.judge_diag_mock, diag, diag_kl(*args).sum(-1)) == "passed"
    for concept, wrong in hidden.diag_hints(*args).items():
        if not torch.allclose(wrong, diag_kl(*args).sum(-1)):
            assert concept in judged(public.judge_diag_mock, diag, wrong), concept
    mvn = inputs.mvn_mock()
    assert judged(public.judge_mvn_mock, mvn, mvn_kl(*probes.mvn_args(mvn))) == "passed"
    for concept, wrong in hidden.mvn_hints(*probes.mvn_args(mvn)).items():
        assert concept in judged(public.judge_mvn_mock, mvn, wrong), concept
    torch.manual_seed(0)
    scaled = inputs.mvn_scaled()
    exact = mvn_kl(*probes.mvn_args(scaled)).float()
    judge_scaled = get_task("kl.mvn").check("scaled").judge  # with its tolerances
    assert judged(judge_scaled, scaled, (exact, torch.zeros(3))) == "passed"
    stats = hidden.log_ratio_stats(inputs.mc_normal_inputs())
    for hand, trusted in zip(public.mc_normal_exact(), stats, strict=True):
        assert torch.allclose(hand, trusted)
