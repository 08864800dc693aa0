"""The student's self-check loop: ``pytest exercises/NN_topic``, this code next to a previous
release's.

Each code version builds its own student kit (``python -m autograder student-kit``: its
public checks, its ``exercises/conftest.py``, its pytest settings) of the topics timed; this
checkout's and ``--previous``'s (a git revision, checked out in a temporary git worktree).
Both kits then hold this checkout's notebooks: for each topic, the untouched exercise and a
solved copy (the exercise filled from the solution). The self-check runs as a student runs it
(``python -m pytest -q exercises/NN_topic`` in the kit, in a fresh interpreter, with the
kit's default way of checking: ``fast``), alternating the two versions' order per
repetition; ``--sandboxed`` adds this code's ``sandboxed`` mode (the course grader's way: fork
server and sandbox) in its kit. Prints the wall time and the CPU time (user + system) of the
whole tree: this script makes itself a child subreaper, so the fork server and every task's
child, even orphaned, are reaped here and counted. On a loaded machine CPU seconds are the
comparable figure; wall time is what a student waits for on an idle one.

    python bench/student_loop.py                      # every topic, 1 repetition
    python bench/student_loop.py --topics 01_ppca 02_gaussian_kl --repeat 3 --sandboxed
    python bench/student_loop.py --previous v1.0      # against another release
"""

from __future__ import annotations

import argparse
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

ROOT = Path(__file__).resolve().parents[1]
PR_SET_CHILD_SUBREAPER = 36
PREVIOUS = "8c81a54"
REAP_WAIT_S = 30.0


def become_subreaper() -> None:
    """Adopt orphaned descendants (the fork server outlives pytest by a moment)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def reap_all(deadline_s: float = REAP_WAIT_S) -> None:
    """Wait for every adopted descendant to end, so its CPU time is counted."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
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


def timed_self_check(kit: Path, state: str, topic: str, mode: str | None
                     ) -> tuple[float, float, str]:
    """(wall s, CPU s of the process tree, pytest's last line) of one self-check in ``kit``
    (``mode`` None: the kit's default)."""
    env = {k: v for k, v in os.environ.items() if k != "VAE_COURSE_SELF_CHECK"}
    env["PYTHONPATH"] = str(kit)
    if mode is not None:
        env["VAE_COURSE_SELF_CHECK"] = mode
    folder = Path("exercises" if state == "untouched" else "solved") / topic
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(folder)], cwd=kit, env=env, capture_output=True, text=True)
    wall = time.monotonic() - start
    reap_all()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    lines = done.stdout.strip().splitlines()
    return wall, cpu, lines[-1] if lines else f"exit {done.returncode}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--topics", nargs="*", default=None,
                        help="topic folders (default: every exercises/NN_* folder)")
    parser.add_argument("--repeat", type=int, default=1, help="repetitions per cell")
    parser.add_argument("--previous", default=PREVIOUS,
                        help=f"the git revision to compare with (default: {PREVIOUS})")
    parser.add_argument("--sandboxed", action="store_true",
                        help="also time this code's sandboxed mode")
    args = parser.parse_args()
    topics = args.topics or sorted(p.name for p in (ROOT / "exercises").glob("[0-9][0-9]_*"))
    become_subreaper()
    load = os.getloadavg()[0]
    print(f"{os.cpu_count()} CPUs, load average {load:.1f} at start; "
          "seconds per self-check (median of repetitions); each version in its own kit")
    with tempfile.TemporaryDirectory(prefix="student-loop-") as tmp:
        previous = previous_release(args.previous, Path(tmp) / "previous")
        try:
            kits = {"now": build_kit(ROOT, topics, Path(tmp) / "kit-now"),
                    "previous": build_kit(previous, topics, Path(tmp) / "kit-previous")}
            variants = {"fast": (None, kits["now"]),
                        f"{args.previous} fast": (None, kits["previous"])}
            if args.sandboxed:
                variants["sandboxed"] = ("sandboxed", kits["now"])
            print(f"{'topic':<26}{'notebook':<11}" + "".join(
                f"{v + ' wall':>20}{v + ' CPU':>20}" for v in variants)
                + f"{'CPU before/now':>16}  pytest")
            for topic in topics:
                time_topic(topic, kits, variants, args.repeat, args.previous)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(previous)], cwd=ROOT,
                           check=False)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


def time_topic(topic: str, kits: dict[str, Path], variants: dict[str, tuple[str | None, Path]],
               repeat: int, previous: str) -> None:
    """One line per notebook state: each variant's median wall and CPU seconds."""
    names = list(variants)
    for kit in kits.values():
        prepare(topic, kit)
    for state in ("untouched", "solved"):
        runs: dict[str, list[tuple[float, float, str]]] = {v: [] for v in names}
        for n in range(repeat):
            for name in (names if n % 2 == 0 else names[::-1]):
                mode, kit = variants[name]
                runs[name].append(timed_self_check(kit, state, topic, mode))
        wall = {v: sorted(w for w, _, _ in r)[len(r) // 2] for v, r in runs.items()}
        cpu = {v: sorted(c for _, c, _ in r)[len(r) // 2] for v, r in runs.items()}
        cells = "".join(f"{wall[v]:>20.1f}{cpu[v]:>20.1f}" for v in names)
        ratio = cpu[f"{previous} fast"] / cpu["fast"] if cpu["fast"] else float("nan")
        print(f"{topic:<26}{state:<11}{cells}{ratio:>15.1f}x  {runs['fast'][0][2]}",
              flush=True)


if __name__ == "__main__":
    main()
