"""Test-session set-up: MNIST from the offline copy, one reference cache for all test
processes, and the heaviest test files scheduled first."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from autograder.paths import course_root
from tests.helpers import REFERENCES_ENV
from vaelib.data import DATA_ENV, has_mnist, prepare_offline_mnist

OFFLINE_COPY = course_root().parent / "shared" / "data"
# Self-checks started by tests grade in their own pytest process; only the check server's
# own tests (tests/test_check_server.py) turn the warm server on, each in a private folder.
os.environ.setdefault("VAE_COURSE_CHECK_SERVER", "off")
_OWN_REFERENCES = pytest.StashKey[str]()


def _find_mnist() -> Path | None:
    """$VAE_COURSE_DATA if it holds MNIST, else <repo>/data (prepared from ../shared/data)."""
    if os.environ.get(DATA_ENV):
        root = Path(os.environ[DATA_ENV])
        return root if has_mnist(root) else None
    root = course_root() / "data"
    if not has_mnist(root) and (OFFLINE_COPY / "MNIST" / "raw").is_dir():
        prepare_offline_mnist(OFFLINE_COPY, root)
    return root if has_mnist(root) else None


# Heaviest files first: with `-n 2 --dist loadfile` each file runs whole in one process, in
# collection order, so the long ones must not be left for the end.
HEAVY_FIRST = ("tests/topics/test_t07_priors.py", "tests/test_course.py",
               "tests/test_nbgrader_e2e.py", "tests/test_grade_class.py",
               "tests/test_grade_class_dask.py", "tests/test_grader_errors.py",
               "tests/test_hostile_class.py", "tests/topics/test_t08_hierarchical_vae.py",
               "tests/test_hostile.py", "tests/test_hostile_sandbox.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the heaviest test files first (the order within a file is kept)."""
    rank = {path: i for i, path in enumerate(HEAVY_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


def pytest_configure(config: pytest.Config) -> None:
    """One folder of cached reference results for the session and all its test processes."""
    if not os.environ.get(REFERENCES_ENV):  # the workers inherit the controller's folder
        folder = tempfile.mkdtemp(prefix="vae-test-references-")
        os.environ[REFERENCES_ENV] = folder
        config.stash[_OWN_REFERENCES] = folder


def pytest_unconfigure(config: pytest.Config) -> None:
    folder = config.stash.get(_OWN_REFERENCES, None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
        os.environ.pop(REFERENCES_ENV, None)


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
