"""What a graded check is.

A check has two halves that never share a process:

* ``probe(ns, inputs, ctx)`` runs in a child process next to the notebook's code (``ns`` is
  the namespace the notebook's cells were executed in). It calls the student's symbols and
  returns raw results: tensors, numbers, tuples, sympy expressions.
* ``judge(j)`` runs in the grading process. It sees the inputs, the student's decoded
  results (``j.got``) and, for hidden checks, the reference notebook's results for the
  same probe (``j.ref``). It raises ``CheckFailed`` with a message that names the concept.

Public checks (``hidden=False``) judge with known values and invariants only; they are
what students run on themselves. Hidden checks compare against the reference and never
put reference values in their messages.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

_SLUG = re.compile(r"[a-z][a-z0-9_]{0,39}")


class CheckFailed(Exception):
    """A check's verdict: the submission is wrong, and the message says why."""


@dataclass(frozen=True)
class ProbeContext:
    """What a probe knows about the run: the device its tensors should live on."""

    device: torch.device


@dataclass(frozen=True)
class Judgement:
    """Everything a judge may look at."""

    inputs: dict[str, Any]
    got: Any
    ref: Any
    hidden: bool
    device: str


Probe = Callable[[dict[str, Any], dict[str, Any], ProbeContext], Any]
Judge = Callable[[Judgement], None]
Confirm = Callable[[Judgement], None]
InputMaker = Callable[[], dict[str, Any]]


def no_inputs() -> dict[str, Any]:
    """Inputs of a check that builds everything inside its probe."""
    return {}


@dataclass(frozen=True)
class Check:
    """One graded property of a task (see the module docstring).

    ``id`` is a short slug, unique within its task (``"mock"``, ``"reference"``): it names the
    check in frames, reference caches, reports and tests, and never changes when checks are
    added, removed or reordered.
    """

    name: str
    probe: Probe
    judge: Judge
    inputs: InputMaker = no_inputs
    hidden: bool = False
    weight: float = 1.0
    seed: int = 20261121
    confirm: Confirm | None = None
    """For sympy answers: the grading process's own check of an answer that the (sandboxed)
    judge child says passed, by numeric evaluation only (``autograder.symbolic``)."""
    id: str = field(kw_only=True)

    def __post_init__(self) -> None:
        if not _SLUG.fullmatch(self.id):
            raise ValueError(f"check id {self.id!r} of '{self.name}' is not a short slug "
                             "(lower-case letters, digits and underscores)")


@dataclass(frozen=True)
class Task:
    """A graded unit: the symbols it needs, its points and its checks."""

    id: str
    topic: str
    symbols: tuple[str, ...]
    points: float
    checks: tuple[Check, ...]
    timeout_s: float = 60.0
    memory_mb: int = 3072
    description: str = ""
    extra_symbols: tuple[str, ...] = field(default_factory=tuple)
    # Loaded next to the task's symbols so that a check can judge them together (e.g. an
    # encoder with the notebook's own prior); unlike extra_symbols, not a dependency.
    companions: tuple[str, ...] = field(default_factory=tuple)
    check_order: tuple[str, ...] = field(default_factory=tuple)
    """The ids of all the task's checks, grader-only ones included, in grading order; only
    needed when the grader-only checks (``hidden.py``) do not simply follow the others."""

    def __post_init__(self) -> None:
        ids = [c.id for c in self.checks]
        if len(set(ids)) != len(ids):
            raise ValueError(f"task {self.id} has duplicate check ids: {ids}")

    def check(self, check_id: str) -> Check:
        """The check with this id (``KeyError`` naming the known ones when there is none)."""
        for check in self.checks:
            if check.id == check_id:
                return check
        raise KeyError(f"task {self.id} has no check '{check_id}'; known: "
                       f"{', '.join(c.id for c in self.checks)}")

    @property
    def grade_id(self) -> str:
        """The nbgrader ``grade_id`` of this task's test cell."""
        return self.id.replace(".", "_")

    def selected_checks(self, include_hidden: bool) -> tuple[Check, ...]:
        """The public checks, plus the hidden ones when asked, in the task's order."""
        return tuple(c for c in self.checks if include_hidden or not c.hidden)


@dataclass(frozen=True)
class Call:
    """A probe that calls ``symbol(*inputs[arg_names], **fixed)`` and returns the result.

    Plain data, so that a job can carry it to the child by value (``autograder.worker``).
    """

    symbol: str
    arg_names: tuple[str, ...]
    fixed: tuple[tuple[str, Any], ...] = ()

    def __call__(self, ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
        return ns[self.symbol](*[inputs[name] for name in self.arg_names], **dict(self.fixed))

    @property
    def __name__(self) -> str:  # noqa: PLW3201 - probes are named in messages like functions
        return f"call_{self.symbol}"


def portable(probe: Probe) -> Probe | None:
    """``probe`` when a job can carry it to the child (a function of a ``probes`` module, a
    ``Call``), so that the child imports the probe's module alone; else None (the child then
    looks the check up in its topic's module)."""
    try:
        pickle.dumps(probe)
    except Exception:  # noqa: BLE001 - lambdas and closures of single-module topics
        return None
    return probe


def call(symbol: str, *arg_names: str, **fixed: Any) -> Probe:
    """A probe that calls ``symbol(*inputs[arg_names], **fixed)`` and returns the result."""
    return Call(symbol, arg_names, tuple(sorted(fixed.items())))
