"""SHA-256 of each released solution notebook, written by ``release`` and checked by graders.

The grader reads a reference notebook once, before any student code of the batch runs,
and refuses one whose bytes differ from what was released: a reference changed behind the
lecturer's back (or edited without a release) never silently decides grades.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from autograder.notebook_code import NotebookError
from autograder.paths import course_root

MANIFEST = "SHA256SUMS"


def manifest_path() -> Path:
    """``solutions/SHA256SUMS``."""
    return course_root() / "solutions" / MANIFEST


def read_manifest() -> dict[str, str]:
    """topic -> sha256 hex digest (empty when there is no manifest yet)."""
    try:
        lines = manifest_path().read_text().splitlines()
    except OSError:
        return {}
    entries = {}
    for line in lines:
        digest, _, name = line.partition("  ")
        if digest and name:
            entries[name.split("/")[0]] = digest
    return entries


def digest(data: bytes) -> str:
    """The hex SHA-256 of a notebook's bytes."""
    return hashlib.sha256(data).hexdigest()


def verify_solution(topic: str, data: bytes) -> None:
    """Raise NotebookError when ``data`` is not the released reference of ``topic``."""
    expected = read_manifest().get(topic)
    if expected is None:
        raise NotebookError(f"solutions/{topic}/{topic}.ipynb was never released (it has no "
                            f"entry in solutions/{MANIFEST}); run `python -m autograder "
                            f"release {topic}` first")
    if expected != digest(data):
        raise NotebookError(f"solutions/{topic}/{topic}.ipynb differs from the released "
                            f"version recorded in solutions/{MANIFEST}; run `python -m "
                            f"autograder release {topic}` after editing a solution")


def write_manifest(topics: list[str]) -> None:
    """Record the current hash of each topic's solution notebook (others kept)."""
    entries = read_manifest()
    for topic in topics:
        path = course_root() / "solutions" / topic / f"{topic}.ipynb"
        entries[topic] = digest(path.read_bytes())
    lines = [f"{entries[t]}  {t}/{t}.ipynb" for t in sorted(entries)]
    manifest_path().write_text("\n".join(lines) + "\n")


def released_digest(topic: str) -> str:
    """What ``release`` recorded for ``topic`` ('' when it was never released)."""
    return read_manifest().get(topic, "")
