"""The child side of grading: run notebook code, then probes, and write the results.

Everything here runs in a disposable process that student code may have corrupted; it
only ever writes files, which the grading process reads with a loader that cannot run code.
"""

from __future__ import annotations

import builtins
import io
import os
import resource
import sys
import traceback
from pathlib import Path
from typing import Any

import numpy  # noqa: F401 - preloaded so children fork with it imported
import torch

from autograder import payload
from autograder.checks.api import ProbeContext
from autograder.preload import preload_libraries
from autograder.seeding import seed_everything

preload_libraries()

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


def describe_exception(exc: BaseException) -> dict[str, str]:
    """A short, code-free description of an exception."""
    if isinstance(exc, SystemExit):
        text = f"the code called sys.exit({exc.code!r})"
    else:
        text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return {"type": type(exc).__name__, "message": text, "where": where_in_notebook(exc)}


def _write(out_dir: Path, name: str, record: Any) -> None:
    tmp = out_dir / f".{name}.tmp"
    tmp.write_bytes(payload.dumps(record))
    tmp.rename(out_dir / name)


def _isolate(out_dir: Path, memory_mb: int, device: str) -> None:
    os.setsid()
    log = os.open(out_dir / "output.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", buffering=0), write_through=True)
    sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", buffering=0), write_through=True)
    if device == "cpu" and memory_mb > 0:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    os.environ.update(FAST_ENV)
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


def resolve_checks(job: dict[str, Any]) -> list[Any]:
    """The Check objects a job asks for (resolved before any notebook code runs)."""
    from autograder.registry import get_task

    return [get_task(task_id).checks[index] for task_id, index, _ in job["probes"]]


def run_probes(ns: dict[str, Any], job: dict[str, Any], checks: list[Any], out_dir: Path
               ) -> None:
    """Run each requested probe with fresh seeds and write one result file per probe."""
    device = torch.device(job["device"])
    ctx = ProbeContext(device=device)
    for number, (check, (_, _, inputs_blob)) in enumerate(zip(checks, job["probes"],
                                                               strict=True)):
        try:
            inputs = payload.to_device(payload.loads(inputs_blob), device)
            seed_everything(check.seed)
            value = check.probe(ns, inputs, ctx)
            record = {"status": "ok", "value": payload.encode(value)}
        except NotImplementedError as exc:
            record = {"status": "notimpl", **describe_exception(exc)}
        except BaseException as exc:  # noqa: BLE001
            info = describe_exception(exc)
            if isinstance(exc, MemoryError) or "can't allocate memory" in info["message"]:
                info["type"] = "MemoryError"
            record = {"status": "error", **info}
        _write(out_dir, f"probe_{number}.pt", record)


def child_main(job: dict[str, Any]) -> None:
    """Entry point of a grading child process (see ``autograder.sandbox``)."""
    out_dir = Path(job["out_dir"])
    _isolate(out_dir, job["memory_mb"], job["device"])
    checks = resolve_checks(job)
    ns, failures = run_cells(job["cells"])
    present = {name: name in ns for name in job["symbols"]}
    _write(out_dir, "load.pt", {"failures": {str(k): v for k, v in failures.items()},
                                "present": present})
    run_probes(ns, job, checks, out_dir)
    _write(out_dir, "done.pt", True)
    sys.stdout.flush()
    os._exit(0)

