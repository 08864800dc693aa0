"""Grade submissions in parallel, each result stored as soon as it is finished.

:func:`grade_jobs` drives a *backend* and shows the progress bar. The local backend,
:class:`LocalProcesses`, grades in worker processes of this machine: every worker has its own
:class:`Grader` (with the shared on-disk reference cache) and writes each finished submission
to the result store itself, so a grade survives the death of the main process a moment later.
References are computed first, one job per topic, by grading the topic's solution notebook;
students are graded after that. The Dask backend (a cluster) lives in ``cluster``.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from autograder.classgrade.records import Record, from_result
from autograder.classgrade.references import DiskReferenceStore
from autograder.classgrade.store import ResultStore
from autograder.paths import solution_notebook

if TYPE_CHECKING:
    from autograder.grading import NotebookResult

REFERENCES_DIR = ".references"
PREPARE_FROM_WORKERS = 3


@dataclass(frozen=True)
class Settings:
    """How every worker grades."""

    out: str
    device: str = "cpu"
    timeout_s: float | None = None
    memory_mb: int | None = None
    task_jobs: int = 2
    torch_threads: int = 1
    sandbox: str = "auto"


@dataclass(frozen=True)
class Job:
    """One submission to grade, with the key its record is stored under."""

    student: str
    assignment: str
    topic: str
    path: str
    key: str


_WORKER: dict[str, object] = {}


def _init_worker(settings: Settings) -> None:
    import torch

    from autograder.grading import Grader

    torch.set_num_threads(settings.torch_threads)
    out = Path(settings.out)
    _WORKER["grader"] = Grader(device=settings.device, jobs=settings.task_jobs,
                               timeout_s=settings.timeout_s, memory_mb=settings.memory_mb,
                               sandbox=settings.sandbox,
                               reference_store=DiskReferenceStore(out / REFERENCES_DIR,
                                                                  settings.device))
    _WORKER["store"] = ResultStore(out)


def _grade_job(job: Job) -> Record:
    grader, store = _WORKER["grader"], _WORKER["store"]
    result = grader.grade_notebook(job.path, job.topic)  # type: ignore[attr-defined]
    record = from_result(job.student, job.assignment, job.path, job.key, result)
    store.save(record)  # type: ignore[attr-defined]
    return record


def _prepare_references(topic: str) -> str | None:
    """Grade the topic's solution (filling the reference cache); a warning if not full marks."""
    grader = _WORKER["grader"]
    result = grader.grade_notebook(solution_notebook(topic), topic)  # type: ignore[attr-defined]
    return reference_warning(topic, result)


def reference_warning(topic: str, result: NotebookResult) -> str | None:
    """A warning when the topic's solution notebook does not get full marks; else None."""
    if result.error or result.score < result.max_score:
        lost = [f"{t.id}: {t.message}" for t in result.tasks if t.points < t.max_points]
        return (f"warning: the reference solution of {topic} scores {result.score:g}/"
                f"{result.max_score:g}; its hidden checks may be wrong ({result.error or lost})")
    return None


def topics_to_prepare(jobs: list[Job], out: Path, device: str, workers: int) -> list[str]:
    """Topics whose references are worth computing before any student is graded.

    Without this, each of ``w`` workers that meets a topic before its references are cached
    computes them itself; preparing costs about one notebook, so it pays when ``w`` >= 3.
    """
    store = DiskReferenceStore(out / REFERENCES_DIR, device)
    counts = Counter(job.topic for job in jobs)
    return sorted(topic for topic, n in counts.items()
                  if min(n, workers) >= PREPARE_FROM_WORKERS
                  and not (store.folder(topic).is_dir() and any(store.folder(topic).iterdir())))


class Backend(Protocol):
    """Where submissions are graded: this machine's processes or a cluster."""

    def grade(self, jobs: list[Job], settings: Settings,
              on_warning: Callable[[str], None]) -> Iterator[Record]:
        """Grade ``jobs``; yield each record as it is finished, already in the result store."""
        ...


def grade_jobs(jobs: list[Job], settings: Settings, backend: Backend,
               on_warning: Callable[[str], None] = print) -> Iterator[Record]:
    """Grade ``jobs`` on ``backend``, with a tqdm progress bar; yields each stored record."""
    from tqdm.auto import tqdm

    if not jobs:
        return
    bar = tqdm(total=len(jobs), desc="grading", unit="notebook", file=sys.stderr,
               disable=None, dynamic_ncols=True)
    failing = errors = 0
    try:
        for record in backend.grade(jobs, settings, on_warning):
            failing += sum(t.status != "passed" for t in record.tasks)
            errors += record.error is not None
            bar.set_postfix(failing_tasks=failing, unreadable=errors, refresh=False)
            bar.update()
            yield record
    finally:
        bar.close()


@dataclass(frozen=True)
class LocalProcesses:
    """``workers`` processes of this machine, after preparing ``topics``' references."""

    workers: int
    topics: tuple[str, ...] = ()

    def grade(self, jobs: list[Job], settings: Settings,
              on_warning: Callable[[str], None]) -> Iterator[Record]:
        """Grade in a process pool; each worker stores what it grades."""
        workers = max(1, min(self.workers, len(jobs)))
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                                 initargs=(settings,)) as pool:
            try:
                prepared = [pool.submit(_prepare_references, t) for t in self.topics]
                for future in as_completed(prepared):
                    if future.result():
                        on_warning(future.result())
                futures: list[Future[Record]] = [pool.submit(_grade_job, job) for job in jobs]
                for future in as_completed(futures):
                    yield future.result()
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise


def default_workers() -> int:
    """One worker per CPU core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)
