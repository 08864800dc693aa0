"""Topic 08 (hierarchical VAEs): the reference gets full marks, the listed bugs are caught on
the right task with the concept named, and correct alternatives pass."""

from __future__ import annotations

import pytest

from autograder.paths import solution_notebook
from tests.helpers import assert_caught, assert_full, grade
from tests.topics.public_by_id import public_check_tests
from tests.topics.scaffold import TopicTests

TOPIC = "08_hierarchical_vae"
topic = TopicTests(TOPIC)
edit = topic.edit
run = topic.run
MERGE = "precision_weighted_merge_solution"
BU = "BottomUpHVAE_solution"
TD = "TopDownHVAE_solution"
WARM = "kl_warmup_solution"
AU = "active_units_solution"


@pytest.mark.usefixtures("mnist_root")
def test_reference_full_marks():
    result = grade(solution_notebook(TOPIC))
    assert result.error is None
    assert result.score == result.max_score == 19.0, [(t.id, t.message) for t in result.tasks]


# ------------------------------------------------------------------------ merge
MERGE_BODY = """    prec_a, prec_b = torch.exp(-logvar_a), torch.exp(-logvar_b)
    prec = prec_a + prec_b
    mu = (mu_a * prec_a + mu_b * prec_b) / prec
    return mu, -torch.log(prec)"""


def merge_with(body: str) -> str:
    return edit(MERGE, (MERGE_BODY, body))


def test_merge_averaging_variances(tmp_path):
    src = merge_with("""    var = (logvar_a.exp() + logvar_b.exp()) / 2
    return (mu_a + mu_b) / 2, torch.log(var)""")
    assert_caught(run(tmp_path, MERGE, src, "hvae.merge"), "variances were averaged")


def test_merge_adding_log_variances(tmp_path):
    src = merge_with("""    prec_a, prec_b = torch.exp(-logvar_a), torch.exp(-logvar_b)
    mu = (mu_a * prec_a + mu_b * prec_b) / (prec_a + prec_b)
    return mu, logvar_a + logvar_b""")
    assert_caught(run(tmp_path, MERGE, src, "hvae.merge"), "log-variances were added")


def test_merge_averaging_means(tmp_path):
    src = merge_with("""    prec = torch.exp(-logvar_a) + torch.exp(-logvar_b)
    return (mu_a + mu_b) / 2, -torch.log(prec)""")
    assert_caught(run(tmp_path, MERGE, src, "hvae.merge"), "means were averaged")


def test_merge_weighting_by_variances(tmp_path):
    src = merge_with("""    va, vb = logvar_a.exp(), logvar_b.exp()
    return (mu_a * va + mu_b * vb) / (va + vb), torch.log(va * vb / (va + vb))""")
    assert_caught(run(tmp_path, MERGE, src, "hvae.merge"), "weighted by their variances")


def test_merge_with_variances_passes(tmp_path):
    src = merge_with("""    va, vb = torch.exp(logvar_a), torch.exp(logvar_b)
    var = va * vb / (va + vb)
    return (mu_a * vb + mu_b * va) / (va + vb), torch.log(var)""")
    assert_full(run(tmp_path, MERGE, src, "hvae.merge"))


def test_merge_with_logaddexp_passes(tmp_path):
    src = merge_with("""    logvar = -torch.logaddexp(-logvar_a, -logvar_b)
    w_a = torch.exp(logvar - logvar_a)
    return w_a * mu_a + (1 - w_a) * mu_b, logvar""")
    assert_full(run(tmp_path, MERGE, src, "hvae.merge"))


# GaussianConditional is graded with hvae.bottom_up, kl_warmup with hvae.training, the written
# questions by hvae.exam_*: their tests are in test_t08_exam.py.


# ---------------------------------------------------------------------- models
KL1_BU = 'q1.log_prob(z1) - self.p_z1(z2).log_prob(z1)'
KL1_TD = 'td.kl_divergence(q1, self.p_z1(z2))'


def test_bottom_up_kl1_against_standard_normal(tmp_path):
    src = edit(BU, (KL1_BU, "td.kl_divergence(q1, td.Independent(td.Normal(torch.zeros_like("
                            "q1.mean), torch.ones_like(q1.mean)), 1))"))
    assert_caught(run(tmp_path, BU, src, "hvae.bottom_up"), "N(0, I)")


def test_top_down_kl1_against_standard_normal(tmp_path):
    src = edit(TD, (KL1_TD, "td.kl_divergence(q1, td.Independent(td.Normal(torch.zeros_like("
                            "q1.mean), torch.ones_like(q1.mean)), 1))"))
    assert_caught(run(tmp_path, TD, src, "hvae.top_down"), "N(0, I)")


IGNORES_X = ("""        e1, p1 = self.q_z1(x), self.p_z1(z2)
        mu, logvar = precision_weighted_merge(e1.mean, e1.variance.log(), p1.mean,
                                              p1.variance.log())
        return td.Independent(td.Normal(mu, torch.exp(0.5 * logvar)), 1)""",
             """        return self.p_z1(z2)""")


def test_top_down_ignores_x(tmp_path):
    src = edit(TD, IGNORES_X)
    assert_caught(run(tmp_path, TD, src, "hvae.top_down"), "ignores x")


def test_bottom_up_sample_on_z1(tmp_path):
    src = edit(BU, ("        z1 = q1.rsample()\n        q2",
                    "        z1 = q1.sample()\n        q2"))
    assert_caught(run(tmp_path, BU, src, "hvae.bottom_up"), "rsample")


def test_bottom_up_sample_on_z2(tmp_path):
    src = edit(BU, ("z2 = q2.rsample()", "z2 = q2.sample()"))
    assert_caught(run(tmp_path, BU, src, "hvae.bottom_up"), "rsample")


def test_top_down_sample_on_z2(tmp_path):
    src = edit(TD, ("        z2 = q2.rsample()\n        q1",
                    "        z2 = q2.sample()\n        q1"))
    assert_caught(run(tmp_path, TD, src, "hvae.top_down"), "rsample")


def test_top_down_beta_on_reconstruction(tmp_path):
    src = edit(TD, ('-(t["rec"] - beta * (t["kl1"] + t["kl2"])).mean()',
                    '-(beta * t["rec"] - (t["kl1"] + t["kl2"])).mean()'))
    assert_caught(run(tmp_path, TD, src, "hvae.top_down"), "reconstruction term")


def test_bottom_up_monte_carlo_kl2_passes(tmp_path):
    src = edit(BU, ('"kl2": td.kl_divergence(q2, self.prior_z2())',
                    '"kl2": q2.log_prob(z2) - self.prior_z2().log_prob(z2)'))
    assert_full(run(tmp_path, BU, src, "hvae.bottom_up"))


def test_top_down_monte_carlo_kls_passes(tmp_path):
    src = edit(TD, ('"kl1": td.kl_divergence(q1, self.p_z1(z2))',
                    '"kl1": q1.log_prob(z1) - self.p_z1(z2).log_prob(z1)'),
               ('"kl2": td.kl_divergence(q2, self.prior_z2())',
                '"kl2": q2.log_prob(z2) - self.prior_z2().log_prob(z2)'))
    assert_full(run(tmp_path, TD, src, "hvae.top_down"))
    assert_full(run(tmp_path / "s", TD, src, "hvae.sample"))


# ----------------------------------------------------------------- active units


def test_active_units_from_samples(tmp_path):
    src = edit(AU, ("means1.append(q1.mean)", "means1.append(q1.sample())"),
               ("means2.append(q2.mean)", "means2.append(q2.sample())"))
    assert_caught(run(tmp_path, AU, src, "hvae.active_units"), "SAMPLES")


def test_active_units_variance_over_latent_dims(tmp_path):
    src = edit(AU, ("torch.cat(means1).var(dim=0)", "torch.cat(means1).var(dim=1)"),
               ("torch.cat(means2).var(dim=0)", "torch.cat(means2).var(dim=1)"))
    assert_caught(run(tmp_path, AU, src, "hvae.active_units"), "latent dimensions")


def test_active_units_mean_over_samples_passes(tmp_path):
    src = '''
def active_units(model, data, threshold=0.01):
    with torch.no_grad():
        draws = [model.posterior(data) for _ in range(3)]
        m1 = torch.stack([q1.mean for q1, _ in draws]).mean(0)
        m2 = torch.stack([q2.mean for _, q2 in draws]).mean(0)
    v1 = ((m1 - m1.mean(0)) ** 2).mean(0)
    v2 = ((m2 - m2.mean(0)) ** 2).mean(0)
    return int(torch.count_nonzero(v1 > threshold)), int(torch.count_nonzero(v2 > threshold))
'''
    assert_full(run(tmp_path, AU, src, "hvae.active_units"))


# --------------------------------------------------------------------- training
# Each test trains both models once with the grader's budget (about 30-40 s of CPU). The
# figures in the comments are the grader's own at TRAIN_SEED 0 (issue 13's measurements).
SAMPLE_Z1 = ("        z1 = q1.rsample()\n        return {",
             "        z1 = q1.sample()\n        return {")
TRAINING_ELBO_BUGS = {
    # test ELBO -129.4 (10 of 10 seeds below the threshold, -152 at worst)
    "beta on reconstruction": ('-(t["rec"] - beta * (t["kl1"] + t["kl2"])).mean()',
                               '-(beta * t["rec"] - (t["kl1"] + t["kl2"])).mean()'),
    # -169.0: the z1 posterior is pulled to N(0, I) instead of p(z1|z2)
    "kl1 against N(0, I)": (KL1_TD, "td.kl_divergence(q1, td.Independent(td.Normal("
                                    "torch.zeros_like(q1.mean), torch.ones_like(q1.mean)), 1))"),
    # -202.2: no reconstruction gradient reaches the encoders
    ".sample() on z1": SAMPLE_Z1,
    # -127.3 (8 of 8 seeds below): z1 carries no information of its own (KL1 about 0.1 nats)
    "q(z1|.) ignores x": IGNORES_X,
}


@pytest.mark.usefixtures("mnist_root")
@pytest.mark.parametrize("bug", [b if b == "beta on reconstruction" else
                                 pytest.param(b, marks=pytest.mark.exhaustive)
                                 for b in sorted(TRAINING_ELBO_BUGS)])  # ~50 s each
def test_training_bug_fails_elbo_threshold(tmp_path, bug):
    result = run(tmp_path, TD, edit(TD, TRAINING_ELBO_BUGS[bug]), "hvae.training")
    assert result.status == "failed", result.message
    assert_caught(result, "nats; a correct one reaches above")


@pytest.mark.usefixtures("mnist_root")
def test_training_top_down_sample_on_z2_collapses_z1(tmp_path):
    """ELBO -119.2 passes the threshold, but z1 keeps 18 active units against the bottom-up
    model's 32 (11-22 over 15 seeds): the active-unit comparison names posterior collapse."""
    src = edit(TD, ("        z2 = q2.rsample()\n        q1",
                    "        z2 = q2.sample()\n        q1"))
    result = run(tmp_path, TD, src, "hvae.training")
    assert result.status == "failed", result.message
    assert_caught(result, "posterior collapse in z1:")
    assert ".rsample() on BOTH layers" in result.message


# ------------------------------------------------- public checks (shipped in the student kit)
STANDARD_KL1 = ("td.kl_divergence(q1, td.Independent(td.Normal(torch.zeros_like(q1.mean), "
                "torch.ones_like(q1.mean)), 1))")
BETA_ON_REC = (('-(t["rec"] - beta * (t["kl1"] + t["kl2"])).mean()',
                '-(beta * t["rec"] - (t["kl1"] + t["kl2"])).mean()'),)
PUBLIC_BUGS = [
    ("hvae.bottom_up", "terms_known", BU, ((KL1_BU, STANDARD_KL1),),
     "N(0, I)"),
    ("hvae.bottom_up", "gradients_known", BU,
     (("        z1 = q1.rsample()\n        q2", "        z1 = q1.sample()\n        q2"),),
     "layers whose gradient is off"),
    ("hvae.bottom_up", "gradients_known", BU,
     (("z2 = q2.rsample()", "z2 = q2.sample()"),), "layers whose gradient is off"),
    ("hvae.bottom_up", "forward_known", BU, BETA_ON_REC, "reconstruction term"),
    ("hvae.top_down", "terms_known", TD, ((KL1_TD, STANDARD_KL1),),
     "N(0, I)"),
    ("hvae.top_down", "terms_known", TD, (IGNORES_X,),
     "ignores x"),
    ("hvae.top_down", "gradients_known", TD,
     (("        z2 = q2.rsample()\n        q1", "        z2 = q2.sample()\n        q1"),),
     "layers whose gradient is off"),
    ("hvae.top_down", "forward_known", TD, BETA_ON_REC, "reconstruction term"),
    ("hvae.sample", "known", BU,
     (("z2 = self.prior_z2().sample(torch.Size([n]))",
       "z2 = self.prior_z2().mean.expand(n, -1)"),), "z2 is not drawn"),
    ("hvae.sample", "known", TD,
     (("z1 = self.p_z1(z2).sample()", "z1 = self.p_z1(z2).mean"),), "z1 is the mean"),
    ("hvae.active_units", "designed", AU,
     (("means1.append(q1.mean)", "means1.append(q1.sample())"),
      ("means2.append(q2.mean)", "means2.append(q2.sample())")), "SAMPLES"),
    ("hvae.active_units", "designed", AU,
     (("torch.cat(means1).var(dim=0)", "torch.cat(means1).var(dim=1)"),
      ("torch.cat(means2).var(dim=0)", "torch.cat(means2).var(dim=1)")), "latent dimensions"),
    ("hvae.active_units", "designed", AU,
     (("(var1 > threshold)", "(var1 > 0.01)"), ("(var2 > threshold)", "(var2 > 0.01)")),
     "threshold argument is ignored"),
    ("hvae.training", "smoke", TD,
     (('return -(t["rec"] - beta * (t["kl1"] + t["kl2"])).mean()',
       'return (t["rec"] - beta * (t["kl1"] + t["kl2"])).mean()'),), "TopDownHVAE"),
]

(test_public_check_passes_the_reference, test_every_task_keeps_a_public_check,
 test_public_check_names_the_bug) = public_check_tests(topic, PUBLIC_BUGS)


# ----------------------------------------------- named causes: the right latent, the schedule
def _failures(task_id: str, replace: dict[str, str]) -> list[str]:
    from tests.in_process import public_outcomes

    return [m for status, m in public_outcomes(TOPIC, task_id, replace).values()
            if status == "failed"]


def test_bottom_up_sample_on_z2_names_z2(tmp_path):
    """The grader's hidden check names the latent whose .sample() matches both layers'
    gradients (the public check, without grader-only code, states what was measured)."""
    result = run(tmp_path, BU, edit(BU, ("z2 = q2.rsample()", "z2 = q2.sample()")),
                 "hvae.bottom_up")
    assert "z2 drawn with .sample()" in result.message, result.message
    assert "z1 drawn with .sample()" not in result.message, result.message


def test_bottom_up_sample_on_z1_names_z1(tmp_path):
    result = run(tmp_path, BU, edit(
        BU, ("        z1 = q1.rsample()\n        q2", "        z1 = q1.sample()\n        q2")),
        "hvae.bottom_up")
    assert "z1 drawn with .sample()" in result.message, result.message


def test_floor_division_in_warmup_is_named_by_the_training_check():
    src = edit(WARM, ("step / warmup_steps", "step // warmup_steps"))
    messages = _failures("hvae.training", {WARM: src})
    assert any("Fix kl_warmup first" in m for m in messages), messages
    assert not any("rsample" in m for m in messages), messages


def test_training_smoke_passes_monte_carlo_kls():
    from tests.in_process import assert_public_pass, public_outcomes

    src = edit(TD, ('"kl1": td.kl_divergence(q1, self.p_z1(z2))',
                    '"kl1": q1.log_prob(z1) - self.p_z1(z2).log_prob(z1)'),
               ('"kl2": td.kl_divergence(q2, self.prior_z2())',
                '"kl2": q2.log_prob(z2) - self.prior_z2().log_prob(z2)'))
    assert_public_pass(public_outcomes(TOPIC, "hvae.training", {TD: src}))


def test_training_run_names_a_non_linear_warmup_schedule_first():
    from autograder.topics.t08_hierarchical_vae.hidden import _warmup_schedule_note
    from autograder.topics.t08_hierarchical_vae.probes import TRAIN_STEPS, TRAIN_WARMUP

    steps = range(0, TRAIN_STEPS, 100)
    assert _warmup_schedule_note([min(1.0, s / TRAIN_WARMUP) for s in steps]) == ""
    floor = [float(min(1, s // TRAIN_WARMUP)) for s in steps]
    assert "fix kl_warmup first" in _warmup_schedule_note(floor)
