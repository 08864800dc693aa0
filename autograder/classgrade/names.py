"""Student and assignment names as file names: one-to-one, so no two students share a file.

A folder name may hold any character but ``/`` (``a b``, ``a?b``, ``.x``, bytes that are not
UTF-8). ``component`` keeps lower-case letters, digits and ``-_.@+``, writes an upper-case
letter as ``^`` and its lower-case form (``Alice`` -> ``^alice``: names that differ only by
case stay distinct on a case-insensitive file system too) and every other byte as ``%XX``
(``%`` and ``^`` themselves included, a leading ``.`` too), so distinct names give distinct
file names and ``name_of`` gives the name back. A name whose encoding would pass the file system's
length limit ends in ``~`` and a hash of the whole name instead (``~`` is never produced
otherwise).
"""

from __future__ import annotations

import hashlib
import os
import re
import string
from pathlib import Path
from urllib.parse import unquote_to_bytes

KEPT = frozenset(string.ascii_lowercase + string.digits + "-_.@+")
UPPER = frozenset(string.ascii_uppercase)
MAX_COMPONENT = 200
"""Characters of an encoded name; the rest of the 255-byte limit is left for suffixes."""
EMPTY = "%"


def component(name: str) -> str:
    """``name`` as one path component, collision-free (see the module docstring)."""
    raw = os.fsencode(name)
    if not raw:
        return EMPTY
    parts = [chr(b) if chr(b) in KEPT and not (i == 0 and b == ord("."))
             else "^" + chr(b).lower() if chr(b) in UPPER else f"%{b:02X}"
             for i, b in enumerate(raw)]
    encoded = "".join(parts)
    if len(encoded) <= MAX_COMPONENT:
        return encoded
    head, used = [], 0
    for part in parts:
        if used + len(part) > MAX_COMPONENT - 65:
            break
        head.append(part)
        used += len(part)
    return "".join(head) + "~" + hashlib.sha256(raw).hexdigest()


def name_of(encoded: str) -> str:
    """The name ``component`` encoded (a shortened long name cannot be given back)."""
    if "~" in encoded:
        raise ValueError(f"{encoded[:40]}...: a shortened name; its record holds the name")
    if encoded == EMPTY:
        return ""
    cased = re.sub(r"\^([a-z])", lambda match: match.group(1).upper(), encoded)
    return os.fsdecode(unquote_to_bytes(cased))


def submission_path(root: Path, student: str, assignment: str, suffix: str) -> Path:
    """``root/<student>/<assignment><suffix>``, both names encoded."""
    return root / component(student) / f"{component(assignment)}{suffix}"
