"""Peak memory of one phase of a benchmark, measured inside the running process.

On CUDA: the peak of ``torch.cuda.max_memory_allocated`` during the phase. On CPU: the peak
resident set size sampled every few milliseconds by a background thread, reported as the
increase over the resident size at the start of the phase (so two pipelines measured one after
the other in the same process each get their own figure; memory that malloc freed is handed
back to the OS before each phase starts).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from functools import cache
from types import TracebackType

import psutil
import torch

SAMPLE_SECONDS = 0.002


M_MMAP_THRESHOLD = -3
"""glibc ``mallopt`` parameter: allocations above this many bytes get their own mapping."""


@cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name) if name else None


def unmap_large_blocks_on_free(threshold_bytes: int = 8 << 20) -> None:
    """Make glibc map every block above ``threshold_bytes`` separately (no-op elsewhere).

    Freed large tensors then leave the resident set at once, so its peak follows the memory a
    phase really holds, whatever ran before it (glibc's default, a threshold that grows with
    use, serves them from a heap that only shrinks on ``malloc_trim``).
    """
    libc = _libc()
    if libc is not None and hasattr(libc, "mallopt"):
        libc.mallopt(M_MMAP_THRESHOLD, threshold_bytes)


def release_freed_memory() -> None:
    """Return memory that is freed but still held by glibc's malloc to the OS (no-op elsewhere).

    Without this, a phase that runs after another reuses the pages the first one freed and
    shows almost no increase in resident size.
    """
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def memory_kind(device: str) -> str:
    """What ``PeakMemory`` measures on ``device``, in words."""
    return ("CUDA max_memory_allocated" if device == "cuda"
            else "peak RSS increase over the phase's start")


class PeakMemory:
    """Context manager; after exit ``peak_mb`` is the phase's peak (MiB) and ``kind`` says what."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.peak_mb = 0.0
        self.kind = memory_kind(device)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._process = psutil.Process()
        self._start_rss = 0
        self._peak_rss = 0

    def __enter__(self) -> PeakMemory:
        if self.device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            return self
        release_freed_memory()
        self._start_rss = self._peak_rss = self._process.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self._peak_rss = max(self._peak_rss, self._process.memory_info().rss)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.device == "cuda":
            torch.cuda.synchronize()
            self.peak_mb = torch.cuda.max_memory_allocated() / 2**20
            return
        self._stop.set()
        assert self._thread is not None
        self._thread.join()
        self._peak_rss = max(self._peak_rss, self._process.memory_info().rss)
        self.peak_mb = (self._peak_rss - self._start_rss) / 2**20
