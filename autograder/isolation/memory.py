"""How much memory a task's processes use, each page counted once."""

from __future__ import annotations

import contextlib
import os

PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20


def pss_mb(pids: set[int]) -> float:
    """Proportional memory of these processes (MiB): a page shared by n processes (e.g.
    copy-on-write after ``fork``) counts 1/n in each; RSS where PSS cannot be read."""
    total_kb = 0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            try:
                with open(f"/proc/{pid}/smaps_rollup", "rb") as handle:
                    lines = handle.read().splitlines()
                total_kb += next(int(line.split()[1]) for line in lines
                                 if line.startswith(b"Pss:"))
            except (OSError, StopIteration):
                with open(f"/proc/{pid}/statm", "rb") as handle:
                    total_kb += int(int(handle.read().split()[1]) * PAGE_MB * 1024)
    return total_kb / 1024


def private_tmpfs_mb(pid: int) -> float:
    """What the task stored in its private /tmp and /dev/shm (MiB), seen through its root
    (a tree still on the host's file system, before the child mounted its own, counts 0)."""
    used = 0
    for tree in ("tmp", "dev/shm"):
        with contextlib.suppress(OSError):
            path = f"/proc/{pid}/root/{tree}"
            if os.stat(path).st_dev != os.stat(f"/{tree}").st_dev:
                info = os.statvfs(path)
                used += (info.f_blocks - info.f_bfree) * info.f_frsize
    return used / 2**20
