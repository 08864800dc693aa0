"""No graded symbol of any topic can be had for free by importing it from ``vaelib`` or from the
non-trusted ``autograder`` modules (the ones a grading child may read).

Two guards, over every topic in the registry:

* by name: no public attribute of those modules is called like a graded symbol;
* by behaviour: every public *function* of those modules, put in a notebook namespace in place
  of a graded function, fails at least one of that task's public checks (run in-process, probe
  then judge, on the checks' own inputs). Trailing arguments a candidate does not accept are
  dropped, so ``f(model, x, k)`` is tried for ``g(model, x, k, chunk)``. Each candidate runs in
  a forked child with a time limit (some library helpers, fed a graded task's inputs, start
  long computations).
"""

from __future__ import annotations

import ast
import copy
import importlib
import inspect
import multiprocessing
import pkgutil
import types
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import pytest
import torch

import autograder
import vaelib
from autograder.checks.api import Judgement, ProbeContext, Task
from autograder.notebook_code import load_notebook_code
from autograder.paths import solution_notebook
from autograder.registry import all_tasks
from autograder.seeding import seed_everything

NOT_IMPORTABLE = {"autograder.__main__"}
"""Modules that do something when imported (``python -m autograder``)."""

SIDE_EFFECTS = {"autograder.cli", "autograder.release", "autograder.grading",
                "autograder.sandbox", "autograder.worker", "autograder.nbgrader_plugin",
                "autograder.pytest_plugin", "autograder.preload", "autograder.notebook",
                "autograder.self_check", "autograder.forkserver_warmup",
                "autograder.self_check_session", "autograder.check_client",
                "autograder.check_server", "autograder.task_workers",
                "vaelib.data"}
"""Modules whose functions start processes, write files or read the network: checked by name
only (none of them computes anything on tensors that a task grades)."""

PENDING_REMOVAL: set[str] = set()
"""Known free answers that other changes remove. Only these may be flagged until then; once
they are gone the test needs nothing from this set."""

TASK_SECONDS = 30


def library_modules() -> Iterator[types.ModuleType]:
    """Every importable module of vaelib and autograder, except the grader-only ones
    (autograder.trusted and each topic's hidden.py: unreadable from the sandbox, never shipped
    in the kit)."""
    for package in (vaelib, autograder):
        yield package
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            grader_only = info.name.startswith("autograder.trusted") or (
                info.name.startswith("autograder.topics.") and info.name.endswith(".hidden"))
            if grader_only or info.name in NOT_IMPORTABLE:
                continue
            yield importlib.import_module(info.name)


def public_callables() -> dict[str, Callable[..., Any]]:
    """'module.name' -> every public function or class a module defines or re-exports."""
    found: dict[str, Callable[..., Any]] = {}
    for module in library_modules():
        for name, value in vars(module).items():
            if not name.startswith("_") and callable(value):
                found[f"{module.__name__}.{name}"] = value
    return found


def graded_symbols() -> dict[str, tuple[str, str]]:
    """Graded symbol -> (task id, 'def' or 'class') from the tasks and the solution notebooks."""
    kinds: dict[str, str] = {}
    for topic in {t.topic for t in all_tasks().values()}:
        for cell in load_notebook_code(solution_notebook(topic)).cells:
            if cell.kind != "solution":
                continue
            try:
                tree = ast.parse(cell.source)
            except SyntaxError:
                continue
            for node in tree.body:
                if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                    kinds[node.name] = "class" if isinstance(node, ast.ClassDef) else "def"
    return {symbol: (task.id, kinds.get(symbol, "def")) for task in all_tasks().values()
            for symbol in task.symbols}


def test_the_guard_sees_every_topic_and_both_packages():
    symbols = graded_symbols()
    assert {task.topic for task in all_tasks().values()} >= {"01_ppca", "06_iwae"}
    assert {"ppca_marginal", "iwae_bound", "VAE", "dreg_surrogate"} <= set(symbols)
    names = public_callables()
    assert any(n.startswith("vaelib.") for n in names)
    assert any(n.startswith("autograder.topics.") for n in names)
    assert not any(n.startswith("autograder.trusted") for n in names)


def test_no_library_attribute_is_named_like_a_graded_symbol():
    symbols = graded_symbols()
    clashes = sorted(name for name in public_callables()
                     if name.rsplit(".", 1)[1] in symbols and name not in PENDING_REMOVAL)
    assert not clashes, f"importable graded answers (by name): {clashes}"


def adapt(candidate: Callable[..., Any]) -> Callable[..., Any]:
    """Call ``candidate`` with as many leading positional arguments as its signature binds."""
    try:
        signature = inspect.signature(candidate)
    except (TypeError, ValueError):
        return candidate

    def call(*args: Any) -> Any:
        for n in range(len(args), 0, -1):
            try:
                signature.bind(*args[:n])
            except TypeError:
                continue
            return candidate(*args[:n])
        raise TypeError("no binding")

    return call


@cache
def check_inputs(task_id: str, check_id: str) -> dict[str, Any]:
    """A check's inputs, built once (as the grader does: seeded with the check's seed)."""
    from autograder.registry import get_task

    check = get_task(task_id).check(check_id)
    seed_everything(check.seed)
    return check.inputs()


def passes_public_checks(task: Task, symbol: str, candidate: Callable[..., Any]) -> bool:
    """Whether ``candidate`` standing in for ``symbol`` passes every public check of ``task``."""
    ns = {symbol: adapt(candidate)}
    public = [c for c in task.checks if not c.hidden]
    for check in public:
        inputs = copy.deepcopy(check_inputs(task.id, check.id))
        seed_everything(check.seed)
        try:
            got = check.probe(ns, inputs, ProbeContext(torch.device("cpu")))
            check.judge(Judgement(inputs, got, None, False, "cpu"))
        except Exception:  # noqa: BLE001 - any failure of the candidate is a failure
            return False
    return bool(public)


def behaviour_candidates() -> dict[str, Callable[..., Any]]:
    """Public plain functions of the modules that compute without side effects."""
    return {name: value for name, value in public_callables().items()
            if inspect.isfunction(value) and name.rsplit(".", 1)[0] not in SIDE_EFFECTS
            and not name.startswith("autograder.checks.") and ".probe_" not in name
            and ".judge_" not in name}


def tasks_answered_by(name: str, candidate: Callable[..., Any],
                      tasks: list[tuple[str, str]]) -> list[str]:
    """The tasks whose public checks ``candidate`` passes, tried in forked children; a task on
    which the candidate runs longer than TASK_SECONDS counts as not answered (the child is
    killed and a new one goes on with the next task)."""
    from autograder.registry import get_task

    context = multiprocessing.get_context("fork")
    answered: list[str] = []
    position = 0
    while position < len(tasks):
        receiver, sender = context.Pipe(duplex=False)

        def scan(start: int, sender: Any) -> None:
            torch.set_num_threads(1)
            for task_id, symbol in tasks[start:]:
                sender.send((task_id, passes_public_checks(get_task(task_id), symbol,
                                                           candidate)))

        child = context.Process(target=scan, args=(position, sender), name=name, daemon=True)
        child.start()
        sender.close()
        while position < len(tasks) and receiver.poll(TASK_SECONDS):
            try:
                task_id, passed = receiver.recv()
            except EOFError:  # the child died: skip the task it was on
                break
            answered += [task_id] if passed else []
            position += 1
        position += 1 if position < len(tasks) else 0
        child.kill()
        child.join()
        receiver.close()
    return answered


@pytest.mark.exhaustive
def test_no_library_function_passes_a_graded_task():
    """Every public library function in place of every graded function (minutes of CPU):
    ``pytest -m exhaustive tests/test_no_free_answers.py``; not part of the default run."""
    candidates = behaviour_candidates()
    assert len(candidates) > 20
    tasks = [(task_id, symbol) for symbol, (task_id, kind) in graded_symbols().items()
             if kind == "def" and "training" not in task_id]
    flagged = [f"{name} answers {task_id}" for name, candidate in candidates.items()
               for task_id in tasks_answered_by(name, candidate, tasks)]
    unexpected = [f for f in flagged if f.split(" ")[0] not in PENDING_REMOVAL]
    assert not unexpected, f"importable graded answers (by behaviour): {unexpected}"


def test_the_behaviour_guard_would_catch_an_exported_answer():
    """Self-test: the reference iwae_bound, if a library exported it, is flagged."""
    from autograder.registry import get_task

    def exported(log_w: torch.Tensor) -> torch.Tensor:
        return torch.logsumexp(log_w, 0) - torch.log(torch.tensor(float(log_w.shape[0]),
                                                                  dtype=log_w.dtype))

    assert passes_public_checks(get_task("iwae.bound"), "iwae_bound", exported)
    assert not passes_public_checks(get_task("iwae.bound"), "iwae_bound", torch.mean)
