"""Which topics a student kit may hold together without handing out answers.

A kit must not ship a topic's exercise together with a later topic whose released notebook
reveals that exercise's graded answers (``solutions/REVEALS.json``, written by ``release``),
unless the lecturer says those answers may be out (``--answers-out 01_ppca``, e.g. after
its deadline).
"""

from __future__ import annotations

from dataclasses import dataclass

from autograder.paths import TOPICS

Reveals = dict[str, dict[str, list[str]]]


@dataclass(frozen=True)
class Conflict:
    """``later``'s notebook shows ``symbols`` of ``exercise``, which the kit also holds."""

    exercise: str
    later: str
    symbols: tuple[str, ...]

    def describe(self) -> str:
        """One line for the lecturer."""
        return (f"{self.later} reveals the answers of {self.exercise} "
                f"({', '.join(self.symbols)})")


def ordered(topics: list[str]) -> list[str]:
    """Topics in course order, each once; raises ValueError naming unknown ones."""
    unknown = [t for t in topics if t not in TOPICS]
    if unknown:
        raise ValueError(f"unknown topics {', '.join(unknown)}; known: {', '.join(TOPICS)}")
    return [t for t in TOPICS if t in set(topics)]


def conflicts(topics: list[str], answers_out: list[str], reveals: Reveals) -> list[Conflict]:
    """Every pair of kit topics where one reveals the other's answers that are not out."""
    found = []
    for later in topics:
        for exercise, symbols in reveals.get(later, {}).items():
            if exercise in topics and exercise not in answers_out and exercise != later:
                found.append(Conflict(exercise, later, tuple(symbols)))
    return found


def refusal(found: list[Conflict]) -> str:
    """The one-line refusal naming the topics and symbols, and the way out."""
    exercises = sorted({c.exercise for c in found})
    return ("the kit would hand out answers: " + "; ".join(c.describe() for c in found)
            + ". Leave the later topics out, or, once those answers may be public, add "
            + " ".join(f"--answers-out {t}" for t in exercises))


@dataclass(frozen=True)
class Plan:
    """The topics a default kit ships, and why the others were left out."""

    topics: list[str]
    left_out: list[str]
    reason: str


def safe_prefix(released: list[str], answers_out: list[str], reveals: Reveals) -> Plan:
    """The first released topics, in course order, up to the first that would leak."""
    for i in range(len(released)):
        found = conflicts(released[: i + 1], answers_out, reveals)
        if found:
            return Plan(released[:i], released[i:], "; ".join(c.describe() for c in found))
    return Plan(list(released), [], "")
