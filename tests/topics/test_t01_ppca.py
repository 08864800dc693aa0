"""Topic 01 (PPCA): each task passes correct variants and catches realistic bugs."""

from __future__ import annotations

import pytest

from tests.topics.scaffold import TopicTests

TOPIC = "01_ppca"
topic = TopicTests(TOPIC)
run = topic.run


# ------------------------------------------------------------------ accepted variants
VARIANTS = {
    "ppca.marginal": ("ppca_marginal_solution", '''
def ppca_marginal(W, b, sigma2):
    cov = torch.einsum("dm,em->de", W, W)
    cov = cov + torch.diag(torch.full((W.shape[0],), float(sigma2), dtype=W.dtype,
                                      device=W.device))
    return b * 1.0, cov
'''),
    "ppca.posterior": ("ppca_posterior_solution", '''
def ppca_posterior(x, W, b, sigma2):
    # Via the Woodbury-free covariance form: Sigma = (I + W^T W / s2)^-1
    s2 = float(sigma2)
    prec = torch.eye(W.shape[1], dtype=W.dtype, device=W.device) + W.T @ W / s2
    L = torch.linalg.cholesky(prec)
    cov = torch.cholesky_inverse(L)
    mean = (x - b) @ W @ cov / s2
    return mean, cov
'''),
    "ppca.log_marginal": ("ppca_log_marginal_solution", '''
def ppca_log_marginal(x, W, b, sigma2):
    D = W.shape[0]
    C = W @ W.T + float(sigma2) * torch.eye(D, dtype=W.dtype, device=W.device)
    L = torch.linalg.cholesky(C)
    r = torch.linalg.solve_triangular(L, (x - b).T, upper=False)
    return (-0.5 * D * math.log(2 * math.pi) - torch.log(torch.diagonal(L)).sum()
            - 0.5 * (r ** 2).sum(0))
'''),
    "ppca.sample": ("ppca_sample_solution", '''
def ppca_sample(n, W, b, sigma2):
    # noise first, then latents: a different draw order from the reference
    D, M = W.shape
    eps = torch.randn(n, D, dtype=W.dtype, device=W.device)
    z = torch.randn(M, n, dtype=W.dtype, device=W.device).T
    return b + (W @ z.T).T + eps * float(sigma2) ** 0.5
'''),
    "ppca.marginal_sympy": ("ppca_marginal_sympy_solution", '''
def ppca_marginal_sympy(W, b, sigma2):
    from sympy.stats import E, Normal
    W, b = sympy.Matrix(W), sympy.Matrix(b)
    D, M = W.shape
    z = sympy.Matrix([Normal(f"z{i}", 0, 1) for i in range(M)])
    e = sympy.Matrix([Normal(f"e{i}", 0, 1) for i in range(D)])
    x = W * z + b.reshape(D, 1) + sympy.sqrt(sigma2) * e
    mean = x.applyfunc(lambda v: sympy.simplify(E(v)))
    c = x - mean
    cov = (c * c.T).applyfunc(lambda v: sympy.simplify(E(sympy.expand(v))))
    return mean, cov
'''),
    "ppca.mle": ("ppca_mle_solution", '''
def ppca_mle(X, M):
    # via the SVD of the centred data, and a random rotation R
    N, D = X.shape
    b = X.mean(0)
    U, S, Vh = torch.linalg.svd(X - b, full_matrices=False)
    lam = S ** 2 / N
    sigma2 = (lam[M:].sum() / (D - M)).item()
    R = torch.linalg.qr(torch.randn(M, M, dtype=X.dtype))[0]
    W = Vh[:M].T * (lam[:M] - sigma2).sqrt() @ R
    return W, b, sigma2
'''),
}


@pytest.mark.parametrize("task_id", sorted(VARIANTS))
def test_correct_variant_gets_full_marks(tmp_path, task_id):
    grade_id, source = VARIANTS[task_id]
    result = run(tmp_path, grade_id, source, task_id)
    assert result.status == "passed", result.message
    assert result.points == result.max_points


def test_float64_and_tensor_sigma2_accepted_for_sampling(tmp_path):
    source = '''
def ppca_sample(n, W, b, sigma2):
    z = torch.randn(n, W.shape[1], dtype=torch.float64, device=W.device)
    x = z @ W.double().T + b.double()
    x = x + torch.randn_like(x) * torch.as_tensor(sigma2, dtype=torch.float64).sqrt()
    return x.to(W.dtype)
'''
    result = run(tmp_path, "ppca_sample_solution", source, "ppca.sample")
    assert result.status == "passed", result.message


# ---------------------------------------------------------------------- caught bugs
BUGS = [
    ("ppca.marginal", "ppca_marginal_solution", '''
def ppca_marginal(W, b, sigma2):
    return b, W @ W.T + sigma2 ** 2 * torch.eye(W.shape[0], dtype=W.dtype)
''', "standard deviation"),
    ("ppca.marginal", "ppca_marginal_solution", '''
def ppca_marginal(W, b, sigma2):
    return b, W.T @ W + sigma2 * torch.eye(W.shape[1], dtype=W.dtype)
''', "shape"),
    ("ppca.marginal", "ppca_marginal_solution", '''
def ppca_marginal(W, b, sigma2):
    return b, W @ W.T
''', "noise"),
    ("ppca.posterior", "ppca_posterior_solution", '''
def ppca_posterior(x, W, b, sigma2):
    M = W.T @ W + sigma2 * torch.eye(W.shape[1], dtype=W.dtype)
    return torch.linalg.solve(M, W.T @ (x - b).T).T, torch.linalg.inv(M)
''', "sigma2"),
    ("ppca.posterior", "ppca_posterior_solution", '''
def ppca_posterior(x, W, b, sigma2):
    M = W.T @ W + sigma2 * torch.eye(W.shape[1], dtype=W.dtype)
    return torch.linalg.solve(M, W.T @ x.T).T, sigma2 * torch.linalg.inv(M)
''', "b was not subtracted"),
    ("ppca.log_marginal", "ppca_log_marginal_solution", '''
def ppca_log_marginal(x, W, b, sigma2):
    mean, cov = ppca_marginal(W, b, sigma2)
    L = torch.linalg.cholesky(cov)
    r = torch.linalg.solve_triangular(L, (x - mean).T, upper=False)
    return -torch.log(torch.diagonal(L)).sum() - 0.5 * (r ** 2).sum(0)
''', "normalising constant"),
    ("ppca.log_marginal", "ppca_log_marginal_solution", '''
def ppca_log_marginal(x, W, b, sigma2):
    mean, cov = ppca_marginal(W, b, sigma2)
    d = torch.distributions.Normal(mean, cov.diagonal().sqrt())
    return d.log_prob(x).sum(-1)
''', "log p(x)"),
    ("ppca.sample", "ppca_sample_solution", '''
def ppca_sample(n, W, b, sigma2):
    z = torch.randn(n, W.shape[1], dtype=W.dtype)
    return z @ W.T + b + sigma2 * torch.randn(n, W.shape[0], dtype=W.dtype)
''', "sqrt(sigma2)"),
    ("ppca.sample", "ppca_sample_solution", '''
def ppca_sample(n, W, b, sigma2):
    return torch.randn(n, W.shape[1], dtype=W.dtype) @ W.T + b
''', "noise"),
    ("ppca.sample", "ppca_sample_solution", '''
def ppca_sample(n, W, b, sigma2):
    import numpy as np
    z = torch.from_numpy(np.random.default_rng().standard_normal((n, W.shape[1]))).to(W.dtype)
    return z @ W.T + b + sigma2 ** 0.5 * torch.randn(n, W.shape[0], dtype=W.dtype)
''', "global generator"),
    ("ppca.marginal_sympy", "ppca_marginal_sympy_solution", '''
def ppca_marginal_sympy(W, b, sigma2):
    W, b = sympy.Matrix(W), sympy.Matrix(b)
    return b, W * W.T + sigma2 ** 2 * sympy.eye(W.shape[0])
''', "standard deviation"),
    ("ppca.marginal_sympy", "ppca_marginal_sympy_solution", '''
def ppca_marginal_sympy(W, b, sigma2):
    W, b = sympy.Matrix(W), sympy.Matrix(b)
    return b, W.T * W + sigma2 * sympy.eye(W.shape[1])
''', "shape"),
    ("ppca.mle", "ppca_mle_solution", '''
def ppca_mle(X, M):
    N, D = X.shape
    b = X.mean(0)
    S = torch.cov(X.T)  # 1/(N-1)
    lam, U = torch.linalg.eigh(S)
    lam, U = lam.flip(0), U.flip(1)
    sigma2 = lam[M:].mean()
    return U[:, :M] * (lam[:M] - sigma2).sqrt(), b, sigma2
''', "1/(N-1)"),
    ("ppca.mle", "ppca_mle_solution", '''
def ppca_mle(X, M):
    N, D = X.shape
    b = X.mean(0)
    lam, U = torch.linalg.eigh((X - b).T @ (X - b) / N)
    lam, U = lam.flip(0), U.flip(1)
    return U[:, :M] * lam[:M].sqrt(), b, lam[M:].mean()  # plain PCA scaling
''', "eigenvalues"),
]


@pytest.mark.parametrize("task_id,grade_id,source,concept", BUGS,
                         ids=[f"{b[0]}-{i}" for i, b in enumerate(BUGS)])
def test_realistic_bug_is_caught_and_named(tmp_path, task_id, grade_id, source, concept):
    result = run(tmp_path, grade_id, source, task_id)
    assert result.status == "failed", (result.status, result.message)
    assert result.points < result.max_points
    assert concept in result.message, result.message


# ------------------------------------- a task whose graded dependency is wrong says so first
def test_log_marginal_names_a_wrong_marginal_first(tmp_path):
    from tests.helpers import grade, task, variant

    src = '''
def ppca_marginal(W, b, sigma2):
    D = W.shape[0]
    return b.clone(), W @ W.T + float(sigma2) ** 2 * torch.eye(D, dtype=W.dtype)
'''
    result = grade(variant(TOPIC, tmp_path, {"ppca_marginal_solution": src}))
    log_marginal = task(result, "ppca.log_marginal")
    assert log_marginal.status == "failed"
    assert log_marginal.message.startswith(
        "`ppca_marginal`, which this uses, is wrong (ppca.marginal): fix it first."), \
        log_marginal.message
    assert task(result, "ppca.marginal").status == "failed"
    assert "which this uses" not in task(result, "ppca.marginal").message
    assert task(result, "ppca.posterior").message == "all 3 checks passed"


# ------------------------------------------------------- public checks, as students run them
@pytest.mark.parametrize(("task_id", "check_id"), topic.public_checks())
def test_public_check_passes_the_reference_and_finds_the_stub_missing(task_id, check_id):
    assert topic.public(task_id, check_id) == ("passed", "")
    assert topic.public(task_id, check_id, exercise=True)[0] == "missing"


def test_public_invariants_check_names_sigma_used_as_a_standard_deviation():
    status, message = topic.public("ppca.marginal", "invariants", {
        "ppca_marginal_solution": VARIANTS["ppca.marginal"][1].replace(
            "float(sigma2)", "float(sigma2) ** 2")})
    assert status == "failed" and "smallest eigenvalues should all equal sigma2" in message
