"""Run notebook code in a disposable child process with a wall-time and a memory limit.

Children are forked from a multiprocessing fork server that has imported torch but never
run student code, so each task starts in a few hundredths of a second. The grading process
only reads the files a child writes (see ``autograder.payload``).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import tempfile
import threading
import time
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

_CONTEXT_LOCK = threading.Lock()
_CONTEXT: Any = None
POLL_S = 0.02


@dataclass(frozen=True)
class ChildRun:
    """How a child ended: ``finished``, ``timeout``, ``memory`` or ``crashed``."""

    status: str
    exitcode: int | None
    elapsed_s: float
    out_dir: Path
    peak_rss_mb: float


def _context() -> Any:
    global _CONTEXT
    with _CONTEXT_LOCK:
        if _CONTEXT is None:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(["autograder.worker"])
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


def _tree_rss_mb(proc: psutil.Process) -> float:
    total = 0
    try:
        members = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0.0
    for member in members:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            continue
    return total / 2**20


def _kill_group(pid: int) -> None:
    for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            kill()
        except (ProcessLookupError, PermissionError, OSError):
            pass


def run_child(job: dict[str, Any], timeout_s: float, memory_mb: int) -> ChildRun:
    """Start ``autograder.worker.child_main(job)`` and wait for it within the limits.

    ``job['out_dir']`` is created here; the caller reads the child's files from it.
    """
    from autograder import worker

    out_dir = Path(tempfile.mkdtemp(prefix="vae-grade-"))
    job = {**job, "out_dir": str(out_dir), "memory_mb": memory_mb}
    process = _context().Process(target=worker.child_main, args=(job,), daemon=True)
    start = time.monotonic()
    with _CONTEXT_LOCK, _without_main_module():
        process.start()
    status, peak = "finished", 0.0
    try:
        ps = psutil.Process(process.pid)
    except psutil.Error:
        ps = None
    while True:
        process.join(POLL_S)
        if process.exitcode is not None:
            break
        if ps is not None:
            rss = _tree_rss_mb(ps)
            peak = max(peak, rss)
            if memory_mb > 0 and rss > memory_mb:
                status = "memory"
                break
        if time.monotonic() - start > timeout_s:
            status = "timeout"
            break
    if process.exitcode is None:
        _kill_group(process.pid)
        process.join(5)
    elif (out_dir / "done.pt").exists():
        status = "finished"
    else:
        status = "crashed"
    _kill_group(process.pid)  # grandchildren left behind by student code
    return ChildRun(status, process.exitcode, time.monotonic() - start, out_dir, peak)
