"""Compare two ``python -m autograder grade ... --json`` reports, ignoring timings.

    python bench/grading_snapshot_diff.py BEFORE.json AFTER.json

Prints one line per difference (a JSON path and both values) and exits 1 when there is any,
0 when the reports agree on everything but timing fields (``elapsed_s`` and the like) and
the sandbox description, which depends on the machine rather than the grader.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

IGNORED_KEYS = frozenset({"elapsed_s", "seconds", "time_s", "wall_s", "duration_s", "sandbox"})
"""Fields that change from run to run (or machine to machine) without a grading change."""


def differences(before: Any, after: Any, where: str = "$") -> list[str]:
    """Every place where ``after`` differs from ``before``, ignoring ``IGNORED_KEYS``."""
    if isinstance(before, dict) and isinstance(after, dict):
        found = []
        for key in sorted(set(before) | set(after), key=str):
            if key in IGNORED_KEYS:
                continue
            if key not in before or key not in after:
                found.append(f"{where}.{key}: only in {'after' if key in after else 'before'}")
                continue
            found += differences(before[key], after[key], f"{where}.{key}")
        return found
    if isinstance(before, list) and isinstance(after, list):
        if len(before) != len(after):
            return [f"{where}: {len(before)} items before, {len(after)} after"]
        return [d for i, (b, a) in enumerate(zip(before, after, strict=True))
                for d in differences(b, a, f"{where}[{i}]")]
    return [] if before == after else [f"{where}: {before!r} -> {after!r}"]


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[0])
        print("usage: python bench/grading_snapshot_diff.py BEFORE.json AFTER.json")
        return 2
    before, after = (json.loads(Path(p).read_text()) for p in argv)
    found = differences(before, after)
    for line in found:
        print(line)
    print(f"{len(found)} difference(s) apart from timings")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
