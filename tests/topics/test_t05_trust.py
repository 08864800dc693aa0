"""Topic 05: checks that trust nothing computed next to student code (issue 9).

Each test is a way to get credit without a working VAE, or a misleading message, written from
the issue's description; it must now lose points with the cause named.
"""

from __future__ import annotations

import ast
import math

import pytest
import torch
import torch.distributions as td

import autograder.topics.t05_vae_binary_mnist as t05
from autograder.checks.api import CheckFailed, Judgement
from autograder.grading import Grader
from autograder.paths import course_root, exercise_notebook
from autograder.registry import get_task
from autograder.topics.t05_vae_binary_mnist import hidden, probes
from autograder.topics.t05_vae_binary_mnist import inputs as builders
from tests.helpers import (
    assert_caught,
    grade,
    grade_variant,
    shared_grader,
    solution_cell,
    task,
)
from tests.topics.scaffold import TopicTests

TOPIC = t05.TOPIC
PRIOR, ENC, DEC, VAE_ID = ("GaussianPrior_solution", "GaussianEncoder_solution",
                           "BernoulliDecoder_solution", "VAE_solution")
KL = "td.kl_divergence(q, self.prior())"
NEG_LOSS = "return -self.elbo(x).mean()"


topic = TopicTests(TOPIC)
edit = topic.edit
run = topic.run


def judgement(inputs: dict, got: object) -> Judgement:
    return Judgement(inputs=inputs, got=got, ref=None, hidden=False, device="cpu")


# ------------------------------------------------------- 1. a trained prior fails vae.prior
def test_prior_with_parameters_fails(tmp_path):
    src = edit(PRIOR, ('self.register_buffer("mean", torch.zeros(M))',
                       "self.mean = nn.Parameter(torch.zeros(M))"),
               ('self.register_buffer("std", torch.ones(M))',
                "self.log_std = nn.Parameter(torch.zeros(M))"),
               ("scale=self.std", "scale=self.log_std.exp()"))
    assert_caught(run(tmp_path, PRIOR, src, "vae.prior"), "buffers, not trained")


def test_prior_hiding_its_parameters_fails(tmp_path):
    src = edit(PRIOR, ('self.register_buffer("mean", torch.zeros(M))',
                       "self.mean = nn.Parameter(torch.zeros(M))"),
               ('self.register_buffer("std", torch.ones(M))',
                "self.std = nn.Parameter(torch.ones(M))"))
    src += "\n    def parameters(self, recurse=True):\n        return iter(())\n"
    assert_caught(run(tmp_path, PRIOR, src, "vae.prior"), "buffers, not trained")


# ------------------------------- 2. the training check's evaluation cannot be swapped in the child
def test_training_ignores_a_swapped_evaluation_helper(tmp_path):
    src = ("import os\nif os.environ.get('NBGRADER_EXECUTION'):\n"
           "    import autograder.topics.t05_vae_binary_mnist as _t\n"
           "    _t.independent_test_elbo = lambda *a, **k: -100.0\n"
           "    _t.elbo_terms = _t.evaluation_images = _t.judge_training = None\n"
           + edit(VAE_ID, (NEG_LOSS, "return 0.0 * self.elbo(x).mean()")))
    assert_caught(run(tmp_path, VAE_ID, src, "vae.training"), "zero gradient")


# ---------------------- 3. the evaluation uses the grader's model, not the student's modules
def test_training_with_a_decoder_whose_log_prob_is_zero_fails(tmp_path):
    src = edit(DEC, ("return td.Independent(td.Bernoulli(logits=self.decoder_net(z)), 2)",
                     "return _ZeroLP(td.Bernoulli(logits=self.decoder_net(z)), 2)"))
    src += ("\n\nclass _ZeroLP(td.Independent):\n    def log_prob(self, x):\n"
            "        return 0.0 * super().log_prob(x)\n")
    assert_caught(run(tmp_path, DEC, src, "vae.training"), "decoder network's weights")


def test_training_judge_refuses_weights_it_cannot_read():
    enc, dec = probes.training_networks()
    weights = {"encoder": probes.weights_of(enc), "decoder": probes.weights_of(dec), "losses": []}
    weights["decoder"]["0.weight"] = torch.full_like(weights["decoder"]["0.weight"], math.nan)
    with pytest.raises(CheckFailed, match="NaN"):
        hidden.judge_training(judgement({}, weights))
    weights["decoder"] = {"weight": torch.zeros(3)}
    with pytest.raises(CheckFailed, match="decoder network's weights"):
        hidden.judge_training(judgement({}, weights))


def test_untrained_networks_fail_with_the_graders_own_elbo(mnist_root):
    from autograder.trusted.vae_mnist import elbo_terms, evaluation_images

    enc, dec = probes.training_networks()
    inputs = {"check_x": evaluation_images(64)}
    got = {"encoder": probes.weights_of(enc), "decoder": probes.weights_of(dec), "losses": [0.0]}
    with pytest.raises(CheckFailed, match="did not change"):
        hidden.judge_training(judgement(inputs, got))
    terms = elbo_terms(enc, dec, inputs["check_x"])
    assert bool((terms.elbo <= 0).all()) and bool((terms.kl >= 0).all())


# ------------------------------------------- 4. noise cannot hide a biased ELBO or loss
def test_noise_hiding_a_biased_elbo_fails(tmp_path):
    noise = "+ (40.0 + 1e4 * torch.randn(x.shape[0], device=x.device, dtype=x.dtype))"
    src = edit(VAE_ID, (f"- {KL}", f"- {KL} {noise}"))
    assert_caught(run(tmp_path, VAE_ID, src, "vae.elbo"), "vary far more")


def _draws(inputs: dict, form: str, n: int = probes.ELBO_N) -> torch.Tensor:
    """Honest single-sample ELBO draws on the check's model, computed here independently."""
    W, c, x = (inputs[k].double() for k in ("W", "c", "x"))
    q = td.Independent(td.Normal(inputs["q_mean"].double(),
                                 (0.5 * inputs["q_logvar"].double()).exp()), 1)
    p = td.Independent(td.Normal(torch.zeros(2, dtype=torch.float64),
                                 torch.ones(2, dtype=torch.float64)), 1)

    def rec(z):
        logits = (z @ W.T + c).reshape(-1, 28, 28)
        return td.Independent(td.Bernoulli(logits=logits), 2).log_prob(x)

    z = q.sample((n,))
    if form == "analytic":
        return rec(z) - td.kl_divergence(q, p)
    other = z if form == "same_z" else q.sample((n,))
    return rec(z) - (q.log_prob(other) - p.log_prob(other))


@pytest.mark.parametrize("form", ["analytic", "same_z", "independent_z"])
def test_honest_draws_pass_the_variance_test(form):
    torch.manual_seed(3)
    inputs = builders.elbo_inputs()
    draws = _draws(inputs, form).float()
    hidden.judge_elbo_value(judgement(inputs, {"elbo": draws}))
    with pytest.raises(CheckFailed, match="vary far more"):
        hidden.judge_elbo_value(judgement(inputs, {"elbo": draws + 30 * torch.randn_like(draws)}))


def test_forward_tolerance_does_not_grow_with_noise():
    torch.manual_seed(4)
    inputs = builders.elbo_inputs()
    draws = _draws(inputs, "analytic").float()
    noisy = draws + 1e4 * torch.randn_like(draws)
    biased_loss = -draws.mean() + 40.0
    with pytest.raises(CheckFailed, match="forward should return"):
        hidden.judge_forward(judgement(inputs, {"elbo": noisy, "loss": biased_loss}))
    hidden.judge_forward(judgement(inputs, {"elbo": noisy, "loss": -draws.mean()}))


# --------------------------------- 5. the evaluation images never reach the child
def test_training_on_the_test_images_fails(tmp_path):
    """Without a sandbox the child can still read the test files; the judge then sees that the
    networks fit the test images far better than unseen training images. With the sandbox the
    test files cannot even be opened, so the task fails either way."""
    src = ("from vaelib.data import load_split as _ls\n_TEST = {}\n" + edit(VAE_ID, (
        NEG_LOSS,
        "if 't' not in _TEST:\n"
        "            _TEST['t'] = _ls('test', 'fixed', limit=1000).binary()\n"
        "        t = _TEST['t'].to(x.device)\n"
        "        idx = torch.randint(0, t.shape[0], (x.shape[0],), device=x.device)\n"
        "        return -self.elbo(t[idx]).mean()")))
    unsandboxed = Grader(device="cpu", sandbox="off")
    result = grade_variant(TOPIC, tmp_path / "off", VAE_ID, src, "vae.training", unsandboxed)
    assert_caught(result, "trained on the test set")
    if shared_grader().policy.active:
        sandboxed = run(tmp_path / "on", VAE_ID, src, "vae.training")
        assert_caught(sandboxed, "Permission denied", "MNIST is not in")


def test_training_inputs_hold_training_images_only(mnist_root):
    from vaelib.data import binarize, load_mnist_uint8, to_unit

    inputs = builders.training_inputs()
    train, _ = load_mnist_uint8("train", mnist_root)
    assert set(inputs) == {"train", "check_x"}
    assert torch.equal(inputs["train"], train[:builders.TRAIN_SUBSET])
    held = train[builders.TRAIN_SUBSET:builders.TRAIN_SUBSET + builders.CHECK_BATCH]
    assert torch.equal(inputs["check_x"], binarize(to_unit(held), "fixed"))


def test_training_probe_reads_no_data_files(tmp_path, monkeypatch, mnist_root):
    """The probe trains from its inputs: with no MNIST reachable at all it still runs, so a
    sandbox may deny the child the test files (and even the training files)."""
    from autograder.checks.api import ProbeContext

    inputs = builders.training_inputs()
    monkeypatch.setenv("VAE_COURSE_DATA", str(tmp_path / "nothing"))
    monkeypatch.setattr(probes, "TRAIN_STEPS", 3)
    ns: dict = {}
    for grade_id in (PRIOR, ENC, DEC, VAE_ID):
        exec(solution_cell(TOPIC, grade_id), {"torch": torch, "td": td, "nn": torch.nn}, ns)
    got = probes.probe_training(ns, inputs, ProbeContext(torch.device("cpu")))
    assert got["steps"] == 3 and set(got["encoder"]) == set(probes.weights_of(
        probes.training_networks()[0]))
    assert not (tmp_path / "nothing").exists()


def test_probes_use_no_evaluation_helper_of_the_child():
    """Judges import autograder.trusted inside their body; nothing imports it at module level
    where student code runs, and vaelib exports no estimator of a graded quantity."""
    root = course_root()
    files = [*(root / "autograder" / "topics").glob("*.py"), root / "autograder" / "worker.py",
             *(root / "vaelib").glob("*.py")]
    for path in files:
        for node in ast.parse(path.read_text()).body:
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.startswith("autograder.trusted") for n in names), path
    import vaelib.training

    assert not hasattr(vaelib.training, "log_likelihood")
    assert not hasattr(vaelib.training, "evaluate_log_likelihood")
    for notebook in ("solutions", "exercises"):
        text = (root / notebook / TOPIC / f"{TOPIC}.ipynb").read_text()
        assert "autograder.trusted" not in text


# ------------------- also: a KL at a detached draw, a detached loss (gradient with q != p)
def test_kl_at_a_detached_sample_fails(tmp_path):
    src = edit(VAE_ID, (KL, "(q.log_prob(q.sample()) - self.prior().log_prob(q.sample()))"))
    assert_caught(run(tmp_path, VAE_ID, src, "vae.elbo"), "KL term")


def test_kl_at_the_detached_same_draw_fails(tmp_path):
    src = edit(VAE_ID, (f"return self.decoder(z).log_prob(x) - {KL}",
                        "zd = z.detach()\n        return self.decoder(z).log_prob(x) - "
                        "(q.log_prob(zd) - self.prior().log_prob(zd))"))
    assert_caught(run(tmp_path, VAE_ID, src, "vae.elbo"), "KL term")


def test_detached_loss_fails(tmp_path):
    src = edit(VAE_ID, (NEG_LOSS, "return -self.elbo(x).mean().detach()"))
    assert_caught(run(tmp_path, VAE_ID, src, "vae.elbo"), "no gradient")


# ------------------- also: the stub's NotImplementedError vs one raised by a library
def test_multivariate_encoder_is_refused_and_training_names_the_kl_registry(tmp_path):
    src = edit(ENC, ("td.Independent(td.Normal(loc=mean, scale=torch.exp(0.5 * logvar)), 1)",
                     "td.MultivariateNormal(mean, scale_tril=torch.diag_embed("
                     "torch.exp(0.5 * logvar)))"))
    assert_caught(run(tmp_path, ENC, src, "vae.encoder"), "MultivariateNormal")
    result = run(tmp_path / "t", ENC, src, "vae.training")
    assert result.status == "failed"
    assert_caught(result, "td.kl_divergence raised NotImplementedError")


def test_library_not_implemented_error_is_not_a_stub(tmp_path):
    src = edit(VAE_ID, ("return self.decoder(z).sample()", "return self.decoder(z).rsample()"))
    result = run(tmp_path, VAE_ID, src, "vae.sample")
    assert result.status == "error", result.message
    assert_caught(result, "inside a library")


def test_exercise_stub_is_reported_as_missing():
    result = grade(exercise_notebook(TOPIC))
    assert task(result, "vae.prior").status == "missing"
    assert "not implemented yet" in task(result, "vae.elbo").message


# ------------------------------------------------------------- also: named causes
def test_half_outside_the_exponential_is_named(tmp_path):
    src = edit(ENC, ("torch.exp(0.5 * logvar)", "0.5 * torch.exp(logvar)"))
    assert_caught(run(tmp_path, ENC, src, "vae.encoder"), "outside the exponential")


def test_covariance_given_as_a_std_is_named(tmp_path):
    src = edit(ENC, ("td.Independent(td.Normal(loc=mean, scale=torch.exp(0.5 * logvar)), 1)",
                     "td.MultivariateNormal(mean, covariance_matrix=torch.diag_embed("
                     "torch.exp(0.5 * logvar)))"))
    assert_caught(run(tmp_path, ENC, src, "vae.encoder"), "where a (co)variance is expected")


def test_z_from_the_prior_inside_elbo_is_named(tmp_path):
    src = edit(VAE_ID, ("z = q.rsample()", "z = self.prior().rsample(torch.Size([x.shape[0]]))"))
    assert_caught(run(tmp_path, VAE_ID, src, "vae.elbo"), "drawn from the prior")


def test_training_names_probabilities_passed_as_logits(tmp_path):
    src = edit(DEC, ("logits=self.decoder_net(z)", "logits=torch.sigmoid(self.decoder_net(z))"))
    assert_caught(run(tmp_path, DEC, src, "vae.training"), "probabilities passed as logits")


def test_training_ties_the_weights_to_the_classes(tmp_path):
    """std = exp(logvar) still trains to a good test ELBO, but the student's elbo(x) is not the
    specified model's ELBO at the trained weights: named."""
    src = edit(ENC, ("torch.exp(0.5 * logvar)", "torch.exp(logvar)"))
    assert_caught(run(tmp_path, ENC, src, "vae.training"), "log standard deviation")


def test_training_names_a_positive_elbo_loss(tmp_path):
    src = edit(VAE_ID, (NEG_LOSS, "return self.elbo(x).mean()"))
    assert_caught(run(tmp_path, VAE_ID, src, "vae.training"), "NEGATIVE ELBO")


def test_no_graded_answer_is_importable_from_a_topic_module():
    """Topics 01-05: the judges' closed forms (graded answers) moved to autograder.trusted,
    and topic 03's probes take the exact posterior from their inputs."""
    import autograder.topics.t01_ppca as t01
    import autograder.topics.t02_gaussian_kl as t02
    import autograder.topics.t03_elbo_jensen as t03

    moved = {t01: ("log_likelihood",), t02: ("diag_kl", "mvn_kl", "sympy_closed_form"),
             t03: ("Ppca", "log_mean_exp64"),
             t05: ("gaussian_kl", "exact_terms", "grid_2d", "independent_test_elbo")}
    for module, names in moved.items():
        for name in names:
            assert not hasattr(module, name), f"{module.__name__}.{name}"
    inputs = get_task("elbo.ppca").check("elbo_touches_mock").inputs()
    assert {"post_mean", "post_cov"} <= set(inputs)


def test_prior_task_has_the_parameter_check():
    names = [c.name for c in get_task("vae.prior").checks]
    assert any("buffers, not trained" in n for n in names)
