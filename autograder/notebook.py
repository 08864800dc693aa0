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
import warnings
from typing import Any

from autograder import payload
from autograder.checks.api import CheckFailed, Judgement, ProbeContext
from autograder.grading import Grader, encode_inputs
from autograder.registry import get_task
from autograder.seeding import seed_everything

DEFERRED_ENV = "AUTOGRADER_DEFERRED"


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
    chosen = [(i, c) for i, c in enumerate(task.checks) if c.hidden == hidden]
    refs = _references(task, chosen) if hidden else {}
    failures: list[str] = []
    for index, item in chosen:
        blob = encode_inputs(item)
        try:
            with _quiet():
                seed_everything(item.seed)
                inputs = payload.to_device(payload.loads(blob), ctx.device)
                value = item.probe(namespace, inputs, ctx)
            got = payload.loads(payload.dumps(payload.encode(value)))
            item.judge(Judgement(payload.loads(blob), got, refs.get(index), item.hidden, device))
        except CheckFailed as exc:
            failures.append(f"{item.name}: {exc}")
            print(f"  FAIL  {item.name}: {exc}")
            continue
        except NotImplementedError as exc:
            if str(exc):  # raised by a library (the exercise stubs raise it bare)
                failures.append(f"{item.name}: raised NotImplementedError: {exc}")
                print(f"  ERROR {item.name}: raised NotImplementedError: {exc}")
                continue
            failures.append(f"{item.name}: not implemented yet")
            print(f"  TODO  {item.name}: not implemented yet")
            continue
        except Exception as exc:  # noqa: BLE001 - show the student their own error
            failures.append(f"{item.name}: raised {type(exc).__name__}: {exc}")
            print(f"  ERROR {item.name}: raised {type(exc).__name__}: {exc}")
            continue
        print(f"  ok    {item.name}")
    kind = "hidden" if hidden else "public"
    passed = len(chosen) - len(failures)
    print(f"{task_id}: {passed}/{len(chosen)} {kind} checks passed")
    if failures:
        raise AssertionError(f"{task_id}: " + "; ".join(failures))


def _references(task: Any, chosen: list[tuple[int, Any]]) -> dict[int, Any]:
    grader = Grader(device="cpu")
    blobs = {i: encode_inputs(c) for i, c in chosen}
    return grader._reference_records(task, [i for i, _ in chosen], blobs)


@contextlib.contextmanager
def _quiet():
    """Keep library warnings off stderr (nbgrader treats stderr output as a failure)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.redirect_stderr(sys.stdout):
            yield
