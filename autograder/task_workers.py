"""Grade several tasks at once in forked worker processes (the fast self-check on 2+ cores).

Each worker is a fork of the calling process (the grader's own code, never student code:
that still runs in each task's child, forked by the worker). Workers take task indices from
one shared pipe, one byte each, so a slow task never holds up the others, and send each
``TaskResult`` back on their own pipe. Processes, not threads: a fork never happens while
another thread of the same process is inside torch.
"""

from __future__ import annotations

import os
import pickle
import selectors
import struct
from collections.abc import Callable, Sequence
from typing import TypeVar

from autograder.isolation.limits import die_with_parent

T = TypeVar("T")
R = TypeVar("R")

MAX_TASKS = 255
_LENGTH = struct.Struct("!I")


class Cancelled(Exception):
    """``cancel_fd`` became readable (the client left) before every result came back."""


def default_workers() -> int:
    """How many tasks run at once: the cores this process may use, at most 2."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(2, cores))


def map_in_workers(grade: Callable[[T], R], items: Sequence[T], workers: int,
                   cancel_fd: int | None = None) -> list[R]:
    """``[grade(item) for item in items]``, ``workers`` items at a time in forked processes.

    An item whose worker died before sending its result is graded here, afterwards, so a
    crash costs time, never a result. ``Cancelled`` when ``cancel_fd`` becomes readable
    first (the workers are left to the caller, who ends its process group).
    """
    workers = min(workers, len(items))
    if workers <= 1 or len(items) > MAX_TASKS or not hasattr(os, "fork"):
        return [grade(item) for item in items]
    queue_read, queue_write = os.pipe()
    os.write(queue_write, bytes(range(len(items))))
    os.close(queue_write)
    readers: dict[int, int] = {}  # read end -> worker pid
    parent = os.getpid()
    try:
        for _ in range(workers):
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:  # the worker: ends with its parent (pytest killed, handler ended)
                die_with_parent(parent)
                os.close(read_end)
                for other in readers:
                    os.close(other)
                _work(grade, items, queue_read, write_end)
            os.close(write_end)
            readers[read_end] = pid
    finally:
        os.close(queue_read)
    results = _collect(readers, cancel_fd)
    return [results[n] if n in results else grade(item) for n, item in enumerate(items)]


def _work(grade: Callable[[T], R], items: Sequence[T], queue: int, out: int) -> None:
    """A worker's life: take indices until the queue is empty, send each result; never
    returns (``os._exit``: no atexit handler or test-runner teardown of the parent runs)."""
    code = 0
    try:
        while index := os.read(queue, 1):
            data = pickle.dumps((index[0], grade(items[index[0]])))
            _write_all(out, _LENGTH.pack(len(data)) + data)
    except BaseException:  # noqa: BLE001 - the parent grades what this worker did not send
        code = 1
    finally:
        os._exit(code)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _collect(readers: dict[int, int], cancel_fd: int | None) -> dict[int, R]:
    """Every result the workers sent, by index; waits for each worker to end."""
    buffers = {fd: bytearray() for fd in readers}
    with selectors.DefaultSelector() as selector:
        for fd in readers:
            selector.register(fd, selectors.EVENT_READ)
        if cancel_fd is not None:
            selector.register(cancel_fd, selectors.EVENT_READ)
        open_fds = set(readers)
        while open_fds:
            for key, _ in selector.select():
                if key.fd == cancel_fd:
                    raise Cancelled
                chunk = os.read(key.fd, 1 << 16)
                if chunk:
                    buffers[key.fd] += chunk
                else:
                    selector.unregister(key.fd)
                    open_fds.discard(key.fd)
    for fd, pid in readers.items():
        os.close(fd)
        os.waitpid(pid, 0)
    results: dict[int, R] = {}
    for data in buffers.values():
        offset = 0
        while offset + _LENGTH.size <= len(data):
            (size,) = _LENGTH.unpack_from(data, offset)
            end = offset + _LENGTH.size + size
            if end > len(data):
                break
            index, result = pickle.loads(bytes(data[offset + _LENGTH.size:end]))
            results[index] = result
            offset = end
    return results
