"""User, PID, mount, network and IPC namespaces for a grading child (unprivileged).

The calling process must be single-threaded (a freshly forked child is). After
``enter_namespaces`` its *next* child is PID 1 of a new PID namespace: when that process
ends, the kernel kills every process left in the namespace, so a double-forked daemon
cannot outlive its task.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from functools import cache

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWUSER = 0x00020000, 0x08000000, 0x10000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 1 << 14, 1 << 18
PRIVATE_TREES = ("/tmp", "/dev/shm")
TMP_INODES, SHM_INODES = 16384, 4096  # ~1 KiB of kernel memory each, at most
FLAGS = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWNET


class NamespaceError(OSError):
    """A namespace or mount operation was refused."""


@cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise NamespaceError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int,
           data: str | None = None) -> None:
    def enc(text: str | None) -> bytes | None:
        return text.encode() if text is not None else None

    _check(_libc().mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags),
                         enc(data)), f"mount {fstype or ''} on {target}")


def _write(path: str, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)


def enter_namespaces(tmp_mb: int, shm_mb: int,
                     keep: tuple[str, ...] | list[str] = (),
                     list_only: tuple[str, ...] | list[str] = (),
                     inodes: tuple[int, int] = (TMP_INODES, SHM_INODES)) -> None:
    """Unshare namespaces, map our own ids, and mount private, capped /tmp and /dev/shm.

    The new network namespace has only a loopback interface, down until someone sets it up.
    ``keep``: trees the child must still read (Python, the course, the data); those inside
    /tmp or /dev/shm are bound read-only, each on its own, at the same place in the private
    mounts, and the folders of ``list_only`` there are recreated empty around them: what lies
    next to a kept tree (``autograder/trusted``, the MNIST test files) is not in the child's
    /tmp at all. ``inodes``: the most files (``nr_inodes``) of the private /tmp and /dev/shm.
    """
    uid, gid = os.getuid(), os.getgid()
    _check(_libc().unshare(ctypes.c_int(FLAGS)), "unshare")
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} {uid} 1")
    _write("/proc/self/gid_map", f"{gid} {gid} 1")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    held = _hold(keep)
    folders = _inside_private(list_only)
    _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV,
           f"size={tmp_mb}m,nr_inodes={inodes[0]},mode=1777")
    if os.path.isdir("/dev/shm"):
        _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV,
               f"size={shm_mb}m,nr_inodes={inodes[1]},mode=1777")
    for folder in folders:
        os.makedirs(folder, exist_ok=True)
    _bind_read_only(held)


def _inside_private(paths: tuple[str, ...] | list[str]) -> list[str]:
    """The existing ``paths`` (resolved) that lie under /tmp or /dev/shm."""
    resolved = {os.path.realpath(p) for p in paths if os.path.exists(p)}
    return sorted(p for p in resolved if any(p.startswith(t + "/") for t in PRIVATE_TREES))


def _hold(paths: tuple[str, ...] | list[str]) -> list[tuple[str, int]]:
    """O_PATH handles on the outermost ``paths`` under the trees about to be hidden."""
    inside = _inside_private(paths)
    outermost = [p for p in inside if not any(p.startswith(q + "/") for q in inside if q != p)]
    return [(p, os.open(p, os.O_PATH | os.O_CLOEXEC)) for p in outermost]


def _bind_read_only(held: list[tuple[str, int]]) -> None:
    """Bind each held path read-only at its old place inside the new private mounts."""
    for path, fd in held:
        if os.path.isdir(f"/proc/self/fd/{fd}"):
            os.makedirs(path, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            open(path, "a").close()  # noqa: SIM115 - a mount point for a file
        _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
        _mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
        os.close(fd)


def mount_private_proc() -> None:
    """Mount a /proc that shows only this PID namespace (call as its PID 1)."""
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)


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
