"""What runs on a Dask worker: the check that it grades like the head, and the grading itself.

A worker is *admitted* by :class:`AdmitWorker`, a worker plugin that every worker (also one
that joins or restarts later) runs when it connects: it computes the worker's own grader
fingerprint from the installed grader's source, the hashes of the solution notebooks, the
sandbox it can provide and whether it has CUDA, and compares them with what the head expects.
An admitted worker gets the *gate* resource that every grading task asks for, so a task never
lands on a refused worker; a refused one says why in an event the head prints.

Tasks receive a submission's bytes (never a path to read) and the topic's reference results,
and return a :class:`Record`; the head stores it. Workers write nothing.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
from dataclasses import dataclass, field
from typing import Any

from distributed import WorkerPlugin

from autograder.classgrade.records import Record, from_result
from autograder.classgrade.runner import Job, Settings, reference_warning

PLUGIN_NAME = "vae-course-admission"
EVENT_TOPIC = "vae-course-workers"
GPU_RESOURCE = "GPU"


@dataclass(frozen=True)
class Expected:
    """What a worker must match: the head's grader and solutions, the sandbox and GPU asked."""

    fingerprint: str
    solutions: tuple[tuple[str, str], ...]
    sandbox: str
    gpu: bool
    protocol: str = ""

    @property
    def gate(self) -> str:
        """The resource an admitted worker gets and every grading task needs."""
        kind = "gpu" if self.gpu else "cpu"
        return f"vae-grader-{self.fingerprint[:12]}-{self.sandbox}-{kind}"

    def task_resources(self) -> dict[str, float]:
        """The resources one grading task asks for (a GPU job: a GPU too)."""
        return {self.gate: 1, **({GPU_RESOURCE: 1} if self.gpu else {})}


def protocol_fingerprint() -> str:
    """A hash of the code both ends of a task share (what travels and what comes back)."""
    import hashlib
    from pathlib import Path

    here = Path(__file__).parent
    digest = hashlib.sha256()
    for name in ("cluster_worker.py", "runner.py", "records.py"):
        digest.update((here / name).read_bytes())
    return digest.hexdigest()


def worker_identity(sandbox: str, topics: tuple[str, ...]) -> dict[str, Any]:
    """This process's grader fingerprint, solution hashes, sandbox and CUDA (from its files)."""
    import torch

    from autograder.classgrade.store import grader_fingerprint, solution_sha256
    from autograder.isolation.policy import SandboxUnavailable, build_policy

    try:
        policy = build_policy(sandbox)
        level, summary, problem = policy.describe()["level"], policy.summary(), ""
    except SandboxUnavailable as exc:
        level, summary, problem = "", "", str(exc)
    return {"fingerprint": grader_fingerprint(), "protocol": protocol_fingerprint(),
            "solutions": {t: solution_sha256(t) for t in topics},
            "sandbox_level": level, "sandbox_summary": summary, "sandbox_problem": problem,
            "cuda": torch.cuda.is_available()}


def refusal(identity: dict[str, Any], expected: Expected,
            resources: dict[str, float]) -> str | None:
    """Why a worker with this identity and these resources cannot grade; None when it can."""
    if identity["fingerprint"] != expected.fingerprint:
        return (f"its grader fingerprint {identity['fingerprint'][:12]} differs from the head's "
                f"{expected.fingerprint[:12]} (install the same version of the course there "
                "and restart the worker)")
    if expected.protocol and identity.get("protocol") != expected.protocol:
        return ("its grade-class code differs from the head's (install the same version of the "
                "course there and restart the worker)")
    changed = [t for t, sha in expected.solutions if identity["solutions"].get(t) != sha]
    if changed:
        return (f"its solution notebooks differ from the head's ({', '.join(changed)}; install "
                "the same version of the course there and restart the worker)")
    if identity["sandbox_problem"]:
        return identity["sandbox_problem"]
    if expected.gpu and not resources.get(GPU_RESOURCE):
        return "it has no GPU resource (start it with `--resources GPU=1`)"
    if expected.gpu and not identity["cuda"]:
        return "it offers a GPU resource but torch sees no CUDA device there"
    return None


def allow_children() -> None:
    """Let this worker process start the sandbox's children.

    A Dask worker started by a nanny is a *daemonic* multiprocessing process, and Python
    refuses to start children from one (so that no child outlives a daemon killed with its
    parent). The grader kills every child it starts when its task ends, so the flag only
    stands in the way; clearing it changes nothing else about the worker.
    """
    process = multiprocessing.current_process()
    if process.daemon:
        process._config["daemon"] = False  # type: ignore[attr-defined]


def hide_scratch_space(local_directory: str) -> None:
    """Take the worker's scratch folder off ``sys.path``.

    Dask puts it there (for uploaded files); the sandbox lets student code read every folder
    on ``sys.path``, and this one may hold other tasks' data spilled to disk.
    """
    import os
    import sys

    scratch = os.path.realpath(local_directory)
    sys.path[:] = [p for p in sys.path if not p or not (
        os.path.realpath(p) == scratch or os.path.realpath(p).startswith(scratch + os.sep))]


@dataclass
class AdmitWorker(WorkerPlugin):
    """Admit a worker that grades like the head (see the module docstring)."""

    expected: Expected
    report: dict[str, Any] = field(default_factory=dict)

    async def setup(self, worker: Any) -> None:
        allow_children()
        hide_scratch_space(worker.local_directory)
        topics = tuple(t for t, _ in self.expected.solutions)
        try:
            identity = await asyncio.to_thread(worker_identity, self.expected.sandbox, topics)
            reason = refusal(identity, self.expected, dict(worker.state.total_resources))
        except Exception as exc:  # noqa: BLE001 - a worker that cannot even check is refused
            identity, reason = {}, f"it cannot load the grader ({type(exc).__name__}: {exc})"
        self.report = {"reason": reason, "sandbox": identity.get("sandbox_summary", "")}
        if reason is None:
            await worker.set_resources(**{self.expected.gate: worker.state.nthreads})
        else:
            worker.log_event(EVENT_TOPIC, {"worker": worker.address, "reason": reason})


def admission_report(dask_worker: Any) -> dict[str, Any]:
    """What :class:`AdmitWorker` decided on this worker (``{}`` before it ran)."""
    plugin = dask_worker.plugins.get(PLUGIN_NAME)
    return dict(getattr(plugin, "report", {}) or {})


# -- grading tasks -----------------------------------------------------------------------

@dataclass(frozen=True)
class References:
    """One topic's reference results, ``{(task id, check id): value}``, and a warning."""

    topic: str
    values: dict[tuple[str, str], Any]
    warning: str | None = None


class MemoryReferenceStore:
    """A :class:`Grader` reference store in this worker's memory, filled from the head."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str, str], Any] = {}

    def add(self, references: References) -> None:
        """Take a topic's references (what the head sent with the task)."""
        for (task_id, check_id), value in references.values.items():
            self.values.setdefault((references.topic, task_id, check_id), value)

    def get(self, topic: str, task_id: str, check_id: str) -> Any:
        """A cached reference value; KeyError when there is none."""
        return self.values[(topic, task_id, check_id)]

    def put(self, topic: str, task_id: str, check_id: str, value: Any) -> None:
        """Keep a reference value computed here."""
        self.values[(topic, task_id, check_id)] = value

    def topic_values(self, topic: str) -> dict[tuple[str, str], Any]:
        """Every value kept for ``topic``."""
        return {(t, i): v for (name, t, i), v in self.values.items() if name == topic}


_GRADERS: dict[Settings, Any] = {}
_GRADERS_LOCK = threading.Lock()


def _grader(settings: Settings) -> Any:
    """This worker's grader for ``settings`` (one per process, shared by its threads)."""
    with _GRADERS_LOCK:
        if settings not in _GRADERS:
            import torch

            from autograder.grading import Grader

            allow_children()
            torch.set_num_threads(settings.torch_threads)
            _GRADERS[settings] = Grader(device=settings.device, jobs=settings.task_jobs,
                                        timeout_s=settings.timeout_s,
                                        memory_mb=settings.memory_mb, sandbox=settings.sandbox,
                                        reference_store=MemoryReferenceStore())
        return _GRADERS[settings]


def compute_references(settings: Settings, topic: str) -> References:
    """Grade the topic's solution notebook here; its reference results go back to the head."""
    from autograder.paths import solution_notebook

    grader = _grader(settings)
    result = grader.grade_notebook(solution_notebook(topic), topic)
    return References(topic, grader.reference_store.topic_values(topic),
                      reference_warning(topic, result))


def grade_submission(settings: Settings, job: Job, data: bytes,
                     references: References) -> Record:
    """Grade one submission from its bytes, with its topic's references."""
    grader = _grader(settings)
    grader.reference_store.add(references)
    result = grader.grade_bytes(data, job.path, job.topic)
    return from_result(job.student, job.assignment, job.path, job.key, result)
