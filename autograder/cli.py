"""Command line: ``python -m autograder grade PATH`` and friends."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from autograder import __version__
from autograder.escaping import error_line, for_terminal

GRADE_EXIT_CODES = """exit codes:
  0  every notebook was graded (whatever the score)
  1  some notebooks could not be graded (unreadable, or not a course notebook): they are
     listed under "not graded" and counted in the JSON's "errors"; or the grader failed on
     some tasks (status grader-error, no score; counted in "grader_errors")
  2  nothing was graded: bad path or option, no CUDA device for --device cuda, a reference
     solution edited but not released (or unreadable), or no notebook could be graded
     (one line on stderr says why)"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m autograder",
        description="Grade vae-course notebooks in isolated processes.")
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)

    grade = sub.add_parser(
        "grade", help="grade a notebook or every notebook in a folder",
        description="Grade a notebook, or every notebook below a folder, and print a table "
                    "per notebook.",
        epilog=GRADE_EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    grade.add_argument("path", help="a .ipynb file or a folder of them")
    grade.add_argument("--json", metavar="OUT", help="also write the report as JSON")
    grade.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"),
                       help="device for the checks' tensors (default: cpu; auto = cuda when "
                            "available; the report says which was used)")
    grade.add_argument("--public-only", action="store_true",
                       help="run only the public checks (what students can run)")
    grade.add_argument("--jobs", type=int, default=2, help="tasks graded in parallel")
    grade.add_argument("--timeout", type=float, default=None,
                       help="override every task's time limit (seconds)")
    grade.add_argument("--memory-mb", type=int, default=None,
                       help="override every task's memory limit (MiB)")
    grade.add_argument("--judge-timeout", type=float, default=60.0,
                       help="time limit (s) for checking one symbolic (sympy) answer")
    grade.add_argument("--sandbox", default="auto", choices=("auto", "require", "off"),
                       help="isolation of student code: auto = the strongest this machine "
                            "offers (default), require = fail unless Landlock and user "
                            "namespaces are available, off = none (trusted code only)")

    release = sub.add_parser("release", help="regenerate exercises/ from solutions/ (nbgrader)")
    release.add_argument("topics", nargs="*", help="topics to regenerate (default: all)")

    kit = sub.add_parser(
        "student-kit", help="write the folder to hand out to students",
        description="Write the student kit into a new folder: exercises, public checks and "
                    "the course library, installable with `pip install -e OUT`; no solutions, "
                    "no hidden checks.")
    kit.add_argument("out", help="a new (or empty) folder; with --add, an existing kit")
    kit.add_argument("topics", nargs="*",
                     help="topics to include (default: the released topics up to the first "
                          "that would reveal an earlier exercise's answers)")
    kit.add_argument("--add", action="store_true",
                     help="add the topics to the kit OUT built before (progressive release)")
    kit.add_argument("--answers-out", nargs="+", default=[], metavar="TOPIC",
                     help="topics whose answers may be public (e.g. after their deadline): "
                          "later notebooks may reveal them")

    sub.add_parser("tasks", help="list the graded tasks")

    try:
        from autograder.classgrade.command import add_parser as add_grade_class
    except ModuleNotFoundError:  # the student kit: a TA's command, not shipped
        sub.add_parser("grade-class", help="(TAs only; not in the student kit)",
                       add_help=False).add_argument("rest", nargs=argparse.REMAINDER)
    else:
        add_grade_class(sub)
    return parser


LECTURER_COMMANDS = {"grade-class": "autograder.classgrade", "release": "autograder.release",
                     "student-kit": "autograder.student_kit"}
"""Commands whose code stays with the lecturer and the TAs (left out of the student kit)."""


def missing_lecturer_part(command: str, exc: ModuleNotFoundError) -> str | None:
    """The one-line reason when a lecturer's command runs where its code is not shipped."""
    module = LECTURER_COMMANDS.get(command)
    if module and exc.name and (exc.name == module or module.startswith(exc.name + ".")
                                or exc.name.startswith(module + ".")):
        return (f"`{command}` is a lecturer's or TA's command; the student kit does not "
                "include it (students check their work with pytest or the notebook's test "
                "cells)")
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except ModuleNotFoundError as exc:
        reason = missing_lecturer_part(args.command, exc)
        print(error_line(reason or exc), file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    """Dispatch one parsed command."""
    try:
        if args.command == "grade":
            return _grade(args)
        if args.command == "grade-class":
            from autograder.classgrade.command import run as grade_class

            return grade_class(args)
        if args.command == "release":
            from autograder.release import release_topics

            for line in release_topics(args.topics or None):
                print(for_terminal(line))
            return 0
        if args.command == "student-kit":
            from autograder.student_kit import add_to_kit, build_kit

            if args.add and not args.topics:
                print(error_line("--add needs the topics to add"), file=sys.stderr)
                return 2
            lines = (add_to_kit(args.out, args.topics, args.answers_out) if args.add
                     else build_kit(args.out, args.topics or None, args.answers_out))
            for line in lines:
                print(for_terminal(line))
            return 0
        if args.command == "tasks":
            from autograder.registry import all_tasks

            for task in all_tasks().values():
                hidden = sum(c.hidden for c in task.checks)
                print(f"{task.id:<28} {task.points:>4g} pts  {len(task.checks) - hidden} public"
                      f" + {hidden} hidden checks  [{task.topic}]")
            return 0
    except ModuleNotFoundError:
        raise
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback dump
        print(error_line(exc), file=sys.stderr)
        return 2
    return 2


def _grade(args: argparse.Namespace) -> int:
    from autograder.devices import device_problem

    problem = device_problem(args.device)  # before the grader's start-up
    if problem:
        print(error_line(problem), file=sys.stderr)
        return 2
    from autograder.grading import Grader
    from autograder.paths import course_root
    from autograder.report import format_not_graded, format_table, write_json

    include_hidden = not args.public_only
    if include_hidden and not (course_root() / "solutions").is_dir():
        print("no solutions/ folder here (a student kit?): running the public checks only")
        include_hidden = False
    grader = Grader(device=args.device, include_hidden=include_hidden, jobs=args.jobs,
                    timeout_s=args.timeout, memory_mb=args.memory_mb, sandbox=args.sandbox,
                    judge_timeout_s=args.judge_timeout)
    if args.device == "auto":
        print(f"--device auto: grading on {grader.device}")
    results = grader.grade_path(args.path)
    for result in results:
        print(format_table(result, device=grader.device))
    graded = [r for r in results if not r.error]
    if len(results) > 1:
        print(f"== overall: {sum(r.score for r in graded):g}/"
              f"{sum(r.max_score for r in graded):g} over {len(graded)} graded notebooks")
    not_graded = [r for r in results if r.error]
    if not_graded and graded:
        print(format_not_graded(not_graded))
    print(grader.policy.summary())
    if args.json:
        write_json(results, args.json, device=grader.device,
                   sandbox=grader.policy.describe())
    if not_graded and not graded:
        print(error_line(f"{not_graded[0].error}"
                         + (f" (and {len(not_graded) - 1} more notebooks could not be graded)"
                            if len(not_graded) > 1 else "")), file=sys.stderr)
        return 2
    if not_graded:
        print(error_line(f"{len(not_graded)} of {len(results)} notebooks could not be graded "
                         "(listed under 'not graded')"), file=sys.stderr)
    broken = [line for r in results for line in r.grader_errors]
    if broken:
        print(error_line(f"the grader failed on {len(broken)} task(s); they have no score: "
                         f"{broken[0]}"
                         + (f" (and {len(broken) - 1} more)" if len(broken) > 1 else "")),
              file=sys.stderr)
    return 1 if not_graded or broken else 0
