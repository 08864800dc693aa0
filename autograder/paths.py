"""Where the course lives on disk."""

from __future__ import annotations

import os
from pathlib import Path

TOPICS: tuple[str, ...] = (
    "01_ppca",
    "02_gaussian_kl",
    "03_elbo_jensen",
    "04_reparameterisation",
    "05_vae_binary_mnist",
    "06_iwae",
    "07_priors",
    "08_hierarchical_vae",
)


def course_root() -> Path:
    """The course directory: ``$VAE_COURSE_ROOT`` or the checkout holding this package."""
    env = os.environ.get("VAE_COURSE_ROOT")
    if env:
        return Path(env).resolve()
    return Path(__file__).resolve().parents[1]


def solution_notebook(topic: str) -> Path:
    """The reference (nbgrader source) notebook of a topic."""
    return course_root() / "solutions" / topic / f"{topic}.ipynb"


def exercise_notebook(topic: str) -> Path:
    """The released (student) notebook of a topic."""
    return course_root() / "exercises" / topic / f"{topic}.ipynb"
