"""What a sandboxed grading process may touch, and which mechanisms enforce it here.

Read-only: Python and its packages, the system libraries (of ``/etc``, ``/sys`` and
``/proc`` only what they read), the course library (``vaelib``, ``autograder`` without
``autograder/trusted`` and the topic packages' judges) and the MNIST *training*
files. Read-write: its own scratch folder
(``/tmp/task`` in a private, capped ``/tmp``, else a fresh folder), a private ``/dev/shm``
and device nodes. Nothing else: not ``solutions/``, ``exercises/``, tests, other
submissions, the gradebook, reports, ``/opt`` or the MNIST test files, wherever they live.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from autograder.isolation import landlock, seccomp
from autograder.isolation.limits import cgroup_parents
from autograder.isolation.namespaces import PROBE_SCRIPT

MODES = ("auto", "require", "off")
SYSTEM_TREES = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin")
# What Python, the loader and the packages read elsewhere: nothing else of /etc, /opt, /sys.
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
                "/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/mime.types",
                "/etc/matplotlibrc", "/etc/alternatives", "/sys/devices/system/cpu",
                "/sys/devices/system/node", "/sys/fs/cgroup")
# /proc: whole where the child mounts its own (PID namespace), else this process's and
# a few system-wide files (other processes' details are also refused by Landlock's ptrace
# rule); with an NVIDIA GPU, what its driver library reads.
PROC_FILES = ("/proc/self", "/proc/cpuinfo", "/proc/meminfo", "/proc/stat", "/proc/sys/kernel",
              "/proc/sys/vm")
GPU_TREES = ("/proc/driver/nvidia", "/sys/devices", "/sys/bus/pci", "/sys/module/nvidia")
TRAINING_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
MIN_LANDLOCK_ABI = 1


class SandboxUnavailable(RuntimeError):
    """``--sandbox require`` on a machine without the needed kernel features."""


@dataclass(frozen=True)
class Capabilities:
    """What this machine's kernel lets an unprivileged process use."""

    landlock_abi: int
    namespaces: bool
    namespace_problem: str
    cgroups: dict[str, str]


@cache
def probe_capabilities() -> Capabilities:
    """Probe Landlock, namespaces (in a throw-away process) and cgroups, once per process."""
    try:
        run = subprocess.run([sys.executable, "-c", PROBE_SCRIPT], capture_output=True,
                             text=True, timeout=30, env={**os.environ, "PYTHONPATH":
                                                         _package_pythonpath()})
        ok = run.returncode == 0
        problem = "" if ok else (run.stderr.strip().splitlines() or ["refused"])[-1][:200]
    except (OSError, subprocess.SubprocessError) as exc:
        ok, problem = False, str(exc)[:200]
    return Capabilities(landlock.abi_version(), ok, problem,
                        {k: str(v) for k, v in cgroup_parents().items()})


def _package_pythonpath() -> str:
    root = str(Path(__file__).resolve().parents[2])
    return os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)


@dataclass(frozen=True)
class SandboxPolicy:
    """The sandbox a grading child gets; ``spec()`` is what travels to the child."""

    mode: str
    landlock_abi: int = 0
    namespaces: bool = False
    cgroups: dict[str, str] = field(default_factory=dict)
    read_trees: tuple[str, ...] = ()
    list_only: tuple[str, ...] = ()
    write_trees: tuple[str, ...] = ()
    tmp_mb: int = 512
    shm_mb: int = 64
    seccomp: bool = False

    @property
    def active(self) -> bool:
        return bool(self.landlock_abi or self.namespaces)

    def mechanisms(self) -> list[str]:
        """Human-readable names of what is enforced."""
        out = []
        if self.landlock_abi:
            scoped = " + signal/socket scoping" if self.landlock_abi >= 6 else ""
            out.append(f"Landlock ABI {self.landlock_abi} (file system{scoped})")
        if self.namespaces:
            out.append("user/PID/mount/network/IPC namespaces")
        if self.seccomp:
            out.append("seccomp (no unix sockets)")
        if "pids" in self.cgroups or "memory" in self.cgroups:
            out.append("cgroup " + "+".join(sorted(self.cgroups)))
        elif self.active:
            out.append("rlimits (processes, file size, memory)")
        return out

    def describe(self) -> dict[str, Any]:
        """The ``sandbox`` entry of the JSON report."""
        level = "off" if not self.active else (
            "full" if self.landlock_abi and self.namespaces else "partial")
        return {"mode": self.mode, "level": level, "mechanisms": self.mechanisms()}

    def summary(self) -> str:
        """One line for reports."""
        info = self.describe()
        if info["level"] == "off":
            return "sandbox: off (student code runs with the grader's file and process access)"
        return f"sandbox: {info['level']} — " + ", ".join(info["mechanisms"])

    def spec(self, scratch: str) -> dict[str, Any]:
        """Plain data for the child: what to apply, with ``scratch`` as its writable folder."""
        writable = list(self.write_trees)
        if self.namespaces:  # its own scratch is added by the child: /tmp/task, /tmp/kernel
            writable.append("/dev/shm")  # private: only what may be read is bound there
        else:
            writable.append(scratch)
        return {"landlock_abi": self.landlock_abi, "namespaces": self.namespaces,
                "seccomp": self.seccomp,
                "read": list(self.read_trees), "list": list(self.list_only),
                "write": writable, "tmp_mb": self.tmp_mb, "shm_mb": self.shm_mb}


def build_policy(mode: str = "auto", landlock: bool = True,
                 namespaces: bool = True) -> SandboxPolicy:
    """The strongest sandbox this machine allows (``auto``), all of it (``require``), or none.

    ``landlock=False`` or ``namespaces=False`` leave that mechanism out even where the
    machine has it: the weaker levels of other machines, reproduced here (tests).
    """
    if mode not in MODES:
        raise SandboxUnavailable(f"unknown sandbox mode '{mode}' (use {', '.join(MODES)})")
    if mode == "off":
        return SandboxPolicy(mode="off")
    caps = probe_capabilities()
    if mode == "require":
        missing = []
        if caps.landlock_abi < MIN_LANDLOCK_ABI:
            missing.append("Landlock (kernel >= 5.13 with landlock in the lsm= list)")
        if not caps.namespaces:
            missing.append(f"unprivileged user namespaces ({caps.namespace_problem})")
        if missing:
            raise SandboxUnavailable("--sandbox require: this machine lacks " +
                                     "; ".join(missing))
    abi = caps.landlock_abi if landlock else 0
    private = caps.namespaces and namespaces
    trees, listing = readable_paths()
    trees += system_files(private_proc=private)
    return SandboxPolicy(mode=mode, landlock_abi=abi, namespaces=private,
                         cgroups=dict(caps.cgroups),
                         seccomp=seccomp.supported() and bool(abi or private),
                         read_trees=tuple(trees), list_only=tuple(listing),
                         write_trees=tuple(device_paths(private=private)))


def system_files(private_proc: bool) -> list[str]:
    """The files and trees outside the main system trees that a child may read."""
    wanted = [*SYSTEM_FILES, *(("/proc",) if private_proc else PROC_FILES)]
    if any(name.startswith("/dev/nvidia") for name in device_paths(private=False)):
        wanted += GPU_TREES
    return [path for path in wanted if os.path.lexists(path)]


def _under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def readable_paths() -> tuple[list[str], list[str]]:
    """(trees readable beneath, folders whose entries may only be listed)."""
    import autograder
    import vaelib
    from autograder.paths import course_root

    course = course_root()
    packages = [Path(autograder.__file__).resolve().parent, Path(vaelib.__file__).resolve().parent]
    grader_only = grader_only_paths(packages[0])
    data = data_roots()
    hidden = [*grader_only, course, *data]
    cwd = Path.cwd().resolve()
    prefixes = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix,
                                            sys.base_exec_prefix)}
    candidates = set(prefixes)
    for entry in sys.path:
        if not entry or not os.path.isdir(entry):
            continue
        path = Path(entry).resolve()
        if path == cwd or _under(course, path) or (_under(path, course) and not any(
                _under(path, prefix) for prefix in prefixes)):
            continue  # the working folder, an ancestor of the course, or course files
        candidates.add(path)
    candidates |= {Path(p) for p in SYSTEM_TREES if os.path.isdir(p)}
    trees: set[str] = set()
    listing: set[str] = set()
    for root in sorted(candidates):
        inside_prefix = any(_under(root, prefix) for prefix in prefixes)
        _allow_except(root, [*grader_only, *data] if inside_prefix else hidden, trees, listing)
    for package in packages:
        _allow_except(package, grader_only, trees, listing)
    for root in data:
        raw = root / "MNIST" / "raw"
        listing.add(str(raw))
        trees |= {str(raw / name) for name in TRAINING_FILES if (raw / name).is_file()}
    return sorted(trees), sorted(listing)


CHILD_TOPIC_FILES = ("__init__.py", "probes.py")
"""The only files of a topic package a child may read: it runs probes, never judges."""


def grader_only_paths(package: Path) -> list[Path]:
    """What no child may read in ``autograder/``: ``trusted/`` and, in each topic package,
    everything but its probes (judges, rows, inputs, ``hidden.py`` and the bytecode cache)."""
    topics = package / "topics"
    judges = [p for p in sorted(topics.glob("*/*")) if (p.parent / "__init__.py").is_file()
              and p.name not in CHILD_TOPIC_FILES]
    return [package / "trusted", *judges,
            *sorted(p.parent / "__pycache__" for p in topics.glob("*/__init__.py"))]


def _allow_except(root: Path, hidden: list[Path], trees: set[str], listing: set[str]) -> None:
    """Add ``root`` as readable, or, if something hidden lies below it, its other parts."""
    if any(_under(root, h) for h in hidden):
        return
    inner = [h for h in hidden if root in h.parents]
    if not inner:
        trees.add(str(root))
        return
    listing.add(str(root))
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return
    for entry in entries:
        _allow_except(entry, hidden, trees, listing)


def data_roots() -> list[Path]:
    """Folders that may hold the course's MNIST copy (``$VAE_COURSE_DATA``, ``./data``)."""
    from autograder.paths import course_root
    from vaelib.data import data_root, has_mnist

    roots = []
    for root in (data_root(), course_root() / "data"):
        resolved = root.resolve()
        if has_mnist(resolved) and resolved not in roots:
            roots.append(resolved)
    return roots


DEVICE_NAMES = ("null", "zero", "full", "random", "urandom", "tty")
DEVICE_PREFIXES = ("nvidia", "dri", "kfd")  # GPUs (NVIDIA, Mesa, ROCm)


def device_paths(private: bool) -> list[str]:
    """Device nodes a child may use (``/dev/null``, GPUs...), and ``/dev/shm`` when private."""
    try:
        names = sorted(os.listdir("/dev"))
    except OSError:
        return []
    wanted = [n for n in names if n in DEVICE_NAMES or n.startswith(DEVICE_PREFIXES)
              or (private and n == "shm")]
    return [f"/dev/{name}" for name in wanted if not os.path.islink(f"/dev/{name}")]
