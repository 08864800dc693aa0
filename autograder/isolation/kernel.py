"""A Jupyter kernel manager whose kernels start inside the grading sandbox.

nbgrader runs each submission in a kernel to produce the feedback notebook; with this
manager that kernel is started through ``autograder.isolation.launch``, so the student's
whole notebook runs with the same file-system view and limits as a grading child.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import psutil
from jupyter_client.manager import AsyncKernelManager

from autograder.isolation.policy import SandboxPolicy

PID_FILE = "sandbox.pid"
POLICY_FILE = "policy.json"


class SandboxedKernelManager(AsyncKernelManager):
    """Starts the kernel command wrapped by the sandbox launcher (see ``launch``)."""

    workdir: Path = Path("/nonexistent")

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        command = super().format_kernel_cmd(extra_arguments)
        return [sys.executable, "-m", "autograder.isolation.launch",
                "--policy", str(self.workdir / POLICY_FILE),
                "--pid-file", str(self.workdir / PID_FILE), "--", *command]


def sandboxed_kernel_manager(policy: SandboxPolicy, workdir: Path) -> type[Any]:
    """A manager class whose kernels use ``policy``; ``workdir`` holds its files."""
    (workdir / POLICY_FILE).write_text(json.dumps(dataclasses.asdict(policy)))
    return type("SandboxedKernelManager", (SandboxedKernelManager,), {"workdir": workdir})


def kill_sandbox(pid_file: Path, started_after: float) -> None:
    """SIGKILL the sandbox's PID 1 (and so everything the kernel left behind).

    Only a process created after ``started_after`` (a ``time.time()``) is killed, so a PID
    that was reused by an unrelated process is left alone.
    """
    with contextlib.suppress(OSError, ValueError, psutil.Error):
        pid = int(pid_file.read_text().strip())
        if psutil.Process(pid).create_time() >= started_after - 1.0:
            os.kill(pid, signal.SIGKILL)
