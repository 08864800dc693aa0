"""The three tests every topic runs on its public checks, by check id (``TopicTests.public``):
each passes the reference, every task keeps one, and each listed bug is caught with the concept
named."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from autograder.registry import tasks_for_topic
from tests.topics.scaffold import TopicTests


def public_check_tests(topic: TopicTests, bugs: list[tuple[str, str, str, Any, str]]
                       ) -> tuple[Callable[..., None], ...]:
    """Tests for a topic's test module; each bug is (task id, check id, grade_id, the (old,
    new) pairs that edit that solution cell, the concept the message must name)."""

    @pytest.mark.parametrize(("task_id", "check_id"), topic.public_checks())
    def test_public_check_passes_the_reference(task_id: str, check_id: str) -> None:
        status, message = topic.public(task_id, check_id)
        assert status == "passed", message

    def test_every_task_keeps_a_public_check() -> None:
        assert {t for t, _ in topic.public_checks()} == {
            t.id for t in tasks_for_topic(topic.topic)}

    @pytest.mark.parametrize(("task_id", "check_id", "grade_id", "pairs", "concept"), bugs,
                             ids=[f"{b[0]}-{i}" for i, b in enumerate(bugs)])
    def test_public_check_names_the_bug(task_id: str, check_id: str, grade_id: str, pairs: Any,
                                        concept: str) -> None:
        status, message = topic.public(task_id, check_id,
                                       {grade_id: topic.edit(grade_id, *pairs)})
        assert status == "failed", (status, message)
        assert concept in message, message

    return (test_public_check_passes_the_reference, test_every_task_keeps_a_public_check,
            test_public_check_names_the_bug)
