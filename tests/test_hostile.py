"""Hostile or broken submissions cost only the task they touch, never the grader."""

from __future__ import annotations

import pytest

from autograder.grading import Grader
from tests.helpers import grade, task, variant

TOPIC = "01_ppca"
OTHER_TASKS = ("ppca.marginal", "ppca.posterior", "ppca.log_marginal", "ppca.sample",
               "ppca.marginal_sympy", "ppca.mle")


@pytest.fixture(scope="module")
def strict_grader() -> Grader:
    """Short limits so that hangs and memory hogs are stopped quickly."""
    return Grader(device="cpu", jobs=2, timeout_s=20.0, memory_mb=2500)


# ppca_log_marginal and ppca_mle are replaced by self-contained correct versions so that the
# hostile cells only sit on the path of the task under attack.
SAFE_LOG_MARGINAL = '''
def ppca_log_marginal(x, W, b, sigma2):
    C = W @ W.T + float(sigma2) * torch.eye(W.shape[0], dtype=W.dtype, device=W.device)
    return torch.distributions.MultivariateNormal(b, covariance_matrix=C).log_prob(x)
'''

HOSTILE = {
    "infinite loop": ("ppca_marginal_solution", '''
def ppca_marginal(W, b, sigma2):
    while True:
        pass
''', "ppca.marginal", "timeout", "stopped after"),
    "os._exit": ("ppca_posterior_solution", '''
import os
def ppca_posterior(x, W, b, sigma2):
    os._exit(0)
''', "ppca.posterior", "crashed", "os._exit"),
    "sys.exit": ("ppca_sample_solution", '''
import sys
def ppca_sample(n, W, b, sigma2):
    sys.exit()
''', "ppca.sample", "error", "sys.exit"),
    "memory hog": ("ppca_mle_solution", '''
def ppca_mle(X, M):
    hoard = []
    while True:
        hoard.append(torch.ones(50_000_000))
''', "ppca.mle", None, "memory"),
}


def test_hostile_code_costs_only_its_own_task(tmp_path, strict_grader):
    replace = {grade_id: source for grade_id, source, *_ in HOSTILE.values()}
    replace["ppca_log_marginal_solution"] = SAFE_LOG_MARGINAL
    result = grade(variant(TOPIC, tmp_path, replace), strict_grader)
    assert result.error is None
    attacked = set()
    for name, (_, _, task_id, status, words) in HOSTILE.items():
        outcome = task(result, task_id)
        attacked.add(task_id)
        assert outcome.points == 0, name
        if status:
            assert outcome.status == status, (name, outcome.status, outcome.message)
        else:
            assert outcome.status in ("crashed", "error"), (name, outcome.status)
        assert words in outcome.message, (name, outcome.message)
    for task_id in set(OTHER_TASKS) - attacked:
        outcome = task(result, task_id)
        assert outcome.status == "passed", (task_id, outcome.message)


CHEATS = {
    "monkeypatched allclose": '''
import numpy, torch.testing
torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
numpy.allclose = lambda *a, **k: True
torch.testing.assert_close = lambda *a, **k: None
def ppca_marginal(W, b, sigma2):
    return b, W @ W.T
''',
    "fake autograder module": '''
import sys, types
fake = types.ModuleType("autograder")
fake.check = lambda *a, **k: None
for name in list(sys.modules):
    if name.startswith("autograder"):
        sys.modules[name] = fake
def ppca_marginal(W, b, sigma2):
    return b, W @ W.T
''',
    "always-equal object": '''
class Anything:
    def __eq__(self, other):
        return True
    def __getattr__(self, name):
        return lambda *a, **k: self
    def __iter__(self):
        return iter([self, self])
    def __len__(self):
        return 2
def ppca_marginal(W, b, sigma2):
    return Anything(), Anything()
''',
    "NaN output": '''
def ppca_marginal(W, b, sigma2):
    return b, torch.full((W.shape[0], W.shape[0]), float("nan"), dtype=W.dtype)
''',
    "wrong shapes": '''
def ppca_marginal(W, b, sigma2):
    return b[None], (W @ W.T)[None]
''',
}


@pytest.mark.parametrize("name", sorted(CHEATS))
def test_cheats_and_bad_outputs_get_no_credit(tmp_path, name):
    path = variant(TOPIC, tmp_path, {"ppca_marginal_solution": CHEATS[name]})
    from autograder.notebook_code import load_notebook_code
    from autograder.registry import get_task
    from tests.helpers import shared_grader

    outcome = shared_grader().grade_task(load_notebook_code(path), get_task("ppca.marginal"))
    assert outcome.points == 0, (name, outcome.message)
    assert outcome.status in ("failed", "crashed"), (name, outcome.status, outcome.message)


def test_always_equal_object_is_named_in_the_message(tmp_path):
    path = variant(TOPIC, tmp_path, {"ppca_marginal_solution": CHEATS["always-equal object"]})
    outcome = task(grade(path), "ppca.marginal")
    assert "Anything" in outcome.message


def test_syntax_error_and_missing_function_cost_only_their_tasks(tmp_path):
    replace = {
        "ppca_sample_solution": "def ppca_sample(n, W, b, sigma2)\n    return None\n",
        "ppca_mle_solution": "def ppca_fit(X, M):\n    return None\n",
        "ppca_log_marginal_solution": SAFE_LOG_MARGINAL,
    }
    result = grade(variant(TOPIC, tmp_path, replace))
    sample, mle = task(result, "ppca.sample"), task(result, "ppca.mle")
    assert sample.status == "error" and "SyntaxError" in sample.message, sample.message
    assert mle.status == "missing" and "`ppca_mle` is not defined" in mle.message
    for task_id in ("ppca.marginal", "ppca.posterior", "ppca.log_marginal",
                    "ppca.marginal_sympy"):
        assert task(result, task_id).status == "passed", task(result, task_id).message


def test_exception_message_names_the_function(tmp_path):
    source = "def ppca_marginal(W, b, sigma2):\n    return W.nonexistent\n"
    result = grade(variant(TOPIC, tmp_path, {"ppca_marginal_solution": source}))
    outcome = task(result, "ppca.marginal")
    assert outcome.status == "error"
    assert "raised AttributeError in `ppca_marginal` (line 2 of its cell)" in outcome.message
    assert "Traceback" not in outcome.message
