"""The pytest side of the warm check server (``autograder.check_server``).

A student's ``pytest exercises/NN_topic`` (fast mode) asks a server that has torch, sympy and
the course's checks already imported to grade the notebook, so only the first self-check (no server
running yet) pays for those imports. The server is started on first use, one per
Python, course code and settings (a change to any of them starts a new one), and ends after
``IDLE_EXIT_S`` without a request (``VAE_COURSE_CHECK_SERVER_IDLE_S`` sets another time).
``VAE_COURSE_CHECK_SERVER=off`` grades in the pytest process instead; so does any
self-check for which the server cannot be reached.

This module imports nothing heavy: a self-check answered by a warm server never imports
torch in the pytest process.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SETTING = "VAE_COURSE_CHECK_SERVER"
IDLE_SETTING = "VAE_COURSE_CHECK_SERVER_IDLE_S"
IDLE_EXIT_S = 15 * 60
START_TIMEOUT_S = 120.0
ENV_KEYS = ("PYTHONPATH", "MPLBACKEND", "CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS", "HOME")
NOT_KEYED = ("VAE_COURSE_SELF_CHECK", SETTING)  # the server always checks the fast way
LIBRARIES = ("torch", "sympy", "numpy", "scipy", "matplotlib", "nbformat", "torchvision")
COURSE_PACKAGES = ("autograder", "vaelib")
MAX_BASE_CHARS = 60  # + "/vae-course-checks-UID/check-KEY.sock" stays within AF_UNIX's 107


class ServerUnavailable(Exception):
    """The check server could not be started or reached (the caller grades in-process)."""


class NotebookRejected(Exception):
    """The server could not read the file as a course notebook (a one-line message)."""


def server_enabled() -> bool:
    """Whether ``VAE_COURSE_CHECK_SERVER`` allows the server (anything but off/0/no/false)."""
    return os.environ.get(SETTING, "on").strip().lower() not in ("off", "0", "no", "false")


def idle_exit_s() -> float:
    """Seconds a server waits for the next request before it exits."""
    try:
        return max(0.0, float(os.environ.get(IDLE_SETTING, IDLE_EXIT_S)))
    except ValueError:
        return float(IDLE_EXIT_S)


def runtime_dir() -> Path:
    """A folder only this user can enter, for the servers' sockets and logs (in
    ``$XDG_RUNTIME_DIR``, else the temporary folder, whichever leaves a socket's path short
    enough)."""
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    if len(base) > MAX_BASE_CHARS:
        base = tempfile.gettempdir()
    folder = Path(base) / f"vae-course-checks-{os.getuid()}"
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700, parents=True)
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise ServerUnavailable(f"{folder} is not a private folder of this user")
    return folder


def _package_stamp(name: str) -> list[tuple[str, int, int]]:
    """(path, mtime, size) of every Python file of an importable package (not imported)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return []
    stamp = []
    for root in spec.submodule_search_locations:
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for file in files:
                if file.endswith(".py"):
                    info = os.stat(os.path.join(folder, file))
                    stamp.append((os.path.join(folder, file), info.st_mtime_ns, info.st_size))
    return sorted(stamp)


def _library_stamp(name: str) -> tuple[str, str, int]:
    """Where a library is installed and when its ``__init__`` changed (a reinstall shows)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        spec = None
    origin = spec.origin if spec is not None and spec.origin else ""
    return (name, origin, os.stat(origin).st_mtime_ns if origin else 0)


def server_key() -> str:
    """What a server's answers depend on besides the notebook: the interpreter, the course
    code and libraries (where they are, their files and times) and the course's settings.
    Not the search path (``pytest`` and ``python -m pytest`` differ there): each request
    brings its own."""
    env = sorted((k, v) for k, v in os.environ.items()
                 if (k.startswith("VAE_COURSE_") or k in ENV_KEYS) and k not in NOT_KEYED)
    material = {
        "python": [sys.executable, sys.version],
        "env": env,
        "course": [_package_stamp(name) for name in COURSE_PACKAGES],
        "libraries": [_library_stamp(name) for name in LIBRARIES],
    }
    return hashlib.sha256(json.dumps(material).encode()).hexdigest()[:20]


def socket_path() -> Path:
    """The socket of the server for this Python, course code and settings."""
    return runtime_dir() / f"check-{server_key()}.sock"


def _try_connect(path: Path) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
    except OSError:
        sock.close()
        return None
    return sock


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One client at a time starts a server for ``path``."""
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _course_parent() -> str:
    """The folder the ``autograder`` package in use lives in (the server imports that one)."""
    return str(Path(__file__).resolve().parents[1])


def _start_server(path: Path) -> subprocess.Popen:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (_course_parent(), os.environ.get("PYTHONPATH", "")) if p)
    with open(path.with_suffix(".log"), "w") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "autograder.check_server", str(path)], env=env,
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True)


def connect(path: Path | None = None) -> socket.socket:
    """A connection to the running server, started first when there is none."""
    path = path or socket_path()
    sock = _try_connect(path)
    if sock is not None:
        return sock
    with _locked(path.with_suffix(".lock")):
        sock = _try_connect(path)
        if sock is not None:
            return sock
        process = _start_server(path)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            sock = _try_connect(path)
            if sock is not None:
                return sock
            if process.poll() is not None:
                break
            time.sleep(0.02)
    log = path.with_suffix(".log")
    tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
    raise ServerUnavailable(f"the check server did not start ({' '.join(tail) or 'no log'})")


class RemoteSelfCheck:
    """A notebook's self-check graded by the server: the same ``topic``, ``task_ids`` and
    ``verdicts`` as ``autograder.self_check_session.NotebookSelfCheck``."""

    def __init__(self, path: str | Path) -> None:
        try:
            self._sock = connect()
            self._file = self._sock.makefile("rwb")
            reply = self._ask({"op": "open", "path": str(Path(path).resolve()),
                               "cwd": os.getcwd(), "sys_path": list(sys.path)})
        except OSError as exc:
            raise ServerUnavailable(f"the check server is not reachable ({exc})") from None
        if "error" in reply:
            self.close()
            raise NotebookRejected(reply["error"])
        self.topic: str | None = reply.get("topic")
        self.task_ids: list[str] = list(reply.get("tasks", []))

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        self._file.write(json.dumps(request).encode() + b"\n")
        self._file.flush()
        line = self._file.readline()
        if not line:
            raise ServerUnavailable("the check server closed the connection")
        return json.loads(line)

    def verdicts(self, ids: list[str]) -> dict[str, Any]:
        """``{task id: verdict}`` with ``.status`` and ``.text``, as graded by the server."""
        from autograder.self_check import TaskVerdict

        try:
            reply = self._ask({"op": "verdicts", "ids": list(ids)})
        except OSError as exc:
            raise ServerUnavailable(f"the check server stopped answering ({exc})") from None
        return {task_id: TaskVerdict(v["status"], v["text"])
                for task_id, v in reply["verdicts"].items()}

    def close(self) -> None:
        """End this notebook's session with the server."""
        with contextlib.suppress(OSError):
            self._file.close()
            self._sock.close()


def stop_servers() -> int:
    """End every check server of this user now; returns how many were asked to stop."""
    import psutil

    stopped = 0
    for pid_file in runtime_dir().glob("check-*.pid"):
        with contextlib.suppress(ValueError, OSError, psutil.Error):
            process = psutil.Process(int(pid_file.read_text().strip()))
            if "autograder.check_server" in process.cmdline():  # not a reused pid
                process.send_signal(signal.SIGTERM)
                stopped += 1
        with contextlib.suppress(OSError):
            pid_file.unlink()
    return stopped
