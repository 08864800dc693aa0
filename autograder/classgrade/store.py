"""The resumable result store: one JSON file per submission, written atomically.

A submission's *key* hashes what its grade depends on: the notebook's bytes, the grader's code,
the solution notebook of its topic and the grading options. A stored result is reused only when
its key is the current one, so a changed notebook, grader or solution is graded again, and only
when its seal matches (``autograder.classgrade.integrity``): an edited record is graded again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import autograder
from autograder.classgrade import integrity
from autograder.classgrade.names import submission_path
from autograder.classgrade.records import Record
from autograder.notebook_code import MAX_NOTEBOOK_BYTES
from autograder.paths import solution_notebook
from autograder.release_manifest import released_digest

TMP_SUFFIX = ".partial"
RECORDS = "records"
"""The records' folder inside the grades folder: no student name can meet an output's."""
FILE_MODE = 0o644
SEAL_FIELD = "seal"


HASH_CHUNK = 1 << 20


def file_sha256(path: Path, max_bytes: int = MAX_NOTEBOOK_BYTES) -> str:
    """The SHA-256 of a regular file's bytes, read in chunks; '' when it cannot be read, is
    no regular file (a pipe or device is never read, nor waited on) or holds more than
    ``max_bytes``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return ""
    digest, size = hashlib.sha256(), 0
    with os.fdopen(fd, "rb", buffering=0) as handle:
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return ""
            while chunk := handle.read(HASH_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    return ""
                digest.update(chunk)
        except OSError:
            return ""
    return digest.hexdigest()


@cache
def grader_fingerprint() -> str:
    """A hash of the grader's own source code (every ``autograder`` module)."""
    root = Path(autograder.__file__).parent
    digest = hashlib.sha256(autograder.__version__.encode())
    for path in sorted(root.rglob("*.py")):
        if "classgrade" in path.relative_to(root).parts:
            continue  # class-level bookkeeping does not change a notebook's grade
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


@cache
def solution_sha256(topic: str | None) -> str:
    """The hash of a topic's solution notebook ('' for no topic)."""
    return file_sha256(solution_notebook(topic)) if topic else ""


def submission_key(notebook_sha: str, topic: str | None, options: dict[str, Any]) -> str:
    """The key of a grade: notebook, grader, solution, its release and options together.

    The release (what ``solutions/SHA256SUMS`` records for the topic) is part of it, so a
    run after ``python -m autograder release`` grades again.
    """
    parts = {"notebook": notebook_sha, "grader": grader_fingerprint(),
             "solution": solution_sha256(topic),
             "released": released_digest(topic) if topic else "", "topic": topic, **options}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def write_atomic(path: Path, data: bytes) -> None:
    """Write a file so that readers see either the old or the complete new content."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class ResultStore:
    """``<out>/records/<student>/<assignment>.json`` for every graded submission (names
    encoded one-to-one by ``names.component``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, student: str, assignment: str) -> Path:
        """Where a submission's record lives."""
        return submission_path(self.root / RECORDS, student, assignment, ".json")

    def load(self, student: str, assignment: str, key: str) -> Record | None:
        """The stored record when it was graded under ``key`` and its seal matches; None
        otherwise (a record whose seal does not match is reported on stderr)."""
        path = self.path(student, assignment)
        try:
            data = json.loads(path.read_text())
            claimed = data.pop(SEAL_FIELD, None) if isinstance(data, dict) else None
            if not integrity.verified(integrity.seal_key(self.root), self._fingerprint(path),
                                      _canonical(data), claimed):
                integrity.warn_tampered(path)
                return None
            record = Record.from_json(data)
        except (OSError, ValueError):
            return None
        return record if record.key == key else None

    def save(self, record: Record) -> bool:
        """Store a record atomically (a kill never leaves half a file behind), sealed.

        A record with grader errors is not stored (False): it holds no score, and the next
        run grades the submission again.
        """
        if record.grader_errors:
            return False
        path = self.path(record.student, record.assignment)
        data = record.to_json()
        data[SEAL_FIELD] = integrity.seal(integrity.seal_key(self.root),
                                          self._fingerprint(path), _canonical(data))
        write_atomic(path, json.dumps(data, indent=1).encode())
        return True

    def forget(self, student: str, assignment: str) -> None:
        """Drop a stored record, so that the submission is graded again."""
        with contextlib.suppress(OSError):
            self.path(student, assignment).unlink()

    def _fingerprint(self, path: Path) -> str:
        """What a record's seal binds it to besides its content: this grader and its place."""
        return f"{grader_fingerprint()}:{path.relative_to(self.root)}"

    def clean_partial_files(self) -> int:
        """Remove temporary files left by a killed run; returns how many."""
        count = 0
        if self.root.is_dir():
            for leftover in self.root.rglob(f".*{TMP_SUFFIX}"):
                with contextlib.suppress(OSError):
                    leftover.unlink()
                    count += 1
        return count


def _canonical(data: object) -> bytes:
    """The bytes a record's seal covers."""
    return json.dumps(data, sort_keys=True).encode()
