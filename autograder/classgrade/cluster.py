"""Grading on a Dask cluster: ``--scheduler tcp://head:8786``, ``--cluster slurm`` or
``--cluster local``.

The head (the process running ``grade-class``) connects, admits the workers that grade like
itself (``cluster_worker.AdmitWorker``: the same grader fingerprint and solution notebooks, the
sandbox asked for, a GPU for ``--gpu``), and submits one task per submission carrying the
notebook's bytes; each record that comes back is stored here, atomically, at once, so workers
need no shared file system and a killed head loses nothing stored. References are computed once
per topic on a worker (or read from ``grades/.references/``), written to that cache here and
handed to the tasks of their topic. A worker that dies mid-task costs nothing: the scheduler
re-runs the task elsewhere; a submission whose grading ends a worker more often than the
scheduler's ``distributed.scheduler.allowed-failures`` (Dask's default: 3) is recorded as
``crashed``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the grader (torch) loads only when grading starts
    from autograder.classgrade.records import Record
    from autograder.classgrade.runner import Job, Settings

DEFAULT_WORKER_TIMEOUT_S = 300.0
CONNECT_TIMEOUT_S = 30
POLL_S = 2.0
MIN_IN_FLIGHT = 32
IN_FLIGHT_PER_THREAD = 4


class ClusterError(Exception):
    """The cluster cannot grade (unreachable, no admitted worker...): one line says why."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The cluster options of ``grade-class``."""
    group = parser.add_argument_group(
        "grading on a Dask cluster", "default: worker processes of this machine (--jobs)")
    where = group.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="the scheduler of a running Dask cluster (tcp://head:8786)")
    where.add_argument("--cluster", choices=("local", "slurm"),
                       help="start one: local worker processes, or Slurm jobs (dask-jobqueue)")
    group.add_argument("--workers", type=int, metavar="N",
                       help="--cluster local: worker processes (default: one per core); "
                            "--cluster slurm: Slurm jobs (default: 1)")
    group.add_argument("--worker-cores", type=int, default=2, metavar="C",
                       help="--cluster slurm: cores per job, one worker process each "
                            "(default: 2)")
    group.add_argument("--worker-memory", default="8GB", metavar="MEM",
                       help="--cluster slurm: memory per job (default: 8GB)")
    group.add_argument("--queue", help="--cluster slurm: the partition")
    group.add_argument("--walltime", metavar="HH:MM:SS",
                       help="--cluster slurm: time limit per job (default: jobqueue's config)")
    group.add_argument("--gpu", action="store_true",
                       help="grade on cuda, only on workers with a GPU resource (GPU=1)")
    group.add_argument("--worker-timeout", type=float, default=DEFAULT_WORKER_TIMEOUT_S,
                       metavar="S", help="give up when no worker can grade for this long "
                                         f"(default: {DEFAULT_WORKER_TIMEOUT_S:g} s)")


def requested(args: argparse.Namespace) -> bool:
    """Whether the command grades on a Dask cluster."""
    return bool(getattr(args, "scheduler", None) or getattr(args, "cluster", None))


def argument_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the cluster options (one line), or None."""
    if not requested(args):
        for flag, value in (("--gpu", args.gpu), ("--workers", args.workers)):
            if value:
                return f"{flag} needs --scheduler or --cluster"
        return None
    if args.device == "cuda" and not args.gpu:
        return "on a cluster, ask for GPU workers with --gpu (it grades on cuda)"
    if args.workers is not None and args.workers < 1:
        return "--workers must be at least 1"
    if args.worker_cores < 1:
        return "--worker-cores must be at least 1"
    return None


def cluster_device(args: argparse.Namespace) -> str:
    """The device the workers grade on: cuda with --gpu, else cpu."""
    return "cuda" if args.gpu else "cpu"


@contextlib.contextmanager
def started_cluster(args: argparse.Namespace) -> Iterator[Any]:
    """The cluster ``--cluster`` asks for (closed, its Slurm jobs cancelled, on exit)."""
    if args.cluster == "slurm":
        cluster = slurm_cluster(args)
        cluster.scale(jobs=args.workers or 1)
    else:
        cluster = local_cluster(args.workers)
    with cluster:
        yield cluster


def local_cluster(workers: int | None) -> Any:
    """Worker processes of this machine, one thread each, with a Dask scheduler."""
    from distributed import LocalCluster

    from autograder.classgrade.runner import default_workers

    return LocalCluster(n_workers=workers or default_workers(), threads_per_worker=1,
                        processes=True, host="127.0.0.1", dashboard_address=":0",
                        silence_logs=logging.ERROR)


def slurm_cluster(args: argparse.Namespace) -> Any:
    """A dask-jobqueue ``SLURMCluster``: jobs of ``--worker-cores`` one-thread workers.

    Options not given here come from dask-jobqueue's configuration (``jobqueue.slurm`` in
    ``~/.config/dask/jobqueue.yaml``: account, interface, extra directives...), to which the
    GPU request and the data folder are added.
    """
    import os

    import dask
    from dask_jobqueue import SLURMCluster

    config = dask.config.get("jobqueue.slurm")
    directives = list(config.get("job-extra-directives") or [])
    worker_args = list(config.get("worker-extra-args") or [])
    prologue = list(config.get("job-script-prologue") or [])
    if args.gpu:
        directives.append("--gres=gpu:1")
        worker_args += ["--resources", "GPU=1"]
    if os.environ.get("VAE_COURSE_DATA"):
        prologue.append(f"export VAE_COURSE_DATA={os.environ['VAE_COURSE_DATA']}")
    options: dict[str, Any] = {"cores": args.worker_cores, "processes": args.worker_cores,
                               "memory": args.worker_memory, "python": sys.executable,
                               "job_extra_directives": directives,
                               "worker_extra_args": worker_args,
                               "job_script_prologue": prologue}
    if args.queue:
        options["queue"] = args.queue
    if args.walltime:
        options["walltime"] = args.walltime
    return SLURMCluster(**options)


@dataclass(frozen=True)
class DaskBackend:
    """A ``runner.Backend`` that grades on a Dask cluster (see the module docstring)."""

    args: argparse.Namespace
    out: Path
    say: Callable[[str], None]

    def grade(self, jobs: list[Job], settings: Settings,
              on_warning: Callable[[str], None]) -> Iterator[Record]:
        """Connect, admit workers, grade; yields each record once it is stored here."""
        from distributed import Client

        with contextlib.ExitStack() as stack:
            target: Any = self.args.scheduler
            if self.args.cluster:
                target = stack.enter_context(started_cluster(self.args))
            try:
                client = stack.enter_context(Client(target, timeout=CONNECT_TIMEOUT_S))
            except OSError as exc:
                raise ClusterError(f"cannot reach the Dask scheduler at {target} "
                                   f"({str(exc).splitlines()[0][:200]})") from None
            session = _Session(client, _expected(jobs, settings, self.args.gpu), self.out,
                               self.args.worker_timeout, self.say)
            stack.callback(session.close)
            session.admit()
            yield from session.grade(jobs, settings, on_warning)


def _expected(jobs: list[Job], settings: Settings, gpu: bool) -> Any:
    from autograder.classgrade.cluster_worker import Expected, protocol_fingerprint
    from autograder.classgrade.store import grader_fingerprint, solution_sha256

    topics = sorted({job.topic for job in jobs})
    return Expected(grader_fingerprint(), tuple((t, solution_sha256(t)) for t in topics),
                    settings.sandbox, gpu, protocol_fingerprint())


class _Session:
    """One run on a connected client: admission, then the grading loop."""

    def __init__(self, client: Any, expected: Any, out: Path, worker_timeout_s: float,
                 say: Callable[[str], None]) -> None:
        self.client = client
        self.expected = expected
        self.out = out
        self.worker_timeout_s = worker_timeout_s
        self.say = say
        self.refused: set[str] = set()
        self.run_id = uuid.uuid4().hex[:8]

    # -- admission ---------------------------------------------------------------------
    def admit(self) -> None:
        """Admit the workers that can grade; fail (one line) when none can."""
        from autograder.classgrade.cluster_worker import EVENT_TOPIC, PLUGIN_NAME, AdmitWorker

        link = self.client.dashboard_link
        self.say(f"Dask dashboard: {link}" if link else "Dask dashboard: not available")
        self.client.subscribe_topic(EVENT_TOPIC, self._on_refusal_event)
        with contextlib.suppress(Exception):  # a worker that cannot load it is named below
            self.client.register_plugin(AdmitWorker(self.expected), name=PLUGIN_NAME)
        deadline = time.monotonic() + self.worker_timeout_s
        while True:
            admitted, refused, pending = self._reports()
            for address, reason in sorted(refused.items()):
                self._refuse(address, reason)
            if admitted:
                self._say_admitted(admitted)
                return
            if refused and not pending:
                address, reason = sorted(refused.items())[0]
                raise ClusterError(f"no worker can grade: worker {address}: {reason}"
                                   + (f" (and {len(refused) - 1} more refused)"
                                      if len(refused) > 1 else ""))
            if time.monotonic() > deadline:
                raise ClusterError(f"no worker joined the cluster within "
                                   f"{self.worker_timeout_s:g} s (--worker-timeout)")
            time.sleep(POLL_S / 4)

    def _reports(self) -> tuple[dict[str, str], dict[str, str], list[str]]:
        """(admitted worker -> sandbox summary, refused worker -> reason, undecided workers)."""
        from autograder.classgrade.cluster_worker import admission_report

        admitted, refused, pending = {}, {}, []
        for address, report in self.client.run(admission_report, on_error="return").items():
            if isinstance(report, BaseException):
                refused[address] = (f"it cannot load the grader ({type(report).__name__}: "
                                    f"{str(report)[:200]})")
            elif not report:
                pending.append(address)
            elif report["reason"] is None:
                admitted[address] = report["sandbox"]
            else:
                refused[address] = report["reason"]
        return admitted, refused, pending

    def _say_admitted(self, admitted: dict[str, str]) -> None:
        by_sandbox: dict[str, int] = {}
        for summary in admitted.values():
            by_sandbox[summary] = by_sandbox.get(summary, 0) + 1
        for summary, count in sorted(by_sandbox.items()):
            self.say(f"cluster: {count} worker{'s' * (count > 1)} admitted ({summary})")
        if len(by_sandbox) > 1:
            self.say("warning: the admitted workers offer different sandboxes; "
                     "--sandbox require admits only workers with the full one")

    def _refuse(self, address: str, reason: str) -> None:
        if address not in self.refused:
            self.refused.add(address)
            self.say(f"refused worker {address}: {reason}")

    def _on_refusal_event(self, event: Any) -> None:
        _, message = event
        self._refuse(str(message.get("worker")), str(message.get("reason")))

    def _admitted_count(self) -> int:
        workers = self.client.scheduler_info(n_workers=-1).get("workers", {})
        return sum(bool(w.get("resources", {}).get(self.expected.gate))
                   for w in workers.values())

    def close(self) -> None:
        """Take the admission plugin off the workers (a shared scheduler outlives this run)."""
        from autograder.classgrade.cluster_worker import EVENT_TOPIC, PLUGIN_NAME

        with contextlib.suppress(Exception):
            self.client.unsubscribe_topic(EVENT_TOPIC)
        with contextlib.suppress(Exception):
            self.client.unregister_worker_plugin(PLUGIN_NAME)

    # -- grading -----------------------------------------------------------------------
    def grade(self, jobs: list[Job], settings: Settings,
              on_warning: Callable[[str], None]) -> Iterator[Record]:
        """Submit references and submissions; store and yield each record as it comes."""
        from distributed import wait

        from autograder.classgrade.store import ResultStore

        store = ResultStore(self.out)
        references = self._references(jobs, settings)
        waiting = {future.key: topic for topic, future in references.items()
                   if future.key.startswith("references-")}
        queue, running = deque(jobs), {}
        stalled_since: float | None = None
        while queue or running or waiting:
            limit = self._in_flight()
            while queue and len(running) < limit:
                job = queue.popleft()
                future, record = self._submit(job, settings, references[job.topic])
                if record is not None:
                    store.save(record)
                    yield record
                else:
                    running[future] = job
            pending = list(running) + [f for f in references.values() if f.key in waiting]
            try:
                done = wait(pending, timeout=POLL_S, return_when="FIRST_COMPLETED").done
            except TimeoutError:
                stalled_since = self._check_stall(stalled_since)
                continue
            stalled_since = None
            for future in done:
                if future.key in waiting:
                    self._store_references(waiting.pop(future.key), future, settings,
                                           on_warning)
                elif future in running:
                    record = finished_record(future, running.pop(future))
                    store.save(record)
                    yield record

    def _in_flight(self) -> int:
        threads = sum(w.get("nthreads", 1) for w in
                      self.client.scheduler_info(n_workers=-1).get("workers", {}).values())
        return max(MIN_IN_FLIGHT, IN_FLIGHT_PER_THREAD * threads)

    def _references(self, jobs: list[Job], settings: Settings) -> dict[str, Any]:
        """Topic -> a future of its ``References`` (from the disk cache, or computed)."""
        from autograder.classgrade.cluster_worker import References, compute_references

        resources = self.expected.task_resources()
        futures = {}
        for topic in sorted({job.topic for job in jobs}):
            cached = cached_references(self.out, topic, settings.device)
            if cached is None:
                futures[topic] = self.client.submit(
                    compute_references, settings, topic, resources=resources, pure=False,
                    key=f"references-{topic}-{self.run_id}")
            else:  # a task, not scattered data: the scheduler can recompute it if lost
                futures[topic] = self.client.submit(
                    _given, References(topic, cached), resources=resources, pure=False,
                    key=f"cached-references-{topic}-{self.run_id}")
        return futures

    def _store_references(self, topic: str, future: Any, settings: Settings,
                          on_warning: Callable[[str], None]) -> None:
        from autograder.classgrade.references import DiskReferenceStore
        from autograder.classgrade.runner import REFERENCES_DIR

        if future.status != "finished":
            raise ClusterError(f"the references of {topic} could not be computed on the "
                               f"cluster ({_exception_line(future.exception())})")
        computed = future.result()
        disk = DiskReferenceStore(self.out / REFERENCES_DIR, settings.device)
        for (task_id, check_id), value in computed.values.items():
            disk.put(topic, task_id, check_id, value)
        if computed.warning:
            on_warning(computed.warning)

    def _submit(self, job: Job, settings: Settings, references: Any) -> tuple[Any, Any]:
        """(a future of the job's record, None), or (None, an error record) when unreadable."""
        from autograder.classgrade.cluster_worker import grade_submission
        from autograder.classgrade.records import from_result
        from autograder.grading import NotebookResult
        from autograder.notebook_code import NotebookError, read_notebook_bytes

        try:
            data = read_notebook_bytes(job.path)
        except NotebookError as exc:
            result = NotebookResult(job.path, job.topic, [], error=str(exc))
            return None, from_result(job.student, job.assignment, job.path, job.key, result)
        future = self.client.submit(
            grade_submission, settings, job, data, references,
            resources=self.expected.task_resources(), pure=False,
            key=f"grade-{job.student}/{job.assignment}-{job.key[:8]}-{self.run_id}")
        return future, None

    def _check_stall(self, since: float | None) -> float | None:
        """Give up when no admitted worker has been there for ``worker_timeout_s``."""
        if self._admitted_count():
            return None  # busy workers: not a stall
        now = time.monotonic()
        since = now if since is None else since
        if now - since > self.worker_timeout_s:
            raise ClusterError(f"no worker that can grade has been connected for "
                               f"{self.worker_timeout_s:g} s (all refused or gone); what was "
                               "graded is stored, and a re-run resumes")
        return since


def _given(value: Any) -> Any:
    """A task that returns its argument (data the scheduler can hand out again)."""
    return value


def cached_references(out: Path, topic: str, device: str) -> dict[tuple[str, str], Any] | None:
    """Every hidden reference of ``topic`` from ``grades/.references/``; None when incomplete."""
    from autograder.classgrade.references import DiskReferenceStore
    from autograder.classgrade.runner import REFERENCES_DIR
    from autograder.registry import tasks_for_topic

    disk = DiskReferenceStore(out / REFERENCES_DIR, device)
    values = {}
    for task in tasks_for_topic(topic):
        for check in task.checks:
            if check.hidden:
                try:
                    values[(task.id, check.id)] = disk.get(topic, task.id, check.id)
                except KeyError:
                    return None
    return values


def finished_record(future: Any, job: Job) -> Record:
    """A finished task's record, or ``crashed`` when its grading ended workers too often."""
    from distributed import KilledWorker

    if future.status == "finished":
        return future.result()
    exc = future.exception()
    if isinstance(exc, KilledWorker) and getattr(exc, "task", None) == future.key:
        return crashed_record(job, exc.allowed_failures + 1)
    raise ClusterError(f"grading {job.student}/{job.assignment} failed on the cluster "
                       f"({_exception_line(exc)})")


def crashed_record(job: Job, tries: int) -> Record:
    """A submission whose grading ended a worker process ``tries`` times: 0, ``crashed``."""
    from autograder.classgrade.records import error_record

    message = (f"grading this notebook ended the worker process {tries} times (killed, or out "
               "of memory); it was not tried again")
    record = error_record(job.student, job.assignment, job.topic, job.path, job.key, message)
    for task in record.tasks:
        task.status, task.message = "crashed", message
    return record


def _exception_line(exc: BaseException | None) -> str:
    text = str(exc).strip().splitlines()[0][:200] if exc is not None and str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
