"""Grade a notebook: run each task's probes in isolation and judge them here."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch

from autograder import judging, payload, sandbox, worker
from autograder.checks.api import Check, Judgement, Task, portable

# CheckOutcome, TaskResult, NotebookResult (autograder.outcomes), the failure messages
# (autograder.failures) and the dependency hints (autograder.dependency_hints) live in their
# own modules; they stay importable from here for the front ends.
from autograder.dependency_hints import (  # noqa: F401
    add_dependency_hints,
    dependency_prefix,
    graded_dependencies,
)
from autograder.failures import (
    OVERSIZE_MESSAGE,  # noqa: F401
    RUN_STATUS,
    exception_message,
    load_problem,
    run_message,
)
from autograder.isolation.policy import SandboxUnavailable, build_policy
from autograder.notebook_code import (
    NotebookCode,
    NotebookError,
    extract_code,
    parse_notebook,
    read_notebook_bytes,
)
from autograder.outcomes import CheckOutcome, NotebookResult, TaskResult, aggregate
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
        # reference_store (optional): get(topic, task_id, check_id) -> value or KeyError, and
        # put(topic, task_id, check_id, value); a cache of reference results kept across runs.
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
        self._references: dict[tuple[str, str], Any] = {}
        self._reference_code: dict[str, NotebookCode] = {}
        self._input_blobs: dict[tuple[str, str], bytes] = {}
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
        if sandbox.forks_directly() and any(check.hidden for check in selected):
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

    def _run(self, code: NotebookCode, task: Task, selected: tuple[Check, ...],
             blobs: dict[str, bytes]) -> tuple[sandbox.ChildRun, Any, list[Any]]:
        cells = code.cells_for(task.symbols + task.extra_symbols + task.companions)
        job = {
            "cells": [(c.index, c.source) for c in cells],
            "symbols": list(task.symbols),
            "topic": task.topic,
            "probes": [(task.id, c.id, portable(c.probe), c.seed, blobs[c.id])
                       for c in selected],
            "device": self.device,
        }
        timeout_s, memory_mb = self._limits(task)
        run = sandbox.run_child(worker.child_main, job, timeout_s, memory_mb, self.policy)
        load = _record(run.frames.get(("load", 0)))
        records = [_record(run.frames.get(("probe", c.id))) for c in selected]
        return run, load, records

    def _inputs(self, task: Task, check: Check) -> bytes:
        """A check's serialised inputs, built once so student and reference see the same."""
        key = (task.id, check.id)
        if key not in self._input_blobs:
            blob = encode_inputs(check)
            with self._lock:
                self._input_blobs.setdefault(key, blob)
        return self._input_blobs[key]

    def _prepare_references(self, task: Task, check_ids: Iterable[str] | None = None) -> None:
        """Run the reference notebook's probes of ``task``'s checks (default: the hidden
        ones), each once."""
        wanted = [task.check(i) for i in check_ids] if check_ids is not None else \
            [c for c in task.checks if c.hidden]
        missing = [c for c in wanted if (task.id, c.id) not in self._references]
        if missing and self.reference_store is not None:
            still = set(self._stored_references(task, [c.id for c in missing]))
            missing = [c for c in missing if c.id in still]
        if not missing:
            return
        try:
            code = self._solution_code(task.topic)
            blobs = {c.id: self._inputs(task, c) for c in missing}
            run, _, records = self._run(code, task, tuple(missing), blobs)
            for check, record in zip(missing, records, strict=True):
                if not isinstance(record, dict) or record.get("status") != "ok":
                    detail = record.get("message", "") if isinstance(record, dict) \
                        else run.status
                    raise GraderError(f"the reference solution failed on '{check.name}' "
                                      f"({detail})")
                with self._lock:
                    self._references[(task.id, check.id)] = record["value"]
                if self.reference_store is not None:
                    self.reference_store.put(task.topic, task.id, check.id, record["value"])
        except GraderError as exc:
            with self._lock:
                for check in missing:
                    self._references.setdefault((task.id, check.id), exc)

    def _reference_records(self, task: Task, wanted: list[str]) -> dict[str, Any]:
        """The reference results of the checks ``wanted`` (ids), run when not cached."""
        self._prepare_references(task, None if all(task.check(i).hidden for i in wanted)
                                 else wanted)
        refs = {i: self._references[(task.id, i)] for i in wanted}
        for value in refs.values():
            if isinstance(value, GraderError):
                raise value
        return refs

    def _stored_references(self, task: Task, missing: list[str]) -> list[str]:
        """Take what ``reference_store`` holds into memory; returns the check ids still
        missing."""
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
                    selected: tuple[Check, ...]) -> TaskResult:
        blobs = {check.id: self._inputs(task, check) for check in selected}
        run, load, records = self._run(code, task, selected, blobs)
        early = load_problem(code, task, run, load, self._reference_or_none(task.topic))
        if early is not None:
            status, message = early
            return TaskResult(task.id, 0.0, task.points, status, message)
        hidden = [c.id for c, record in zip(selected, records, strict=True)
                  if c.hidden and isinstance(record, dict) and record.get("status") == "ok"]
        refs = self._reference_records(task, hidden) if hidden else {}
        outcomes = [
            self._judge(task, check, blobs[check.id], record, refs.get(check.id), run)
            for check, record in zip(selected, records, strict=True)
        ]
        return aggregate(task, outcomes, run)

    def _judge(self, task: Task, check: Check, blob: bytes, record: Any,
               ref: Any, run: sandbox.ChildRun) -> CheckOutcome:
        def outcome(status: str, message: str = "") -> CheckOutcome:
            return CheckOutcome(check.name, check.hidden, check.weight, status, message)

        if not isinstance(record, dict):
            return outcome(RUN_STATUS.get(run.status, "crashed"),
                           run_message(run, *self._limits(task)))
        status = record.get("status")
        symbol = ", ".join(f"`{s}`" for s in task.symbols)
        if status == "notimpl":
            return outcome("missing", f"{symbol} is not implemented yet "
                                      "(it raises NotImplementedError).")
        if status == "error":
            return outcome("error", exception_message(record, self._limits(task)[1]))
        judgement = Judgement(inputs=payload.loads(blob), got=record.get("value"), ref=ref,
                              hidden=check.hidden, device=self.device)
        if judging.needs_isolation(judgement.got):
            status, message = judging.judge_in_child(task.id, check.id, judgement,
                                                     self.judge_timeout_s, self.policy)
        else:
            with _RNG_LOCK:
                status, message = judging.verdict(check, judgement)
        if status == Status.GRADER_ERROR:
            status, message = self._judge_raised(task, check, judgement, message)
        return outcome(status, message)

    def _judge_raised(self, task: Task, check: Check, judgement: Judgement,
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
            self._reference_records(task, [check.id])[check.id]
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


