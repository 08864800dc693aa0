"""Checks as called from a notebook's test cells (``check("ppca.marginal", globals())``).

In a student's own Jupyter session this runs the task's public checks (and, in the
solution notebook, the hidden ones) against the kernel's live definitions, and prints a
line per check. Under ``nbgrader autograde`` with the course configuration the cell only
says that grading happens in isolation: ``autograder.nbgrader_plugin`` fills in the real
result afterwards, from child processes, so nothing a notebook does to its own kernel can
change its grade.
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograder import payload
from autograder.checks.api import CheckFailed, Judgement, ProbeContext
from autograder.feedback import checks_lines, headline
from autograder.grading import Grader, encode_inputs
from autograder.registry import get_task
from autograder.seeding import seed_everything

DEFERRED_ENV = "AUTOGRADER_DEFERRED"


class ChecksFailed(AssertionError):
    """Some checks of a task failed; the lines printed above say which and why.

    In Jupyter the error shows as its one-line summary instead of a traceback into the
    autograder, so each failure is read once (in the printed lines). It is still an error,
    so nbgrader's convention holds: a failing test cell stops "Run All".
    """

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


def check(task_id: str, namespace: dict[str, Any], hidden: bool = False,
          device: str | None = None) -> None:
    """Run a task's public (or hidden) checks on live definitions; raise if any fails."""
    if os.environ.get(DEFERRED_ENV):
        print(f"{task_id}: graded in isolation by the autograder.")
        return
    import torch

    task = get_task(task_id)
    device = device or os.environ.get("AUTOGRADER_DEVICE", "cpu")
    ctx = ProbeContext(device=torch.device(device))
    chosen = [c for c in task.checks if c.hidden == hidden]
    refs = _references(task, chosen) if hidden else {}
    outcomes = [_run_check(item, namespace, ctx, refs.get(item.id), device) for item in chosen]
    kind = "hidden" if hidden else "public"
    print("\n".join([headline(task_id, outcomes, kind), *checks_lines(outcomes)]))
    failed = sum(o.status != "passed" for o in outcomes)
    if failed:
        raise ChecksFailed(f"{task_id}: {failed} of {len(outcomes)} {kind} checks failed "
                           "(see above)")


@dataclass(frozen=True)
class _Outcome:
    name: str
    status: str
    message: str = ""


def _run_check(item: Any, namespace: dict[str, Any], ctx: ProbeContext, ref: Any,
               device: str) -> _Outcome:
    """Probe the live definitions and judge the result, as the isolated grader would."""
    blob = encode_inputs(item)
    try:
        with _quiet():
            seed_everything(item.seed)
            inputs = payload.to_device(payload.loads(blob), ctx.device)
            value = item.probe(namespace, inputs, ctx)
        got = payload.loads(payload.dumps(payload.encode(value)))
        item.judge(Judgement(payload.loads(blob), got, ref, item.hidden, device))
    except CheckFailed as exc:
        return _Outcome(item.name, "failed", str(exc))
    except NotImplementedError as exc:
        if str(exc):  # raised by a library (the exercise stubs raise it bare)
            return _Outcome(item.name, "error", f"raised NotImplementedError: {exc}")
        return _Outcome(item.name, "missing", "not implemented yet (it raises "
                                              "NotImplementedError).")
    except Exception as exc:  # noqa: BLE001 - show the student their own error
        where = _student_function(exc)
        where = f" in `{where}`" if where else ""
        return _Outcome(item.name, "error", f"raised {type(exc).__name__}{where}: {exc}")
    return _Outcome(item.name, "passed")


def _student_function(exc: BaseException) -> str:
    """The innermost function of the failing call that is the notebook's own code."""
    library = tuple(str(Path(p).resolve()) for p in
                    {sys.prefix, sys.base_prefix, Path(__file__).parent, *site_dirs()})
    name = ""
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        filename = str(Path(frame.f_code.co_filename).resolve())
        if not filename.startswith(library) and frame.f_code.co_name != "<module>":
            name = frame.f_code.co_name
    return name


def site_dirs() -> list[str]:
    """Where installed packages live (their frames are not the student's)."""
    import site

    return [*site.getsitepackages(), site.getusersitepackages()]


def _references(task: Any, chosen: list[Any]) -> dict[str, Any]:
    grader = Grader(device="cpu")
    return grader._reference_records(task, [c.id for c in chosen])


@contextlib.contextmanager
def _quiet():
    """Keep library warnings off stderr (nbgrader treats stderr output as a failure)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.redirect_stderr(sys.stdout):
            yield
