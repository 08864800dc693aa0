"""Run notebook code in a disposable, sandboxed child process within time and memory limits.

Children are forked from a multiprocessing fork server that has imported torch but never
run student code, so each task starts in a few hundredths of a second. A child enters the
sandbox of ``autograder.isolation`` before any notebook code runs. Its results come back
over an inherited pipe, read here with a byte cap; the grading process reads no file a
child could have written.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import multiprocessing.forkserver
import os
import select
import shutil
import signal
import struct
import sys
import tempfile
import threading
import time
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from autograder import payload
from autograder.isolation import memory
from autograder.isolation.environment import sandbox_environment, started_with
from autograder.isolation.limits import TaskCgroups, TaskLimits
from autograder.isolation.listener_dir import private_folder
from autograder.isolation.policy import SandboxPolicy

_CONTEXT_LOCK = threading.Lock()
_CONTEXT: Any = None
_COUNTER = itertools.count()
MEMORY_POLL_S = 0.05
# A child forked straight from the fast self-check has its memory capped by rlimits; its
# grading process looks at its memory less often (each look walks the child's page tables).
DIRECT_MEMORY_POLL_S = 0.5
MAX_RESULT_BYTES = 384 * 2**20
READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class ChildRun:
    """How a child ended and what it sent.

    ``status``: ``finished``, ``timeout``, ``memory``, ``crashed``, ``oversize`` (sent more
    than the byte cap), ``complex`` (sent more frames, structure or objects than a task's
    ``payload.DecodeBudget``; ``detail`` says which) or ``sandbox`` (the sandbox could not be
    set up: the grader's problem, not the student's). ``frames`` maps (kind, index) to the
    raw records.
    """

    status: str
    exitcode: int | None
    elapsed_s: float
    peak_rss_mb: float
    frames: dict[tuple[str, int], Any] = field(default_factory=dict)
    detail: str = ""


def fork_directly() -> None:
    """Fork children from this process instead of a fork server (the student's fast
    self-check: no second interpreter to start). Only for runs without hidden checks."""
    global _CONTEXT
    with _CONTEXT_LOCK:
        _CONTEXT = multiprocessing.get_context("fork")


def forks_directly() -> bool:
    """Whether ``fork_directly`` was called in this process."""
    return _CONTEXT is not None and _CONTEXT.get_start_method() == "fork"


def _context() -> Any:
    global _CONTEXT
    with _CONTEXT_LOCK:
        if _CONTEXT is None:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(["autograder.worker", "autograder.forkserver_warmup"])
            _CONTEXT = ctx
        return _CONTEXT


def _ensure_fork_server(policy: SandboxPolicy) -> None:
    """Start the fork server, if it is not running, with the sandbox's fixed environment:
    it never holds the grader's (secrets), nor do the children forked from it. Its listening
    socket goes to a folder outside every tree of ``policy`` (``listener_dir``)."""
    pid = getattr(multiprocessing.forkserver._forkserver, "_forkserver_pid", None)
    with contextlib.suppress(psutil.Error):
        if pid is not None and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
            return
    config = multiprocessing.process.current_process()._config  # type: ignore[attr-defined]
    saved = config.get("tempdir")
    config["tempdir"] = private_folder([*policy.read_trees, *policy.list_only,
                                        *policy.write_trees])
    try:
        with started_with(sandbox_environment()):
            multiprocessing.forkserver.ensure_running()
    finally:
        if saved is None:
            config.pop("tempdir", None)
        else:
            config["tempdir"] = saved


@contextlib.contextmanager
def _without_main_module() -> Iterator[None]:
    """Start children without re-importing the caller's ``__main__`` (a script, a kernel...)."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _task_pids(pid: int, cgroups: TaskCgroups | None) -> set[int]:
    """The child and every process it started: from its cgroups when it has them (cheap),
    else from a scan of the process table."""
    if cgroups is not None:
        found = cgroups.pids()
        if found:
            return found | {pid}
    return {member.pid for member in _tree(pid)}


def task_memory_mb(pid: int, cgroups: TaskCgroups | None, private_tmp: bool) -> float:
    """The task's memory: as its memory cgroup counts it when it has one, else the PSS of
    its processes plus its private tmpfs files (``private_tmp``: in its own namespaces)."""
    if cgroups is not None:
        counted = cgroups.memory_mb()
        if counted is not None:
            return counted
    pss = memory.pss_mb(_task_pids(pid, cgroups))
    return pss + (memory.private_tmpfs_mb(pid) if private_tmp else 0.0)


def _kill_everything(pid: int, cgroups: TaskCgroups | None) -> None:
    """SIGKILL the child, its PID namespace (through its PID 1) and its process group."""
    for member in reversed(_tree(pid)):  # deepest first: PID 1 of the namespace before pid
        with contextlib.suppress(psutil.Error):
            member.kill()
    for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        with contextlib.suppress(OSError):
            kill()
    if cgroups is not None:
        cgroups.kill_all()


def parse_frames(data: bytes, budget: payload.DecodeBudget | None = None
                 ) -> dict[tuple[str, int | str], Any]:
    """Frames sent by a child; anything malformed ends the parsing, never the grader.

    Every frame, its structure and its objects are counted against ``budget`` (a fresh one
    per call by default): past it, ``payload.TooComplex`` is raised and nothing is kept.
    """
    budget = budget or payload.DecodeBudget()
    frames: dict[tuple[str, int | str], Any] = {}
    offset = 0
    while offset + 8 <= len(data):
        budget.take_frame()
        (size,) = struct.unpack(">Q", data[offset:offset + 8])
        offset += 8
        if size > len(data) - offset:
            break
        blob = data[offset:offset + size]
        offset += size
        try:
            frame = payload.loads_raw(blob, budget)
        except payload.TooComplex:
            raise
        except Exception:  # noqa: BLE001 - undecodable: skip this frame
            continue
        if type(frame) is dict and type(frame.get("kind")) is str \
                and type(frame.get("index")) in (int, str):
            frames.setdefault((frame["kind"], frame["index"]), frame.get("record"))
    return frames


def too_complex_message(detail: str) -> str:
    """The message of a task whose results were refused as too complex (``complex``)."""
    return f"the result was too large or too complex for the grader to read ({detail})."


class _Reader:
    """Non-blocking reader of the result pipe with a byte cap and a frame count.

    ``over``: more than ``limit`` bytes arrived; ``complex``: more frame headers than a
    task's decode budget allows (counted as the bytes arrive, so a flood of empty frames
    is refused at once).
    """

    def __init__(self, fd: int, limit: int) -> None:
        self.fd = fd
        self.limit = limit
        self.data = bytearray()
        self.eof = False
        self.over = False
        self.complex = False
        self._frames = 0
        self._next_header = 0
        os.set_blocking(fd, False)

    def _count_frames(self) -> None:
        while self._next_header + 8 <= len(self.data) and not self.complex:
            (size,) = struct.unpack_from(">Q", self.data, self._next_header)
            self._next_header += 8 + size
            self._frames += 1
            self.complex = self._frames > payload.DecodeBudget.MAX_FRAMES

    def pump(self, wait_s: float, wake_fd: int | None = None) -> None:
        """Read what is there, waiting up to ``wait_s`` for data (or for ``wake_fd``)."""
        wake = [] if wake_fd is None else [wake_fd]
        if self.eof or self.over or self.complex:
            if wake:
                select.select(wake, [], [], wait_s)
            else:
                time.sleep(wait_s)
            return
        ready, _, _ = select.select([self.fd, *wake], [], [], wait_s)
        ready = [fd for fd in ready if fd == self.fd]
        while ready and not self.over and not self.complex:
            try:
                chunk = os.read(self.fd, READ_CHUNK)
            except BlockingIOError:
                return
            if not chunk:
                self.eof = True
                return
            self.data += chunk
            self.over = len(self.data) > self.limit
            self._count_frames()


def _exit_fd(process: Any) -> int | None:
    """A descriptor that becomes readable when the child ends. A fork server's sentinel does;
    a directly forked child's sentinel pipe closes as soon as the child closes its inherited
    descriptors, so that child gets a pidfd (or None: its exit is then seen by polling)."""
    if not forks_directly():
        return process.sentinel
    try:
        return os.pidfd_open(process.pid)
    except (AttributeError, OSError):
        return None


def run_child(entry: Callable[[dict[str, Any], Any], None], job: dict[str, Any],
              timeout_s: float, memory_mb: int, policy: SandboxPolicy,
              max_bytes: int = MAX_RESULT_BYTES) -> ChildRun:
    """Run ``entry(job, connection)`` in a child of the fork server and wait within the limits.

    ``entry`` (``autograder.worker.child_main``, ``autograder.judging.child_entry``) applies
    the job's sandbox itself and writes its frames to ``connection``.
    """
    limits = TaskLimits(memory_mb)
    name = f"vae-task-{os.getpid()}-{next(_COUNTER)}"
    cgroups = TaskCgroups({k: Path(v) for k, v in policy.cgroups.items()}, name, limits) \
        if policy.cgroups else None
    scratch = tempfile.mkdtemp(prefix="vae-task-")
    job = {**job, "memory_mb": memory_mb, "scratch": scratch, "sandbox": policy.spec(scratch),
           "parent_pid": os.getpid() if forks_directly() else None,
           "cgroup_procs": cgroups.proc_files if cgroups else []}
    exit_fd = None
    reader_conn, writer_conn = _context().Pipe(duplex=False)
    process = _context().Process(target=entry, args=(job, writer_conn), daemon=True)
    try:
        with _CONTEXT_LOCK, _without_main_module():
            if not forks_directly():  # a fork server only where children come from one
                _ensure_fork_server(policy)
            process.start()  # returns once the fork server (started once) has forked
        start = time.monotonic()  # so the limit never counts the fork server's start-up
        writer_conn.close()
        exit_fd = _exit_fd(process)
        reader = _Reader(reader_conn.fileno(), max_bytes)
        status, peak, next_sample = "finished", 0.0, start
        while True:
            # Wake on data, on the child's exit (its sentinel) or when memory is due a look.
            now = time.monotonic()
            reader.pump(max(0.0, min(next_sample, start + timeout_s) - now), exit_fd)
            if process.exitcode is not None:
                reader.pump(0)
                break
            if reader.over:
                status = "oversize"
                break
            if reader.complex:
                status = "complex"
                break
            now = time.monotonic()
            if now >= next_sample:
                next_sample = now + (DIRECT_MEMORY_POLL_S if forks_directly() else MEMORY_POLL_S)
                used = task_memory_mb(process.pid, cgroups, policy.namespaces)
                peak = max(peak, used)
                if memory_mb > 0 and (used > memory_mb or (
                        cgroups is not None and cgroups.memory_exceeded())):
                    status = "memory"
                    break
            if now - start > timeout_s:
                status = "timeout"
                break
        _kill_everything(process.pid, cgroups)
        process.join(5)
        while not reader.eof and not reader.over and not reader.complex:
            reader.pump(0)
            if not reader.eof:
                break
        if reader.complex:
            status = "complex"
        try:
            frames = {} if status == "complex" else parse_frames(bytes(reader.data[:max_bytes]))
        except payload.TooComplex as exc:
            status, frames, too_complex = "complex", {}, str(exc)
        else:
            too_complex = f"more than {payload.DecodeBudget.MAX_FRAMES} result frames"
    finally:
        reader_conn.close()
        if exit_fd is not None and exit_fd != process.sentinel:
            os.close(exit_fd)
        if cgroups is not None:
            cgroups.kill_all()
        shutil.rmtree(scratch, ignore_errors=True)
    detail = too_complex if status == "complex" else ""
    if ("sandbox", 0) in frames:
        status = "sandbox"
        record = frames[("sandbox", 0)]
        detail = str(record.get("message", "")) if isinstance(record, dict) else ""
    elif status == "finished" and ("done", 0) not in frames:
        status = "memory" if cgroups is not None and cgroups.memory_exceeded() else "crashed"
    return ChildRun(status, process.exitcode, time.monotonic() - start, peak, frames, detail)

