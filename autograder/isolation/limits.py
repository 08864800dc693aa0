"""Resource limits for a task: rlimits per process, cgroups for the whole task when root.

Unprivileged, ``RLIMIT_NPROC`` is counted per user namespace, so inside a task's own
namespace it bounds that task's processes alone. Root is exempt from ``RLIMIT_NPROC``; there
a per-task cgroup (v1 ``pids`` and ``memory`` hierarchies, when this machine has them)
bounds the processes and the memory of everything the task starts, tmpfs pages included.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import time
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class TaskLimits:
    """The limits of one task."""

    memory_mb: int
    processes: int = 128
    file_mb: int = 64
    open_files: int = 1024


PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """SIGKILL this process when the process that forked it ends (Linux), so a task never
    outlives the grading process watching it (killed, interrupted, crashed); exits at once if
    that process has already ended."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(75)


def apply_rlimits(limits: TaskLimits, limit_memory: bool, limit_processes: bool) -> None:
    """Set this process's rlimits (inherited by everything it starts).

    ``limit_processes`` only inside a task's own user namespace, where the count is the
    task's alone (outside, it would count every process of the user).
    """
    def cap(kind: int, value: int) -> None:
        soft, hard = resource.getrlimit(kind)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(kind, (value, value))

    cap(resource.RLIMIT_CORE, 0)
    cap(resource.RLIMIT_FSIZE, limits.file_mb * 2**20)
    if limit_processes:
        cap(resource.RLIMIT_NPROC, limits.processes)
    cap(resource.RLIMIT_NOFILE, limits.open_files)
    if limit_memory and limits.memory_mb > 0:
        cap(resource.RLIMIT_DATA, limits.memory_mb * 2**20)


def _own_v1_path(controller: str) -> Path | None:
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) == 3 and controller in parts[1].split(","):
            base = CGROUP_ROOT / controller
            return base / parts[2].lstrip("/") if base.is_dir() else None
    return None


def cgroup_parents() -> dict[str, Path]:
    """Per controller (``pids``, ``memory``), a v1 cgroup where this process may make groups."""
    if os.geteuid() != 0:
        return {}
    found: dict[str, Path] = {}
    for controller in ("pids", "memory"):
        own = _own_v1_path(controller)
        if own is None:
            continue
        probe = own / f"vae-probe-{os.getpid()}"
        try:
            probe.mkdir()
            probe.rmdir()
            found[controller] = own
        except OSError:
            continue
    return found


class TaskCgroups:
    """The cgroups of one task: made before it starts, emptied and removed after."""

    def __init__(self, parents: dict[str, Path], name: str, limits: TaskLimits) -> None:
        self.dirs: list[Path] = []
        for controller, parent in parents.items():
            path = parent / name
            try:
                path.mkdir()
            except OSError:
                continue
            self.dirs.append(path)
            if controller == "pids":
                _write_quietly(path / "pids.max", str(limits.processes))
            elif controller == "memory" and limits.memory_mb > 0:
                _write_quietly(path / "memory.limit_in_bytes", str(limits.memory_mb * 2**20))

    @property
    def proc_files(self) -> list[str]:
        """Files a process writes its PID to in order to join (see ``join``)."""
        return [str(path / "cgroup.procs") for path in self.dirs]

    def memory_exceeded(self) -> bool:
        """Whether the memory limit was hit at least once."""
        for path in self.dirs:
            failcnt = path / "memory.failcnt"
            if failcnt.exists():
                with contextlib.suppress(OSError, ValueError):
                    return int(failcnt.read_text()) > 0
        return False

    def memory_mb(self) -> float | None:
        """The task's memory as its memory cgroup counts it (MiB), or None without one.

        Each page once, however many processes share it (copy-on-write after ``fork``),
        tmpfs files and the kernel memory of their inodes included; inactive file cache
        (reclaimable, e.g. a data file that was read) is left out.
        """
        for path in self.dirs:
            usage = path / "memory.usage_in_bytes"
            if not usage.exists():
                continue
            try:
                used = int(usage.read_text())
                stat = dict(line.split() for line in (path / "memory.stat").read_text()
                            .splitlines() if line.count(" ") == 1)
            except (OSError, ValueError):
                return None
            return max(0, used - int(stat.get("total_inactive_file", 0))) / 2**20
        return None

    def pids(self) -> set[int]:
        """The processes now in the task's groups (every process the task started)."""
        found: set[int] = set()
        for path in self.dirs:
            with contextlib.suppress(OSError, ValueError):
                found |= {int(p) for p in (path / "cgroup.procs").read_text().split()}
        return found

    def kill_all(self) -> None:
        """SIGKILL every process still in the task's groups, then remove the groups."""
        for _ in range(50):
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)
        for path in self.dirs:
            with contextlib.suppress(OSError):
                path.rmdir()


def join(proc_files: list[str]) -> None:
    """Move the calling process into the given cgroups (children follow)."""
    for name in proc_files:
        _write_quietly(Path(name), str(os.getpid()))


def _write_quietly(path: Path, text: str) -> None:
    with contextlib.suppress(OSError):
        path.write_text(text)
