"""User, PID, mount, network and IPC namespaces for a grading child (unprivileged).

The calling process must be single-threaded (a freshly forked child is). After
``enter_namespaces`` its *next* child is PID 1 of a new PID namespace: when that process
ends, the kernel kills every process left in the namespace, so a double-forked daemon
cannot outlive its task. Its file-system view is a new root (``private_root``) holding
only what it may read and its private scratch space.
"""

from __future__ import annotations

import ctypes
import os

from autograder.isolation import private_root
from autograder.isolation.mounts import (
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_PRIVATE,
    MS_REC,
    check,
    libc,
    mount,
)

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWUSER = 0x00020000, 0x08000000, 0x10000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
TMP_INODES, SHM_INODES = 16384, 4096  # ~1 KiB of kernel memory each, at most
FLAGS = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWNET


def _write(path: str, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)


def enter_namespaces(tmp_mb: int, shm_mb: int,
                     keep: tuple[str, ...] | list[str] = (),
                     list_only: tuple[str, ...] | list[str] = (),
                     inodes: tuple[int, int] = (TMP_INODES, SHM_INODES),
                     devices: tuple[str, ...] | list[str] = ()) -> None:
    """Unshare namespaces, map our own ids, and move into a new root built from ``keep``.

    The new network namespace has only a loopback interface, down until someone sets it up.
    The new root (``private_root.build``) holds only ``keep`` (trees the child must still
    read: Python, the course library, the training data), each bound read-only at its own
    path, the folders of ``list_only`` recreated empty around them (what lies next to a
    kept tree, ``autograder/trusted`` or the MNIST test files, is simply absent), the
    ``devices`` (``/dev/...`` nodes), private capped ``/tmp`` and ``/dev/shm`` (``inodes``:
    their most files) and an empty ``/proc``; the host's root stays reachable only until
    ``mount_private_proc``.
    """
    uid, gid = os.getuid(), os.getgid()
    check(libc().unshare(ctypes.c_int(FLAGS)), "unshare")
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} {uid} 1")
    _write("/proc/self/gid_map", f"{gid} {gid} 1")
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    private_root.build(keep, list_only, devices, (tmp_mb, shm_mb), inodes)


def mount_private_proc() -> None:
    """Mount a /proc that shows only this PID namespace (call as its PID 1), then drop the
    host's root and lock the view (``private_root.seal``)."""
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    private_root.seal()


PROBE_SCRIPT = """
import os, sys
from autograder.isolation.namespaces import enter_namespaces, mount_private_proc
enter_namespaces(8, 8)
pid = os.fork()
if pid == 0:
    mount_private_proc()
    os._exit(0 if os.getpid() == 1 and not os.path.exists('/proc/2') else 3)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""
