"""Run a command (nbgrader's notebook kernel) inside the grading sandbox.

``python -m autograder.isolation.launch --policy FILE [--pid-file F] -- CMD...``

``FILE`` holds ``dataclasses.asdict`` of a ``SandboxPolicy`` built by the grading process
(this launcher imports no torch, so it stays single-threaded and may unshare namespaces).

The command gets the same file-system view as a grading child (read: Python, packages,
course library, training data; write: a private, size-capped ``/tmp`` and ``/dev/shm``),
rlimits, seccomp (no new unix sockets) and, with Landlock ABI >= 4, TCP limited to binding
the kernel's own ports. With namespaces it also gets its own PID namespace and a network
namespace with loopback only: the host's network (its loopback services included) is out of
reach, and the kernel's client reaches the kernel through ``relay`` (the connection file's
ports on the host's loopback, relayed to the same ports on the private one). Without
namespaces the host network stays (the kernel's client connects over loopback).
The PID written to ``--pid-file`` is the sandbox's PID 1: killing it ends every process
the command started.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence

from autograder.isolation import landlock, limits, relay, seccomp
from autograder.isolation.environment import replace_environment, sandbox_environment
from autograder.isolation.namespaces import enter_namespaces, mount_private_proc
from autograder.isolation.policy import SandboxPolicy
from autograder.paths import course_root

KERNEL_MEMORY_MB = 6144
PORT_KEYS = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")


def _connection_file(command: list[str]) -> int | None:
    """Index of the connection file argument (after ``-f``) in a kernel command."""
    for index, arg in enumerate(command[:-1]):
        if arg == "-f":
            return index + 1
    return None


def _connection(text: str) -> dict:
    try:
        info = json.loads(text)
    except ValueError:
        return {}
    return info if isinstance(info, dict) else {}


def _ports(info: dict) -> list[int]:
    return [int(info[k]) for k in PORT_KEYS if isinstance(info.get(k), int)]


def _relay_and_wait(child: int, listeners: list) -> None:
    """Forward interrupts and terminations to the sandbox's PID 1 and relay the kernel's
    ports (``relay``) until it ends; exit with its status."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, lambda number, _frame: os.kill(child, number))
    status = relay.serve_until_exit(listeners, child)
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def enter(policy: SandboxPolicy, command: list[str], pid_file: str | None) -> list[str]:
    """Enter the sandbox (forking in namespaces); returns the command to exec there."""
    command = list(command)
    conn_index = _connection_file(command)
    conn_text = ""
    if conn_index is not None:
        with open(command[conn_index]) as handle:
            conn_text = handle.read()
    info = _connection(conn_text)
    notebook_dir = os.path.realpath(os.getcwd())
    course = str(course_root())
    readable_dirs = [] if course.startswith(notebook_dir.rstrip("/") + "/") \
        or course == notebook_dir else [notebook_dir]
    pid_handle = open(pid_file, "w") if pid_file else None  # noqa: SIM115 - before /tmp moves
    if policy.namespaces:
        # bound here, in the host's network namespace, before leaving it
        listeners = relay.listen(str(info.get("ip", relay.PRIVATE_IP)), _ports(info))
        if listeners:
            conn_text = json.dumps({**info, "ip": relay.PRIVATE_IP})
        enter_namespaces(policy.tmp_mb, policy.shm_mb,
                         keep=[*policy.read_trees, *readable_dirs], list_only=policy.list_only,
                         devices=policy.write_trees)
        relay.bring_up_loopback()
        child = os.fork()
        if child:
            if pid_handle:
                pid_handle.write(str(child))
                pid_handle.close()
            _relay_and_wait(child, listeners)
        for listener in listeners:
            listener.close()
        if pid_handle:
            pid_handle.close()
        mount_private_proc()
        scratch = "/tmp/kernel"
    else:
        scratch = tempfile.mkdtemp(prefix="vae-kernel-")
        if pid_handle:
            pid_handle.write(str(os.getpid()))
            pid_handle.close()
    os.makedirs(scratch, exist_ok=True)
    if conn_index is not None:
        command[conn_index] = os.path.join(scratch, "kernel.json")
        with open(command[conn_index], "w") as handle:
            handle.write(conn_text)
    spec = policy.spec(scratch)
    if spec["landlock_abi"]:
        rules = landlock.Ruleset(spec["landlock_abi"])
        rules.allow_paths(spec["read"] + readable_dirs, landlock.READ_RIGHTS)
        rules.allow_paths(spec["list"], landlock.READ_DIR)
        rules.allow_paths([*spec["write"], scratch], rules.fs)
        for port in [*_ports(info), 0]:  # 0: ipykernel's own ephemeral IOPub pipe
            with contextlib.suppress(OSError):
                rules.allow_bind(port)
        rules.restrict_self()
    if policy.seccomp:
        seccomp.forbid_unix_sockets()
    limits.apply_rlimits(limits.TaskLimits(KERNEL_MEMORY_MB), limit_memory=True,
                         limit_processes=policy.namespaces)
    log = os.open(os.path.join(scratch, "kernel.log"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                  0o600)  # the grader's terminal never sees the kernel's raw output
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.chdir(scratch)
    replace_environment({**sandbox_environment(scratch),
                         "IPYTHONDIR": os.path.join(scratch, ".ipython")})
    return command


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, enter the sandbox, exec the command."""
    parser = argparse.ArgumentParser(prog="python -m autograder.isolation.launch")
    parser.add_argument("--pid-file")
    parser.add_argument("--policy", required=True, help="JSON file of a SandboxPolicy")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = [c for c in args.command if c != "--"] if args.command[:1] == ["--"] \
        else args.command
    if not command:
        parser.error("no command given")
    try:
        with open(args.policy) as handle:
            policy = SandboxPolicy(**json.load(handle))
        final = enter(policy, command, args.pid_file)
    except Exception as exc:  # noqa: BLE001 - one line, and never run the command unconfined
        print(f"error: the grading sandbox could not start ({type(exc).__name__}: {exc})",
              file=sys.stderr)
        return 70
    executable = shutil.which(final[0]) or final[0]
    os.execv(executable, final)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
