"""Grade a notebook: run each task's probes in isolation and judge them here."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from autograder import judging, payload, sandbox
from autograder.checks.api import Check, Judgement, Task
from autograder.isolation.policy import SandboxUnavailable, build_policy
from autograder.notebook_code import (
    CodeCell,
    NotebookCode,
    NotebookError,
    extract_code,
    parse_notebook,
    read_notebook_bytes,
)
from autograder.paths import solution_notebook
from autograder.registry import tasks_for_topic, topic_for_grade_ids
from autograder.release_manifest import verify_solution
from autograder.result_form import form_difference
from autograder.seeding import seed_everything
from autograder.status import Status


class GraderError(Exception):
    """The grader itself could not run (bad path, unreadable notebook, broken reference)."""


class ReferenceNotReleased(GraderError):
    """A reference notebook is unreadable, or differs from what ``release`` recorded."""


@dataclass(frozen=True)
class CheckOutcome:
    """The verdict on one check."""

    name: str
    hidden: bool
    weight: float
    status: str
    message: str = ""


@dataclass
class TaskResult:
    """The verdict on one task: points, a ``Status`` and a message.

    A task with ``Status.GRADER_ERROR`` has no score: its ``points`` (0) are not the
    student's and are never stored or exported as such.
    """

    id: str
    points: float
    max_points: float
    status: str
    message: str
    checks: list[CheckOutcome] = field(default_factory=list)
    elapsed_s: float = 0.0
    dependency: str = ""  # the sentence naming a failing graded dependency (message leads with it)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form of the report."""
        return {"id": self.id, "points": self.points, "max_points": self.max_points,
                "status": self.status, "message": self.message}


@dataclass
class NotebookResult:
    """All task results of one notebook."""

    path: str
    topic: str | None
    tasks: list[TaskResult]
    error: str | None = None
    elapsed_s: float = 0.0
    grader_error: str | None = None

    @property
    def grader_errors(self) -> list[str]:
        """What the grader failed at (the notebook, or tasks): nothing here is a score."""
        found = [self.grader_error] if self.grader_error else []
        return found + [f"{t.id}: {t.message}" for t in self.tasks
                        if t.status == Status.GRADER_ERROR]

    @property
    def score(self) -> float:
        return round(sum(t.points for t in self.tasks), 2)

    @property
    def max_score(self) -> float:
        return round(sum(t.max_points for t in self.tasks), 2)

    def as_dict(self) -> dict[str, Any]:
        report = {"path": self.path, "score": self.score, "max_score": self.max_score,
                  "tasks": [t.as_dict() for t in self.tasks]}
        if self.grader_errors:
            report["grader_errors"] = self.grader_errors
        return report


def resolve_device(device: str) -> str:
    """'cpu', 'cuda' or 'auto' (CUDA when available) to a concrete device name."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda"):
        raise GraderError(f"unknown device '{device}' (use cpu, cuda or auto)")
    if device == "cuda" and not torch.cuda.is_available():
        raise GraderError("--device cuda was asked for, but no CUDA device is available")
    return device


# Inputs and judges draw from the process-wide RNGs; tasks are graded in threads, so both
# run under this lock, right after seeding, to stay deterministic.
_RNG_LOCK = threading.Lock()


def encode_inputs(check: Check) -> bytes:
    """Build a check's inputs deterministically and serialise them for a child."""
    with _RNG_LOCK:
        seed_everything(check.seed)
        return payload.dumps(payload.encode(check.inputs()))


class Grader:
    """Grades notebooks; keeps reference results cached between notebooks."""

    def __init__(self, device: str = "cpu", include_hidden: bool = True, jobs: int = 2,
                 timeout_s: float | None = None, memory_mb: int | None = None,
                 sandbox: str = "auto", judge_timeout_s: float = judging.JUDGE_TIMEOUT_S,
                 reference_store: Any = None) -> None:
        # reference_store (optional): get(topic, task_id, index) -> value or KeyError, and
        # put(topic, task_id, index, value); a cache of reference results kept across runs.
        self.reference_store = reference_store
        self.device = resolve_device(device)
        try:
            self.policy = build_policy(sandbox)
        except SandboxUnavailable as exc:
            raise GraderError(str(exc)) from None
        self.judge_timeout_s = judge_timeout_s
        self.include_hidden = include_hidden
        self.jobs = max(1, jobs)
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self._references: dict[tuple[str, int], Any] = {}
        self._reference_code: dict[str, NotebookCode] = {}
        self._input_blobs: dict[tuple[str, int], bytes] = {}
        self._lock = threading.Lock()

    # -- public API -------------------------------------------------------------------
    def check_references(self, topics: Iterable[str | None]) -> None:
        """Raise ``ReferenceNotReleased`` (one line) unless each topic's reference is usable.

        Called once by every front end before it grades anything: a solution edited but not
        released (or unreadable) stops the run instead of grading everyone against it.
        Public-only grading needs no reference and checks nothing.
        """
        if not self.include_hidden:
            return
        for topic in sorted({t for t in topics if t}):
            try:
                self._solution_code(topic)
            except GraderError as exc:
                raise ReferenceNotReleased(str(exc)) from None

    def grade_path(self, path: str | Path) -> list[NotebookResult]:
        """Grade a notebook, or every notebook below a folder.

        Every submission is read into memory before any student code runs, so nothing a
        notebook does can change another submission of the batch. The references of all
        their topics are checked first (``check_references``).
        """
        path = Path(path)
        if path.is_dir():
            notebooks = sorted(p for p in path.rglob("*.ipynb")
                               if ".ipynb_checkpoints" not in p.parts)
            if not notebooks:
                raise GraderError(f"{path}: no notebooks in this folder")
        elif path.exists() or path.is_symlink():
            notebooks = [path]
        else:
            raise GraderError(f"{path}: no such file or folder")
        loaded = [_load_submission(p) for p in notebooks]
        self.check_references(topic_for_grade_ids(item.grade_ids, Path(item.path).stem)
                              for item in loaded if isinstance(item, NotebookCode))
        return [item if isinstance(item, NotebookResult) else self.grade_code(item)
                for item in loaded]

    def grade_notebook(self, path: str | Path, topic: str | None = None) -> NotebookResult:
        """Grade one notebook file; an unreadable one gets an error result, not an exception."""
        loaded = _load_submission(Path(path), topic)
        return loaded if isinstance(loaded, NotebookResult) else self.grade_code(loaded, topic)

    def grade_bytes(self, data: bytes, path: str, topic: str | None = None) -> NotebookResult:
        """Grade a notebook handed over as its bytes (``path`` names it in messages only)."""
        loaded = _parse_submission(data, Path(path), topic)
        return loaded if isinstance(loaded, NotebookResult) else self.grade_code(loaded, topic)

    def grade_code(self, code: NotebookCode, topic: str | None = None) -> NotebookResult:
        """Grade already-extracted notebook code; never raises for a bad submission."""
        start = time.monotonic()
        try:
            topic = topic or topic_for_grade_ids(code.grade_ids, Path(code.path).stem)
            if topic is None:
                return NotebookResult(code.path, None, [], error=(
                    f"{code.path}: not a course notebook (its name and test cells match no "
                    "topic)"))
            tasks = tasks_for_topic(topic)
            with ThreadPoolExecutor(max_workers=self.jobs) as pool:
                if self.include_hidden:  # references first, before any student code runs
                    list(pool.map(self._prepare_references, tasks))
                results = list(pool.map(lambda t: self.grade_task(code, t), tasks))
            add_dependency_hints(code, tasks, results)
        except Exception as exc:  # noqa: BLE001 - one notebook never stops a batch
            return NotebookResult(code.path, topic, [], grader_error=(
                f"internal grader error ({type(exc).__name__}: {str(exc)[:200]})"))
        return NotebookResult(code.path, topic, results, elapsed_s=time.monotonic() - start)

    def grade_task(self, code: NotebookCode, task: Task) -> TaskResult:
        """Grade one task of a notebook; every failure becomes a status, never an exception."""
        start = time.monotonic()
        selected = task.selected_checks(self.include_hidden)
        if sandbox.forks_directly() and any(check.hidden for _, check in selected):
            return TaskResult(task.id, 0.0, task.points, "error", "grader error: hidden "
                              "checks never run in the fast self-check (no sandbox)")
        try:
            result = self._grade_task(code, task, selected)
        except GraderError as exc:
            result = TaskResult(task.id, 0.0, task.points, Status.GRADER_ERROR,
                                f"grader error: {exc}")
        except Exception as exc:  # noqa: BLE001 - contained to this task
            result = TaskResult(task.id, 0.0, task.points, Status.GRADER_ERROR,
                                f"internal grader error ({type(exc).__name__}: "
                                f"{str(exc)[:200]})")
        result.elapsed_s = time.monotonic() - start
        return result

    # -- internals ------------------------------------------------------------------
    def _limits(self, task: Task) -> tuple[float, int]:
        return (self.timeout_s or task.timeout_s, self.memory_mb or task.memory_mb)

    def _run(self, code: NotebookCode, task: Task, selected: tuple[tuple[int, Check], ...],
             blobs: dict[int, bytes]) -> tuple[sandbox.ChildRun, Any, list[Any]]:
        cells = code.cells_for(task.symbols + task.extra_symbols + task.companions)
        job = {
            "cells": [(c.index, c.source) for c in cells],
            "symbols": list(task.symbols),
            "probes": [(task.id, i, blobs[i]) for i, _ in selected],
            "device": self.device,
        }
        timeout_s, memory_mb = self._limits(task)
        run = sandbox.run_child(job, timeout_s, memory_mb, self.policy)
        load = _record(run.frames.get(("load", 0)))
        records = [_record(run.frames.get(("probe", n))) for n in range(len(selected))]
        return run, load, records

    def _inputs(self, task: Task, index: int, check: Check) -> bytes:
        """A check's serialised inputs, built once so student and reference see the same."""
        key = (task.id, index)
        if key not in self._input_blobs:
            blob = encode_inputs(check)
            with self._lock:
                self._input_blobs.setdefault(key, blob)
        return self._input_blobs[key]

    def _prepare_references(self, task: Task, indices: Iterable[int] | None = None) -> None:
        """Run the reference notebook's probes of ``task``'s checks (default: the hidden
        ones), each once."""
        wanted = [(i, task.checks[i]) for i in indices] if indices is not None else \
            [(i, c) for i, c in enumerate(task.checks) if c.hidden]
        missing = [(i, c) for i, c in wanted if (task.id, i) not in self._references]
        if missing and self.reference_store is not None:
            still = set(self._stored_references(task, [i for i, _ in missing]))
            missing = [(i, c) for i, c in missing if i in still]
        if not missing:
            return
        try:
            code = self._solution_code(task.topic)
            blobs = {i: self._inputs(task, i, c) for i, c in missing}
            run, _, records = self._run(code, task, tuple(missing), blobs)
            for (i, check), record in zip(missing, records, strict=True):
                if not isinstance(record, dict) or record.get("status") != "ok":
                    detail = record.get("message", "") if isinstance(record, dict) \
                        else run.status
                    raise GraderError(f"the reference solution failed on '{check.name}' "
                                      f"({detail})")
                with self._lock:
                    self._references[(task.id, i)] = record["value"]
                if self.reference_store is not None:
                    self.reference_store.put(task.topic, task.id, i, record["value"])
        except GraderError as exc:
            with self._lock:
                for i, _ in missing:
                    self._references.setdefault((task.id, i), exc)

    def _reference_records(self, task: Task, wanted: list[int]) -> dict[int, Any]:
        self._prepare_references(task, None if all(task.checks[i].hidden for i in wanted)
                                 else wanted)
        refs = {i: self._references[(task.id, i)] for i in wanted}
        for value in refs.values():
            if isinstance(value, GraderError):
                raise value
        return refs

    def _stored_references(self, task: Task, missing: list[int]) -> list[int]:
        """Take what ``reference_store`` holds into memory; returns the indices still missing."""
        still = []
        for i in missing:
            try:
                value = self.reference_store.get(task.topic, task.id, i)
            except KeyError:
                still.append(i)
                continue
            with self._lock:
                self._references[(task.id, i)] = value
        return still

    def _solution_code(self, topic: str) -> NotebookCode:
        """The reference notebook's code, read once and checked against the release hashes."""
        with self._lock:
            if topic not in self._reference_code:
                self._reference_code[topic] = reference_code(topic)
            return self._reference_code[topic]

    def _reference_or_none(self, topic: str) -> NotebookCode | None:
        try:
            return self._solution_code(topic)
        except GraderError:
            return None

    def _grade_task(self, code: NotebookCode, task: Task,
                    selected: tuple[tuple[int, Check], ...]) -> TaskResult:
        blobs = {i: self._inputs(task, i, check) for i, check in selected}
        run, load, records = self._run(code, task, selected, blobs)
        early = _load_problem(code, task, run, load, self._reference_or_none(task.topic))
        if early is not None:
            status, message = early
            return TaskResult(task.id, 0.0, task.points, status, message)
        hidden = [i for (i, c), record in zip(selected, records, strict=True)
                  if c.hidden and isinstance(record, dict) and record.get("status") == "ok"]
        refs = self._reference_records(task, hidden) if hidden else {}
        outcomes = [
            self._judge(task, i, check, blobs[i], record, refs.get(i), run)
            for (i, check), record in zip(selected, records, strict=True)
        ]
        return _aggregate(task, outcomes, run)

    def _judge(self, task: Task, index: int, check: Check, blob: bytes, record: Any,
               ref: Any, run: sandbox.ChildRun) -> CheckOutcome:
        def outcome(status: str, message: str = "") -> CheckOutcome:
            return CheckOutcome(check.name, check.hidden, check.weight, status, message)

        if not isinstance(record, dict):
            return outcome(_RUN_STATUS.get(run.status, "crashed"), _run_message(task, run, self))
        status = record.get("status")
        symbol = ", ".join(f"`{s}`" for s in task.symbols)
        if status == "notimpl":
            return outcome("missing", f"{symbol} is not implemented yet "
                                      "(it raises NotImplementedError).")
        if status == "error":
            return outcome("error", _exception_message(record, self._limits(task)[1]))
        judgement = Judgement(inputs=payload.loads(blob), got=record.get("value"), ref=ref,
                              hidden=check.hidden, device=self.device)
        if judging.needs_isolation(judgement.got):
            status, message = judging.judge_in_child(task.id, index, judgement,
                                                     self.judge_timeout_s, self.policy)
        else:
            with _RNG_LOCK:
                status, message = judging.verdict(check, judgement)
        if status == Status.GRADER_ERROR:
            status, message = self._judge_raised(task, index, check, judgement, message)
        return outcome(status, message)

    def _judge_raised(self, task: Task, index: int, check: Check, judgement: Judgement,
                      error: str) -> tuple[Status, str]:
        """Whose fault a judge's exception is: an odd result's form, else the judge's.

        The student's result is compared with the reference's on the same inputs; without a
        reference (public-only grading) nothing can be told, and the student is asked to
        check the result's form.
        """
        if not self.include_hidden:
            return Status.FAILED, (f"the check could not judge this result ({error}); does "
                                   "the function return what its docstring describes?")
        ref = judgement.ref if check.hidden else \
            self._reference_records(task, [index])[index]
        difference = form_difference(judgement.got, ref)
        if difference:
            return Status.FAILED, f"the result has an unexpected form: {difference}."
        return Status.GRADER_ERROR, f"grader bug in check '{check.name}' ({error})"


def reference_code(topic: str) -> NotebookCode:
    """A topic's solution notebook as released; ``GraderError`` (one line) when it is
    unreadable or differs from what ``release`` recorded in ``solutions/SHA256SUMS``."""
    path = solution_notebook(topic)
    try:
        data = read_notebook_bytes(path)
        verify_solution(topic, data)
        return extract_code(parse_notebook(data, path), str(path))
    except NotebookError as exc:
        raise GraderError(f"cannot use the reference notebook: {exc}") from None


def check_released(topics: Iterable[str | None]) -> None:
    """``ReferenceNotReleased`` unless every topic's reference notebook is the released one."""
    for topic in sorted({t for t in topics if t}):
        try:
            reference_code(topic)
        except GraderError as exc:
            raise ReferenceNotReleased(str(exc)) from None


def _load_submission(path: Path, topic: str | None = None) -> NotebookCode | NotebookResult:
    """A submission's code, read into memory now; an error result when it cannot be read."""
    try:
        data = read_notebook_bytes(path)
    except NotebookError as exc:
        return NotebookResult(str(path), topic, [], error=str(exc))
    return _parse_submission(data, path, topic)


def _parse_submission(data: bytes, path: Path,
                      topic: str | None = None) -> NotebookCode | NotebookResult:
    """A submission's code from its bytes; an error result when they are not a notebook."""
    try:
        return extract_code(parse_notebook(data, path), str(path))
    except NotebookError as exc:
        return NotebookResult(str(path), topic, [], error=str(exc))
    except Exception as exc:  # noqa: BLE001 - e.g. metadata of the wrong types
        return NotebookResult(str(path), topic, [], error=(
            f"{path}: not a gradable notebook ({type(exc).__name__})"))


OVERSIZE_MESSAGE = (f"stopped for sending back more than {sandbox.MAX_RESULT_BYTES // 2**20} "
                    "MiB of results (are the outputs far larger than the docstring says?).")
_RUN_STATUS = {"timeout": Status.TIMEOUT, "memory": Status.CRASHED, "crashed": Status.CRASHED,
               "finished": Status.CRASHED, "oversize": Status.ERROR,
               "sandbox": Status.GRADER_ERROR, "complex": Status.ERROR}


def _record(raw: Any) -> Any:
    """A raw frame record from a child, decoded; None when it is malformed."""
    if not isinstance(raw, dict):
        return None
    try:
        if "value" in raw:
            return {**raw, "value": payload.decode(raw["value"])}
        return raw
    except Exception:  # noqa: BLE001 - a malformed record counts as no result
        return None


def _run_message(task: Task, run: sandbox.ChildRun, grader: Grader) -> str:
    timeout_s, memory_mb = grader._limits(task)
    if run.status == "timeout":
        return (f"stopped after {timeout_s:g} s without finishing (an infinite loop, or far "
                "too much work for this check).")
    if run.status == "memory":
        return f"stopped for using more than {memory_mb} MiB of memory."
    if run.status == "oversize":
        return OVERSIZE_MESSAGE
    if run.status == "complex":
        return sandbox.too_complex_message(run.detail)
    if run.status == "sandbox":
        return f"grader error: the grading sandbox could not start ({run.detail})."
    return (f"the process running this task's code ended abruptly (exit code {run.exitcode}); "
            "does the code call os._exit or sys.exit, or crash Python?")


def _exception_message(record: dict[str, Any], memory_mb: int) -> str:
    kind, text, where = record.get("type", "Exception"), record.get("message", ""), \
        record.get("where", "")
    if kind == "MemoryError":
        return f"ran out of memory (the limit is {memory_mb} MiB)."
    location = f" {where}" if where else ""
    if kind == "NotImplementedError":
        location = (f" inside a library called {where}" if where else " inside a library"
                    ) + " (not the notebook's `raise NotImplementedError()` stub)"
    return f"raised {kind}{location}: {text}" if text else f"raised {kind}{location}."


def _load_problem(code: NotebookCode, task: Task, run: sandbox.ChildRun, load: Any,
                  reference: NotebookCode | None = None) -> tuple[str, str] | None:
    """A status and message when the task's symbols could not even be defined.

    ``reference`` (the solution's code) tells which answer cell should define a symbol, so
    that a cell rewritten beyond recognition and broken is still named as the cause.
    """
    if not isinstance(load, dict):
        if run.status == "sandbox":
            return Status.GRADER_ERROR, ("grader error: the grading sandbox could not start "
                                         f"({run.detail}).")
        if run.status == "oversize":
            return "error", OVERSIZE_MESSAGE
        if run.status == "complex":
            return "error", sandbox.too_complex_message(run.detail)
        if run.status == "timeout":
            return "timeout", ("the notebook code for this task did not finish loading "
                               "(an infinite loop at the top level of a cell?).")
        if run.status == "memory":
            return "crashed", "loading the notebook code used too much memory."
        return "crashed", ("the notebook code for this task ended the process while loading "
                           f"(exit code {run.exitcode}).")
    failures = load.get("failures", {}) if isinstance(load.get("failures"), dict) else {}
    present = load.get("present", {}) if isinstance(load.get("present"), dict) else {}
    for symbol in task.symbols:
        if present.get(symbol):
            continue
        for cell in (*code.defining_cells(symbol), *_answer_cells(reference, code, symbol)):
            if cell.syntax_error:
                return "error", f"`{symbol}` could not be defined: {cell.syntax_error}"
            failure = failures.get(str(cell.index))
            if isinstance(failure, dict):
                where = f" {failure['where']}" if failure.get("where") else ""
                return "error", (f"`{symbol}` could not be defined: its cell raised "
                                 f"{failure.get('type')}{where}: {failure.get('message', '')}")
        return "missing", f"`{symbol}` is not defined in the notebook."
    return None


def _answer_cells(reference: NotebookCode | None, code: NotebookCode,
                  symbol: str) -> tuple[CodeCell, ...]:
    """The submission's cells with the grade_ids of the reference cells defining ``symbol``."""
    if reference is None:
        return ()
    found = (code.cell_with_id(c.grade_id) for c in reference.defining_cells(symbol)
             if c.grade_id)
    return tuple(c for c in found if c is not None)


def _aggregate(task: Task, outcomes: list[CheckOutcome], run: sandbox.ChildRun) -> TaskResult:
    total = sum(o.weight for o in outcomes) or 1.0
    earned = sum(o.weight for o in outcomes if o.status == "passed")
    points = round(task.points * earned / total, 2)
    failing = [o for o in outcomes if o.status != "passed"]
    if not failing:
        n = len(outcomes)
        return TaskResult(task.id, points, task.points, "passed",
                          f"all {n} check{'s' if n != 1 else ''} passed", outcomes)
    statuses = {o.status for o in failing}
    broken = [o for o in failing if o.status == Status.GRADER_ERROR]
    if broken:  # no score exists for this task; the first grader error says why
        return TaskResult(task.id, 0.0, task.points, Status.GRADER_ERROR,
                          f"{broken[0].name}: {broken[0].message}", outcomes)
    for status in ("timeout", "crashed"):
        if status in statuses:
            break
    else:
        if statuses == {"missing"}:
            status = "missing"
        elif "error" in statuses:
            status = "error"
        else:
            status = "failed"
    first = failing[0]
    if status == "missing":
        return TaskResult(task.id, points, task.points, status, first.message, outcomes)
    message = f"{first.name}: {first.message}" if first.name else first.message
    if len(failing) > 1:
        message += f" (+{len(failing) - 1} more failing check{'s' if len(failing) > 2 else ''})"
    return TaskResult(task.id, points, task.points, status, message, outcomes)


def graded_dependencies(code: NotebookCode, task: Task, tasks: list[Task] | tuple[Task, ...]
                        ) -> list[Task]:
    """The other tasks whose graded symbols ``task`` uses (found from the names its cells use,
    plus its extra symbols): the tasks ``dependency_prefix`` needs the results of."""
    used = code.names_reached(task.symbols) | set(task.extra_symbols)
    return [other for other in tasks if other.id != task.id and
            any(symbol in used and symbol not in task.symbols for symbol in other.symbols)]


def dependency_prefix(code: NotebookCode, task: Task, results: dict[str, TaskResult],
                      tasks: list[Task] | tuple[Task, ...]) -> str:
    """The sentence a failing task's message starts with when a graded symbol it uses (found
    from the names its cells use, plus its extra symbols) is another task's and that task
    did not pass: that symbol is the first thing to fix. Empty when there is none."""
    used = code.names_reached(task.symbols) | set(task.extra_symbols)
    sentences = []
    for other in tasks:
        result = results.get(other.id)
        if other.id == task.id or result is None or result.status == "passed":
            continue
        for symbol in other.symbols:
            if symbol not in used or symbol in task.symbols:
                continue
            state = {"failed": "is wrong", "missing": "is not implemented yet"}.get(
                result.status, f"does not pass its own task ({result.status})")
            sentences.append(f"`{symbol}`, which this uses, {state} ({other.id}): fix it "
                             "first.")
            used = used - {symbol}
    return " ".join(sentences) + " " if sentences else ""


def add_dependency_hints(code: NotebookCode, tasks: list[Task] | tuple[Task, ...],
                         results: list[TaskResult]) -> None:
    """Prefix, in place, each non-passing task's message with ``dependency_prefix`` (also kept
    as its ``dependency``, for the texts in which the checks speak, not the message)."""
    by_id = {r.id: r for r in results}
    prefixes = {r.id: dependency_prefix(code, t, by_id, tasks) if r.status != "passed" else ""
                for t, r in zip(tasks, results, strict=True)}
    for result in results:
        result.message = prefixes[result.id] + result.message
        result.dependency = prefixes[result.id].strip()
