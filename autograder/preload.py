"""Libraries the fork server imports once, so that every grading child starts warm."""

from __future__ import annotations

import importlib
import os

PRELOADED = ("sympy", "scipy.stats", "matplotlib.pyplot", "torchvision", "tqdm",
             "IPython.core.inputtransformer2")


def preload_libraries() -> None:
    """Import the heavy libraries notebooks use (no student code runs here)."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    for name in PRELOADED:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a missing optional library only costs speed
            continue
