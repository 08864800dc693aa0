"""Topic 07's written (exam-practice) questions: the reference and correct variants written
differently pass (hidden checks included), the classic slips fail with the concept named, and
the untouched exercise scores nothing."""

from __future__ import annotations

import pytest

from autograder.notebook_code import load_notebook_code
from autograder.paths import course_root
from autograder.registry import get_task
from tests.helpers import assert_caught, assert_full, shared_grader
from tests.topics.scaffold import TopicTests

TOPIC = "07_priors"
topic = TopicTests(TOPIC)
SURGERY = "elbo_surgery_terms_solution"
GAUSSIAN = "best_gaussian_prior_solution"


# ------------------------------------------------------------------ the ELBO-surgery terms
SURGERY_VARIANTS = {
    "entropies_loops_math": '''
import math


def elbo_surgery_terms(q, p):
    rows = q.tolist()
    n, s = len(rows), len(rows[0])
    agg = [sum(r[k] for r in rows) / n for k in range(s)]
    h_agg = -sum(a * math.log(a) for a in agg)
    h_rows = -sum(r[k] * math.log(r[k]) for r in rows for k in range(s)) / n
    cross = -sum(agg[k] * math.log(float(p[k])) for k in range(s))
    return h_agg - h_rows, cross - h_agg
''',
    "tensors_via_average_kl": '''
def elbo_surgery_terms(q, p):
    q32, p32 = q.float(), p.float()
    agg = q32.mean(dim=0, keepdim=True)
    average_kl = torch.sum(q32 * torch.log(q32 / p32), dim=1).mean()
    mi = torch.sum(q32 * torch.log(q32 / agg)) / q32.shape[0]
    return mi, average_kl - mi
''',
    "sympy_numbers": '''
import sympy


def elbo_surgery_terms(q, p):
    rows = [[sympy.nsimplify(v) for v in r] for r in q.tolist()]
    prior = [sympy.nsimplify(v) for v in p.tolist()]
    n = len(rows)
    agg = [sum(col) / n for col in zip(*rows)]
    mi = sum(v * sympy.log(v / a) for r in rows for v, a in zip(r, agg)) / n
    kl = sum(a * sympy.log(a / b) for a, b in zip(agg, prior))
    return mi, kl
''',
}
SURGERY_SOLUTION_LINES = (
    "mutual_information = (q * (q.log() - aggregate.log())).sum(1).mean()",
    "aggregate_kl = (aggregate * (aggregate.log() - p.log())).sum()",
)
SURGERY_BUGS = {
    "average_kl_for_aggregate": ((
        SURGERY_SOLUTION_LINES[1],
        "aggregate_kl = (q * (q.log() - p.log())).sum(1).mean()"),
        "average of the per-example KLs"),
    "bits": ((SURGERY_SOLUTION_LINES[0],
              "mutual_information = (q * (q.log2() - aggregate.log2())).sum(1).mean()"),
             "bits"),
    "swapped": (("return float(mutual_information), float(aggregate_kl)",
                 "return float(aggregate_kl), float(mutual_information)"), "swapped"),
    "reversed_kl": ((SURGERY_SOLUTION_LINES[1],
                     "aggregate_kl = (p * (p.log() - aggregate.log())).sum()"), "reversed"),
    "information_against_prior": ((
        SURGERY_SOLUTION_LINES[0],
        "mutual_information = (q * (q.log() - p.log())).sum(1).mean()"), "not with p"),
    "sign": ((SURGERY_SOLUTION_LINES[1],
              "aggregate_kl = (aggregate * (p.log() - aggregate.log())).sum()"), "sign"),
}


def test_surgery_reference_full_marks(tmp_path):
    source = topic.edit(SURGERY)
    assert_full(topic.run(tmp_path, SURGERY, source, "priors.exam_surgery"))


@pytest.mark.parametrize("name", sorted(SURGERY_VARIANTS))
def test_surgery_correct_variants_pass(tmp_path, name):
    assert_full(topic.run(tmp_path, SURGERY, SURGERY_VARIANTS[name], "priors.exam_surgery"))


@pytest.mark.parametrize("bug", sorted(SURGERY_BUGS))
def test_surgery_slips_are_named(bug):
    pair, concept = SURGERY_BUGS[bug]
    status, message = topic.public("priors.exam_surgery", "toy",
                                   {SURGERY: topic.edit(SURGERY, pair)})
    assert status == "failed", message
    assert concept.lower() in message.lower(), message


def test_surgery_hard_coded_toy_fails_the_other_toy(tmp_path):
    source = "def elbo_surgery_terms(q, p):\n    return 0.0863046217, 0.2738377786\n"
    assert topic.public("priors.exam_surgery", "toy", {SURGERY: source})[0] == "passed"
    result = topic.run(tmp_path, SURGERY, source, "priors.exam_surgery")
    assert_caught(result, "4 images and 3 codes")


# ------------------------------------------------------------- the best Gaussian prior
GAUSSIAN_VARIANTS = {
    "spread_plus_average_variance": '''
import sympy


def best_gaussian_prior(means, variances):
    n = len(means)
    m = sympy.Rational(1, n) * sympy.Add(*means)
    spread = sympy.Add(*[(mu - m) ** 2 for mu in means]) / n
    return m, spread + sympy.Add(*variances) / n
''',
    "unsimplified_expanded": '''
def best_gaussian_prior(means, variances):
    import sympy
    n = sympy.Integer(len(means))
    m = sympy.expand(sum(means, sympy.Integer(0)) / n)
    second = sum((mu**2 + v for mu, v in zip(means, variances)), sympy.Integer(0)) / n
    return m, sympy.expand(second - m**2)
''',
}
GAUSSIAN_BUGS = {
    "means_only": (("second_moment = sum(v + mu**2 for",
                    "second_moment = sum(0 * v + mu**2 for"), "total variance"),
    "bessel": ("""
import sympy


def best_gaussian_prior(means, variances):
    n = len(means)
    m = sum(means) / sympy.Integer(n)
    return m, sum((mu - m) ** 2 for mu in means) / (n - 1) + sum(variances) / sympy.Integer(n)
""", "Bessel"),
    "second_moment": (("sympy.simplify(second_moment - m**2)", "sympy.simplify(second_moment)"),
                      "second moment"),
    "standard_deviation": (("sympy.simplify(second_moment - m**2)",
                            "sympy.sqrt(second_moment - m**2)"), "standard deviation"),
}
PRODUCT = '''
import sympy


def best_gaussian_prior(means, variances):
    precision = sum(1 / v for v in variances)
    return sum(mu / v for mu, v in zip(means, variances)) / precision, 1 / precision
'''


def test_gaussian_reference_full_marks(tmp_path):
    source = topic.edit(GAUSSIAN)
    assert_full(topic.run(tmp_path, GAUSSIAN, source, "priors.exam_gaussian_prior"))


@pytest.mark.parametrize("name", sorted(GAUSSIAN_VARIANTS))
def test_gaussian_correct_variants_pass(tmp_path, name):
    assert_full(topic.run(tmp_path, GAUSSIAN, GAUSSIAN_VARIANTS[name],
                          "priors.exam_gaussian_prior"))


@pytest.mark.parametrize("bug", sorted(GAUSSIAN_BUGS))
def test_gaussian_slips_are_named(bug):
    change, concept = GAUSSIAN_BUGS[bug]
    source = change if isinstance(change, str) else topic.edit(GAUSSIAN, change)
    status, message = topic.public("priors.exam_gaussian_prior", "toy", {GAUSSIAN: source})
    assert status == "failed", message
    assert concept.lower() in message.lower(), message


def test_gaussian_product_of_posteriors_is_named(tmp_path):
    assert_caught(topic.run(tmp_path, GAUSSIAN, PRODUCT, "priors.exam_gaussian_prior"),
                  "product")


def test_gaussian_hard_coded_toy_fails_the_symbolic_case(tmp_path):
    source = ("import sympy\n\n\ndef best_gaussian_prior(means, variances):\n"
              "    return sympy.Integer(3), sympy.Rational(20, 3)\n")
    assert topic.public("priors.exam_gaussian_prior", "toy", {GAUSSIAN: source})[0] == "passed"
    assert_caught(topic.run(tmp_path, GAUSSIAN, source, "priors.exam_gaussian_prior"),
                  "symbolic means")


def test_gaussian_float_answer_is_refused_with_a_clear_message():
    source = ("def best_gaussian_prior(means, variances):\n"
              "    return 3.0, 20 / 3\n")
    status, message = topic.public("priors.exam_gaussian_prior", "toy", {GAUSSIAN: source})
    assert status == "failed"
    assert "sympy expression" in message, message


# ------------------------------------------------------------------ the untouched exercise
@pytest.mark.parametrize("task_id", ["priors.exam_surgery", "priors.exam_gaussian_prior"])
def test_untouched_exercise_scores_zero(task_id):
    path = course_root() / "exercises" / TOPIC / f"{TOPIC}.ipynb"
    result = shared_grader().grade_task(load_notebook_code(path), get_task(task_id))
    assert result.points == 0.0, result.message
    assert result.status != "passed"
    assert {s for s, _ in topic.public_outcomes(task_id, exercise=True).values()} == {"missing"}
