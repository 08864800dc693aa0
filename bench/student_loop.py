"""The student's self-check loop: ``pytest exercises/NN_topic``, this code next to a previous
release's.

Each code version builds its own student kit (``python -m autograder student-kit``: its
public checks, its ``exercises/conftest.py``, its pytest settings) of the topics timed; this
checkout's and ``--previous``'s (a git revision, checked out in a temporary git worktree).
Both kits then hold this checkout's notebooks: for each topic, the untouched exercise and a
solved copy (the exercise filled from the solution). The self-check runs as a student runs it
(``python -m pytest -q exercises/NN_topic`` in the kit, in a fresh interpreter, with the
kit's default way of checking: ``fast``), alternating the versions' order per repetition.
This code runs three ways: ``warm`` (the check server already running and preloaded: every
self-check after the first), ``cold`` (no server yet: this self-check starts it) and
``no server`` (``VAE_COURSE_CHECK_SERVER=off``: graded in the pytest process);
``--sandboxed`` adds the course grader's way (fork server and sandbox). Prints the wall time
and the CPU time (user + system) of the whole tree: this script makes itself a child
subreaper, so every task's child, even orphaned, is reaped here and counted; a cold server
is stopped right after its self-check and counted whole, a warm one's handler reports its
own CPU in the server's log. On a loaded machine CPU seconds are the
comparable figure; wall time is what a student waits for on an idle one.

    python bench/student_loop.py                      # every topic, 1 repetition
    python bench/student_loop.py --topics 01_ppca 02_gaussian_kl --repeat 3 --sandboxed
    python bench/student_loop.py --previous v1.0      # against another release
    python bench/student_loop.py --run-all 05_vae_binary_mnist --no-self-check

``--run-all TOPIC ...`` also times Run All of each topic's solution notebook (nbclient, a
fresh kernel, the notebook's default scale, every figure), this checkout's notebook with this
checkout's code next to the previous release's notebook with its code, in the same process
tree, one after the other.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import psutil

ROOT = Path(__file__).resolve().parents[1]
PR_SET_CHILD_SUBREAPER = 36
PREVIOUS = "8c81a54"
REAP_WAIT_S = 30.0


def become_subreaper() -> None:
    """Adopt orphaned descendants (the fork server outlives pytest by a moment)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def reap_all(deadline_s: float = REAP_WAIT_S, keep: frozenset[int] = frozenset()) -> None:
    """Wait for every adopted descendant but ``keep`` (a warm check server) to end, so its
    CPU time is counted."""
    end = time.monotonic() + deadline_s
    me = psutil.Process()
    while time.monotonic() < end:
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        if not [c for c in me.children() if c.pid not in keep and c.status() != "zombie"]:
            with contextlib.suppress(ChildProcessError):
                while os.waitpid(-1, os.WNOHANG)[0]:
                    pass
            return
        time.sleep(0.05)


def solved_copy(released: Path, solution: Path, out: Path) -> None:
    """The released notebook with every answer cell taken from the solution."""
    answers = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source
               for c in nbformat.read(str(solution), as_version=4).cells}
    nb = nbformat.read(str(released), as_version=4)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and meta.get("grade_id") in answers:
            cell.source = "\n".join(
                line for line in answers[meta["grade_id"]].splitlines()
                if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(out))


def build_kit(code: Path, topics: list[str], out: Path) -> Path:
    """A student kit of ``topics`` built by the code in ``code``, every answer allowed out."""
    done = subprocess.run([sys.executable, "-m", "autograder", "student-kit", str(out), *topics,
                           "--answers-out", *topics], cwd=code,
                          env={**os.environ, "PYTHONPATH": str(code)}, capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise SystemExit(f"{code}: student-kit failed: {(done.stderr or done.stdout)[-500:]}")
    return out


def prepare(topic: str, kit: Path) -> dict[str, Path]:
    """In ``kit``: exercises/NN_topic/ with this checkout's untouched exercise, and
    solved/NN_topic/ (with the kit's conftest) with its solved copy."""
    released = ROOT / "exercises" / topic / f"{topic}.ipynb"
    folders = {"untouched": kit / "exercises" / topic, "solved": kit / "solved" / topic}
    shutil.copy2(released, folders["untouched"] / released.name)
    folders["solved"].mkdir(parents=True, exist_ok=True)
    shutil.copy2(kit / "exercises" / "conftest.py", kit / "solved" / "conftest.py")
    solved_copy(released, ROOT / "solutions" / topic / f"{topic}.ipynb",
                folders["solved"] / released.name)
    return folders


def previous_release(revision: str, where: Path) -> Path:
    """A git worktree of ``revision`` (its grader is what the previous release shipped)."""
    subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(where), revision],
                   cwd=ROOT, check=True)
    return where


def server_pids(run_dir: Path) -> frozenset[int]:
    """The check servers running from ``run_dir`` (their pid files)."""
    return frozenset(int(p.read_text()) for p in run_dir.glob("vae-course-checks-*/*.pid"))


def server_log(run_dir: Path) -> str:
    return "".join(p.read_text() for p in run_dir.glob("vae-course-checks-*/*.log"))


def stop_server(kit: Path, env: dict[str, str]) -> None:
    """End the kit's check server and count its CPU (it is reaped here)."""
    subprocess.run([sys.executable, "-m", "autograder.check_server", "stop"], cwd=kit,
                   env=env, capture_output=True, check=True)
    reap_all()


def warm_up(kit: Path, env: dict[str, str], folder: Path, run_dir: Path) -> None:
    """A check server that has done every preload step (one untimed self-check first)."""
    if "warm:" in server_log(run_dir):
        return
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    str(folder)], cwd=kit, env=env, capture_output=True)
    end = time.monotonic() + 120
    while "warm:" not in server_log(run_dir) and time.monotonic() < end:
        time.sleep(0.1)


def handler_cpu(log: str) -> float:
    """The CPU seconds the server's last handler logged (it and its children)."""
    lines = [line for line in log.splitlines() if line.endswith(" s CPU")]
    return float(lines[-1].split(", ")[-1].split()[0]) if lines else 0.0


def timed_self_check(kit: Path, state: str, topic: str, mode: str | None,
                     server: str | None, run_dir: Path) -> tuple[float, float, str]:
    """(wall s, CPU s of the process tree, pytest's last line) of one self-check in ``kit``
    (``mode`` None: the kit's default). ``server``: None (a kit without one), ``off``,
    ``cold`` (none running: the first self-check, which starts it; the server's whole
    CPU is counted) or ``warm`` (running and fully preloaded: the pytest process's CPU plus
    what the server's handler logged)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("VAE_COURSE_SELF_CHECK", "VAE_COURSE_CHECK_SERVER")}
    env.update(PYTHONPATH=str(kit), XDG_RUNTIME_DIR=str(run_dir))
    if mode is not None:
        env["VAE_COURSE_SELF_CHECK"] = mode
    if server is not None:
        env["VAE_COURSE_CHECK_SERVER"] = "off" if server == "off" else "on"
    folder = Path("exercises" if state == "untouched" else "solved") / topic
    if server == "cold" and server_pids(run_dir):
        stop_server(kit, env)
    if server == "warm":
        warm_up(kit, env, folder, run_dir)
    keep = server_pids(run_dir) if server == "warm" else frozenset()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(folder)], cwd=kit, env=env, capture_output=True, text=True)
    wall = time.monotonic() - start
    if server == "cold":
        stop_server(kit, env)
    reap_all(keep=keep)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if server == "warm":
        cpu += handler_cpu(server_log(run_dir))
    lines = done.stdout.strip().splitlines()
    return wall, cpu, lines[-1] if lines else f"exit {done.returncode}"


RUN_ALL = """
import sys, nbformat
from nbclient import NotebookClient
path = sys.argv[1]
nb = nbformat.read(path, as_version=4)
NotebookClient(nb, timeout=None, kernel_name="python3",
               resources={"metadata": {"path": sys.argv[2]}}).execute()
errors = [o.get("ename") for c in nb.cells if c.cell_type == "code"
          for o in c.get("outputs", []) if o.output_type == "error"]
print("errors: " + ", ".join(errors) if errors else "ok")
"""


def timed_run_all(code: Path, topic: str, workdir: Path) -> tuple[float, float, str]:
    """(wall s, CPU s of the process tree, 'ok' or the errors) of Run All of ``code``'s
    solution notebook of ``topic``, run in a copy of its folder with ``code`` on the path
    and the notebook's default scale (no fast or full-scale setting)."""
    folder = workdir / topic
    shutil.copytree(code / "solutions" / topic, folder)
    env = {k: v for k, v in os.environ.items()
           if k not in ("VAE_COURSE_FAST", "VAE_COURSE_FULL", "NBGRADER_EXECUTION")}
    env.update(PYTHONPATH=str(code), MPLBACKEND="Agg")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-c", RUN_ALL, str(folder / f"{topic}.ipynb"),
                           str(folder)], cwd=folder, env=env, capture_output=True, text=True)
    wall = time.monotonic() - start
    reap_all()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    lines = (done.stdout.strip() or done.stderr.strip()[-300:] or "no output").splitlines()
    return wall, cpu, lines[-1]


def time_run_all(topics: list[str], previous: Path | None, label: str, tmp: Path) -> None:
    """One line per topic: Run All now and in the previous release (``previous`` None: now
    only), wall and CPU seconds."""
    print(f"\nRun All of the solution notebook (default scale), this code vs {label}")
    print(f"{'topic':<26}{'now wall':>10}{'now CPU':>10}{label + ' wall':>16}"
          f"{label + ' CPU':>16}  now / before")
    for topic in topics:
        now = timed_run_all(ROOT, topic, tmp / "run-all-now")
        before = timed_run_all(previous, topic, tmp / "run-all-previous") if previous \
            else (float("nan"), float("nan"), "not run")
        print(f"{topic:<26}{now[0]:>10.0f}{now[1]:>10.0f}{before[0]:>16.0f}{before[1]:>16.0f}"
              f"  {now[2]} / {before[2]}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--topics", nargs="*", default=None,
                        help="topic folders (default: every exercises/NN_* folder)")
    parser.add_argument("--repeat", type=int, default=1, help="repetitions per cell")
    parser.add_argument("--previous", default=PREVIOUS,
                        help=f"the git revision to compare with (default: {PREVIOUS})")
    parser.add_argument("--sandboxed", action="store_true",
                        help="also time this code's sandboxed mode")
    parser.add_argument("--run-all", nargs="*", default=[], metavar="TOPIC",
                        help="also time Run All of these topics' solution notebooks")
    parser.add_argument("--no-self-check", action="store_true",
                        help="time Run All only")
    parser.add_argument("--run-all-now-only", action="store_true",
                        help="time Run All of this checkout only (not the previous release)")
    args = parser.parse_args()
    topics = args.topics or sorted(p.name for p in (ROOT / "exercises").glob("[0-9][0-9]_*"))
    become_subreaper()
    load = os.getloadavg()[0]
    print(f"{os.cpu_count()} CPUs, load average {load:.1f} at start; "
          "seconds per self-check (median of repetitions); each version in its own kit")
    with tempfile.TemporaryDirectory(prefix="student-loop-") as tmp:
        previous = previous_release(args.previous, Path(tmp) / "previous")
        try:
            if not args.no_self_check:
                time_self_checks(topics, previous, Path(tmp), args)
            if args.run_all:
                time_run_all(args.run_all, None if args.run_all_now_only else previous,
                             args.previous, Path(tmp))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(previous)], cwd=ROOT,
                           check=False)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


def time_self_checks(topics: list[str], previous: Path, tmp: Path,
                     args: argparse.Namespace) -> None:
    """The self-check table: each topic's untouched and solved notebook, this code (warm
    check server, cold, no server) next to the previous release."""
    kits = {"now": build_kit(ROOT, topics, tmp / "kit-now"),
            "previous": build_kit(previous, topics, tmp / "kit-previous")}
    run_dir = Path(tempfile.mkdtemp(prefix="vsl-", dir="/tmp"))  # a socket's path is short
    variants = {"warm": (None, "warm", kits["now"]), "cold": (None, "cold", kits["now"]),
                "no server": (None, "off", kits["now"]),
                args.previous: (None, None, kits["previous"])}
    if args.sandboxed:
        variants["sandboxed"] = ("sandboxed", "off", kits["now"])
    print("wall and CPU seconds; warm: the check server running (every later self-check); "
          "cold: started by this self-check (the first one)")
    print(f"{'topic':<26}{'notebook':<11}" + "".join(
        f"{v + ' wall':>17}{v + ' CPU':>16}" for v in variants) + "  pytest")
    try:
        for topic in topics:
            time_topic(topic, kits, variants, args.repeat, run_dir)
    finally:
        stop_server(kits["now"], {**os.environ, "PYTHONPATH": str(kits["now"]),
                                  "XDG_RUNTIME_DIR": str(run_dir)})
        shutil.rmtree(run_dir, ignore_errors=True)


def time_topic(topic: str, kits: dict[str, Path],
               variants: dict[str, tuple[str | None, str | None, Path]], repeat: int,
               run_dir: Path) -> None:
    """One line per notebook state: each variant's median wall and CPU seconds."""
    names = list(variants)
    for kit in kits.values():
        prepare(topic, kit)
    for state in ("untouched", "solved"):
        runs: dict[str, list[tuple[float, float, str]]] = {v: [] for v in names}
        for n in range(repeat):
            for name in (names if n % 2 == 0 else names[::-1]):
                mode, server, kit = variants[name]
                runs[name].append(timed_self_check(kit, state, topic, mode, server, run_dir))
        wall = {v: sorted(w for w, _, _ in r)[len(r) // 2] for v, r in runs.items()}
        cpu = {v: sorted(c for _, c, _ in r)[len(r) // 2] for v, r in runs.items()}
        cells = "".join(f"{wall[v]:>17.1f}{cpu[v]:>16.1f}" for v in names)
        print(f"{topic:<26}{state:<11}{cells}  {runs['warm'][0][2]}", flush=True)


if __name__ == "__main__":
    main()
