"""The self-check loads only what its topic needs: one topic module (also when a task's child
looks its task up), no scipy.stats, and the
same tasks as the whole registry."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from autograder import payload, registry
from autograder.paths import TOPICS, exercise_notebook

COLLECT = """
import json, sys
from autograder.notebook_code import load_notebook_code
from autograder.self_check_session import in_notebook_order
from autograder.registry import get_task, tasks_for_topic, topic_for_grade_ids
code = load_notebook_code(sys.argv[1])
topic = topic_for_grade_ids(code.grade_ids, sys.argv[2])
tasks = in_notebook_order(tasks_for_topic(topic), code.grade_ids)
assert all(get_task(t.id) is t for t in tasks)  # what a task's child looks up
print(json.dumps({"topic": topic, "tasks": len(tasks),
                  "loaded": sorted(m for m in ("sympy", "scipy.stats") if m in sys.modules),
                  "topic_modules": sorted({".".join(m.split(".")[:3]) for m in sys.modules
                                           if m.startswith("autograder.topics.t")})}))
"""


def collected(topic: str) -> dict:
    """What collecting the topic's exercise imports, in a fresh interpreter."""
    done = subprocess.run([sys.executable, "-c", COLLECT, str(exercise_notebook(topic)), topic],
                          capture_output=True, text=True, timeout=300, check=True)
    return json.loads(done.stdout)


@pytest.mark.parametrize("topic", TOPICS)
def test_one_topic_module_gives_the_tasks_of_the_whole_registry(topic):
    everything = tuple(t for t in registry.all_tasks().values() if t.topic == topic)
    assert everything and registry.tasks_for_topic(topic) == everything


def test_collecting_a_topic_loads_no_scipy_stats():
    seen = collected("03_elbo_jensen")
    assert seen["topic"] == "03_elbo_jensen" and seen["tasks"] == len(
        registry.tasks_for_topic("03_elbo_jensen"))
    assert "scipy.stats" not in seen["loaded"]  # every topic has symbolic answers: sympy may load
    assert seen["topic_modules"] == ["autograder.topics.t03_elbo_jensen"]


def test_a_topic_with_symbolic_answers_still_loads_sympy():
    seen = collected("01_ppca")
    assert "sympy" in seen["loaded"]
    assert seen["topic_modules"] == ["autograder.topics.t01_ppca"]


def test_sympy_answers_still_travel_as_checked_trees():
    import sympy

    x = sympy.Symbol("x", positive=True)
    sent = payload.decode(payload.encode(sympy.log(x) / 2))
    assert isinstance(sent, payload.Symbolic) and sent.tree and not sent.problem
    assert payload.decode(payload.encode(0.5)) == 0.5
