"""Command line: ``python -m autograder grade PATH`` and friends."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from autograder import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m autograder",
        description="Grade vae-course notebooks in isolated processes.")
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)

    grade = sub.add_parser("grade", help="grade a notebook or every notebook in a folder")
    grade.add_argument("path", help="a .ipynb file or a folder of them")
    grade.add_argument("--json", metavar="OUT", help="also write the report as JSON")
    grade.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"),
                       help="device for the checks' tensors (default: cpu)")
    grade.add_argument("--public-only", action="store_true",
                       help="run only the public checks (what students can run)")
    grade.add_argument("--jobs", type=int, default=2, help="tasks graded in parallel")
    grade.add_argument("--timeout", type=float, default=None,
                       help="override every task's time limit (seconds)")
    grade.add_argument("--memory-mb", type=int, default=None,
                       help="override every task's memory limit (MiB)")

    release = sub.add_parser("release", help="regenerate exercises/ from solutions/ (nbgrader)")
    release.add_argument("topics", nargs="*", help="topics to regenerate (default: all)")

    sub.add_parser("tasks", help="list the graded tasks")

    from autograder.classgrade.command import add_parser as add_grade_class

    add_grade_class(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "grade":
            return _grade(args)
        if args.command == "grade-class":
            from autograder.classgrade.command import run as grade_class

            return grade_class(args)
        if args.command == "release":
            from autograder.release import release_topics

            for line in release_topics(args.topics or None):
                print(line)
            return 0
        if args.command == "tasks":
            from autograder.registry import all_tasks

            for task in all_tasks().values():
                hidden = sum(c.hidden for c in task.checks)
                print(f"{task.id:<28} {task.points:>4g} pts  {len(task.checks) - hidden} public"
                      f" + {hidden} hidden checks  [{task.topic}]")
            return 0
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback dump
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 2


def _grade(args: argparse.Namespace) -> int:
    from autograder.grading import Grader
    from autograder.report import format_table, write_json

    grader = Grader(device=args.device, include_hidden=not args.public_only, jobs=args.jobs,
                    timeout_s=args.timeout, memory_mb=args.memory_mb)
    results = grader.grade_path(args.path)
    for result in results:
        print(format_table(result))
    if len(results) > 1:
        print(f"== overall: {sum(r.score for r in results):g}/"
              f"{sum(r.max_score for r in results):g} over {len(results)} notebooks")
    if args.json:
        write_json(results, args.json)
    unreadable = [r for r in results if r.error]
    if unreadable and len(unreadable) == len(results):
        print(f"error: {unreadable[0].error}", file=sys.stderr)
        return 2
    return 0
