"""Libraries the fork server imports once, so that every grading child starts warm."""

from __future__ import annotations

import importlib
import os
import sys

PRELOADED = ("sympy", "scipy.stats", "matplotlib.pyplot", "torchvision", "tqdm",
             "IPython.core.inputtransformer2")


def preload_libraries() -> None:
    """Import the heavy libraries notebooks use (no student code runs here).

    The process environment is left untouched: ``nbgrader autograde`` imports the worker in
    its own process, and every kernel it starts later inherits that environment, so an
    ``MPLBACKEND`` set here would switch off the inline figures of later students' feedback.
    Matplotlib gets the non-interactive backend through its API instead, in this process only.
    """
    _headless_matplotlib()
    for name in PRELOADED:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a missing optional library only costs speed
            continue


def _headless_matplotlib() -> None:
    """Agg for this process, unless it already chose a backend (a kernel, a script)."""
    if os.environ.get("MPLBACKEND") or "matplotlib.pyplot" in sys.modules:
        return
    try:
        import matplotlib
    except ImportError:
        return
    matplotlib.use("Agg")
