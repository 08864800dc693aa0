"""What students read: each failure once, the likely cause first, no jargon or empty index."""

from __future__ import annotations

import pytest
import torch

from autograder.checks.api import CheckFailed
from autograder.checks.compare import expect_close
from autograder.feedback import lead_with_cause, task_text
from autograder.grading import CheckOutcome
from autograder.notebook import ChecksFailed, check


def failure(got: torch.Tensor, expected: torch.Tensor, reveal: bool,
            hints: dict[str, torch.Tensor] | None = None) -> str:
    with pytest.raises(CheckFailed) as caught:
        expect_close(got, expected, "the value", reveal=reveal, hints=hints)
    return str(caught.value)


def test_a_scalar_mismatch_names_no_index():
    got, expected = torch.tensor(2.0, dtype=torch.float64), torch.tensor(3.0, dtype=torch.float64)
    for reveal in (True, False):
        assert "index" not in failure(got, expected, reveal)
    assert "expected 3, got 2" in failure(got, expected, True)


def test_the_likely_cause_comes_first():
    got, expected = torch.tensor([5.0, 1.0]), torch.tensor([3.0, 1.0])
    message = failure(got, expected, True, hints={"sigma2 squared": torch.tensor([5.0, 1.0])})
    assert message.startswith("Likely cause: sigma2 squared. The value is wrong: first "
                              "difference at index [0]"), message
    assert lead_with_cause("the mean is off (z = 9). Likely cause: b missing.") == \
        "Likely cause: b missing. The mean is off (z = 9)."


def test_task_text_says_each_failure_once_in_check_order():
    checks = [CheckOutcome("first", False, 1.0, "passed"),
              CheckOutcome("second", False, 1.0, "failed", "the mean is off. Likely cause: b."),
              CheckOutcome("third", True, 1.0, "error", "raised ValueError in `f`: bad"),
              CheckOutcome("fourth", True, 1.0, "error", "raised ValueError in `f`: bad")]
    text = task_text("t.x", "error", "second: the mean is off. Likely cause: b.", checks)
    assert text.splitlines()[0] == "t.x: 3 of 4 checks failed"
    assert text.lower().count("the mean is off") == 1 and text.count("raised ValueError") == 1
    assert text.index("first") < text.index("second") < text.index("third") < text.index("fourth")
    assert "FAIL  Likely cause: b. The mean is off." in text
    assert "the same as above." in text


def test_a_task_whose_code_never_ran_is_one_line():
    checks = [CheckOutcome("a", False, 1.0, "missing", "`f` is not implemented yet."),
              CheckOutcome("b", False, 1.0, "missing", "`f` is not implemented yet.")]
    assert task_text("t.x", "missing", "`f` is not implemented yet.", checks) == \
        "t.x: `f` is not implemented yet."


def test_a_notebook_check_prints_each_failure_once_and_raises_one_line(capsys):
    def ppca_marginal(W, b, sigma2):
        return b.clone(), W @ W.T + sigma2 ** 2 * torch.eye(W.shape[0], dtype=W.dtype)

    with pytest.raises(ChecksFailed) as caught:
        check("ppca.marginal", {"ppca_marginal": ppca_marginal, "torch": torch})
    out = capsys.readouterr().out
    assert out.count("sigma2 was used as a standard deviation") == 1
    assert out.splitlines()[0] == "ppca.marginal: 2 of 2 public checks failed"
    assert caught.value._render_traceback_() == [
        "ChecksFailed: ppca.marginal: 2 of 2 public checks failed (see above)"]
    assert "standard deviation" not in str(caught.value)


def test_an_error_in_student_code_names_the_function(capsys):
    def ppca_sample(n, W, b, sigma2):
        raise ValueError("oops")

    with pytest.raises(ChecksFailed):
        check("ppca.sample", {"ppca_sample": ppca_sample})
    out = capsys.readouterr().out
    assert "raised ValueError in `ppca_sample`: oops" in out
    assert out.count("oops") == 1 and "the same as above." in out
