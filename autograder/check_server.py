"""The warm check server of the student's self-check (started by ``autograder.check_client``).

It imports torch, sympy, matplotlib and every topic's public checks once, then forks one
handler per notebook a self-check opens. The handler grades that notebook's public tasks
exactly as the in-process fast self-check does (``NotebookSelfCheck``, no sandbox, hidden
checks refused) and answers over a Unix socket in a folder only its user can enter; every
task still runs in its own child, forked from the handler, within its time and memory
limits. The server runs no student code itself, exits after ``idle_exit_s()`` without a
request, when its socket is removed or replaced, or on SIGTERM.

    python -m autograder.check_server start    # start it now, so the first self-check is warm
    python -m autograder.check_server stop     # end this user's check servers now
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from autograder.check_client import ServerUnavailable, connect, idle_exit_s, stop_servers

POLL_S = 1.0
IDLE_STEP_S = 0.05


def _run_step(step: Callable[[], object]) -> None:
    """One preload step; a failure only costs later handlers speed."""
    try:
        step()
    except Exception as exc:  # noqa: BLE001
        print(f"preload step {getattr(step, '__name__', step)} failed: {exc}", flush=True)


def preload_core() -> None:
    """What every handler needs, imported before the first is forked: the grading engine
    (torch comes with it). No student code runs in this process."""
    from autograder import self_check_session  # noqa: F401


def later_preloads() -> list[Callable[[], object]]:
    """What later handlers start warm with, imported one step at a time while no handler
    runs (the first self-check imports only what its own notebook needs): the libraries
    notebooks use, every topic's probes and checks, sympy's integration tables."""
    from autograder import registry
    from autograder.preload import preload_libraries, preload_probes, warm_sympy

    return [preload_libraries, preload_probes, registry.all_tasks, warm_sympy]


def _same_user(conn: socket.socket) -> bool:
    """Whether the peer runs as this user (Linux tells; elsewhere the private folder does)."""
    if not hasattr(socket, "SO_PEERCRED"):
        return True
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1] == os.getuid()


def _send(out: BinaryIO, message: dict[str, Any]) -> None:
    out.write(json.dumps(message).encode() + b"\n")
    out.flush()


class TimingsFile:
    """How long each task took when last graded (JSON, next to the server's socket): later
    self-checks start the longest tasks first, so two at a time finish together."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict[str, float]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return {str(k): float(v) for k, v in data.items()
                if isinstance(v, int | float)} if isinstance(data, dict) else {}

    def update(self, seconds: dict[str, float]) -> None:
        merged = {**self.read(), **seconds}
        partial = self.path.with_suffix(f".{os.getpid()}.tmp")
        with contextlib.suppress(OSError):
            partial.write_text(json.dumps(merged))
            partial.replace(self.path)


def handle(conn: socket.socket, timings_path: Path) -> None:
    """One notebook's session: ``open`` it, then answer ``verdicts`` until the client leaves."""
    from autograder.notebook_code import NotebookError
    from autograder.self_check_session import NotebookSelfCheck
    from autograder.task_workers import Cancelled

    start = time.monotonic()
    stream = conn.makefile("rwb")
    request = json.loads(stream.readline() or b"{}")
    if request.get("op") != "open":
        return
    path = request["path"]
    os.chdir(request["cwd"])  # the notebook's code sees the folder and search path pytest has
    if isinstance(request.get("sys_path"), list):
        sys.path[:] = [str(p) for p in request["sys_path"]]
    timings = TimingsFile(timings_path)
    try:
        check = NotebookSelfCheck(path, "fast", expected_s=timings.read(),
                                  cancel_fd=conn.fileno())
    except NotebookError as exc:
        _send(stream, {"error": str(exc)})
        return
    _send(stream, {"topic": check.topic, "tasks": check.task_ids})
    graded = 0
    for line in stream:
        request = json.loads(line)
        if request.get("op") == "verdicts":
            try:
                verdicts = check.verdicts(request.get("ids", []))
            except Cancelled:  # pytest was stopped: end this handler's workers and tasks
                print(f"{path}: the self-check was stopped; its tasks were ended", flush=True)
                os.killpg(os.getpgrp(), signal.SIGKILL)
            graded += len(verdicts)
            _send(stream, {"verdicts": {k: v.as_dict() for k, v in verdicts.items()}})
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    timings.update(check.timings())
    slowest = sorted(check.timings().items(), key=lambda item: -item[1])[:3]
    print("  slowest tasks: " + ", ".join(f"{k} {v:.2f} s" for k, v in slowest), flush=True)
    print(f"{path}: {graded} tasks, "
          f"{time.monotonic() - start:.2f} s wall, {cpu:.2f} s CPU", flush=True)


def _fork_handler(listener: socket.socket, conn: socket.socket, timings: Path) -> int:
    pid = os.fork()
    if pid:
        conn.close()
        return pid
    code = 0
    try:
        listener.close()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.setpgid(0, 0)  # its workers and every task's child: one group, ended together
        handle(conn, timings)
    except BaseException as exc:  # noqa: BLE001 - the client falls back to grading itself
        print(f"handler failed: {type(exc).__name__}: {exc}", flush=True)
        code = 1
    finally:
        os._exit(code)


def _still_ours(path: Path, inode: int) -> bool:
    try:
        return os.stat(path).st_ino == inode
    except OSError:
        return False


def serve(path: Path) -> None:
    """Bind ``path``, preload, then fork a handler per connection until idle."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # a dead server's socket (the client holds the start lock)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(16)
    inode = os.stat(path).st_ino
    pid_file = path.with_suffix(".pid")
    pid_file.write_text(str(os.getpid()))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    children: set[int] = set()
    try:
        preload_core()
        steps = later_preloads()
        print(f"ready: pid {os.getpid()}", flush=True)
        last, idle_s = time.monotonic(), idle_exit_s()
        while _still_ours(path, inode):
            for pid in list(children):
                with contextlib.suppress(ChildProcessError):
                    if os.waitpid(pid, os.WNOHANG)[0]:
                        children.discard(pid)
            listener.settimeout(IDLE_STEP_S if steps and not children else POLL_S)
            try:
                conn, _ = listener.accept()
            except TimeoutError:  # nobody waiting: preload a step, or exit when idle long
                if steps and not children:
                    _run_step(steps.pop(0))
                    if not steps:
                        print("warm: every preload step done", flush=True)
                elif not children and time.monotonic() - last > idle_s:
                    break
                continue
            last = time.monotonic()
            if not _same_user(conn):
                conn.close()
                continue
            conn.settimeout(None)
            children.add(_fork_handler(listener, conn, path.with_suffix(".timings.json")))
    finally:
        listener.close()
        if _still_ours(path, inode):
            path.unlink()
            with contextlib.suppress(OSError):
                pid_file.unlink()


def main(argv: list[str]) -> int:
    """``check_server SOCKET`` serves; ``start`` starts this setting's server (if it is not
    running) and returns once it listens; ``stop`` ends this user's servers."""
    if argv == ["stop"]:
        print(f"stopped {stop_servers()} check server(s)")
        return 0
    if argv == ["start"]:
        try:
            connect().close()
        except ServerUnavailable as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print("check server running: the next self-check starts warm")
        return 0
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        print("usage: python -m autograder.check_server start|stop", file=sys.stderr)
        return 2
    serve(Path(argv[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
