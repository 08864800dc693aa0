"""The ``grade-class`` subcommand: discover, grade what is new, write every output."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from autograder.status import Status

if TYPE_CHECKING:  # the heavy modules (torch) load only when the command runs
    from autograder.classgrade.discover import Submission
    from autograder.classgrade.records import Record
    from autograder.classgrade.runner import Backend


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``grade-class`` on the CLI's subparsers."""
    from autograder.classgrade.cluster import add_arguments as add_cluster_arguments

    p = sub.add_parser("grade-class", help="grade a whole class (parallel, resumable)")
    p.add_argument("submitted", help="nbgrader's submitted/ folder, or a flat folder (--flat)")
    p.add_argument("--out", required=True, help="grades folder (results, CSV, feedback, report)")
    p.add_argument("--assignment", nargs="+", action="extend", metavar="NAME",
                   help="grade only these assignments")
    p.add_argument("--jobs", type=int, default=None,
                   help="worker processes (default: the number of CPU cores)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    p.add_argument("--flat", action="store_true",
                   help="SUBMITTED holds <student>_<anything>.ipynb files")
    p.add_argument("--gradescope", action="store_true",
                   help="also write gradescope/<student>/<assignment>/results.json")
    p.add_argument("--nbgrader-db", metavar="GRADEBOOK", type=Path,
                   help="also store the points in this nbgrader gradebook (sqlite file)")
    p.add_argument("--timeout", type=float, default=None, help="per-task time limit (s)")
    p.add_argument("--memory-mb", type=int, default=None, help="per-task memory limit (MiB)")
    p.add_argument("--regrade", nargs="*", metavar="STUDENT|ASSIGNMENT",
                   help="grade again even if unchanged: everything, or only these students "
                        "or assignments")
    p.add_argument("--sandbox", default="auto", choices=("auto", "require", "off"),
                   help="isolation of student code (as for `grade`); on a cluster, require "
                        "refuses the workers that cannot provide all of it")
    add_cluster_arguments(p)


def run(args: argparse.Namespace) -> int:
    """Grade the class; 0 when every submission was graded (whatever the scores), 1 when the
    grader failed on some tasks (not stored, no score), 2 when grading could not start."""
    from autograder.classgrade import cluster
    from autograder.classgrade.discover import discover
    from autograder.classgrade.records import error_record
    from autograder.classgrade.runner import (
        Job,
        LocalProcesses,
        Settings,
        default_workers,
        grade_jobs,
        topics_to_prepare,
    )
    from autograder.classgrade.store import ResultStore, file_sha256, submission_key
    from autograder.escaping import error_line
    from autograder.grading import GraderError, check_released, resolve_device

    start = time.monotonic()
    root, out = Path(args.submitted), Path(args.out)
    if not root.is_dir():
        print(error_line(f"{root}: no such folder"), file=sys.stderr)
        return 2
    submissions = _unique(discover(root, args.flat, args.assignment))
    if not submissions:
        print(error_line(f"{root}: no submissions found"), file=sys.stderr)
        return 2
    problem = cluster.argument_problem(args)
    if problem:
        print(error_line(problem), file=sys.stderr)
        return 2
    try:  # before anything is graded: never grade a class against an unreleased reference
        check_released(sub.topic for sub in submissions if not sub.problem)
    except GraderError as exc:
        print(error_line(exc), file=sys.stderr)
        return 2
    on_cluster = cluster.requested(args)
    device = cluster.cluster_device(args) if on_cluster else resolve_device(args.device)
    out.mkdir(parents=True, exist_ok=True)
    store = ResultStore(out)
    store.clean_partial_files()
    options = {"device": device, "timeout": args.timeout, "memory_mb": args.memory_mb}
    reused, problems, jobs = [], [], []
    for sub in submissions:
        if sub.problem or sub.topic is None:
            problems.append(error_record(sub.student, sub.assignment, sub.topic, str(sub.path),
                                         "", sub.problem or "its topic cannot be told"))
            continue
        key = submission_key(file_sha256(sub.path), sub.topic, options)
        if _regrade(args.regrade, sub):
            store.forget(sub.student, sub.assignment)
        stored = store.load(sub.student, sub.assignment, key)
        if stored is not None:
            reused.append(stored)
        else:
            jobs.append(Job(sub.student, sub.assignment, sub.topic, str(sub.path), key))
    warn = _printer(sys.stderr)
    if on_cluster:  # one notebook per worker thread, as one per core here
        backend: Backend = cluster.DaskBackend(args, out, warn)
        settings = Settings(str(out), device, args.timeout, args.memory_mb, sandbox=args.sandbox)
    else:
        workers = args.jobs or default_workers()
        backend = LocalProcesses(workers, tuple(topics_to_prepare(jobs, out, device, workers)))
        settings = Settings(str(out), device, args.timeout, args.memory_mb,
                            torch_threads=max(1, default_workers() // max(1, workers)),
                            sandbox=args.sandbox)
    try:
        graded = list(grade_jobs(jobs, settings, backend, on_warning=warn))
    except cluster.ClusterError as exc:
        print(error_line(exc), file=sys.stderr)
        return 2
    records = sorted(reused + graded + problems, key=lambda r: (r.student, r.assignment))
    _write_outputs(records, out, args, warn)
    for record in problems:
        warn(f"cannot grade {record.student}/{record.assignment}: {record.error}")
    broken = [(r, problem) for r in records for problem in r.grader_errors]
    for record, problem in broken:
        warn(f"grader error for {record.student}/{record.assignment} (not stored, no score; "
             f"fix and run again): {problem}")
    print(summary_line(records, len(graded), len(reused), time.monotonic() - start))
    return 1 if broken else 0


def _regrade(wanted: list[str] | None, sub: Submission) -> bool:
    """Whether ``--regrade`` asks to grade this submission again."""
    if wanted is None:
        return False
    return not wanted or sub.student in wanted or sub.assignment in wanted


def _write_outputs(records: list[Record], out: Path, args: argparse.Namespace,
                   warn: Callable[[str], None]) -> None:
    from autograder.classgrade.feedback import write_feedback
    from autograder.classgrade.report import write_report
    from autograder.classgrade.tables import write_tables

    write_tables(records, out)  # grader errors: empty cells, named in errors.csv
    scored = [r for r in records if not r.grader_errors]  # the others have no score
    write_feedback(scored, out)
    write_report(scored, out)
    if args.gradescope:
        from autograder.classgrade.gradescope import write_gradescope

        write_gradescope(scored, out)
    if args.nbgrader_db:
        from autograder.classgrade.gradebook import write_gradebook

        for line in write_gradebook(scored, args.nbgrader_db):
            warn(line)


def summary_line(records: list[Record], graded: int, reused: int, elapsed_s: float) -> str:
    """One line: submissions (new, reused, ungradable) and task counts by status."""
    counts = Counter(t.status for r in records for t in r.tasks)
    errors = sum(r.error is not None for r in records)
    statuses = ", ".join(f"{counts.get(s, 0)} {s}" for s in Status)
    return (f"== {len(records)} submissions of {len({r.student for r in records})} students "
            f"({graded} graded now, {reused} unchanged, {errors} could not be graded) in "
            f"{elapsed_s:.1f} s; tasks: {statuses}")


def _unique(submissions: list[Submission]) -> list[Submission]:
    """One submission per (student, assignment): the first by file name; others are reported."""
    seen: dict[tuple[str, str], Submission] = {}
    for sub in submissions:
        first = seen.setdefault((sub.student, sub.assignment), sub)
        if first is not sub:
            _printer(sys.stderr)(f"warning: {sub.path} ignored: {first.path} is already "
                                 f"{sub.label}")
    return list(seen.values())


def _printer(stream: TextIO) -> Callable[[str], None]:
    """Print one line, its student text made inert for a terminal."""
    from autograder.escaping import for_terminal

    def emit(line: str) -> None:
        print(for_terminal(line), file=stream, flush=True)
    return emit
