"""Seals on what grade-class keeps between runs (cached references, stored records).

Only the grading processes write these files (sandboxed children can write nothing outside
their scratch space). Each file carries a seal: an HMAC-SHA256 of its content and the grader's
fingerprint, keyed with a random secret kept next to the files (``.seal-key``, mode 0600,
created by the first grading process that needs it). A file whose seal does not match - edited,
forged, left by another grader version - is ignored with a warning line and computed again,
never reused.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import sys
import time
from pathlib import Path

from autograder.escaping import for_terminal

KEY_FILE = ".seal-key"
KEY_BYTES = 32


def seal_key(root: Path) -> bytes:
    """The secret of the store under ``root``, created (0600, exclusively) if missing."""
    path = Path(root) / KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, os.urandom(KEY_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)
    for _ in range(100):  # another process may be writing it this very moment
        key = path.read_bytes()
        if len(key) == KEY_BYTES:
            return key
        time.sleep(0.01)
    raise OSError(f"{path}: not a seal key ({len(key)} bytes)")


def seal(key: bytes, fingerprint: str, content: bytes) -> str:
    """The seal of ``content`` for this grader (hex)."""
    return hmac.new(key, fingerprint.encode() + b"\0" + content, hashlib.sha256).hexdigest()


def verified(key: bytes, fingerprint: str, content: bytes, claimed: object) -> bool:
    """Whether ``claimed`` is the seal of ``content`` (compared in constant time)."""
    return isinstance(claimed, str) and hmac.compare_digest(seal(key, fingerprint, content),
                                                            claimed)


def warn_tampered(path: Path) -> None:
    """The warning line for a file whose seal does not match."""
    print(f"warning: {for_terminal(str(path))}: its seal does not match (edited or not "
          "written by this grader); ignored and computed again", file=sys.stderr, flush=True)
