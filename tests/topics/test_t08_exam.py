"""Topic 08's written (exam-practice) questions and the tasks that absorbed GaussianConditional
and kl_warmup: the solution passes, a correct answer written differently passes, a realistic bug
fails with the concept named, and the untouched exercise scores 0."""

from __future__ import annotations

import pytest
import torch

from autograder import payload
from autograder.checks.api import ProbeContext
from autograder.grading import encode_inputs
from autograder.notebook import _run_check
from autograder.notebook_code import load_notebook_code
from autograder.paths import exercise_notebook
from autograder.registry import get_task
from tests.helpers import assert_caught, assert_full, shared_grader, solution_cell
from tests.in_process import task_namespace
from tests.topics.scaffold import TopicTests

TOPIC = "08_hierarchical_vae"
topic = TopicTests(TOPIC)
ANALYTIC = "analytic_kl_terms_solution"
MERGE = "merge_gaussians_sympy_solution"
COND = "GaussianConditional_solution"
BU = "BottomUpHVAE_solution"
WARM = "kl_warmup_solution"


def hidden_outcome(task_id: str, check_id: str, replace: dict[str, str]) -> tuple[str, str]:
    """(status, message) of a hidden check, in-process: the variant's results judged against
    the solution's results for the same inputs (what the grader's reference is)."""
    task, device = get_task(task_id), torch.device("cpu")
    check = task.check(check_id)
    ref = check.probe(task_namespace(task), payload.loads(encode_inputs(check)),
                      ProbeContext(device))
    ref = payload.loads(payload.dumps(payload.encode(ref)))
    outcome = _run_check(check, task_namespace(task, replace), ProbeContext(device), ref, "cpu")
    return outcome.status, outcome.message


def test_topic_points_are_kept_and_exam_questions_added():
    """GaussianConditional and kl_warmup were merged into larger tasks, their points kept
    (16 before), plus 3 points of written questions."""
    points = {t: get_task(t).points for t in (
        "hvae.exam_analytic_kl", "hvae.exam_merge", "hvae.merge", "hvae.bottom_up",
        "hvae.top_down", "hvae.sample", "hvae.active_units", "hvae.training")}
    assert points["hvae.bottom_up"] == 4.0 and points["hvae.training"] == 4.0
    assert sum(points.values()) == 19.0
    for task_id in ("hvae.exam_analytic_kl", "hvae.exam_merge"):
        assert get_task(task_id).description.startswith("exam practice: ")
        assert any(c.hidden for c in get_task(task_id).checks)


# ----------------------------------------------------------------- which KL is analytic
ANALYTIC_VARIANT = '''
def analytic_kl_terms(parents_z1, parents_z2):
    z2_waits_for_z1 = "z1" in parents_z2
    return sorted(["kl2"] if z2_waits_for_z1 else ["kl1", "kl2"])
'''
ALL_ANALYTIC = '''
def analytic_kl_terms(parents_z1, parents_z2):
    return {"kl1", "kl2"}
'''
BY_NOTEBOOK_NAME = '''
def analytic_kl_terms(parents_z1, parents_z2):
    return {"kl2"} if parents_z2 == {"z1"} else {"kl1", "kl2"}
'''


def test_analytic_solution_and_a_list_variant_pass(tmp_path):
    assert_full(topic.run(tmp_path, ANALYTIC, solution_cell(TOPIC, ANALYTIC),
                          "hvae.exam_analytic_kl"))
    assert_full(topic.run(tmp_path / "v", ANALYTIC, ANALYTIC_VARIANT, "hvae.exam_analytic_kl"))


def test_analytic_bottom_up_kl1_is_named(tmp_path):
    result = topic.run(tmp_path, ANALYTIC, ALL_ANALYTIC, "hvae.exam_analytic_kl")
    assert_caught(result, "kl1 of the bottom-up ELBO has no closed form")
    assert result.points == 0.0


def test_analytic_missing_top_down_kl1_is_named():
    status, message = topic.public("hvae.exam_analytic_kl", "notebook", {ANALYTIC: '''
def analytic_kl_terms(parents_z1, parents_z2):
    return {"kl2"}
'''})
    assert status == "failed"
    assert "kl1 of the top-down ELBO is analytic" in message, message


def test_analytic_wrong_names_and_types_are_named():
    status, message = topic.public("hvae.exam_analytic_kl", "notebook", {ANALYTIC: '''
def analytic_kl_terms(parents_z1, parents_z2):
    return "kl2"
'''})
    assert status == "failed" and "should be a set of names" in message, message
    status, message = topic.public("hvae.exam_analytic_kl", "notebook", {ANALYTIC: '''
def analytic_kl_terms(parents_z1, parents_z2):
    return {"KL2"}
'''})
    assert status == "failed" and "section 1's terms" in message, message


def test_analytic_answer_keyed_on_the_notebook_factorisations_fails_the_hidden_check(tmp_path):
    """Public check passed, but another factorisation (a skip connection x -> q(z2|.)) shows
    the answer does not follow from what q conditions on."""
    assert topic.public("hvae.exam_analytic_kl", "notebook", {ANALYTIC: BY_NOTEBOOK_NAME}
                        )[0] == "passed"
    result = topic.run(tmp_path, ANALYTIC, BY_NOTEBOOK_NAME, "hvae.exam_analytic_kl")
    assert_caught(result, "follows from what each factor of q conditions on")
    assert result.points == 0.5


# ------------------------------------------------------------------------ the merge
MERGE_TYPED = '''
def merge_gaussians_sympy(mu1, v1, mu2, v2):
    return (mu1 * v2 + mu2 * v1) / (v1 + v2), 1 / (1 / v1 + 1 / v2)
'''


def merge_returning(mean: str, var: str) -> str:
    return f'''
def merge_gaussians_sympy(mu1, v1, mu2, v2):
    return {mean}, {var}
'''


def test_merge_solution_and_a_typed_closed_form_pass(tmp_path):
    assert_full(topic.run(tmp_path, MERGE, solution_cell(TOPIC, MERGE), "hvae.exam_merge"))
    assert_full(topic.run(tmp_path / "v", MERGE, MERGE_TYPED, "hvae.exam_merge"))


@pytest.mark.parametrize(("mean", "var", "concept"), [
    ("(mu1 * v2 + mu2 * v1) / (v1 + v2)", "(v1 + v2) / 2", "the variances were averaged"),
    ("(mu1 * v2 + mu2 * v1) / (v1 + v2)", "sympy.sqrt(v1 * v2 / (v1 + v2))",
     "standard deviation, not the variance"),
    ("(mu1 + mu2) / 2", "v1 * v2 / (v1 + v2)", "averaged without weights"),
    ("(mu1 * v1 + mu2 * v2) / (v1 + v2)", "v1 * v2 / (v1 + v2)", "weighted by their variances"),
    ("(mu1 * v2 + mu2 * v1) / (v1 + v2)", "v1 * v2", "not that of the normalised product"),
])
def test_merge_slips_are_named(mean, var, concept):
    status, message = topic.public("hvae.exam_merge", "symbolic",
                                   {MERGE: merge_returning(mean, var)})
    assert status == "failed", message
    assert concept in message, message


def test_merge_slip_is_named_in_the_sandboxed_grade(tmp_path):
    """Through the grader: judged in a judge child, the failure reported as is."""
    result = topic.run(tmp_path, MERGE, merge_returning("(mu1 + mu2) / 2", "(v1 + v2) / 2"),
                       "hvae.exam_merge")
    assert_caught(result, "the variances were averaged")
    assert "averaged without weights" in result.message


def test_merge_with_its_own_symbols_fails_the_hidden_check(tmp_path):
    """An answer typed with symbols of its own (the public check's names) passes the public
    check, not the log-variance and numeric instances."""
    src = '''
def merge_gaussians_sympy(mu1, v1, mu2, v2):
    m1, m2 = sympy.symbols("mu1 mu2", real=True)
    w1, w2 = sympy.symbols("v1 v2", positive=True)
    return (m1 * w2 + m2 * w1) / (w1 + w2), w1 * w2 / (w1 + w2)
'''
    assert topic.public("hvae.exam_merge", "symbolic", {MERGE: src})[0] == "passed"
    result = topic.run(tmp_path, MERGE, src, "hvae.exam_merge")
    assert_caught(result, "build the answer from the arguments")
    assert result.points == 1.0


def test_merge_stray_symbols_are_named():
    src = '''
def merge_gaussians_sympy(mu1, v1, mu2, v2):
    a, b = sympy.symbols("a b")
    return a, b
'''
    status, message = topic.public("hvae.exam_merge", "symbolic", {MERGE: src})
    assert status == "failed" and "not its arguments" in message, message


# ---------------------------------------------------------------- untouched exercise
@pytest.mark.parametrize("task_id", ["hvae.exam_analytic_kl", "hvae.exam_merge"])
def test_untouched_exercise_scores_zero(task_id):
    code = load_notebook_code(exercise_notebook(TOPIC))
    result = shared_grader().grade_task(code, get_task(task_id))
    assert result.points == 0.0 and result.status == "missing", result.message


# ------------------------------------------- GaussianConditional graded with BottomUpHVAE
def test_conditional_bug_is_named_in_the_bottom_up_task(tmp_path):
    src = topic.edit(COND, ("torch.exp(0.5 * logvar)", "torch.exp(logvar)"))
    result = topic.run(tmp_path, COND, src, "hvae.bottom_up")
    assert_caught(result, "variance")
    assert "GaussianConditional" in result.message
    assert result.points == 3.0  # the model's checks (3 of 4 points) still pass


def conditional_with(forward_body: str) -> str:
    """A GaussianConditional cell whose forward(u) has this body (8-space indent)."""
    return f'''
class GaussianConditional(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, u):
{forward_body}
'''


def test_conditional_as_a_multivariate_normal_or_with_split_passes():
    """A MultivariateNormal with a diagonal scale is the same distribution: accepted."""
    mvn = conditional_with("""        h = self.net(u)
        m = h.shape[-1] // 2
        scale = torch.diag_embed(torch.exp(h[..., m:]).sqrt())
        return td.MultivariateNormal(h[..., :m], scale_tril=scale)""")
    split = conditional_with("""        h = self.net(u)
        mean, logvar = h.split(h.shape[-1] // 2, dim=-1)
        return td.Independent(td.Normal(loc=mean, scale=logvar.mul(0.5).exp()), 1)""")
    for src in (mvn, split):
        assert topic.public("hvae.bottom_up", "conditional", {COND: src}) == ("passed", "")


# --------------------------------------------------------- kl_warmup graded with training
def test_warmup_floor_division_is_named_as_integer_division():
    src = topic.edit(WARM, ("step / warmup_steps", "step // warmup_steps"))
    status, message = topic.public("hvae.training", "warmup", {WARM: src})
    assert status == "failed" and "integer division" in message, message


@pytest.mark.parametrize(("pairs", "concept"), [
    ((("float(min(1.0, max(0.0, step / warmup_steps)))", "float(step / warmup_steps)"),),
     "exceeds 1"),
    ((("step / warmup_steps", "(step + 1) / warmup_steps"),), "starts above 0"),
    ((("return 1.0", "return 0.0"),), "no warm-up, beta = 1"),
])
def test_warmup_bugs_are_named_in_the_training_task(pairs, concept):
    status, message = topic.public("hvae.training", "warmup", {WARM: topic.edit(WARM, *pairs)})
    assert status == "failed" and concept in message, message


def test_warmup_numpy_variant_passes_and_a_fixed_length_fails_the_hidden_check():
    numpy_clip = '''
import numpy as np


def kl_warmup(step, warmup_steps):
    return float(np.clip(step / max(warmup_steps, 1e-12), 0, 1)) if warmup_steps else 1.0
'''
    assert topic.public("hvae.training", "warmup", {WARM: numpy_clip}) == ("passed", "")
    assert hidden_outcome("hvae.training", "warmup_reference", {WARM: numpy_clip})[0] == \
        "passed"
    fixed = '''
def kl_warmup(step, warmup_steps):
    return 1.0 if warmup_steps == 0 else min(1.0, step / 100)
'''
    assert topic.public("hvae.training", "warmup", {WARM: fixed}) == ("passed", "")
    status, message = hidden_outcome("hvae.training", "warmup_reference", {WARM: fixed})
    assert status == "failed" and "another warm-up length" in message, message
