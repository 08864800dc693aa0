"""Public checks named by the start of their name, for the tests of topics 06-08 (run by the one
helper, ``tests.in_process``; new tests name checks by id: ``tests.topics.scaffold``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from autograder.checks.api import Check
from autograder.registry import all_tasks, get_task
from tests.in_process import public_outcome


def public_check(task_id: str, name: str) -> Check:
    """The task's public check whose name starts with ``name``."""
    found = [c for c in get_task(task_id).checks if not c.hidden and c.name.startswith(name)]
    assert len(found) == 1, [c.name for c in get_task(task_id).checks]
    return found[0]


def run_public(task_id: str, name: str, tmp_path: Path | None = None,
               replace: dict[str, str] | None = None) -> Any:
    """The outcome (status, message) of one public check on the solution notebook, with the
    cells of ``replace`` (grade_id -> source) swapped in (``tests.in_process``)."""
    status, message = public_outcome(task_id, public_check(task_id, name).id, replace)
    return SimpleNamespace(status=status, message=message)


def public_checks_of(topic: str) -> list[tuple[str, str]]:
    """(task id, check name) of every public check of a topic."""
    return [(t.id, c.name) for t in all_tasks().values() if t.topic == topic
            for c in t.checks if not c.hidden]


def tasks_of(topic: str) -> set[str]:
    """The ids of a topic's tasks."""
    return {t.id for t in all_tasks().values() if t.topic == topic}


def assert_public_passes(task_id: str, name: str) -> None:
    """The public check passes the solution notebook."""
    outcome = run_public(task_id, name)
    assert outcome.status == "passed", outcome.message


def assert_public_catches(tmp_path: Path, task_id: str, name: str, grade_id: str, source: str,
                          concept: str) -> None:
    """The public check fails the solution with cell ``grade_id`` replaced, naming ``concept``."""
    outcome = run_public(task_id, name, tmp_path, {grade_id: source})
    assert outcome.status == "failed", (outcome.status, outcome.message)
    assert concept in outcome.message, outcome.message


def public_check_tests(topic: str, bugs: list[tuple[str, str, str, Any, str]],
                       source_of: Callable[[str, Any], str]) -> tuple[Callable[..., None], ...]:
    """Three tests for a topic's test module: every public check passes the reference, every
    task keeps one, and each (task id, check name, grade_id, edit, concept) bug is caught by
    that check with the concept named (``source_of(grade_id, edit)`` is the buggy cell)."""
    checks = public_checks_of(topic)

    @pytest.mark.parametrize(("task_id", "name"), checks, ids=[f"{t}-{n[:30]}" for t, n in checks])
    def test_public_check_passes_the_reference(task_id: str, name: str) -> None:
        assert_public_passes(task_id, name)

    def test_every_task_keeps_a_public_check() -> None:
        assert tasks_of(topic) == {t for t, _ in checks}

    @pytest.mark.parametrize(("task_id", "name", "grade_id", "edit", "concept"), bugs,
                             ids=[f"{b[0]}-{i}" for i, b in enumerate(bugs)])
    def test_public_check_names_the_bug(tmp_path: Path, task_id: str, name: str, grade_id: str,
                                        edit: Any, concept: str) -> None:
        assert_public_catches(tmp_path, task_id, name, grade_id, source_of(grade_id, edit),
                              concept)

    return (test_public_check_passes_the_reference, test_every_task_keeps_a_public_check,
            test_public_check_names_the_bug)
