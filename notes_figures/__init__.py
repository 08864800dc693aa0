"""Figures of the lecture notes, made by code (seeded, CPU, minutes not hours).

This package is the lecturer's: it is not installed with the course library, not shipped in
the student kit and not readable by graded code (several figures train small models with
working answers to the exercises).

Each topic has one module ``notes_figures/tNN_<topic>.py`` that defines

    FIGURES: dict[str, Callable[[FigureContext], None]]

mapping a file name (``"01_ppca_generative.png"``) to a function that draws it and saves it
with ``ctx.save(fig, name)``. ``python -m notes_figures`` (or
``python lectures_notes/figures/make.py``) writes every figure into
``lectures_notes/figures/``; ``--only 01 05`` limits it to some topics and ``--fast`` makes
the smallest version of each (fewer points, fewer training steps) for tests.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

FIGURES_DIR = Path(__file__).resolve().parents[1] / "lectures_notes" / "figures"


@dataclass(frozen=True)
class FigureContext:
    """Where and how a figure function draws: output folder, fast mode, the seed."""

    out_dir: Path
    fast: bool = False
    seed: int = 0

    def save(self, fig, name: str) -> Path:
        """Save a figure as ``out_dir/name`` (PNG, 110 dpi, no timestamp) and close it."""
        import matplotlib.pyplot as plt

        path = self.out_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None})
        plt.close(fig)
        return path


def topic_modules() -> dict[str, object]:
    """Every ``tNN_*`` figure module of this package, by its two-digit topic number."""
    modules = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("t") and info.name[1:3].isdigit():
            modules[info.name[1:3]] = importlib.import_module(f"{__name__}.{info.name}")
    return modules


def all_figures(only: list[str] | None = None) -> dict[str, Callable[[FigureContext], None]]:
    """File name -> drawing function, for the topics in ``only`` (all when None)."""
    figures: dict[str, Callable[[FigureContext], None]] = {}
    for number, module in topic_modules().items():
        if only and number not in only:
            continue
        figures.update(module.FIGURES)
    return figures


def make(out_dir: Path = FIGURES_DIR, only: list[str] | None = None, fast: bool = False,
         seed: int = 0) -> list[Path]:
    """Draw the figures of the given topics into ``out_dir``; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    ctx = FigureContext(Path(out_dir), fast=fast, seed=seed)
    written = []
    for name, draw in all_figures(only).items():
        draw(ctx)
        path = ctx.out_dir / name
        if not path.is_file():
            raise RuntimeError(f"figure function for {name} did not write {path}")
        written.append(path)
    return written
