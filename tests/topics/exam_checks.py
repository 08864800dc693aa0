"""What the tests of every exam-practice question assert besides its variants and bugs."""

from __future__ import annotations

from autograder.notebook_code import load_notebook_code
from autograder.paths import exercise_notebook
from autograder.registry import get_task
from tests.helpers import shared_grader
from tests.topics.scaffold import TopicTests


def assert_public_mock_passes_solution_and_finds_stub_missing(topic: TopicTests,
                                                              task_id: str) -> None:
    """The question's public check (id ``mock``) passes the solution; the stub is missing."""
    assert topic.public(task_id, "mock") == ("passed", "")
    assert topic.public(task_id, "mock", exercise=True)[0] == "missing"


def assert_untouched_exercise_scores_zero(topic: TopicTests, task_id: str) -> None:
    """Graded in the sandbox with its hidden checks, the released stub scores 0 (missing)."""
    result = shared_grader().grade_task(load_notebook_code(exercise_notebook(topic.topic)),
                                        get_task(task_id))
    assert (result.status, result.points) == ("missing", 0)
