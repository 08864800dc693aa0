"""Linux Landlock through its three system calls (no third-party library needed).

A Landlock ruleset lists what a process may still do with the file system (and, from ABI 4,
TCP ports; from ABI 6, signals and abstract unix sockets) once it restricts itself. The
restriction is inherited by every child and survives ``execve``; it cannot be lifted.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import struct
from collections.abc import Iterable
from functools import cache

SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446  # same on all arches
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH, RULE_NET_PORT = 1, 2
PR_SET_NO_NEW_PRIVS = 38

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
MAKE_REG, MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1

FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV
READ_RIGHTS = EXECUTE | READ_FILE | READ_DIR
_ALL_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1,
               5: (1 << 16) - 1}


class LandlockError(OSError):
    """Landlock is missing or refused a rule."""


@cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def _syscall(number: int, *args: object) -> int:
    result = _libc().syscall(number, *args)
    if result < 0:
        err = ctypes.get_errno()
        raise LandlockError(err, os.strerror(err))
    return result


@cache
def abi_version() -> int:
    """The kernel's Landlock ABI version; 0 when Landlock is not available."""
    try:
        return _syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0),
                        ctypes.c_uint32(CREATE_RULESET_VERSION))
    except (LandlockError, AttributeError):
        return 0


def handled_fs(abi: int) -> int:
    """Every file-system right the given ABI can restrict."""
    return _ALL_BY_ABI.get(abi, _ALL_BY_ABI[5]) if abi else 0


class Ruleset:
    """A Landlock ruleset under construction; ``restrict_self`` applies it to this process."""

    def __init__(self, abi: int | None = None, deny_tcp: bool = True,
                 scope: bool = True) -> None:
        self.abi = abi_version() if abi is None else abi
        if self.abi < 1:
            raise LandlockError(errno.ENOSYS, "Landlock is not available on this kernel")
        self.fs = handled_fs(self.abi)
        self.net = (NET_BIND_TCP | NET_CONNECT_TCP) if deny_tcp and self.abi >= 4 else 0
        self.scoped = (SCOPE_SIGNAL | SCOPE_ABSTRACT_UNIX_SOCKET) if scope and self.abi >= 6 \
            else 0
        if self.abi >= 6:
            attr = struct.pack("=QQQ", self.fs, self.net, self.scoped)
        elif self.abi >= 4:
            attr = struct.pack("=QQ", self.fs, self.net)
        else:
            attr = struct.pack("=Q", self.fs)
        buffer = ctypes.create_string_buffer(attr, len(attr))
        self.fd = _syscall(SYS_CREATE_RULESET, buffer, ctypes.c_size_t(len(attr)),
                           ctypes.c_uint32(0))

    def allow_path(self, path: str, access: int) -> bool:
        """Allow ``access`` beneath ``path``; False (and nothing added) if it does not exist."""
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            if not os.path.isdir(path):
                access &= FILE_RIGHTS
            access &= self.fs
            if not access:
                return False
            rule = struct.pack("=Qi", access, fd)
            buffer = ctypes.create_string_buffer(rule, len(rule))
            try:
                _syscall(SYS_ADD_RULE, ctypes.c_int(self.fd), ctypes.c_int(RULE_PATH_BENEATH),
                         buffer, ctypes.c_uint32(0))
            except LandlockError as exc:
                if exc.errno in (errno.EBADFD, errno.EINVAL):
                    return False  # a pipe, socket or pseudo file: nothing to allow
                raise
            return True
        finally:
            os.close(fd)

    def allow_paths(self, paths: Iterable[str], access: int) -> None:
        """``allow_path`` for each path (missing ones are skipped)."""
        for path in paths:
            self.allow_path(path, access)

    def allow_bind(self, port: int) -> None:
        """Allow binding a TCP port (ABI >= 4; a no-op below, where TCP is not handled)."""
        if not self.net:
            return
        rule = struct.pack("=QQ", NET_BIND_TCP, port)
        buffer = ctypes.create_string_buffer(rule, len(rule))
        _syscall(SYS_ADD_RULE, ctypes.c_int(self.fd), ctypes.c_int(RULE_NET_PORT), buffer,
                 ctypes.c_uint32(0))

    def restrict_self(self) -> None:
        """Enforce the ruleset on this process and all its future children, for good."""
        if _libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            err = ctypes.get_errno()
            raise LandlockError(err, f"no_new_privs: {os.strerror(err)}")
        try:
            _syscall(SYS_RESTRICT_SELF, ctypes.c_int(self.fd), ctypes.c_uint32(0))
        finally:
            os.close(self.fd)
