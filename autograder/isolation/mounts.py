"""Mount system calls through libc (``mount``, ``umount2``, ``pivot_root``) for the sandbox.

Each raises ``MountError`` (an ``OSError``) naming what was refused.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
from functools import cache

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1 << 10, 1 << 11, 1 << 21
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 1 << 14, 1 << 18
MNT_DETACH = 2
# statvfs's f_flag bits (ST_*) and the mount flag (MS_*) each stands for
_KEPT_FLAGS = {os.ST_RDONLY: MS_RDONLY, os.ST_NOSUID: MS_NOSUID, os.ST_NODEV: MS_NODEV,
               os.ST_NOEXEC: MS_NOEXEC, os.ST_NOATIME: MS_NOATIME,
               os.ST_NODIRATIME: MS_NODIRATIME, os.ST_RELATIME: MS_RELATIME}


class MountError(OSError):
    """A namespace or mount operation was refused."""


@cache
def libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def check(result: int, what: str) -> None:
    """Raise ``MountError`` (with errno's text) unless a libc call returned 0."""
    if result != 0:
        err = ctypes.get_errno()
        raise MountError(err, f"{what}: {os.strerror(err)}")


def _enc(text: str | None) -> bytes | None:
    return text.encode() if text is not None else None


def mount(source: str | None, target: str, fstype: str | None, flags: int,
          data: str | None = None) -> None:
    """``mount(2)``."""
    check(libc().mount(_enc(source), _enc(target), _enc(fstype), ctypes.c_ulong(flags),
                       _enc(data)), f"mount {fstype or source or ''} on {target}")


def bind(source: str, target: str) -> None:
    """Bind ``source`` (and the mounts beneath it) at ``target``."""
    mount(source, target, None, MS_BIND | MS_REC)


def remount_read_only(target: str) -> None:
    """Make the mount at ``target`` read-only, nosuid and nodev, keeping its other flags
    (a mount inherited from another user namespace refuses to lose any)."""
    kept = os.statvfs(target).f_flag
    flags = sum(ms for st, ms in _KEPT_FLAGS.items() if kept & st)
    mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | flags)


def detach(target: str) -> None:
    """``umount2(target, MNT_DETACH)``."""
    check(libc().umount2(_enc(target), ctypes.c_int(MNT_DETACH)), f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    """``pivot_root(2)``: ``new_root`` becomes ``/``, the old root moves to ``put_old``."""
    check(libc().pivot_root(_enc(new_root), _enc(put_old)), f"pivot_root to {new_root}")


def mount_points() -> list[str]:
    """Every mount point of this mount namespace, in mount order (``/proc/self/mountinfo``)."""
    with open("/proc/self/mountinfo") as handle:
        lines = handle.read().splitlines()
    unescape = re.compile(r"\\([0-7]{3})")
    return [unescape.sub(lambda m: chr(int(m.group(1), 8)), line.split()[4])
            for line in lines if len(line.split()) > 4]
