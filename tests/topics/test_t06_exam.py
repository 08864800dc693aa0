"""Topic 06's exam practice: the first K at which L_K of a binary-latent model exceeds a
threshold, and the limit and first-order gap of L_K for lognormal weights. The reference and
differently written correct answers pass; the classic wrong steps fail with the step named; the
untouched exercise scores 0; the worked instances' tables agree with the grader-only maths."""

from __future__ import annotations

import math

import nbformat
import pytest

from autograder.paths import exercise_notebook
from autograder.topics.t06_iwae import probes, public_exam
from autograder.topics.t06_iwae.inputs import FIRST_K_PUBLIC
from autograder.trusted import iwae_exam
from tests.helpers import assert_caught, assert_full, solution_cell
from tests.topics.scaffold import TopicTests

TOPIC = "06_iwae"
FIRST_K, GAP = "iwae_first_k_above_solution", "iwae_lognormal_limit_and_gap_solution"
topic = TopicTests(TOPIC)
run = topic.run

# ------------------------------------------------------------------ correct, written otherwise
FIRST_K_LGAMMA = '''
def iwae_first_k_above(prior_1, lik_0, lik_1, q_1, threshold, k_max):
    p_x_z = {0: (1 - prior_1) * lik_0, 1: prior_1 * lik_1}
    q = {0: 1 - q_1, 1: q_1}
    w = {z: p_x_z[z] / q[z] for z in (0, 1)}
    k = 1
    while k <= k_max:
        total = 0.0
        for ones in range(k + 1):
            log_c = math.lgamma(k + 1) - math.lgamma(ones + 1) - math.lgamma(k - ones + 1)
            prob = math.exp(log_c + ones * math.log(q[1]) + (k - ones) * math.log(q[0]))
            total += prob * math.log((ones * w[1] + (k - ones) * w[0]) / k)
        if total > threshold:
            return k
        k += 1
    return None
'''
FIRST_K_VECTOR = '''
import numpy as np


def iwae_first_k_above(prior_1, lik_0, lik_1, q_1, threshold, k_max):
    from scipy.stats import binom
    w0, w1 = (1 - prior_1) * lik_0 / (1 - q_1), prior_1 * lik_1 / q_1
    bounds = []
    for k in range(1, k_max + 1):
        j = np.arange(k + 1)
        bounds.append(np.sum(binom.pmf(j, k, q_1) * np.log(j / k * w1 + (1 - j / k) * w0)))
    above = np.flatnonzero(np.array(bounds) > threshold)
    return np.int64(above[0] + 1) if above.size else None
'''
GAP_OTHER_FORM = '''
import sympy


def iwae_lognormal_limit_and_gap(m, s2, K):
    mean = sympy.exp(m) * sympy.exp(s2 / 2)
    var = sympy.exp(2 * m) * sympy.exp(s2) * (sympy.exp(s2) - 1)
    return sympy.log(mean), sympy.expand(var / mean**2 / K) * sympy.Rational(1, 2)
'''
GAP_FLOAT_HALF = '''
import sympy


def iwae_lognormal_limit_and_gap(m, s2, K):
    return m + 0.5 * s2, 0.5 * (sympy.exp(s2) - 1) / K
'''


@pytest.mark.parametrize("source", [FIRST_K_LGAMMA, FIRST_K_VECTOR], ids=["lgamma", "numpy"])
def test_first_k_accepts_correct_answers_written_otherwise(tmp_path, source):
    assert_full(run(tmp_path, FIRST_K, source, "iwae.exam_first_k"))


@pytest.mark.parametrize("source", [GAP_OTHER_FORM, GAP_FLOAT_HALF], ids=["form", "float"])
def test_gap_accepts_equivalent_forms(tmp_path, source):
    assert_full(run(tmp_path, GAP, source, "iwae.exam_gap"))


def test_references_get_full_marks(tmp_path):
    assert_full(run(tmp_path, FIRST_K, solution_cell(TOPIC, FIRST_K), "iwae.exam_first_k"))
    assert_full(run(tmp_path, GAP, solution_cell(TOPIC, GAP), "iwae.exam_gap"))


# ------------------------------------------------------------------ classic wrong steps
def first_k_bug(*pairs: tuple[str, str]) -> str:
    return topic.edit(FIRST_K, *pairs)


@pytest.mark.parametrize(("pairs", "concept"), [
    ((("torch.log((j * w1 + (k - j) * w0) / k)",
       "(j * torch.log(torch.tensor(w1)) + (k - j) * torch.log(torch.tensor(w0))) / k"),),
     "mean of the log weights"),
    ((("w0 = (1 - prior_1) * lik_0 / (1 - q_1)", "w0 = (1 - prior_1) * lik_0"),
      ("w1 = prior_1 * lik_1 / q_1", "w1 = prior_1 * lik_1")), "division by q"),
    ((("probs=torch.tensor(q_1,", "probs=torch.tensor(prior_1,"),), "prior's probabilities"),
    ((("probs=torch.tensor(q_1,", "probs=torch.tensor(prior_1,"),
      ("w0 = (1 - prior_1) * lik_0 / (1 - q_1)", "w0 = lik_0"),
      ("w1 = prior_1 * lik_1 / q_1", "w1 = lik_1")), "prior was used as the proposal"),
    ((("w0 = (1 - prior_1) * lik_0", "w0 = lik_0"), ("w1 = prior_1 * lik_1", "w1 = lik_1")),
     "prior p(z) is missing"),
    ((("return k\n", "return k - 1\n"),), "K vs K + 1"),
], ids=["mean_of_log", "no_q", "prior_draws", "prior_proposal", "no_prior", "off_by_one"])
def test_first_k_names_the_wrong_step(pairs, concept):
    status, message = topic.public("iwae.exam_first_k", "worked", {FIRST_K: first_k_bug(*pairs)})
    assert status == "failed"
    assert concept.lower() in message.lower(), message


def test_first_k_hidden_catches_a_hard_coded_answer_and_a_missing_none(tmp_path):
    hard = '''
def iwae_first_k_above(prior_1, lik_0, lik_1, q_1, threshold, k_max):
    return 26
'''
    result = run(tmp_path, FIRST_K, hard, "iwae.exam_first_k")
    assert_caught(result, "not the smallest K", "answer is None")
    assert 0 < result.points < result.max_points  # the worked instance alone passes
    never_none = first_k_bug(("    return None\n    ### END", "    return k_max\n    ### END"))
    assert_caught(run(tmp_path, FIRST_K, never_none, "iwae.exam_first_k"), "answer is None")


def test_first_k_rejects_a_float_that_is_not_a_count():
    source = first_k_bug(("return k\n", "return k + 0.5\n"))
    status, message = topic.public("iwae.exam_first_k", "worked", {FIRST_K: source})
    assert status == "failed" and "should return an int" in message, message


@pytest.mark.parametrize(("old", "new", "concept"), [
    ("(second_w - mean_w**2) / (2 * K * mean_w**2)", "s2 / (2 * K)", "variance of log w"),
    ("(2 * K * mean_w**2)", "(K * mean_w**2)", "factor 1/2"),
    ("(2 * K * mean_w**2)", "(2 * (K + 1) * mean_w**2)", "K vs K + 1"),
    ("(second_w - mean_w**2) / (2 * K * mean_w**2)",
     "sympy.sqrt(second_w - mean_w**2) / (2 * K * mean_w)", "standard deviation"),
    ("(2 * K * mean_w**2)", "(2 * K)", "divided by E[w]^2"),
    ("sympy.log(mean_w)", "sympy.log(sympy.exp(m))", "ELBO"),
], ids=["log_variance", "half", "k_plus_1", "std", "not_relative", "elbo"])
def test_gap_names_the_wrong_step(old, new, concept):
    source = topic.edit(GAP, (old, new))
    status, message = topic.public("iwae.exam_gap", "worked", {GAP: source})
    assert status == "failed"
    assert concept.lower() in message.lower(), message


def test_gap_hidden_symbolic_check_names_the_wrong_step(tmp_path):
    source = topic.edit(GAP, ("(2 * K * mean_w**2)", "(2 * (K - 1) * mean_w**2)"))
    result = run(tmp_path, GAP, source, "iwae.exam_gap")
    assert_caught(result, "K vs K - 1")


def test_gap_hidden_checks_catch_answers_that_ignore_the_arguments(tmp_path):
    own_symbols = '''
import sympy


def iwae_lognormal_limit_and_gap(m, s2, K):
    return -3 + sympy.log(5) / 2, sympy.Rational(1, 5)
'''
    result = run(tmp_path, GAP, own_symbols, "iwae.exam_gap")
    assert_caught(result, "simplify(got - expected) != 0")
    assert 0 < result.points < result.max_points


# ------------------------------------------------------------------ the untouched exercise
@pytest.mark.parametrize(("grade_id", "task_id"), [(FIRST_K, "iwae.exam_first_k"),
                                                   (GAP, "iwae.exam_gap")])
def test_untouched_exercise_scores_zero(tmp_path, grade_id, task_id):
    nb = nbformat.read(str(exercise_notebook(TOPIC)), as_version=4)
    stub = next(c.source for c in nb.cells
                if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    assert "raise NotImplementedError" in stub
    result = run(tmp_path, grade_id, stub, task_id)
    assert result.points == 0 and result.status != "passed", result.message
    assert topic.public(task_id, "worked", exercise=True)[0] == "missing"


# ------------------------------------------------------------------ the worked instances' tables
def test_worked_first_k_table_matches_the_exact_bound():
    model = [FIRST_K_PUBLIC[n] for n in ("prior_1", "lik_0", "lik_1", "q_1")]
    threshold, k_max = FIRST_K_PUBLIC["threshold"], FIRST_K_PUBLIC["k_max"]
    bounds: dict[int, float] = {}
    answer = iwae_exam.first_k_above(bounds, iwae_exam.two_point(*model), threshold, k_max)
    assert answer == public_exam.PUBLIC_FIRST_K_ANSWER
    assert bounds[answer] > threshold + 0.005 and bounds[answer - 1] < threshold - 0.005
    assert iwae_exam.wrong_first_k(*model, threshold, k_max) == public_exam.PUBLIC_FIRST_K_WRONG
    # the bound of K = 1 is the ELBO, and it never passes log p(x)
    w0, w1, r = iwae_exam.two_point(*model)
    assert math.isclose(bounds[1], r * math.log(w1) + (1 - r) * math.log(w0))
    log_px = math.log(model[0] * model[2] + (1 - model[0]) * model[1])
    values = [bounds[k] for k in sorted(bounds)]
    assert all(a <= b <= log_px for a, b in zip(values, values[1:], strict=False))


def test_hidden_first_k_models_keep_their_margin():
    for inputs in iwae_exam.FIRST_K_HIDDEN.values():
        weights = iwae_exam.two_point(*(inputs[n] for n in ("prior_1", "lik_0", "lik_1", "q_1")))
        values = [iwae_exam.bound(k, weights) for k in range(1, 60)]
        assert min(abs(v - inputs["threshold"]) for v in values) > 0.005


def test_worked_gap_table_matches_the_general_answers():
    m, s2, k = probes.gap_arguments("public")
    limit, gap = iwae_exam.lognormal_answers(m, s2, k)
    assert math.isclose(float(limit), public_exam.PUBLIC_GAP_ANSWER[0], rel_tol=1e-15)
    assert math.isclose(float(gap), public_exam.PUBLIC_GAP_ANSWER[1], rel_tol=1e-15)
    for table, wrong in ((public_exam.PUBLIC_LIMIT_WRONG, iwae_exam.wrong_limits(m, s2)),
                         (public_exam.PUBLIC_GAP_WRONG, iwae_exam.wrong_gaps(m, s2, k))):
        assert set(table) == set(wrong)
        for step, value in wrong.items():
            assert math.isclose(float(value), table[step], rel_tol=1e-15), step
    values = [public_exam.PUBLIC_GAP_ANSWER[1], *public_exam.PUBLIC_GAP_WRONG.values()]
    assert len({round(v, 9) for v in values}) == len(values)  # each wrong step is told apart
