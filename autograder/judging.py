"""Judges that must not stall the grading process run in a child with a time limit.

A judge that manipulates a student-provided sympy expression can simplify for minutes
(``(x + 1)**5000``). Such judges run in a child of the fork server that never ran student
code (trusted grader code on student *data*, which the payload decoder already reduced to
plain values), within a time and memory limit; the verdict comes back as plain data.
"""

from __future__ import annotations

from typing import Any

from autograder import payload
from autograder.checks.api import CheckFailed, Judgement
from autograder.isolation.policy import SandboxPolicy
from autograder.seeding import seed_everything
from autograder.status import Status

JUDGE_TIMEOUT_S = 60.0
JUDGE_MEMORY_MB = 2048
_UNSANDBOXED = SandboxPolicy(mode="off")
VERDICTS = (Status.PASSED, Status.FAILED, Status.GRADER_ERROR)


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


def judge_in_child(task_id: str, index: int, judgement: Judgement,
                   timeout_s: float = JUDGE_TIMEOUT_S) -> tuple[str, str]:
    """``verdict`` in a separate, time-limited process."""
    from autograder import sandbox

    job = {"kind": "judge", "task": task_id, "index": index,
           "judgement": payload.dumps(payload.encode({
               "inputs": judgement.inputs, "got": judgement.got, "ref": judgement.ref})),
           "hidden": judgement.hidden, "device": judgement.device}
    run = sandbox.run_child(job, timeout_s, JUDGE_MEMORY_MB, _UNSANDBOXED)
    record = run.frames.get(("verdict", 0))
    if isinstance(record, dict) and record.get("status") in VERDICTS \
            and isinstance(record.get("message"), str):
        return Status(record["status"]), record["message"]
    if run.status == "timeout":
        return "failed", (f"checking this answer took longer than {timeout_s:g} s "
                          "(is the expression expanded far beyond what the task needs?).")
    return "failed", "checking this answer exceeded the grader's memory or failed."


def child_judge(job: dict[str, Any]) -> dict[str, str]:
    """Run in the judge child: rebuild the judgement and return the verdict."""
    from autograder.registry import get_task

    check = get_task(job["task"]).checks[job["index"]]
    parts = payload.loads(job["judgement"])
    judgement = Judgement(inputs=parts["inputs"], got=parts["got"], ref=parts["ref"],
                          hidden=job["hidden"], device=job["device"])
    status, message = verdict(check, judgement)
    return {"status": str(status), "message": message}
