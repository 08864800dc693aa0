"""Which compute devices this machine has, asked of the CUDA driver without importing torch.

The command line answers ``--device cuda`` on a machine without a GPU in a fraction of a
second, before the grader's start-up (torch, the fork server) costs anything.
"""

from __future__ import annotations

import ctypes

_DRIVER_LIBRARIES = ("libcuda.so.1", "libcuda.so", "nvcuda.dll", "libcuda.dylib")


def cuda_driver_devices() -> int:
    """How many CUDA devices the driver reports (0 without a driver or a visible device)."""
    for name in _DRIVER_LIBRARIES:
        try:
            driver = ctypes.CDLL(name)
        except OSError:
            continue
        count = ctypes.c_int(0)
        try:
            if driver.cuInit(0) != 0 or driver.cuDeviceGetCount(ctypes.byref(count)) != 0:
                return 0
        except AttributeError:
            return 0
        return count.value
    return 0


def device_problem(device: str) -> str | None:
    """Why ``device`` cannot be used here, found without importing torch; None when it may."""
    if device == "cuda" and cuda_driver_devices() == 0:
        return ("--device cuda was asked for, but this machine has no usable CUDA device "
                "(no NVIDIA driver or no visible GPU); use --device cpu or --device auto")
    return None
