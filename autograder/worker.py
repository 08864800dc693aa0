"""The child side of grading: run notebook code, then probes, and write the results.

Everything here runs in a disposable process that student code may have corrupted; it
only ever writes files, which the grading process reads with a loader that cannot run code.
"""

from __future__ import annotations

import builtins
import importlib
import io
import os
import struct
import sys
import tempfile
import traceback
from collections.abc import Callable
from typing import Any

import numpy  # noqa: F401 - preloaded so children fork with it imported
import torch

from autograder import payload
from autograder.checks.api import ProbeContext
from autograder.isolation import landlock, limits, seccomp
from autograder.isolation.environment import replace_environment, sandbox_environment
from autograder.isolation.namespaces import enter_namespaces, mount_private_proc
from autograder.seeding import seed_everything

FAST_ENV = {"NBGRADER_EXECUTION": "autograde", "VAE_COURSE_FAST": "1", "MPLBACKEND": "Agg"}


class _IPythonStub:
    """Enough of ``get_ipython()`` for cells that use magics: every magic is a no-op."""

    def run_line_magic(self, *args: Any, **kwargs: Any) -> None:
        return None

    def run_cell_magic(self, *args: Any, **kwargs: Any) -> None:
        return None

    def system(self, *args: Any, **kwargs: Any) -> None:
        return None

    def getoutput(self, *args: Any, **kwargs: Any) -> list[str]:
        return []


def where_in_notebook(exc: BaseException) -> str:
    """The innermost notebook function (or cell top level) the exception passed through."""
    location = ""
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename.startswith("<cell "):
            name = frame.f_code.co_name
            location = (f"in `{name}` (line {lineno} of its cell)" if name != "<module>"
                        else f"at the top level of a cell (line {lineno})")
    return location


def raised_by_stub(exc: BaseException, cells: list[tuple[int, str]]) -> bool:
    """Whether the innermost frame is a notebook line ``raise NotImplementedError...``
    (the exercise's stub), rather than a library deeper down."""
    frames = list(traceback.walk_tb(exc.__traceback__))
    if not frames or not frames[-1][0].f_code.co_filename.startswith("<cell "):
        return False
    frame, lineno = frames[-1]
    sources = {f"<cell {index}>": source for index, source in cells}
    lines = sources.get(frame.f_code.co_filename, "").splitlines()
    line = lines[lineno - 1].strip() if 0 < lineno <= len(lines) else ""
    return line.startswith("raise NotImplementedError")


def describe_exception(exc: BaseException) -> dict[str, str]:
    """A short, code-free description of an exception."""
    if isinstance(exc, SystemExit):
        text = f"the code called sys.exit({exc.code!r})"
    else:
        text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return {"type": type(exc).__name__, "message": text, "where": where_in_notebook(exc)}


class Channel:
    """The write end of the result pipe: length-prefixed frames of plain data."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def send(self, kind: str, index: int | str, record: Any) -> None:
        blob = payload.dumps({"kind": kind, "index": index, "record": record})
        view = memoryview(struct.pack(">Q", len(blob)) + blob)
        while view:
            view = view[os.write(self.fd, view):]


def _enter_sandbox(job: dict[str, Any], channel: Channel) -> str:
    """Apply the job's sandbox; returns the scratch folder. In namespaces, forks PID 1."""
    spec = job.get("sandbox") or {}
    limits.join(job.get("cgroup_procs", []))
    scratch = job["scratch"]
    if spec.get("namespaces"):
        enter_namespaces(spec["tmp_mb"], spec["shm_mb"], keep=spec["read"],
                         list_only=spec["list"], devices=spec["write"])
        pid = os.fork()
        if pid:  # stays outside the PID namespace, keeps no copy of the channel
            os.close(channel.fd)
            _, status = os.waitpid(pid, 0)
            os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
        mount_private_proc()
        scratch = "/tmp/task"
    os.makedirs(scratch, exist_ok=True)
    _close_inherited_fds(channel.fd)
    if spec.get("landlock_abi"):
        rules = landlock.Ruleset(spec["landlock_abi"])
        rules.allow_paths(spec["read"], landlock.READ_RIGHTS)
        rules.allow_paths(spec["list"], landlock.READ_DIR)
        rules.allow_paths([*spec["write"], scratch], rules.fs)
        rules.restrict_self()
    if spec.get("seccomp"):
        seccomp.forbid_unix_sockets()
    return scratch


def _close_inherited_fds(keep: int) -> None:
    """Close every descriptor but stdio and the channel (e.g. multiprocessing's own pipes)."""
    os.closerange(3, keep)
    os.closerange(keep + 1, 65536)


def _isolate(scratch: str, memory_mb: int, device: str, namespaced: bool) -> None:
    log = os.open(os.path.join(scratch, "output.log"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                  0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", buffering=0), write_through=True)
    sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", buffering=0), write_through=True)
    limits.apply_rlimits(limits.TaskLimits(memory_mb), limit_memory=device == "cpu",
                         limit_processes=namespaced)
    os.chdir(scratch)
    replace_environment({**sandbox_environment(scratch), **FAST_ENV})
    tempfile.tempdir = scratch  # the fork server's cached choice (/tmp) is not writable here
    torch.set_num_threads(1)


def run_cells(cells: list[tuple[int, str]]) -> tuple[dict[str, Any], dict[int, dict[str, str]]]:
    """Execute cells one by one in a fresh namespace; a failing cell does not stop the rest."""
    ns: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins,
                          "get_ipython": _IPythonStub}
    failures: dict[int, dict[str, str]] = {}
    for index, source in cells:
        try:
            code = compile(source, f"<cell {index}>", "exec")
            exec(code, ns)  # noqa: S102 - running notebook code is this module's job
        except BaseException as exc:  # noqa: BLE001 - SystemExit included
            failures[index] = describe_exception(exc)
    return ns, failures


def resolve_probes(job: dict[str, Any]) -> list[Any]:
    """The probes a job asks for (resolved before any notebook code runs).

    A topic package's probes travel with the job (only its ``probes`` module is imported);
    a single-module topic's probe may be a lambda, looked up in that module's tasks.
    """
    found = []
    for task_id, check_id, probe, _, _ in job["probes"]:
        if probe is None:
            module = importlib.import_module(f"autograder.topics.t{job['topic']}")
            task = next(t for t in module.TASKS if t.id == task_id)
            probe = task.check(check_id).probe
        found.append(probe)
    return found


def run_probes(ns: dict[str, Any], job: dict[str, Any], probes: list[Any], channel: Channel
               ) -> None:
    """Run each requested probe with fresh seeds and write one result file per probe."""
    device = torch.device(job["device"])
    ctx = ProbeContext(device=device)
    for probe, (_, check_id, _, seed, inputs_blob) in zip(probes, job["probes"], strict=True):
        try:
            inputs = payload.to_device(payload.loads(inputs_blob), device)
            seed_everything(seed)
            value = probe(ns, inputs, ctx)
            record = {"status": "ok", "value": payload.encode(value)}
        except NotImplementedError as exc:
            status = "notimpl" if raised_by_stub(exc, job["cells"]) else "error"
            record = {"status": status, **describe_exception(exc)}
        except BaseException as exc:  # noqa: BLE001
            info = describe_exception(exc)
            if isinstance(exc, MemoryError) or "can't allocate memory" in info["message"]:
                info["type"] = "MemoryError"
            record = {"status": "error", **info}
        channel.send("probe", check_id, record)


def sandboxed_start(job: dict[str, Any], connection: Any,
                    prepare: Callable[[], None] | None = None) -> Channel:
    """The first steps of every child: its own session, ``prepare()`` (grader code only, while
    files are still readable), then the job's sandbox and limits; returns the result channel.
    A child whose sandbox cannot be applied reports it and exits."""
    channel = Channel(connection.fileno())
    os.setsid()
    if job.get("parent_pid"):  # forked straight from its grading process (fast self-check)
        limits.die_with_parent(job["parent_pid"])
    if prepare is not None:
        prepare()
    try:
        scratch = _enter_sandbox(job, channel)
    except Exception as exc:  # noqa: BLE001 - never run student code outside the sandbox
        channel.send("sandbox", 0, {"message": f"{type(exc).__name__}: {exc}"[:300]})
        os._exit(70)
    _isolate(scratch, job["memory_mb"], job["device"],
             bool((job.get("sandbox") or {}).get("namespaces")))
    return channel


def child_main(job: dict[str, Any], connection: Any) -> None:
    """Entry point of a grading child process (see ``autograder.sandbox``).

    ``connection`` is the write end of the result pipe; results are sent as frames
    (``load``, one ``probe`` per check, ``done``) and nothing else is trusted.
    """
    channel = sandboxed_start(job, connection)
    probes = resolve_probes(job)
    ns, failures = run_cells(job["cells"])
    present = {name: name in ns for name in job["symbols"]}
    channel.send("load", 0, {"failures": {str(k): v for k, v in failures.items()},
                             "present": present})
    run_probes(ns, job, probes, channel)
    channel.send("done", 0, True)
    sys.stdout.flush()
    os._exit(0)
