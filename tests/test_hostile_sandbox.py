"""Hostile submissions against the sandbox itself: sockets, /tmp, environment, limits.

Each attack runs inside a task function and reports what it reached in the message of the
exception it raises (``RuntimeError("probe: ...")``), which comes back as the task's message;
the tests then check that nothing was reached. Grading runs in a fresh process, once per
sandbox level this machine offers (``landlock``: Landlock without namespaces, as on a kernel
that forbids unprivileged user namespaces; ``namespaces``: namespaces without Landlock, as on
a kernel < 5.13; ``full``: both); levels the kernel lacks are skipped with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from pathlib import Path

import pytest

from autograder.isolation.policy import probe_capabilities
from autograder.paths import course_root
from tests.helpers import solution_cell, variant

TOPIC = "01_ppca"
LEVELS = ("landlock", "namespaces", "full")

RUNNER = r'''
import dataclasses, json, multiprocessing.forkserver, sys
from pathlib import Path
from autograder.grading import Grader
from autograder.isolation import policy as policies
from autograder.notebook_code import load_notebook_code
from autograder.registry import get_task

spec = json.loads(sys.argv[1])

def policy_for(level, cgroups):
    use = {"landlock": (True, False), "namespaces": (False, True), "full": (True, True)}[level]
    built = policies.build_policy("auto", landlock=use[0], namespaces=use[1])
    return built if cgroups else dataclasses.replace(built, cgroups={})

grader = Grader(device="cpu", jobs=1, timeout_s=60.0, memory_mb=spec["memory_mb"])
warm = load_notebook_code(Path(spec["warmup"]))
grader.grade_task(warm, get_task("ppca.marginal"))  # starts the fork server as grading does
address = multiprocessing.forkserver._forkserver._forkserver_address
template = Path(spec["notebook"])
notebook = template.with_name("attack.ipynb")
notebook.write_text(template.read_text().replace("@LISTENER@", address))
code = load_notebook_code(notebook)
out = {"listener": address}
for level, task_ids, cgroups in spec["runs"]:
    grader.policy = policy_for(level, cgroups)
    for task_id in task_ids:
        result = grader.grade_task(code, get_task(task_id))
        out[f"{level}{'' if cgroups else '-nocgroup'}/{task_id}"] = [result.status,
                                                                       result.message]
print("RESULT " + json.dumps(out))
'''


def available_levels() -> dict[str, str]:
    """Each level, mapped to '' when this machine has it, else the reason it is skipped."""
    caps = probe_capabilities()
    no_landlock = "" if caps.landlock_abi else "this kernel has no Landlock"
    no_ns = "" if caps.namespaces else f"no user namespaces ({caps.namespace_problem})"
    return {"landlock": no_landlock, "namespaces": no_ns,
            "full": "; ".join(r for r in (no_landlock, no_ns) if r)}


def _levels(*wanted: str) -> list[str]:
    missing = {level: why for level, why in available_levels().items() if why}
    for level in wanted:
        if level in missing:
            print(f"sandbox level {level} skipped: {missing[level]}")
    return [level for level in wanted if level not in missing]


def _grade(notebook: Path, runs: list[tuple[str, list[str], bool]], cwd: Path,
           env: dict[str, str], memory_mb: int = 2500) -> dict[str, list[str]]:
    """Grade tasks of ``notebook`` at the given levels in a fresh process; {level/task: ...}."""
    warmup = variant(TOPIC, notebook.parent / "warmup", {})
    spec = {"notebook": str(notebook), "warmup": str(warmup), "runs": runs,
            "memory_mb": memory_mb}
    done = subprocess.run([sys.executable, "-c", RUNNER, json.dumps(spec)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


def _probe(body: str, signature: str) -> str:
    """A task function that runs ``body`` (which fills ``seen``) and reports it."""
    indented = "\n".join("    " + line for line in body.strip().splitlines())
    return (f"import os, sys, glob, socket\ndef {signature}:\n    seen = []\n{indented}\n"
            "    raise RuntimeError('probe: ' + ' '.join(seen))\n")


def _report(results: dict[str, list[str]], key: str) -> str:
    status, message = results[key]
    assert "probe:" in message, (key, status, message)  # the attack itself ran
    return message.split("probe:", 1)[1]


@pytest.fixture
def outside_tmp():
    """A temporary folder that is neither under /tmp nor in any tree a child may read."""
    folder = Path(tempfile.mkdtemp(prefix="vae-hostile-", dir="/var/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(extra)
    return env


# -- sockets: the fork server, and any socket file ------------------------------------------

CONNECT = '''
found = set(glob.glob(TMPDIR + "/pymp-*/listener-*")) | {"@LISTENER@"}
try:
    for line in open("/proc/net/unix").read().splitlines()[1:]:
        if "listener-" in line:
            found.add(line.split()[-1])
except OSError:
    pass
for path in sorted(found):
    try:
        client = socket.socket(socket.AF_UNIX)
        client.connect(path)
        seen.append("CONNECTED")
    except OSError as exc:
        seen.append(type(exc).__name__)
'''


def test_no_level_lets_a_child_connect_to_the_fork_server(tmp_path, outside_tmp):
    """Whoever connects to the fork server's listener gets an unsandboxed fork of it, so no
    child may connect to it, even knowing its path (the grader's TMPDIR is outside /tmp)."""
    levels = _levels(*LEVELS)
    if not levels:
        pytest.skip("no sandbox level is available on this machine")
    cell = f"TMPDIR = {str(outside_tmp)!r}\n" + _probe(CONNECT, "ppca_marginal(W, b, sigma2)")
    notebook = variant(TOPIC, tmp_path, {"ppca_marginal_solution": cell}, name="template")
    results = _grade(notebook, [(level, ["ppca.marginal"], True) for level in levels],
                     course_root(), _env(TMPDIR=str(outside_tmp)))
    assert results["listener"].startswith(str(outside_tmp))
    for level in levels:
        report = _report(results, f"{level}/ppca.marginal")
        assert "CONNECTED" not in report and "PermissionError" in report, (level, report)


KERNEL_ATTACK = '''
import os, socket, sys
outcome = []
for path in sys.argv[1:]:
    try:
        client = socket.socket(socket.AF_UNIX)
        client.connect(path)
        outcome.append("CONNECTED")
    except OSError as exc:
        outcome.append(type(exc).__name__)
sys.exit(3 if "CONNECTED" in outcome else 0 if set(outcome) == {"PermissionError"} else 4)
'''


def _listen(path: Path) -> socket.socket:
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen()
    threading.Thread(target=lambda: server.accept(), daemon=True).start()
    return server


@pytest.mark.parametrize("level", LEVELS)
def test_the_feedback_kernel_cannot_connect_to_socket_files(level, tmp_path, outside_tmp):
    """nbgrader's kernel runs through ``isolation.launch``: a socket file next to the
    notebook (bound into its view) or elsewhere on the host must refuse it. (The launched
    command's output goes to a log inside the sandbox; the exit status tells: 3 connected,
    4 refused otherwise than by the sandbox, 0 refused by it.)"""
    from autograder.isolation.kernel import POLICY_FILE, sandboxed_kernel_manager
    from autograder.isolation.policy import build_policy

    if level not in _levels(level):
        pytest.skip(f"sandbox level {level}: {available_levels()[level]}")
    use = {"landlock": (True, False), "namespaces": (False, True), "full": (True, True)}[level]
    policy = build_policy("auto", landlock=use[0], namespaces=use[1])
    sandboxed_kernel_manager(policy, tmp_path)
    notebook_dir = tmp_path / "submission"
    notebook_dir.mkdir()
    servers = [_listen(notebook_dir / "next-to-notebook.sock"), _listen(outside_tmp / "host.sock")]
    try:
        done = subprocess.run(
            [sys.executable, "-m", "autograder.isolation.launch", "--policy",
             str(tmp_path / POLICY_FILE), "--", sys.executable, "-c", KERNEL_ATTACK,
             str(notebook_dir / "next-to-notebook.sock"),
             str(outside_tmp / "host.sock")],
            cwd=notebook_dir, capture_output=True, text=True, timeout=120, env=_env())
    finally:
        for server in servers:
            server.close()
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
