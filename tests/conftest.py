"""Test-session set-up: MNIST from the offline copy when torchvision cannot download it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from autograder.paths import course_root
from vaelib.data import DATA_ENV, has_mnist, prepare_offline_mnist

OFFLINE_COPY = course_root().parent / "shared" / "data"


def _find_mnist() -> Path | None:
    """$VAE_COURSE_DATA if it holds MNIST, else <repo>/data (prepared from ../shared/data)."""
    if os.environ.get(DATA_ENV):
        root = Path(os.environ[DATA_ENV])
        return root if has_mnist(root) else None
    root = course_root() / "data"
    if not has_mnist(root) and (OFFLINE_COPY / "MNIST" / "raw").is_dir():
        prepare_offline_mnist(OFFLINE_COPY, root)
    return root if has_mnist(root) else None


@pytest.fixture(scope="session", autouse=True)
def mnist_environment() -> Path | None:
    """Point ``VAE_COURSE_DATA`` (inherited by grading children) at MNIST when there is one."""
    root = _find_mnist()
    if root is not None:
        os.environ[DATA_ENV] = str(root)
    return root


@pytest.fixture
def mnist_root(mnist_environment: Path | None) -> Path:
    """The MNIST root; skips the test when no copy is available."""
    if mnist_environment is None:
        pytest.skip(f"no MNIST: set {DATA_ENV}, or run `python -m vaelib.data prepare "
                    "--source ../shared/data --root data`")
    return mnist_environment
