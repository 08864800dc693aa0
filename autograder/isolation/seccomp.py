"""A seccomp filter that keeps a sandboxed process off every unix socket it did not inherit.

Landlock (up to ABI 7) does not restrict ``connect()`` on a pathname unix socket, and a
network namespace hides only abstract ones: any process that can name a socket file (the
multiprocessing fork server's listener, a container runtime's or a database's socket) could
connect to it. With this filter ``socket(AF_UNIX, ...)`` fails with ``EPERM``, so no new
unix socket can be connected anywhere; ``socketpair(AF_UNIX, SOCK_STREAM)`` (already
connected, used by ``multiprocessing.Pipe``) still works, a datagram pair (which could
``sendto`` a socket file) does not. ``io_uring_setup`` fails too (io_uring could open
sockets past the filter), as does any system call of a foreign ABI (x32, 32-bit).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import platform
import struct
from functools import cache

PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
RET_ALLOW, RET_ERRNO = 0x7FFF0000, 0x00050000
LD_W_ABS, JEQ_K, JGE_K, AND_K, RET_K = 0x20, 0x15, 0x35, 0x54, 0x06
AF_UNIX, SOCK_STREAM, SOCK_TYPE_MASK = 1, 1, 0xF
X32_SYSCALL_BIT = 0x40000000
IO_URING_SETUP = 425
# machine -> (AUDIT_ARCH_*, socket, socketpair)
ARCHES = {"x86_64": (0xC000003E, 41, 53), "aarch64": (0xC00000B7, 198, 199)}
OFFSET_NR, OFFSET_ARCH, OFFSET_ARG0, OFFSET_ARG1 = 0, 4, 16, 24


class SeccompError(OSError):
    """The filter could not be installed."""


def supported() -> bool:
    """Whether this machine's architecture has a filter here."""
    return platform.machine() in ARCHES


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def program(machine: str | None = None) -> bytes:
    """The BPF program (classic BPF, as ``struct sock_filter`` entries)."""
    arch, socket_nr, socketpair_nr = ARCHES[machine or platform.machine()]
    deny = RET_ERRNO | errno.EPERM
    return b"".join([
        _insn(LD_W_ABS, OFFSET_ARCH),                     # 0
        _insn(JEQ_K, arch, jt=1, jf=0),                   # 1
        _insn(RET_K, deny),                               # 2  foreign ABI
        _insn(LD_W_ABS, OFFSET_NR),                       # 3
        _insn(JGE_K, X32_SYSCALL_BIT, jt=10, jf=0),       # 4  -> 15 (x32 numbers)
        _insn(JEQ_K, IO_URING_SETUP, jt=9, jf=0),         # 5  -> 15
        _insn(JEQ_K, socket_nr, jt=2, jf=0),              # 6  -> 9
        _insn(JEQ_K, socketpair_nr, jt=3, jf=0),          # 7  -> 11
        _insn(RET_K, RET_ALLOW),                          # 8
        _insn(LD_W_ABS, OFFSET_ARG0),                     # 9  socket(domain, ...)
        _insn(JEQ_K, AF_UNIX, jt=4, jf=3),                # 10 -> 15 / 14
        _insn(LD_W_ABS, OFFSET_ARG1),                     # 11 socketpair(_, type, ...)
        _insn(AND_K, SOCK_TYPE_MASK),                     # 12
        _insn(JEQ_K, SOCK_STREAM, jt=0, jf=1),            # 13 -> 14 / 15
        _insn(RET_K, RET_ALLOW),                          # 14
        _insn(RET_K, deny),                               # 15
    ])


@cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def forbid_unix_sockets() -> None:
    """Install the filter on this process (inherited by its children, kept across exec)."""
    code = program()
    count = len(code) // 8
    filters = ctypes.create_string_buffer(code, len(code))
    fprog = struct.pack("=HxxxxxxQ", count, ctypes.addressof(filters))
    fprog_buffer = ctypes.create_string_buffer(fprog, len(fprog))
    libc = _libc()
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or libc.prctl(
            PR_SET_SECCOMP, SECCOMP_MODE_FILTER, fprog_buffer, 0, 0) != 0:
        err = ctypes.get_errno()
        raise SeccompError(err, f"seccomp: {os.strerror(err)}")
