"""Topic 05 (VAE on binarized MNIST): the reference gets full marks, classic bugs are caught
with a message that names the concept, and correct alternatives pass."""

from __future__ import annotations

import math

import pytest
import torch

from autograder.paths import solution_notebook
from tests.helpers import assert_caught, assert_full, grade
from tests.in_process import (
    assert_public_catch,
    assert_public_pass,
    assert_reference_passes_and_stub_is_missing,
    public_outcomes,
)
from tests.topics.scaffold import TopicTests

TOPIC = "05_vae_binary_mnist"
topic = TopicTests(TOPIC)
edit = topic.edit
run = topic.run


pytestmark = pytest.mark.usefixtures("mnist_root")


def test_reference_full_marks():
    result = grade(solution_notebook(TOPIC))
    assert result.error is None
    assert result.score == result.max_score == 19.0, [(t.id, t.message) for t in result.tasks]


# ---------------------------------------------------------------------------- prior
PRIOR = "GaussianPrior_solution"


def test_prior_missing_independent(tmp_path):
    src = edit(PRIOR, ("td.Independent(td.Normal(loc=self.mean, scale=self.std), 1)",
                       "td.Normal(loc=self.mean, scale=self.std)"))
    assert_caught(run(tmp_path, PRIOR, src, "vae.prior"), "Independent")


def test_prior_without_buffers(tmp_path):
    src = edit(PRIOR, ('self.register_buffer("mean", torch.zeros(M))',
                       "self.mean = torch.zeros(M)"),
               ('self.register_buffer("std", torch.ones(M))', "self.std = torch.ones(M)"))
    assert_caught(run(tmp_path, PRIOR, src, "vae.prior"), "register_buffer")


def test_prior_variance_not_one(tmp_path):
    src = edit(PRIOR, ("torch.ones(M))", "torch.full((M,), 2.0))"))
    assert_caught(run(tmp_path, PRIOR, src, "vae.prior"), "standard deviation")


def test_prior_alternative_passes(tmp_path):
    src = '''
class GaussianPrior(nn.Module):
    def __init__(self, M):
        super().__init__()
        self.register_buffer("loc", torch.zeros(1, M).squeeze(0))

    def forward(self):
        return td.Independent(td.Normal(self.loc, torch.ones_like(self.loc)),
                              reinterpreted_batch_ndims=1)
'''
    assert_full(run(tmp_path, PRIOR, src, "vae.prior"))


def test_prior_multivariate_normal_refused(tmp_path):
    """The exercise asks for Independent(Normal); a MultivariateNormal prior would break the
    analytic KL against the specified encoder (no td.kl_divergence rule for the pair)."""
    src = edit(PRIOR, ("td.Independent(td.Normal(loc=self.mean, scale=self.std), 1)",
                       "td.MultivariateNormal(self.mean, scale_tril=torch.diag(self.std))"))
    assert_caught(run(tmp_path, PRIOR, src, "vae.prior"), "kl_divergence has no rule")


# -------------------------------------------------------------------------- encoder
ENC = "GaussianEncoder_solution"


def test_encoder_variance_as_std(tmp_path):
    src = edit(ENC, ("torch.exp(0.5 * logvar)", "torch.exp(logvar)"))
    assert_caught(run(tmp_path, ENC, src, "vae.encoder"), "variance")


def test_encoder_missing_independent(tmp_path):
    src = edit(ENC, ("td.Independent(td.Normal(loc=mean, scale=torch.exp(0.5 * logvar)), 1)",
                     "td.Normal(loc=mean, scale=torch.exp(0.5 * logvar))"))
    assert_caught(run(tmp_path, ENC, src, "vae.encoder"), "Independent")


def test_encoder_swapped_halves(tmp_path):
    src = edit(ENC, ("mean, logvar = ", "logvar, mean = "))
    assert_caught(run(tmp_path, ENC, src, "vae.encoder"), "swapped")


def test_encoder_detached(tmp_path):
    src = edit(ENC, ("self.encoder_net(x), 2", "self.encoder_net(x).detach(), 2"))
    assert_caught(run(tmp_path, ENC, src, "vae.encoder"), "gradient")


def test_encoder_alternative_passes(tmp_path):
    src = '''
class GaussianEncoder(nn.Module):
    def __init__(self, encoder_net):
        super().__init__()
        self.net = encoder_net

    def forward(self, x):
        h = self.net(x)
        m = h.shape[-1] // 2
        std = torch.sqrt(torch.exp(h[..., m:]))
        return td.Independent(td.Normal(h[..., :m], std), reinterpreted_batch_ndims=1)
'''
    assert_full(run(tmp_path, ENC, src, "vae.encoder"))


# -------------------------------------------------------------------------- decoder
DEC = "BernoulliDecoder_solution"


def test_decoder_probs_as_logits(tmp_path):
    src = edit(DEC, ("logits=self.decoder_net(z)", "logits=torch.sigmoid(self.decoder_net(z))"))
    assert_caught(run(tmp_path, DEC, src, "vae.decoder"), "logits")


def test_decoder_missing_independent(tmp_path):
    src = edit(DEC, ("td.Independent(td.Bernoulli(logits=self.decoder_net(z)), 2)",
                     "td.Bernoulli(logits=self.decoder_net(z))"))
    assert_caught(run(tmp_path, DEC, src, "vae.decoder"), "Independent")


def test_decoder_one_event_dim(tmp_path):
    src = edit(DEC, ("self.decoder_net(z)), 2)", "self.decoder_net(z)), 1)"))
    assert_caught(run(tmp_path, DEC, src, "vae.decoder"), "Independent")


def test_decoder_alternative_passes(tmp_path):
    src = '''
class BernoulliDecoder(nn.Module):
    def __init__(self, decoder_net):
        super().__init__()
        self.decoder_net = decoder_net

    def forward(self, z):
        probs = torch.sigmoid(self.decoder_net(z))
        return td.Independent(td.Bernoulli(probs=probs), 2)
'''
    assert_full(run(tmp_path, DEC, src, "vae.decoder"))


# ----------------------------------------------------------------------- elbo/sample
VAE_ID = "VAE_solution"
KL = "td.kl_divergence(q, self.prior())"


def test_elbo_kl_sign(tmp_path):
    src = edit(VAE_ID, ("log_prob(x) - td.kl", "log_prob(x) + td.kl"))
    assert_caught(run(tmp_path, VAE_ID, src, "vae.elbo"), "sign")


def test_elbo_sample_instead_of_rsample(tmp_path):
    src = edit(VAE_ID, ("z = q.rsample()", "z = q.sample()"))
    assert_caught(run(tmp_path, VAE_ID, src, "vae.elbo"), "rsample")


def test_elbo_mc_kl_with_sample(tmp_path):
    src = edit(VAE_ID, ("z = q.rsample()", "z = q.sample()"),
               (KL, "(q.log_prob(z) - self.prior().log_prob(z))"))
    assert_caught(run(tmp_path, VAE_ID, src, "vae.elbo"), "rsample")


def test_elbo_kl_averaged_over_latents(tmp_path):
    src = edit(VAE_ID, (KL, "(q.base_dist.mean ** 2 + q.base_dist.variance - 1"
                            " - q.base_dist.variance.log()).mean(-1) / 2"))
    assert_caught(run(tmp_path, VAE_ID, src, "vae.elbo"), "averaged")


def test_elbo_averaged_over_batch(tmp_path):
    src = edit(VAE_ID, (f"return self.decoder(z).log_prob(x) - {KL}",
                        f"return (self.decoder(z).log_prob(x) - {KL}).mean()"),
               ("return -self.elbo(x).mean()", "return -self.elbo(x)"))
    assert_caught(run(tmp_path, VAE_ID, src, "vae.elbo"), "one elbo per example")


def test_forward_sums_over_batch(tmp_path):
    src = edit(VAE_ID, ("return -self.elbo(x).mean()", "return -self.elbo(x).sum()"))
    assert_caught(run(tmp_path, VAE_ID, src, "vae.elbo"), "mean")


VAE_MC_KL = '''
class VAE(nn.Module):
    def __init__(self, prior, decoder, encoder):
        super().__init__()
        self.prior, self.decoder, self.encoder = prior, decoder, encoder

    def elbo(self, x):
        q = self.encoder(x)
        eps = torch.randn_like(q.mean)
        z = q.mean + q.stddev * eps
        return self.decoder(z).log_prob(x) + self.prior().log_prob(z) - q.log_prob(z)

    def sample(self, n):
        z = torch.randn(n, self.prior().event_shape[0], device=self.prior().mean.device,
                        dtype=self.prior().mean.dtype)
        return torch.bernoulli(self.decoder(z).mean)

    def forward(self, x):
        return -torch.mean(self.elbo(x))
'''


def test_elbo_alternative_monte_carlo_kl_passes(tmp_path):
    assert_full(run(tmp_path, VAE_ID, VAE_MC_KL, "vae.elbo"))
    assert_full(run(tmp_path / "s", VAE_ID, VAE_MC_KL, "vae.sample"))


def test_sample_returns_probabilities(tmp_path):
    src = edit(VAE_ID, ("return self.decoder(z).sample()", "return self.decoder(z).mean"))
    assert_caught(run(tmp_path, VAE_ID, src, "vae.sample"), "probabilities")


def test_sample_at_prior_mean(tmp_path):
    src = edit(VAE_ID, ("z = self.prior().sample(torch.Size([n]))",
                        "z = self.prior().mean.expand(n, -1)"))
    assert_caught(run(tmp_path, VAE_ID, src, "vae.sample"), "prior")


# ------------------------------------------------------------------------- training


def test_training_catches_sample_instead_of_rsample(tmp_path):
    src = edit(VAE_ID, ("z = q.rsample()", "z = q.sample()"))
    assert_caught(run(tmp_path, VAE_ID, src, "vae.training"), "rsample")



def test_training_catches_kl_sign(tmp_path):
    src = edit(VAE_ID, ("log_prob(x) - td.kl", "log_prob(x) + td.kl"))
    assert_caught(run(tmp_path, VAE_ID, src, "vae.training"), "KL sign")


def test_training_alternative_monte_carlo_kl_passes(tmp_path):
    src = edit(VAE_ID, (KL, "(q.log_prob(z) - self.prior().log_prob(z))"))
    assert_full(run(tmp_path, VAE_ID, src, "vae.training"))


# ------------------------------------------------------------ public checks (student kit)
# They run without grader-only code: models whose ELBO, gradients and marginals are known by
# hand, and a smoke test of training on one batch of random binary images.
PUBLIC_TASKS = ("vae.decoder", "vae.elbo", "vae.sample", "vae.training")


@pytest.mark.parametrize("task_id", PUBLIC_TASKS)
def test_public_checks_pass_the_reference_and_refuse_the_stub(task_id):
    assert_reference_passes_and_stub_is_missing(TOPIC, task_id)


PUBLIC_BUGS = [
    ("vae.decoder", DEC, (("logits=self.decoder_net(z)",
                           "logits=torch.sigmoid(self.decoder_net(z))"),),
     "probabilities as logits"),
    ("vae.decoder", DEC, (("self.decoder_net(z)), 2)", "self.decoder_net(z)), 1)"),),
     "td.Independent(..., 2)"),
    ("vae.decoder", DEC, (("td.Independent(td.Bernoulli(logits=self.decoder_net(z)), 2)",
                           "td.Bernoulli(probs=torch.sigmoid(self.decoder_net(z)))"),),
     "Independent"),
    ("vae.elbo", VAE_ID, (("log_prob(x) - td.kl", "log_prob(x) + td.kl"),), "wrong sign"),
    ("vae.elbo", VAE_ID, ((f" - {KL}", ""),), "KL term is missing"),
    ("vae.elbo", VAE_ID, ((KL, "(q.base_dist.mean ** 2 + q.base_dist.variance - 1"
                               " - q.base_dist.variance.log()).mean(-1) / 2"),), "averaged"),
    ("vae.elbo", VAE_ID, ((f"return self.decoder(z).log_prob(x) - {KL}",
                           f"return (self.decoder(z).log_prob(x) - {KL}).mean()"),
                          ("return -self.elbo(x).mean()", "return -self.elbo(x)")),
     "one ELBO per example"),
    ("vae.elbo", VAE_ID, (("return -self.elbo(x).mean()", "return -self.elbo(x).sum()"),),
     "batch MEAN"),
    ("vae.elbo", VAE_ID, (("return -self.elbo(x).mean()", "return self.elbo(x).mean()"),),
     "NEGATIVE ELBO"),
    ("vae.elbo", VAE_ID, (("z = q.rsample()", "z = q.sample()"),), "rsample"),
    ("vae.elbo", VAE_ID, ((KL, "(q.log_prob(z.detach()) - self.prior().log_prob(z.detach()))"),),
     "KL term passes no gradient"),
    ("vae.sample", VAE_ID, (("return self.decoder(z).sample()", "return self.decoder(z).mean"),),
     "probabilities"),
    ("vae.sample", VAE_ID, (("z = self.prior().sample(torch.Size([n]))",
                             "z = self.prior().mean.expand(n, -1)"),), "prior().sample()"),
    ("vae.sample", VAE_ID, (("z = self.prior().sample(torch.Size([n]))",
                             "z = 2 * self.prior().sample(torch.Size([n]))"),), "marginal"),
    ("vae.training", VAE_ID, (("return -self.elbo(x).mean()", "return self.elbo(x).mean()"),),
     "NEGATIVE ELBO"),
    ("vae.training", ENC, (("self.encoder_net(x), 2", "self.encoder_net(x).detach(), 2"),),
     "no gradient to the encoder"),
    ("vae.training", DEC, (("logits=self.decoder_net(z)", "logits=self.decoder_net(z).detach()"),),
     "no gradient to the decoder"),
]


@pytest.mark.parametrize("task_id,grade_id,pairs,concept", PUBLIC_BUGS,
                         ids=[f"{b[0]}-{i}" for i, b in enumerate(PUBLIC_BUGS)])
def test_public_checks_name_realistic_bugs(task_id, grade_id, pairs, concept):
    assert_public_catch(public_outcomes(TOPIC, task_id, {grade_id: edit(grade_id, *pairs)}),
                        concept)


@pytest.mark.parametrize("task_id", ["vae.elbo", "vae.sample", "vae.training"])
def test_public_checks_accept_a_monte_carlo_kl_and_hand_made_sampling(task_id):
    assert_public_pass(public_outcomes(TOPIC, task_id, {VAE_ID: VAE_MC_KL}))


def test_hand_worked_values_agree_with_the_grader_quadrature():
    """The public judges' hand-computed ELBO terms, draw variance, gradients, log-probabilities
    and pixel marginals are what the trusted exact computations give on the same inputs."""
    from autograder.topics.t05_vae_binary_mnist import inputs as builders
    from autograder.topics.t05_vae_binary_mnist import public
    from autograder.trusted.linear_bernoulli import (
        bernoulli_log_prob,
        draw_moments,
        exact_terms,
        expected_grads,
        linear_logits,
        pixel_marginals,
    )

    torch.manual_seed(0)
    inputs = builders.elbo_hand_inputs()
    hand, var = public.elbo_hand_terms()
    exact = exact_terms(inputs)
    for key in ("rec", "kl", "rkl", "rec_prior"):
        assert math.isclose(hand[key], exact[key], rel_tol=1e-9), key
    assert math.isclose(var, max(v for v, _ in draw_moments(inputs).values()), rel_tol=1e-9)

    grads = expected_grads(builders.grad_hand_inputs())["elbo"]
    assert grads[0] > 80  # the judge asks for more than 20
    q = builders.grad_hand_inputs()
    v2 = math.exp(float(q["q_logvar"][1]))
    assert math.isclose(grads[1], -float(q["q_mean"][1]), rel_tol=1e-6)
    assert math.isclose(grads[3], -0.5 * (v2 - 1), rel_tol=1e-6)

    dec = builders.decoder_hand_inputs()
    logits = linear_logits(dec["z"], dec["W"], dec["c"])
    probs = torch.tensor([0.5, 0.75, 0.25])
    assert torch.allclose(torch.sigmoid(logits), probs[:, None, None].expand(3, 28, 28))
    ones = dec["x"].sum((-2, -1))
    by_hand = ones * probs.log() + (784 - ones) * (1 - probs).log()
    assert torch.allclose(bernoulli_log_prob(dec["x"], logits).float(), by_hand, rtol=1e-5)

    # pixel marginals E_z[sigmoid(200 (z - a))] by fine quadrature: P(z > a) to about 1e-5
    z = torch.linspace(-12.0, 12.0, 480_001, dtype=torch.float64)
    density = torch.exp(-0.5 * z**2) / math.sqrt(2 * math.pi)
    for a in (1.0, -0.5):
        smooth = float(torch.trapezoid(torch.sigmoid(builders.SHARP * (z - a)) * density, z))
        assert abs(smooth - 0.5 * math.erfc(a / math.sqrt(2))) < 3e-5
    sample = builders.sample_hand_inputs()
    third = 784 // 3
    assert (sample["W"][:third, 0] == builders.SHARP).all() and (
        sample["c"][:third] == -builders.SHARP).all()
    assert torch.allclose(pixel_marginals(sample["W"], sample["c"]).reshape(-1)[2 * third:],
                          torch.tensor(0.75, dtype=torch.float64))


# --------------------------- form: the encoder and the prior are judged as a pair, not by type
PRIOR_MVN = ("td.Independent(td.Normal(loc=self.mean, scale=self.std), 1)",
             "td.MultivariateNormal(self.mean, scale_tril=torch.diag(self.std))")
ENC_MVN = ("td.Independent(td.Normal(loc=mean, scale=torch.exp(0.5 * logvar)), 1)",
           "td.MultivariateNormal(mean, scale_tril=torch.diag_embed(torch.exp(0.5 * logvar)))")


def _graded_pair(tmp_path, replace: dict[str, str], task_id: str):
    from autograder.notebook_code import load_notebook_code
    from autograder.registry import get_task
    from tests.helpers import shared_grader, variant

    path = variant(TOPIC, tmp_path, replace)
    return shared_grader().grade_task(load_notebook_code(path), get_task(task_id))


@pytest.mark.parametrize("task_id", ["vae.prior", "vae.encoder"])
def test_both_multivariate_normal_pass(tmp_path, task_id):
    replace = {PRIOR: edit(PRIOR, PRIOR_MVN), ENC: edit(ENC, ENC_MVN)}
    assert_full(_graded_pair(tmp_path, replace, task_id))


def test_both_multivariate_normal_train():
    replace = {PRIOR: edit(PRIOR, PRIOR_MVN), ENC: edit(ENC, ENC_MVN)}
    assert_public_pass(public_outcomes(TOPIC, "vae.training", replace))


def test_mixed_pair_fails_only_the_odd_one(tmp_path):
    replace = {PRIOR: edit(PRIOR, PRIOR_MVN)}
    assert_caught(_graded_pair(tmp_path / "p", replace, "vae.prior"),
                  "kl_divergence has no rule")
    assert_full(_graded_pair(tmp_path / "e", replace, "vae.encoder"))
