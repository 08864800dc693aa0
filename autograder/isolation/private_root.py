"""The file-system view of a sandboxed child in its own mount namespace: a new root.

``build`` mounts a small tmpfs, binds into it, each at its own path and read-only, only the
trees the child may read (the same list Landlock allows), recreates the folders it may only
list around them (their other files as empty stand-ins of mode 000), binds the device nodes
it may use, mounts private, size-capped ``/tmp`` and ``/dev/shm``, and moves into it
(``pivot_root``). Whatever is not on the list (references, grader-only modules, evaluation
data, other submissions, grader outputs, the rest of the host) is not in this view at all.
``seal`` (once ``/proc`` of the child's PID namespace is mounted) drops the host's old
root, makes the new root read-only and locks every mount (a nested user namespace: the
child can neither remount a tree writable nor unmount one).
"""

from __future__ import annotations

import ctypes
import os

from autograder.isolation import mounts

STAGE = "/tmp"  # where the new root is assembled (a mount point that exists everywhere)
OLD_ROOT = "/.host-root"
ROOT_OPTIONS = "size=4m,nr_inodes=8192,mode=755"
PROC_LINKS = {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
              "stderr": "/proc/self/fd/2"}
CLONE_NEWNS, CLONE_NEWUSER = 0x00020000, 0x10000000


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _outermost(paths: list[str]) -> list[str]:
    return sorted(p for p in set(paths) if not any(q != p and _under(p, q) for q in paths))


def _hold(paths: list[str]) -> tuple[list[tuple[str, int]], list[tuple[str, str]]]:
    """O_PATH handles on the existing outermost ``paths``, and the symbolic links among
    them as (path, target)."""
    held, links = [], []
    for path in _outermost([os.path.normpath(p) for p in paths if os.path.lexists(p)]):
        if os.path.islink(path):
            links.append((path, os.readlink(path)))
        else:
            held.append((path, os.open(path, os.O_PATH | os.O_CLOEXEC)))
    return held, links


def _stand_ins(folders: list[str], readable: list[str]) -> list[str]:
    """The regular files in ``folders`` that are not readable: they appear in the new root
    as empty files of mode 000, as a Landlock ruleset lists them but refuses to open them
    (so a check that all four MNIST files exist, as torchvision's, still passes)."""
    kept = {os.path.normpath(p) for p in readable}
    found = []
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        found += [entry.path for entry in entries
                  if entry.is_file(follow_symlinks=False) and entry.path not in kept]
    return sorted(found)


def _mount_point(target: str, fd: int) -> None:
    """An empty folder or file at ``target`` for the tree or file behind ``fd``."""
    if os.path.isdir(f"/proc/self/fd/{fd}"):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "a").close()  # noqa: SIM115 - a mount point for a file


def build(keep: list[str] | tuple[str, ...], list_only: list[str] | tuple[str, ...],
          devices: list[str] | tuple[str, ...], sizes_mb: tuple[int, int],
          inodes: tuple[int, int]) -> None:
    """Assemble the new root and ``pivot_root`` into it (the old one stays at ``OLD_ROOT``
    until ``seal``). Call in a fresh user and mount namespace; the working folder is ``/``."""
    readable = [p for p in keep if not _under(os.path.normpath(p), "/proc")]
    trees, links = _hold(readable)
    nodes, _ = _hold([d for d in devices if _under(d, "/dev") and not _under(d, "/dev/shm")])
    folders = sorted({os.path.realpath(p) for p in list_only if os.path.isdir(p)})
    stand_ins = _stand_ins(folders, readable)
    mounts.mount("tmpfs", STAGE, "tmpfs", mounts.MS_NOSUID | mounts.MS_NODEV, ROOT_OPTIONS)
    for name in ("tmp", "proc", "dev", OLD_ROOT.lstrip("/")):
        os.makedirs(STAGE + "/" + name)
    scratch = [STAGE + "/tmp"]
    mounts.mount("tmpfs", scratch[0], "tmpfs", mounts.MS_NOSUID | mounts.MS_NODEV,
                 f"size={sizes_mb[0]}m,nr_inodes={inodes[0]},mode=1777")
    if os.path.isdir("/dev/shm"):
        scratch.append(STAGE + "/dev/shm")
        os.makedirs(scratch[1])
        mounts.mount("tmpfs", scratch[1], "tmpfs", mounts.MS_NOSUID | mounts.MS_NODEV,
                     f"size={sizes_mb[1]}m,nr_inodes={inodes[1]},mode=1777")
    for name, target in PROC_LINKS.items():
        os.symlink(target, f"{STAGE}/dev/{name}")
    for folder in folders:
        os.makedirs(STAGE + folder, exist_ok=True)
    for path, fd in [*trees, *nodes]:
        _mount_point(STAGE + path, fd)
        mounts.bind(f"/proc/self/fd/{fd}", STAGE + path)
        os.close(fd)
    for path in stand_ins:
        if not os.path.lexists(STAGE + path):
            open(STAGE + path, "a").close()  # noqa: SIM115 - an empty stand-in
            os.chmod(STAGE + path, 0)
    for path, target in links:
        if not os.path.lexists(STAGE + path):
            os.makedirs(os.path.dirname(STAGE + path), exist_ok=True)
            os.symlink(target, STAGE + path)
    writable = {STAGE, *scratch, *(STAGE + path for path, _ in nodes)}
    points = mounts.mount_points()
    ours = points[max(i for i, point in enumerate(points) if point == STAGE) + 1:]
    for point in ours:  # each bound tree and every mount beneath it
        if point not in writable and not any(_under(point, STAGE + path) for path, _ in nodes):
            mounts.remount_read_only(point)
    os.chdir(STAGE)
    mounts.pivot_root(".", OLD_ROOT.lstrip("/"))
    os.chdir("/")


def seal() -> None:
    """Drop the host's old root, make ``/`` read-only and lock every mount in a nested user
    namespace (same ids). Call single-threaded, after mounting ``/proc``."""
    uid, gid = os.getuid(), os.getgid()
    mounts.detach(OLD_ROOT)
    os.rmdir(OLD_ROOT)
    mounts.remount_read_only("/")
    mounts.check(mounts.libc().unshare(ctypes.c_int(CLONE_NEWUSER | CLONE_NEWNS)), "unshare")
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"),
                       ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as handle:
            handle.write(text)
