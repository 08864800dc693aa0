"""Reference notebooks are used only as released: their hashes are in solutions/SHA256SUMS."""

from __future__ import annotations

import pytest

from autograder.notebook_code import NotebookError
from autograder.paths import solution_notebook
from autograder.release import available_topics
from autograder.release_manifest import digest, read_manifest, verify_solution


def test_manifest_matches_every_solution_notebook():
    manifest = read_manifest()
    for topic in available_topics():
        assert manifest.get(topic) == digest(solution_notebook(topic).read_bytes()), (
            f"solutions/SHA256SUMS is stale for {topic}: run `python -m autograder release "
            f"{topic}`")


def test_a_changed_reference_is_refused_with_the_fix_named():
    topic = available_topics()[0]
    data = solution_notebook(topic).read_bytes()
    verify_solution(topic, data)
    with pytest.raises(NotebookError, match="autograder release"):
        verify_solution(topic, data + b" ")
