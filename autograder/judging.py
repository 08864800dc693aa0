"""Judges of sympy answers: simplified in a sandboxed child, decided in the grading process.

A judge that manipulates a student-provided sympy expression can simplify for minutes
(``(x + 1)**5000``). Such judges run in a child of the fork server, in the same sandbox as the
children that run student code, within their own time and memory limit. The child rebuilds the
answer from its structural tree (``autograder.sympy_tree``: nothing in it can execute) and
sends back its findings as plain data: a claim that the answer passed, or the message of a
failed check.

The verdict is the grading process's own: a claim of failure only costs the student the check,
while a claim of success counts only when the check's ``confirm`` - run here, on the trees,
numerically, within a time bound (``autograder.symbolic``) - agrees. A child that lies (or a
frame forged on its pipe) can thus never give credit for a wrong answer.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from typing import Any

from autograder import payload, sandbox, worker
from autograder.checks.api import Check, CheckFailed, Judgement
from autograder.isolation.policy import SandboxPolicy, build_policy
from autograder.registry import all_tasks, get_task
from autograder.seeding import seed_everything
from autograder.status import Status

JUDGE_TIMEOUT_S = 60.0
JUDGE_MEMORY_MB = 2048
MAX_MESSAGE = 600


def needs_isolation(got: Any) -> bool:
    """Whether judging ``got`` could take unbounded time (it holds a sympy expression)."""
    return payload.contains(got, payload.Symbolic)


def verdict(check: Any, judgement: Judgement) -> tuple[str, str]:
    """(status, message) of one judge call, every exception turned into a verdict.

    ``CheckFailed`` is the submission's failure; any other exception is the judge's own
    (status ``grader-error``, the message names the exception). The grader decides later
    whether the result's form explains it (see ``autograder.result_form``).
    """
    try:
        seed_everything(check.seed)
        check.judge(judgement)
    except CheckFailed as exc:
        return Status.FAILED, str(exc)
    except Exception as exc:  # noqa: BLE001 - a judge that raised is reported, not hidden
        return Status.GRADER_ERROR, f"{type(exc).__name__}: {str(exc)[:160]}"
    return Status.PASSED, ""


def judge_in_child(task_id: str, check_id: str, judgement: Judgement,
                   timeout_s: float = JUDGE_TIMEOUT_S,
                   policy: SandboxPolicy | None = None) -> tuple[str, str]:
    """The verdict on a sympy answer: the child's findings, confirmed here (see module doc)."""
    check = get_task(task_id).check(check_id)
    job = {"task": task_id, "check": check_id,
           "judgement": payload.dumps(payload.encode({
               "inputs": judgement.inputs, "got": judgement.got, "ref": judgement.ref})),
           "hidden": judgement.hidden, "device": judgement.device}
    run = sandbox.run_child(child_entry, job, timeout_s, JUDGE_MEMORY_MB,
                            policy or build_policy("auto"))
    claim = run.frames.get(("verdict", 0))
    if isinstance(claim, dict) and claim.get("status") in (Status.FAILED, Status.GRADER_ERROR) \
            and isinstance(claim.get("message"), str):
        # A failure costs the student nothing they could forge their way out of, and a
        # grader error stores no score: neither needs confirming.
        return Status(claim["status"]), claim["message"][:MAX_MESSAGE]
    if isinstance(claim, dict) and claim.get("status") == Status.PASSED:
        return confirmed(check, judgement)
    if run.status == "timeout":
        return Status.FAILED, (f"checking this answer took longer than {timeout_s:g} s "
                               "(is the expression expanded far beyond what the task needs?).")
    if run.status == "sandbox":
        return Status.GRADER_ERROR, (f"grader error: the judging sandbox could not start "
                                     f"({run.detail}).")
    if run.status == "complex":
        return Status.FAILED, sandbox.too_complex_message(run.detail)
    return Status.FAILED, "checking this answer exceeded the grader's memory or failed."


def confirmed(check: Check, judgement: Judgement) -> tuple[str, str]:
    """The grading process's own verdict on an answer a judge child says passed."""
    if check.confirm is None:
        return Status.GRADER_ERROR, ("grader error: this check has no confirmation in the "
                                     "grading process, so its verdict cannot be trusted.")
    try:
        check.confirm(judgement)
    except CheckFailed as exc:
        return Status.FAILED, str(exc)
    except Exception as exc:  # noqa: BLE001 - the grader decides whether the form explains it
        return Status.GRADER_ERROR, f"{type(exc).__name__}: {str(exc)[:160]}"
    return Status.PASSED, ""


def load_grader_code() -> None:
    """Import the grader-only modules (``autograder.trusted``) that judges use lazily, and
    every topic's checks (``hidden.py`` included).

    Runs in a judge child before it enters the sandbox, which hides those files from every
    child; a judge child runs no student code, so it may hold them in memory.
    """
    from autograder import trusted

    for module in pkgutil.iter_modules(trusted.__path__):
        importlib.import_module(f"{trusted.__name__}.{module.name}")
    all_tasks()


def child_entry(job: dict[str, Any], connection: Any) -> None:
    """Entry point of a judge child (``sandbox.run_child``): load the grader's code, enter the
    sandbox, judge, and send the findings as one ``verdict`` frame. A child forked straight
    from the fast self-check (no sandbox hides any file) holds the checked topic's judges
    already and loads nothing more."""
    prepare = None if sandbox.forks_directly() else load_grader_code
    channel = worker.sandboxed_start(job, connection, prepare=prepare)
    channel.send("verdict", 0, child_judge(job))
    os._exit(0)


def child_judge(job: dict[str, Any]) -> dict[str, str]:
    """Run in the (sandboxed) judge child: rebuild the judgement and report the findings."""
    check = get_task(job["task"]).check(job["check"])
    parts = payload.loads(job["judgement"])
    judgement = Judgement(inputs=parts["inputs"], got=parts["got"], ref=parts["ref"],
                          hidden=job["hidden"], device=job["device"])
    status, message = verdict(check, judgement)
    return {"status": str(status), "message": message}
