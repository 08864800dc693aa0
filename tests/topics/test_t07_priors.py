"""Topic 07 (learned priors): the reference gets full marks, every listed bug is caught on the
right task with the concept named, and correct alternatives pass."""

from __future__ import annotations

import pytest

from autograder.paths import solution_notebook
from tests.helpers import assert_caught, assert_full, grade
from tests.topics.public_by_id import public_check_tests
from tests.topics.scaffold import TopicTests

TOPIC = "07_priors"
topic = TopicTests(TOPIC)
edit = topic.edit
run = topic.run

pytestmark = pytest.mark.usefixtures("mnist_root")


def test_reference_full_marks():
    result = grade(solution_notebook(TOPIC))
    assert result.error is None
    assert result.score == result.max_score == 19.0, [(t.id, t.message) for t in result.tasks]


# ------------------------------------------------------------------- mixture density
MIX = "log_mixture_density_solution"
LOG_N = "td.Normal(means, torch.exp(0.5 * logvars)).log_prob(z[:, None, :]).sum(-1)"
MIX_BUGS = {
    "per_dimension": (
        (LOG_N, "td.Normal(means, torch.exp(0.5 * logvars)).log_prob(z[:, None, :])"),
        ("torch.logsumexp(log_pi + log_n, dim=-1)",
         "torch.logsumexp(log_pi[:, None] + log_n, dim=1).sum(-1)"), "per-dimension"),
    "unnormalised": (("torch.log_softmax(logits, dim=-1)", "logits"), None, "unnormalised"),
    "weights_added": (("torch.logsumexp(log_pi + log_n", "torch.logsumexp(log_pi.exp() + log_n"),
                      None, "added"),
    "std_logvar": (("torch.exp(0.5 * logvars)", "torch.exp(logvars)"), None,
                   "std/log-variance"),
    "naive_underflow": (("torch.logsumexp(log_pi + log_n, dim=-1)",
                         "torch.log(torch.exp(log_pi + log_n).sum(-1))"), None, "underflow"),
}


@pytest.mark.parametrize("bug", sorted(MIX_BUGS))
def test_mixture_bugs(tmp_path, bug):
    first, second, concept = MIX_BUGS[bug]
    pairs = (first,) if second is None else (first, second)
    assert_caught(run(tmp_path, MIX, edit(MIX, *pairs), "priors.mixture"), concept)


MIX_VARIANTS = {
    "mixture_same_family": '''
def log_mixture_density(z, means, logvars, logits):
    comp = td.Independent(td.Normal(means, (0.5 * logvars).exp()), 1)
    return td.MixtureSameFamily(td.Categorical(logits=logits), comp).log_prob(z)
''',
    "softmax_then_log": '''
def log_mixture_density(z, means, logvars, logits):
    pi = torch.softmax(logits, 0)
    var = logvars.exp()
    d = z.unsqueeze(1) - means.unsqueeze(0)
    log_n = -0.5 * ((d ** 2) / var + logvars + math.log(2 * math.pi)).sum(dim=2)
    return torch.logsumexp(torch.log(pi) + log_n, dim=1)
''',
    "manual_max_shift": '''
def log_mixture_density(z, means, logvars, logits):
    log_pi = logits - torch.logsumexp(logits, 0)
    comps = [td.MultivariateNormal(means[k], torch.diag(logvars[k].exp())).log_prob(z)
             for k in range(means.shape[0])]
    a = torch.stack(comps, -1) + log_pi
    top = a.max(-1, keepdim=True).values
    return (top + (a - top).exp().sum(-1, keepdim=True).log()).squeeze(-1)
''',
}


@pytest.mark.parametrize("name", sorted(MIX_VARIANTS))
def test_mixture_variants_pass(tmp_path, name):
    assert_full(run(tmp_path, MIX, MIX_VARIANTS[name], "priors.mixture"))


# ------------------------------------------------------------------------- MoGPrior
MOG = "MoGPrior_solution"


def test_mog_per_dimension_mixture(tmp_path):
    src = edit(MOG, ("components = td.Independent(td.Normal(self.means, torch.exp(0.5 * "
                     "self.logvars)), 1)",
                     "components = td.Normal(self.means.T, torch.exp(0.5 * self.logvars.T))"),
               ("return td.MixtureSameFamily(td.Categorical(logits=self.logits), components)",
                "mix = td.Categorical(logits=self.logits.expand(self.M, self.K))\n"
                "        return td.Independent(td.MixtureSameFamily(mix, components), 1)"))
    assert_caught(run(tmp_path, MOG, src, "priors.mog"), "per-dimension")


def test_mog_frozen_means(tmp_path):
    src = edit(MOG, ("self.means = nn.Parameter(torch.randn(K, M))",
                     'self.register_buffer("means", torch.randn(K, M))'))
    assert_caught(run(tmp_path, MOG, src, "priors.mog"), "not learnable")


def test_mog_built_once(tmp_path):
    src = edit(MOG, ("        self.logvars = nn.Parameter(torch.zeros(K, M))\n",
                     "        self.logvars = nn.Parameter(torch.zeros(K, M))\n"
                     "        self.fixed_std = torch.ones(K, M)\n"),
               ("torch.exp(0.5 * self.logvars)", "self.fixed_std"))
    assert_caught(run(tmp_path, MOG, src, "priors.mog"), "log-variances")


MOG_VARIANTS = {
    "probs_and_mvn": '''
class MoGPrior(nn.Module):
    def __init__(self, M, K):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(K))
        self.mu = nn.Parameter(2.0 * torch.randn(K, M))
        self.log_std = nn.Parameter(torch.zeros(K, M))

    def forward(self):
        scale_tril = torch.diag_embed(self.log_std.exp())
        comp = td.MultivariateNormal(self.mu, scale_tril=scale_tril)
        return td.MixtureSameFamily(td.Categorical(probs=torch.softmax(self.w, 0)), comp)
''',
    "reversed_component_order": '''
class MoGPrior(nn.Module):
    def __init__(self, M, K):
        super().__init__()
        self.params = nn.ParameterDict({
            "logits": nn.Parameter(torch.zeros(K)),
            "loc": nn.Parameter(torch.randn(K, M).flip(0)),
            "logvar": nn.Parameter(torch.full((K, M), -0.5))})

    def forward(self):
        p = self.params
        comp = td.Independent(td.Normal(p["loc"], p["logvar"].mul(0.5).exp()), 1)
        return td.MixtureSameFamily(td.Categorical(logits=p["logits"]), comp)
''',
}


@pytest.mark.parametrize("name", sorted(MOG_VARIANTS))
def test_mog_variants_pass(tmp_path, name):
    assert_full(run(tmp_path, MOG, MOG_VARIANTS[name], "priors.mog"))


# ------------------------------------------------------------------------ VampPrior
VAMP = "VampPrior_solution"
VAMP_BUGS = {
    "separate_copy": (("self.encoder = encoder", "import copy\n        self.encoder = "
                       "copy.deepcopy(encoder)"), "copy"),
    "no_grad_encoder": (("components = self.encoder(self.pseudo_inputs())",
                         "with torch.no_grad():\n            components = "
                         "self.encoder(self.pseudo_inputs())"), "detached"),
    "frozen_pseudo_inputs": (("self.raw = nn.Parameter(torch.log(u) - torch.log1p(-u))",
                              'self.register_buffer("raw", torch.log(u) - torch.log1p(-u))'),
                             "frozen"),
    "unconstrained": (("return torch.sigmoid(self.raw)", "return self.raw"), "[0, 1]"),
}


@pytest.mark.parametrize("bug", sorted(VAMP_BUGS))
def test_vamp_bugs(tmp_path, bug):
    pair, concept = VAMP_BUGS[bug]
    if bug == "unconstrained":
        src = edit(VAMP, pair, ("self.raw = nn.Parameter(torch.log(u) - torch.log1p(-u))",
                                "self.raw = nn.Parameter(pseudo_init.clone())"))
    else:
        src = edit(VAMP, pair)
    assert_caught(run(tmp_path, VAMP, src, "priors.vamp"), concept)


def test_vamp_detached_components(tmp_path):
    src = edit(VAMP, ("return td.MixtureSameFamily(td.Categorical(logits=logits), components)",
                      "components = td.Independent(td.Normal(components.mean.detach(), "
                      "components.stddev.detach()), 1)\n"
                      "        return td.MixtureSameFamily(td.Categorical(logits=logits), "
                      "components)"))
    assert_caught(run(tmp_path, VAMP, src, "priors.vamp"), "detached")


def test_vamp_samples_standard_normal(tmp_path):
    src = edit(VAMP, ("return td.MixtureSameFamily(td.Categorical(logits=logits), components)",
                      "class StdNormalSampling(td.MixtureSameFamily):\n"
                      "            def sample(self, sample_shape=torch.Size()):\n"
                      "                return torch.randn(*sample_shape, *self.event_shape)\n"
                      "        return StdNormalSampling(td.Categorical(logits=logits), "
                      "components)"))
    assert_caught(run(tmp_path, VAMP, src, "priors.vamp"), "N(0, I)")


VAMP_VARIANTS = {
    "hardtanh": '''
class VampPrior(nn.Module):
    def __init__(self, M, K, encoder, pseudo_init):
        super().__init__()
        self.K = K
        self.encoder = encoder
        self.u = nn.Parameter(pseudo_init.clone())

    def pseudo_inputs(self):
        return nn.functional.hardtanh(self.u, 0.0, 1.0)

    def forward(self):
        q = self.encoder(self.pseudo_inputs())
        weights = torch.full((self.K,), 1.0 / self.K, dtype=self.u.dtype, device=self.u.device)
        return td.MixtureSameFamily(td.Categorical(probs=weights), q)
''',
    "clamped_flat": '''
class VampPrior(nn.Module):
    def __init__(self, M, K, encoder, pseudo_init):
        super().__init__()
        self.shape = pseudo_init.shape
        self.pseudo = nn.Parameter(pseudo_init.reshape(K, -1).clone())
        self.shared = [encoder]  # kept outside the module tree on purpose

    def forward(self):
        encoder = self.shared[0]
        q = encoder(self.pseudo.clamp(0, 1).reshape(self.shape))
        mean, std = q.mean, q.stddev
        comp = td.Independent(td.Normal(mean, std), 1)
        logits = torch.zeros(mean.shape[0], dtype=mean.dtype, device=mean.device)
        return td.MixtureSameFamily(td.Categorical(logits=logits), comp)
''',
}


@pytest.mark.parametrize("name", sorted(VAMP_VARIANTS))
def test_vamp_variants_pass(tmp_path, name):
    assert_full(run(tmp_path, VAMP, VAMP_VARIANTS[name], "priors.vamp"))


# ----------------------------------------------------------------------- elbo_mc_kl
ELBO = "elbo_mc_kl_solution"
ELBO_BODY = "return model.decoder(z).log_prob(x) + model.prior().log_prob(z) - q.log_prob(z)"
ELBO_BUGS = {
    "analytic_wrong_prior": (
        "p = td.Independent(td.Normal(torch.zeros_like(z), torch.ones_like(z)), 1)\n"
        "    return model.decoder(z).log_prob(x) - td.kl_divergence(q, p)", "wrong prior"),
    "analytic_mixture": ("return model.decoder(z).log_prob(x) - td.kl_divergence(q, "
                         "model.prior())", "no closed form"),
    "kl_sign": ("return model.decoder(z).log_prob(x) - model.prior().log_prob(z) + "
                "q.log_prob(z)", "sign"),
    "detached_prior": ("return model.decoder(z).log_prob(x) + model.prior().log_prob(z)"
                       ".detach() - q.log_prob(z)", "prior's parameters"),
}


@pytest.mark.parametrize("bug", sorted(ELBO_BUGS))
def test_elbo_bugs(tmp_path, bug):
    body, concept = ELBO_BUGS[bug]
    assert_caught(run(tmp_path, ELBO, edit(ELBO, (ELBO_BODY, body)), "priors.elbo"), concept)


def test_elbo_sample_instead_of_rsample(tmp_path):
    src = edit(ELBO, ("z = q.rsample()", "z = q.sample()"))
    assert_caught(run(tmp_path, ELBO, src, "priors.elbo"), "rsample")


ELBO_VARIANTS = {
    "explicit_reparameterisation": '''
def elbo_mc_kl(model, x):
    q = model.encoder(x)
    z = q.mean + q.stddev * torch.randn_like(q.mean)
    log_px_z = model.decoder(z).log_prob(x)
    kl_estimate = q.log_prob(z) - model.prior().log_prob(z)
    return log_px_z - kl_estimate
''',
    "via_sum_of_terms": '''
def elbo_mc_kl(model, x):
    q = model.encoder(x)
    z = q.rsample(torch.Size([1]))[0]
    terms = torch.stack([model.decoder(z).log_prob(x), model.prior().log_prob(z),
                         -q.log_prob(z)])
    return terms.sum(0)
''',
}


@pytest.mark.parametrize("name", sorted(ELBO_VARIANTS))
def test_elbo_variants_pass(tmp_path, name):
    assert_full(run(tmp_path, ELBO, ELBO_VARIANTS[name], "priors.elbo"))


# -------------------------------------------------------------- aggregate posterior
AGG = "aggregate_posterior_log_density_solution"


def test_aggregate_missing_log_n(tmp_path):
    src = edit(AGG, ("return torch.cat(out) - math.log(q_means.shape[0])",
                     "return torch.cat(out)"))
    assert_caught(run(tmp_path, AGG, src, "priors.aggregate"), "-log n")


def test_aggregate_naive_underflow(tmp_path):
    src = edit(AGG, ("out.append(torch.logsumexp(log_n, dim=1))",
                     "out.append(torch.log(torch.exp(log_n).sum(1)))"))
    assert_caught(run(tmp_path, AGG, src, "priors.aggregate"), "underflow")


def test_aggregate_std_logvar(tmp_path):
    src = edit(AGG, ("std = torch.exp(0.5 * q_logvars)", "std = torch.exp(q_logvars)"))
    assert_caught(run(tmp_path, AGG, src, "priors.aggregate"), "std/log-variance")


def test_aggregate_unchunked(tmp_path):
    src = '''
def aggregate_posterior_log_density(z, q_means, q_logvars):
    log_n = td.Normal(q_means, torch.exp(0.5 * q_logvars)).log_prob(z[:, None, :]).sum(-1)
    return torch.logsumexp(log_n, dim=1) - math.log(q_means.shape[0])
'''
    assert_caught(run(tmp_path, AGG, src, "priors.aggregate"), "chunks", "memory")


AGG_VARIANTS = {
    "split_and_formula": '''
def aggregate_posterior_log_density(z, q_means, q_logvars):
    parts = []
    for block in torch.split(z, 500):
        d2 = (block[:, None, :] - q_means[None]) ** 2 / q_logvars.exp()[None]
        log_n = -0.5 * (d2 + q_logvars[None] + math.log(2 * math.pi)).sum(-1)
        parts.append(torch.logsumexp(log_n, 1))
    return torch.cat(parts) - math.log(len(q_means))
''',
    "mixture_same_family": '''
def aggregate_posterior_log_density(z, q_means, q_logvars):
    n = q_means.shape[0]
    comp = td.Independent(td.Normal(q_means, torch.exp(0.5 * q_logvars)), 1)
    q = td.MixtureSameFamily(td.Categorical(logits=torch.zeros(n, dtype=z.dtype)), comp)
    return torch.cat([q.log_prob(c) for c in z.split(128)])
''',
}


@pytest.mark.parametrize("name", sorted(AGG_VARIANTS))
def test_aggregate_variants_pass(tmp_path, name):
    assert_full(run(tmp_path, AGG, AGG_VARIANTS[name], "priors.aggregate"))


# --------------------------------------------------------------------- hole fraction
HOLES = "hole_fraction_solution"
COMPARE = "(log_q < prior.log_prob(z) + math.log(ratio))"


@pytest.mark.parametrize("new, concept", [
    ("(log_q > prior.log_prob(z) + math.log(ratio))", "reversed"),
    ("(log_q < prior.log_prob(z))", "ratio is ignored"),
])
def test_holes_bugs(tmp_path, new, concept):
    src = edit(HOLES, (COMPARE, new))
    assert_caught(run(tmp_path, HOLES, src, "priors.holes"), concept)


def test_holes_sampled_from_aggregate_posterior(tmp_path):
    src = edit(HOLES, ("z = prior.sample(torch.Size([n]))",
                       "i = torch.randint(0, q_means.shape[0], (n,))\n"
                       "        z = q_means[i] + torch.exp(0.5 * q_logvars[i]) * "
                       "torch.randn(n, q_means.shape[1], dtype=q_means.dtype)"))
    assert_caught(run(tmp_path, HOLES, src, "priors.holes"), "from the prior")


HOLES_VARIANTS = {
    "density_ratio": '''
def hole_fraction(prior, q_means, q_logvars, n, ratio):
    z = prior.sample((n,))
    r = torch.exp(aggregate_posterior_log_density(z, q_means, q_logvars) - prior.log_prob(z))
    return (r < ratio).double().mean().item()
''',
    "count": '''
def hole_fraction(prior, q_means, q_logvars, n, ratio):
    z = prior.sample(torch.Size([n])).detach()
    gap = aggregate_posterior_log_density(z, q_means, q_logvars) - prior.log_prob(z)
    return int((gap < math.log(ratio)).sum()) / n
''',
}


@pytest.mark.parametrize("name", sorted(HOLES_VARIANTS))
def test_holes_variants_pass(tmp_path, name):
    assert_full(run(tmp_path, HOLES, HOLES_VARIANTS[name], "priors.holes"))


# -------------------------------------------------------------------------- training


def test_training_catches_a_broken_elbo(tmp_path):
    src = edit(ELBO, (ELBO_BODY, "return model.decoder(z).log_prob(x) + "
                                 "model.prior().log_prob(z) + q.log_prob(z)"))
    assert_caught(run(tmp_path, ELBO, src, "priors.training"), "diverged", "does not train")


# ------------------------------------------------- public checks (shipped in the student kit)
PUBLIC_BUGS = [
    ("priors.mixture", "known", MIX, (MIX_BUGS["unnormalised"][0],),
     "unnormalised"),
    ("priors.mixture", "known", MIX, (MIX_BUGS["std_logvar"][0],),
     "std/log-variance"),
    ("priors.mixture", "known", MIX, (MIX_BUGS["naive_underflow"][0],),
     "underflow"),
    ("priors.mog", "structure", MOG, (
        ("components = td.Independent(td.Normal(self.means, torch.exp(0.5 * self.logvars)), 1)",
         "components = td.Normal(self.means.T, torch.exp(0.5 * self.logvars.T))"),
        ("return td.MixtureSameFamily(td.Categorical(logits=self.logits), components)",
         "mix = td.Categorical(logits=self.logits.expand(self.M, self.K))\n"
         "        return td.Independent(td.MixtureSameFamily(mix, components), 1)")),
     "per-dimension"),
    ("priors.mog", "learnable", MOG, (
        ("self.means = nn.Parameter(torch.randn(K, M))",
         'self.register_buffer("means", torch.randn(K, M))'),), "not learnable"),
    ("priors.vamp", "structure", VAMP, (
        ("logits = torch.zeros(self.K", "logits = torch.arange(self.K"),), "not uniform"),
    ("priors.vamp", "structure", VAMP, (
        ("return td.MixtureSameFamily(td.Categorical(logits=logits), components)",
         "class StdNormalSampling(td.MixtureSameFamily):\n"
         "            def sample(self, sample_shape=torch.Size()):\n"
         "                return torch.randn(*sample_shape, *self.event_shape)\n"
         "        return StdNormalSampling(td.Categorical(logits=logits), components)"),),
     "N(0, I)"),
    ("priors.elbo", "known", ELBO, ((ELBO_BODY, ELBO_BUGS["kl_sign"][0]),),
     "wrong sign"),
    ("priors.elbo", "known", ELBO,
     ((ELBO_BODY, ELBO_BUGS["analytic_wrong_prior"][0]),), "wrong prior, N(0, I)"),
    ("priors.elbo", "known", ELBO,
     ((ELBO_BODY, ELBO_BUGS["analytic_mixture"][0]),), "no closed form"),
    ("priors.elbo", "grad_known", ELBO,
     (("z = q.rsample()", "z = q.sample()"),), "rsample"),
    ("priors.elbo", "grad_known", ELBO,
     ((ELBO_BODY, ELBO_BUGS["detached_prior"][0]),), "prior's parameters"),
    ("priors.aggregate", "known", AGG,
     (("return torch.cat(out) - math.log(q_means.shape[0])", "return torch.cat(out)"),),
     "-log n"),
    ("priors.aggregate", "known", AGG,
     (("std = torch.exp(0.5 * q_logvars)", "std = torch.exp(q_logvars)"),), "std/log-variance"),
    ("priors.aggregate", "known", AGG,
     (("out.append(torch.logsumexp(log_n, dim=1))",
       "out.append(torch.log(torch.exp(log_n).sum(1)))"),), "underflow"),
    ("priors.holes", "known", HOLES,
     ((COMPARE, "(log_q > prior.log_prob(z) + math.log(ratio))"),), "reversed"),
    ("priors.holes", "known", HOLES, ((COMPARE, "(log_q < prior.log_prob(z))"),),
     "ratio is ignored"),
    ("priors.holes", "known", HOLES,
     (("z = prior.sample(torch.Size([n]))",
       "i = torch.randint(0, q_means.shape[0], (n,))\n"
       "        z = q_means[i] + torch.exp(0.5 * q_logvars[i]) * "
       "torch.randn(n, q_means.shape[1], dtype=q_means.dtype)"),), "from the prior"),
    ("priors.training", "smoke", ELBO,
     ((ELBO_BODY, ELBO_BUGS["detached_prior"][0]),), "no gradient to the prior"),
    ("priors.training", "smoke", ELBO,
     ((ELBO_BODY, "return -(" + ELBO_BODY[7:] + ")"),), "negative ELBO"),
]


(test_public_check_passes_the_reference, test_every_task_keeps_a_public_check,
 test_public_check_names_the_bug) = public_check_tests(topic, PUBLIC_BUGS)


# ------------------------- correct answers the training smoke check must pass; named causes
MOG_MVN_UNIFORM = edit(MOG, ("self.means = nn.Parameter(torch.randn(K, M))",
                             "self.means = nn.Parameter(torch.empty(K, M).uniform_(-2.0, 2.0))"),
                       ("components = td.Independent(td.Normal(self.means, torch.exp(0.5 * "
                        "self.logvars)), 1)",
                        "components = td.MultivariateNormal(self.means, scale_tril="
                        "torch.diag_embed(torch.exp(0.5 * self.logvars)))"))
VAMP_CLAMP = edit(VAMP, ("u = pseudo_init.clamp(1e-3, 1 - 1e-3)\n        self.raw = "
                         "nn.Parameter(torch.log(u) - torch.log1p(-u))",
                         "self.raw = nn.Parameter(pseudo_init.clone())"),
                  ("return torch.sigmoid(self.raw)", "return torch.clamp(self.raw, 0.0, 1.0)"))


@pytest.mark.parametrize("replace", [
    {MOG: MOG_MVN_UNIFORM},
    {MOG: edit(MOG, ("torch.randn(K, M)", "torch.zeros(K, M) + 0.1 * torch.randn(K, M)"))},
    {VAMP: VAMP_CLAMP},
], ids=["mog_mvn_uniform_means", "mog_zeros_plus_noise", "vamp_clamped"])
def test_training_smoke_passes_correct_priors(replace):
    from tests.in_process import assert_public_pass, public_outcomes

    assert_public_pass(public_outcomes(TOPIC, "priors.training", replace))


def test_training_smoke_names_a_negated_elbo():
    from tests.in_process import assert_public_catch, public_outcomes

    src = edit(ELBO, (ELBO_BODY, "return -(" + ELBO_BODY[7:] + ")"))
    assert_public_catch(public_outcomes(TOPIC, "priors.training", {ELBO: src}),
                        "opposite way")


def test_mog_identical_components_are_not_called_unlearnable(tmp_path):
    src = edit(MOG, ("self.means = nn.Parameter(torch.randn(K, M))",
                     "self.means = nn.Parameter(torch.zeros(K, M))"))
    result = run(tmp_path, MOG, src, "priors.mog")
    assert_caught(result, "starts identical")
    assert "not learnable" not in result.message


def test_holes_name_a_wrong_aggregate_density_not_the_ratio(tmp_path):
    src = edit(AGG, ("return torch.cat(out) - math.log(q_means.shape[0])",
                     "return torch.cat(out)"))
    result = run(tmp_path, AGG, src, "priors.holes")
    assert_caught(result, "aggregate_posterior_log_density, which hole_fraction uses")
    assert "inverted" not in result.message and "from the prior" not in result.message
