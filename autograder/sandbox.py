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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from autograder import payload
from autograder.isolation.limits import TaskCgroups, TaskLimits
from autograder.isolation.policy import SandboxPolicy

_CONTEXT_LOCK = threading.Lock()
_CONTEXT: Any = None
_COUNTER = itertools.count()
MEMORY_POLL_S = 0.05
PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20
MAX_RESULT_BYTES = 384 * 2**20
READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class ChildRun:
    """How a child ended and what it sent.

    ``status``: ``finished``, ``timeout``, ``memory``, ``crashed``, ``oversize`` (sent more
    than the byte cap) or ``sandbox`` (the sandbox could not be set up: the grader's
    problem, not the student's). ``frames`` maps (kind, index) to the raw records.
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


def _rss_mb(pids: set[int]) -> float:
    """Resident memory of these processes (MiB); those that already ended count 0."""
    pages = 0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            with open(f"/proc/{pid}/statm", "rb") as handle:
                pages += int(handle.read().split()[1])
    return pages * PAGE_MB


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


def parse_frames(data: bytes) -> dict[tuple[str, int], Any]:
    """Frames sent by a child; anything malformed ends the parsing, never the grader."""
    frames: dict[tuple[str, int], Any] = {}
    offset = 0
    while offset + 8 <= len(data):
        (size,) = struct.unpack(">Q", data[offset:offset + 8])
        offset += 8
        if size > len(data) - offset:
            break
        blob = data[offset:offset + size]
        offset += size
        try:
            frame = payload.loads_raw(blob)
        except Exception:  # noqa: BLE001 - undecodable: skip this frame
            continue
        if type(frame) is dict and type(frame.get("kind")) is str \
                and type(frame.get("index")) is int:
            frames.setdefault((frame["kind"], frame["index"]), frame.get("record"))
    return frames


class _Reader:
    """Non-blocking reader of the result pipe with a byte cap."""

    def __init__(self, fd: int, limit: int) -> None:
        self.fd = fd
        self.limit = limit
        self.data = bytearray()
        self.eof = False
        self.over = False
        os.set_blocking(fd, False)

    def pump(self, wait_s: float, wake_fd: int | None = None) -> None:
        """Read what is there, waiting up to ``wait_s`` for data (or for ``wake_fd``)."""
        wake = [] if wake_fd is None else [wake_fd]
        if self.eof or self.over:
            if wake:
                select.select(wake, [], [], wait_s)
            else:
                time.sleep(wait_s)
            return
        ready, _, _ = select.select([self.fd, *wake], [], [], wait_s)
        ready = [fd for fd in ready if fd == self.fd]
        while ready and not self.over:
            try:
                chunk = os.read(self.fd, READ_CHUNK)
            except BlockingIOError:
                return
            if not chunk:
                self.eof = True
                return
            self.data += chunk
            self.over = len(self.data) > self.limit


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


def run_child(job: dict[str, Any], timeout_s: float, memory_mb: int, policy: SandboxPolicy,
              max_bytes: int = MAX_RESULT_BYTES) -> ChildRun:
    """Run ``autograder.worker.child_main(job)`` in the sandbox and wait within the limits."""
    from autograder import worker

    limits = TaskLimits(memory_mb)
    name = f"vae-task-{os.getpid()}-{next(_COUNTER)}"
    cgroups = TaskCgroups({k: Path(v) for k, v in policy.cgroups.items()}, name, limits) \
        if policy.cgroups else None
    scratch = tempfile.mkdtemp(prefix="vae-task-")
    job = {**job, "memory_mb": memory_mb, "scratch": scratch, "sandbox": policy.spec(scratch),
           "cgroup_procs": cgroups.proc_files if cgroups else []}
    exit_fd = None
    reader_conn, writer_conn = _context().Pipe(duplex=False)
    process = _context().Process(target=worker.child_main, args=(job, writer_conn), daemon=True)
    try:
        with _CONTEXT_LOCK, _without_main_module():
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
            now = time.monotonic()
            if now >= next_sample:
                next_sample = now + MEMORY_POLL_S
                rss = _rss_mb(_task_pids(process.pid, cgroups))
                peak = max(peak, rss)
                if memory_mb > 0 and rss > memory_mb:
                    status = "memory"
                    break
            if now - start > timeout_s:
                status = "timeout"
                break
        _kill_everything(process.pid, cgroups)
        process.join(5)
        while not reader.eof and not reader.over:
            reader.pump(0)
            if not reader.eof:
                break
        frames = parse_frames(bytes(reader.data[:max_bytes]))
    finally:
        reader_conn.close()
        if exit_fd is not None and exit_fd != process.sentinel:
            os.close(exit_fd)
        if cgroups is not None:
            cgroups.kill_all()
        shutil.rmtree(scratch, ignore_errors=True)
    detail = ""
    if ("sandbox", 0) in frames:
        status = "sandbox"
        record = frames[("sandbox", 0)]
        detail = str(record.get("message", "")) if isinstance(record, dict) else ""
    elif status == "finished" and ("done", 0) not in frames:
        status = "memory" if cgroups is not None and cgroups.memory_exceeded() else "crashed"
    return ChildRun(status, process.exitcode, time.monotonic() - start, peak, frames, detail)

