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

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch


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
    """One graded property of a task (see the module docstring)."""

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

    @property
    def grade_id(self) -> str:
        """The nbgrader ``grade_id`` of this task's test cell."""
        return self.id.replace(".", "_")

    def selected_checks(self, include_hidden: bool) -> tuple[tuple[int, Check], ...]:
        """(index, check) pairs: public checks, plus hidden ones when asked."""
        return tuple((i, c) for i, c in enumerate(self.checks) if include_hidden or not c.hidden)


def call(symbol: str, *arg_names: str, **fixed: Any) -> Probe:
    """A probe that calls ``symbol(*inputs[arg_names], **fixed)`` and returns the result."""

    def probe(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
        return ns[symbol](*[inputs[name] for name in arg_names], **fixed)

    probe.__name__ = f"call_{symbol}"
    return probe
