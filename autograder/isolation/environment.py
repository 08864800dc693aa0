"""The fixed, minimal environment that sandboxed processes get instead of the grader's own.

The grader's environment may hold secrets (tokens, database URLs, cloud keys); student code
must never see it, neither in ``os.environ`` nor in ``/proc/self/environ`` (which shows the
environment a process was *started* with, so the fork server itself is started with this one).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Mapping

# Taken from the grader's environment when set: the course's own variables, locale, and what
# selects GPUs or thread counts (none of them holds a secret).
PASSED_ON = ("VAE_COURSE_DATA", "VAE_COURSE_ROOT", "VAE_COURSE_FAST", "NBGRADER_EXECUTION",
             "MPLBACKEND", "PYTHONPATH", "LANG", "LC_ALL", "TZ", "CUDA_VISIBLE_DEVICES",
             "CUDA_DEVICE_ORDER", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def sandbox_environment(scratch: str | None = None,
                        source: Mapping[str, str] | None = None) -> dict[str, str]:
    """PATH, LANG, the course's variables and, with ``scratch``, HOME/TMPDIR there."""
    source = os.environ if source is None else source
    env = {name: source[name] for name in PASSED_ON if name in source}
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), "/usr/local/bin",
                                   "/usr/bin", "/bin"])
    env.setdefault("LANG", "C.UTF-8")
    if scratch is not None:
        env.update({"HOME": scratch, "TMPDIR": scratch, "MPLCONFIGDIR": scratch})
    return env


def replace_environment(env: Mapping[str, str]) -> None:
    """Make ``env`` this process's whole environment (``os.environ`` and the C one)."""
    os.environ.clear()
    os.environ.update(env)


@contextlib.contextmanager
def started_with(env: Mapping[str, str]) -> Iterator[None]:
    """Processes started inside the block get ``env``; the old environment comes back after."""
    saved = dict(os.environ)
    replace_environment(env)
    try:
        yield
    finally:
        replace_environment(saved)
