"""Judges of sympy answers run in a time-limited child (autograder.judging)."""

from __future__ import annotations

import time

import pytest
import sympy
import torch

from autograder import payload
from autograder.checks.api import Judgement
from autograder.judging import judge_in_child, needs_isolation
from autograder.registry import get_task

TASK = "ppca.marginal_sympy"


def _as_received(value: object) -> object:
    """What the grader holds after a child sent ``value`` back."""
    return payload.loads(payload.dumps(payload.encode(value)))


def _mock_exam_check() -> str:
    return next(c.id for c in get_task(TASK).checks if not c.hidden)


def _judge(got: object, timeout_s: float) -> tuple[str, str]:
    judgement = Judgement(inputs={}, got=_as_received(got), ref=None, hidden=False,
                          device="cpu")
    return judge_in_child(TASK, _mock_exam_check(), judgement, timeout_s=timeout_s)


@pytest.fixture(scope="module", autouse=True)
def warm_fork_server() -> None:
    """Start the fork server and probe the sandbox once, so timings below are the judge's."""
    _judge((sympy.Matrix([1, -1]), sympy.Matrix([[3, 2], [2, 6]])), timeout_s=60)


def test_a_judge_that_simplifies_for_long_is_stopped_at_its_time_limit():
    x = sympy.Symbol("x")
    blow_up = sympy.expand((x + 2) ** 300) - sympy.expand((x + 1) ** 300)
    mean = sympy.Matrix([1 + blow_up, -1 + blow_up])
    started = time.monotonic()
    status, message = _judge((mean, sympy.Matrix([[3, 2], [2, 6]])), timeout_s=0.05)
    assert time.monotonic() - started < 30
    assert status == "failed"
    assert message.startswith("checking this answer took longer than 0.05 s")


def test_a_quick_judge_in_the_child_gives_the_ordinary_verdict():
    right = (sympy.Matrix([1, -1]), sympy.Matrix([[3, 2], [2, 6]]))
    assert _judge(right, timeout_s=30) == ("passed", "")
    status, message = _judge((right[0], sympy.Matrix([[5, 2], [2, 8]])), timeout_s=30)
    assert status == "failed" and "variance/std confusion" in message


def test_sympy_answers_need_isolation_and_tensors_do_not():
    assert needs_isolation(_as_received((sympy.Matrix([1, 2]), 3)))
    assert not needs_isolation(_as_received(torch.zeros(3)))
