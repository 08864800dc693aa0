"""Benchmark: what the grading sandbox costs per task, measured in one process.

Two measurements, each interleaved between ``--sandbox off`` and the strongest sandbox this
machine offers (``auto``) so that a change in machine load hits both:

* **bare child**: a grading child that runs no notebook code and no probe (``run_child``
  with an empty job): the fixed cost of starting, sandboxing and reaping one task;
* **notebook**: grading a solution notebook (default: topic 01) end to end, reference results
  cached, so the difference is the sandbox's cost over all of the notebook's tasks.

    python bench/sandbox_overhead.py                 # 20 bare children, 3 notebook rounds
    python bench/sandbox_overhead.py --topic 03_elbo_jensen --rounds 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder import sandbox, worker  # noqa: E402
from autograder.grading import Grader  # noqa: E402
from autograder.isolation.policy import build_policy  # noqa: E402
from autograder.paths import solution_notebook  # noqa: E402

MODES = ("off", "auto")


def bare_child_seconds(mode: str) -> float:
    """Wall time of one empty grading child under ``mode``."""
    job = {"cells": [], "symbols": [], "probes": [], "device": "cpu"}
    start = time.perf_counter()
    run = sandbox.run_child(worker.child_main, job, 60.0, 2048, build_policy(mode))
    if run.status != "finished":
        raise SystemExit(f"error: an empty child did not finish under --sandbox {mode} "
                         f"({run.status} {run.detail})")
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--topic", default="01_ppca")
    parser.add_argument("--json", metavar="OUT")
    args = parser.parse_args()

    print(build_policy("auto").summary())
    bare: dict[str, list[float]] = {m: [] for m in MODES}
    for i in range(args.children):
        for mode in MODES if i % 2 == 0 else MODES[::-1]:
            bare[mode].append(bare_child_seconds(mode))
    graders = {m: Grader(device="cpu", jobs=1, sandbox=m) for m in MODES}
    path = solution_notebook(args.topic)
    for grader in graders.values():  # warm-up: reference results, fork server
        grader.grade_notebook(path)
    notebook: dict[str, list[float]] = {m: [] for m in MODES}
    scores: dict[str, float] = {}
    for i in range(args.rounds):
        for mode in MODES if i % 2 == 0 else MODES[::-1]:
            start = time.perf_counter()
            result = graders[mode].grade_notebook(path)
            notebook[mode].append(time.perf_counter() - start)
            scores[mode] = result.score
    tasks = len(graders["off"].grade_notebook(path).tasks)

    med = {m: statistics.median(bare[m]) for m in MODES}
    nb_med = {m: statistics.median(notebook[m]) for m in MODES}
    print(f"bare child (median of {args.children}): off {med['off'] * 1000:.0f} ms, "
          f"sandboxed {med['auto'] * 1000:.0f} ms, overhead "
          f"{(med['auto'] - med['off']) * 1000:.0f} ms per task")
    print(f"{args.topic} ({tasks} tasks, jobs=1, median of {args.rounds}): off "
          f"{nb_med['off']:.2f} s, sandboxed {nb_med['auto']:.2f} s, overhead "
          f"{(nb_med['auto'] - nb_med['off']) / tasks * 1000:.0f} ms per task; scores "
          f"{scores['off']:g} vs {scores['auto']:g}")
    if args.json:
        Path(args.json).write_text(json.dumps({"bare_s": bare, "notebook_s": notebook,
                                               "scores": scores}, indent=2))
    return 0 if scores["off"] == scores["auto"] else 1


if __name__ == "__main__":
    sys.exit(main())
