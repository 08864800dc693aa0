"""Libraries the fork server imports once, so that every grading child starts warm."""

from __future__ import annotations

import importlib
import os
import pkgutil
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
    headless_matplotlib()
    for name in PRELOADED:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a missing optional library only costs speed
            continue


def preload_probes() -> None:
    """Import what a grading child runs besides the notebook's code: the fixtures, each topic
    package's ``probes`` (never its judges) and each single-module topic whole."""
    from autograder import fixtures, topics

    for info in pkgutil.iter_modules(fixtures.__path__):
        importlib.import_module(f"{fixtures.__name__}.{info.name}")
    for info in sorted(pkgutil.iter_modules(topics.__path__), key=lambda m: m.name):
        name = f"{topics.__name__}.{info.name}"
        importlib.import_module(f"{name}.probes" if info.ispkg else name)


def warm_sympy() -> None:
    """Build what sympy makes lazily on its first definite integral (the Meijer-G lookup
    table, the assumption and simplification caches), so children that integrate start warm.

    The integral is a generic Gaussian moment in symbols no notebook uses; no answer of an
    exercise is computed here.
    """
    try:
        import sympy
    except ImportError:
        return
    a, b = sympy.symbols("a_warm b_warm", real=True)
    c = sympy.Symbol("c_warm", positive=True)
    y = sympy.Symbol("y_warm", real=True)
    density = sympy.exp(-(y - a) ** 2 / (2 * c**2)) / (c * sympy.sqrt(2 * sympy.pi))
    moment = sympy.integrate(density * sympy.expand((y - b) ** 2 + sympy.log(c)),
                             (y, -sympy.oo, sympy.oo))
    sympy.simplify(moment)


def headless_matplotlib() -> None:
    """Agg for this process, unless it already chose a backend (a kernel, a script)."""
    if os.environ.get("MPLBACKEND") or "matplotlib.pyplot" in sys.modules:
        return
    try:
        import matplotlib
    except ImportError:
        return
    matplotlib.use("Agg")
