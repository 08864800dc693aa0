"""Topic 06 (IWAE): the reference gets full marks, the classic bugs are caught on the right task
with a message that names the concept, and correct alternatives written differently pass."""

from __future__ import annotations

import pytest

from autograder.paths import solution_notebook
from autograder.registry import tasks_for_topic
from tests.helpers import assert_caught, assert_full, grade
from tests.topics.scaffold import TopicTests

TOPIC = "06_iwae"
LW, BOUND, MODEL = ("log_importance_weights_solution", "iwae_bound_solution", "IWAE_solution")
LL, ESS, DREG = ("estimate_log_likelihood_solution", "effective_sample_size_solution",
                 "dreg_surrogate_solution")


topic = TopicTests(TOPIC)
run = topic.run


@pytest.mark.usefixtures("mnist_root")
def test_reference_full_marks():
    result = grade(solution_notebook(TOPIC))
    assert result.error is None
    assert result.score == result.max_score == 21.0, [(t.id, t.message) for t in result.tasks]


# ------------------------------------------------------------------ log weights
MIXED_PAIRS = '''
def log_importance_weights(model, x, k):
    B = x.shape[0]
    q = model.encoder(x)
    z = q.rsample(torch.Size([k])).reshape(k * B, -1)  # k-major
    xr = x.repeat_interleave(k, 0)                      # b-major: pairs z of x_b with x_b'
    qr = model.encoder(xr)
    lw = model.decoder(z).log_prob(xr) + model.prior().log_prob(z) - qr.log_prob(z)
    return lw.view(k, B)
'''
MIXED_VIEW = '''
def log_importance_weights(model, x, k):
    B = x.shape[0]
    xr = x.repeat_interleave(k, 0)                      # b-major, pairs consistent
    q = model.encoder(xr)
    z = q.rsample()
    lw = model.decoder(z).log_prob(xr) + model.prior().log_prob(z) - q.log_prob(z)
    return lw.view(k, B)                                # should be lw.view(B, k).T
'''


@pytest.mark.parametrize("source", [MIXED_PAIRS, MIXED_VIEW], ids=["pairs", "view"])
def test_log_weights_grouped_across_examples(tmp_path, source):
    assert_caught(run(tmp_path, LW, source, "iwae.log_weights"), "grouped across examples")


def test_log_weights_transposed(tmp_path):
    src = topic.edit(LW, ("- q.log_prob(z)\n", "- q.log_prob(z)).T\n"),
                               ("return model.decoder", "return (model.decoder"))
    assert_caught(run(tmp_path, LW, src, "iwae.log_weights"), "[K, B]")


def test_log_weights_sample_instead_of_rsample(tmp_path):
    src = topic.edit(LW, ("q.rsample(", "q.sample("))
    assert_caught(run(tmp_path, LW, src, "iwae.log_weights"), "rsample")


def test_log_weights_repeat_then_flatten_passes(tmp_path):
    src = '''
def log_importance_weights(model, x, k):
    B = x.shape[0]
    xr = x.repeat(k, *([1] * (x.dim() - 1)))   # [K*B, ...], sample-major like z below
    q = model.encoder(xr)
    z = q.rsample()                            # [K*B, M]
    lw = model.decoder(z).log_prob(xr) + model.prior().log_prob(z) - q.log_prob(z)
    return lw.view(k, B)
'''
    assert_full(run(tmp_path, LW, src, "iwae.log_weights"))


def test_log_weights_expand_and_manual_reparameterisation_passes(tmp_path):
    src = '''
def log_importance_weights(model, x, k):
    q = model.encoder(x)
    eps = torch.randn((k,) + tuple(q.mean.shape), dtype=q.mean.dtype, device=q.mean.device)
    z = q.mean + q.stddev * eps
    xe = x.unsqueeze(0).expand(k, *x.shape)
    return model.decoder(z).log_prob(xe) + model.prior().log_prob(z) - q.log_prob(z)
'''
    assert_full(run(tmp_path, LW, src, "iwae.log_weights"))


# ------------------------------------------------------------------------ bound
@pytest.mark.parametrize(("body", "concept"), [
    ("torch.logsumexp(log_w, 0)", "log K"),
    ("log_w.mean(0)", "ELBO"),
    ("torch.log(torch.exp(log_w).mean(0))", "overflows"),
    ("torch.logsumexp(log_w, 1) - math.log(log_w.shape[1])", "[K, B]"),
], ids=["missing_log_k", "mean_of_logs", "naive", "wrong_dim"])
def test_bound_bugs(tmp_path, body, concept):
    src = f"def iwae_bound(log_w):\n    return {body}\n"
    assert_caught(run(tmp_path, BOUND, src, "iwae.bound"), concept)


def test_bound_manual_max_shift_passes(tmp_path):
    src = '''
def iwae_bound(log_w):
    m = log_w.max(dim=0, keepdim=True).values
    return m.squeeze(0) + torch.log(torch.exp(log_w - m).mean(0))
'''
    assert_full(run(tmp_path, BOUND, src, "iwae.bound"))


# ------------------------------------------------------------------------ model
def test_model_mean_of_log_weights(tmp_path):
    src = topic.edit(MODEL, (
        "return iwae_bound(log_importance_weights(self, x, self.k))",
        "return log_importance_weights(self, x, self.k).mean(0)"))
    assert_caught(run(tmp_path, MODEL, src, "iwae.model"), "does not grow with K")


def test_model_written_differently_passes(tmp_path):
    src = '''
class IWAE(VAE):
    def __init__(self, prior, decoder, encoder, k):
        super().__init__(prior, decoder, encoder)
        self.K = k

    def elbo(self, x):
        lw = log_importance_weights(self, x, self.K)
        return torch.logsumexp(lw, 0) - torch.log(torch.tensor(float(self.K), dtype=lw.dtype))
'''
    assert_full(run(tmp_path, MODEL, src, "iwae.model"))


# ------------------------------------------------------------------- likelihood
def test_loglik_averages_chunks(tmp_path):
    src = '''
@torch.no_grad()
def estimate_log_likelihood(model, x, k, chunk):
    parts = [iwae_bound(log_importance_weights(model, x, min(chunk, k - s)))
             for s in range(0, k, chunk)]
    return torch.stack(parts).mean(0)
'''
    assert_caught(run(tmp_path, LL, src, "iwae.loglik"), "per-chunk estimates are averaged")


def test_loglik_all_samples_at_once(tmp_path):
    src = '''
@torch.no_grad()
def estimate_log_likelihood(model, x, k, chunk):
    return iwae_bound(log_importance_weights(model, x, k))
'''
    assert_caught(run(tmp_path, LL, src, "iwae.loglik"), "memory grows with k")


def test_loglik_stacked_chunk_sums_pass(tmp_path):
    src = '''
@torch.no_grad()
def estimate_log_likelihood(model, x, k, chunk):
    sums = [torch.logsumexp(log_importance_weights(model, x, min(chunk, k - s)), 0)
            for s in range(0, k, chunk)]
    return torch.logsumexp(torch.stack(sums), 0) - math.log(k)
'''
    assert_full(run(tmp_path, LL, src, "iwae.loglik"))


# -------------------------------------------------------------------------- ESS
def test_ess_naive_exp(tmp_path):
    src = ("def effective_sample_size(log_w):\n    w = log_w.exp()\n"
           "    return w.sum(0) ** 2 / (w ** 2).sum(0)\n")
    assert_caught(run(tmp_path, ESS, src, "iwae.ess"), "overflows")


def test_ess_from_normalised_weights_passes(tmp_path):
    src = ("def effective_sample_size(log_w):\n    w = torch.softmax(log_w, 0)\n"
           "    return 1.0 / (w ** 2).sum(0)\n")
    assert_full(run(tmp_path, ESS, src, "iwae.ess"))


# ------------------------------------------------------------------------- DReG
HOOK = ("    if z.requires_grad:\n"
        "        z.register_hook(lambda grad: grad * w.unsqueeze(-1))  # path term: w~ -> w~^2\n")
def test_dreg_equal_to_plain_iwae_gradient(tmp_path):
    src = ("def dreg_surrogate(model, x, k):\n"
           "    return iwae_bound(log_importance_weights(model, x, k)).mean()\n")
    assert_caught(run(tmp_path, DREG, src, "iwae.dreg"), "plain IWAE gradient")


def test_dreg_without_squared_weights(tmp_path):
    src = topic.edit(DREG, (HOOK, ""))
    assert_caught(run(tmp_path, DREG, src, "iwae.dreg"), "squared normalised weights")


def test_dreg_squared_weights_for_the_decoder_too(tmp_path):
    src = topic.edit(DREG, (HOOK, ""),
                               ("return (w * log_w)", "return (w ** 2 * log_w)"))
    assert_caught(run(tmp_path, DREG, src, "iwae.dreg"), "decoder")


def test_dreg_with_a_rescaled_path_passes(tmp_path):
    src = '''
def dreg_surrogate(model, x, k):
    q = model.encoder(x)
    z = q.rsample((k,))
    loc, scale = q.base_dist.loc.detach(), q.base_dist.scale.detach()

    def log_w(zz):
        return (model.decoder(zz).log_prob(x) + model.prior().log_prob(zz)
                - td.Normal(loc, scale).log_prob(zz).sum(-1))

    with torch.no_grad():
        w = torch.softmax(log_w(z), 0)
    z_hat = z.detach() + w[..., None] * (z - z.detach())
    return (w * log_w(z_hat)).sum(0).mean()
'''
    assert_full(run(tmp_path, DREG, src, "iwae.dreg"))


# --------------------------------------------------------------------- training
@pytest.mark.usefixtures("mnist_root")
def test_training_catches_samples_grouped_across_examples(tmp_path):
    assert_caught(run(tmp_path, LW, MIXED_PAIRS, "iwae.training"), "grouped across examples")


# ------------------------------------------------- public checks (shipped in the student kit)
# (task id, check id, grade_id, edit, concept): the check fails the edited cell, naming the concept.
NO_DECODER = ("return model.decoder(z).log_prob(x) + model.prior()", "return model.prior()")
BOUND_CALL = "return iwae_bound(log_importance_weights(self, x, self.k))"
PUBLIC_BUGS = [
    ("iwae.log_weights", "flat", LW, (NO_DECODER,), "log p(x|z) is missing"),
    ("iwae.log_weights", "flat", LW,
     (("- q.log_prob(z)\n", "- q.log_prob(z)).T\n"),
      ("return model.decoder", "return (model.decoder")), "[K, B]"),
    ("iwae.log_weights", "constant", LW, MIXED_PAIRS,
     "grouped across examples"),
    ("iwae.log_weights", "grad_flat", LW, (("q.rsample(", "q.sample("),), "rsample"),
    ("iwae.bound", "known", BOUND, (("- math.log(log_w.shape[0])", ""),), "log K"),
    ("iwae.bound", "known", BOUND,
     (("torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[0])", "log_w.mean(0)"),), "ELBO"),
    ("iwae.bound", "known", BOUND,
     (("torch.logsumexp(log_w, dim=0)", "torch.log(log_w.exp().sum(0))"),), "overflows"),
    ("iwae.model", "flat", MODEL,
     ((BOUND_CALL, "return torch.logsumexp(log_importance_weights(self, x, self.k), 0)"),),
     "-log K is missing"),
    ("iwae.model", "grows_with_k", MODEL,
     ((BOUND_CALL, "return log_importance_weights(self, x, self.k).mean(0)"),),
     "does not grow with K"),
    ("iwae.loglik", "flat", LL, '''
@torch.no_grad()
def estimate_log_likelihood(model, x, k, chunk):
    return iwae_bound(log_importance_weights(model, x, k))
''', "memory grows with k"),
    ("iwae.loglik", "chunks", LL, '''
@torch.no_grad()
def estimate_log_likelihood(model, x, k, chunk):
    parts = [iwae_bound(log_importance_weights(model, x, min(chunk, k - s)))
             for s in range(0, k, chunk)]
    return torch.stack(parts).mean(0)
''', "per-chunk estimates are averaged"),
    ("iwae.ess", "known", ESS,
     (("return torch.exp(2 *", "return 1 / torch.exp(2 *"),), "not sum w^2 / (sum w)^2"),
    ("iwae.ess", "known", ESS,
     "def effective_sample_size(log_w):\n    w = log_w.exp()\n"
     "    return w.sum(0) ** 2 / (w ** 2).sum(0)\n", "overflows"),
    ("iwae.dreg", "flat", DREG,
     "def dreg_surrogate(model, x, k):\n"
     "    return iwae_bound(log_importance_weights(model, x, k)).mean()\n", "score term"),
    ("iwae.dreg", "flat", DREG, ((HOOK, ""),), "SQUARED normalised weights w~_k^2"),
    ("iwae.dreg", "flat", DREG,
     ((HOOK, ""), ("return (w * log_w)", "return (w ** 2 * log_w)")), "decoder got the SQUARED"),
    ("iwae.training", "smoke", MODEL,
     ((BOUND_CALL, "return -" + BOUND_CALL[7:]),), "NEGATIVE bound"),
]


def source_of(grade_id: str, edit: str | tuple[tuple[str, str], ...]) -> str:
    """A whole cell, or the reference cell with (old, new) replacements."""
    return edit if isinstance(edit, str) else topic.edit(grade_id, *edit)


@pytest.mark.parametrize(("task_id", "check_id"), topic.public_checks())
def test_public_check_passes_the_reference(task_id, check_id):
    status, message = topic.public(task_id, check_id)
    assert status == "passed", message


def test_every_task_keeps_a_public_check():
    assert {t.id for t in tasks_for_topic(TOPIC)} == {t for t, _ in topic.public_checks()}


@pytest.mark.parametrize(("task_id", "check_id", "grade_id", "edit", "concept"), PUBLIC_BUGS,
                         ids=[f"{b[0]}-{i}" for i, b in enumerate(PUBLIC_BUGS)])
def test_public_check_names_the_bug(task_id, check_id, grade_id, edit, concept):
    status, message = topic.public(task_id, check_id, {grade_id: source_of(grade_id, edit)})
    assert status == "failed", (status, message)
    assert concept in message, message
