"""Benchmark: grade a synthetic class with ``grade-class`` and with ``nbgrader autograde``.

The class: ``--students`` students x ``--topics``; each submission is the released notebook
filled in from the reference solution, then mutated by a seeded choice: complete, untouched
(the exercise), one answer left as the stub (partial credit), one answer with a syntax error,
or (topic 01) the variance-squared marginal of the project's tests. ``grade-class`` grades the
whole class cold (references computed), the whole class again with the results cleared and
the references cached (``--no-cached`` skips this), and again after the notebooks of
``--changed`` students were completed (only those re-graded). ``nbgrader autograde`` (the
course's configuration) grades a sample of students on the same notebooks; the scores are
compared.

With ``--cluster local`` (a Dask ``LocalCluster`` of ``--jobs`` workers started by
``grade-class``) or ``--scheduler ADDRESS`` (a running Dask cluster), the whole class is also
graded, references cached and results cleared, by ``--jobs`` local worker processes and on the
cluster, alternately for ``--rounds`` rounds (a load on the machine weighs on both runs of a
round): the median of the rounds' cluster/local ratios and the cluster path's overhead per
notebook (the cluster's start-up included). Each run also
prints a projection: hours for ``--project-students`` students x 8 topics on 1, 10 and 40
workers, from the measured per-topic seconds of one worker (``--topic-seconds 05=85`` adds
or overrides topics; the others are counted at the mean of the measured ones).

Printed: notebooks, wall time and per-notebook time of each run, peak resident memory of the
whole process tree (sampled every 200 ms), the per-notebook speed ratio and whether the scores
are identical. Run it from the repository root:

    python bench/grade_class.py --students 100 --topics 01 02 03 04 05 --sample 3
    python bench/grade_class.py --students 6 --topics 01 --sample 0 --changed 0 --no-cached \
        --cluster local --jobs 2 --rounds 3
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder.classgrade.store import RECORDS  # noqa: E402
from autograder.paths import solution_notebook  # noqa: E402
from autograder.registry import topics_with_tasks  # noqa: E402
from autograder.release import tool_env  # noqa: E402
from tests.test_nbgrader_e2e import BUGGY_MARGINAL, fill  # noqa: E402

MUTATIONS = ("complete", "untouched", "stub", "syntax", "variance")
COURSE_TOPICS = 8
PROJECTED_WORKERS = (1, 10, 40)
SYNTAX_ERROR = "def broken(:\n    pass\n"


class TreeMemory:
    """Peak resident memory (MiB) of a process and all its descendants, sampled in a thread."""

    def __init__(self, pid: int, every_s: float = 0.2) -> None:
        self.peak_mb = 0.0
        self._root = psutil.Process(pid)
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            total = 0
            try:
                members = [self._root, *self._root.children(recursive=True)]
            except psutil.Error:
                members = []
            for member in members:
                try:
                    total += member.memory_info().rss
                except psutil.Error:
                    continue
            self.peak_mb = max(self.peak_mb, total / 2**20)
            self._stop.wait(self._every_s)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak_mb


def timed(cmd: list[str], cwd: Path) -> tuple[float, float, subprocess.CompletedProcess]:
    """Wall seconds, peak tree memory (MiB) and the finished process of ``cmd``."""
    start = time.monotonic()
    process = subprocess.Popen(cmd, cwd=cwd, env=tool_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    memory = TreeMemory(process.pid)
    out, err = process.communicate()
    peak = memory.stop()
    done = subprocess.CompletedProcess(cmd, process.returncode, out, err)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err[-3000:]}")
    return time.monotonic() - start, peak, done


def build_course(course: Path, topics: list[str], students: int, seed: int) -> dict[str, str]:
    """nbgrader course folder with the class under submitted/; returns each mutation by path."""
    shutil.copy(ROOT / "nbgrader_config.py", course)
    rng = random.Random(seed)
    kinds: dict[str, str] = {}
    for topic in topics:
        shutil.copytree(solution_notebook(topic).parent, course / "solutions" / topic)
        subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", topic,
                        "--force"], cwd=course, env=tool_env(), check=True,
                       capture_output=True)
        released = course / "exercises" / topic / f"{topic}.ipynb"
        source = course / "solutions" / topic / f"{topic}.ipynb"
        cells = _solution_ids(source)
        for n in range(students):
            kind = rng.choice([m for m in MUTATIONS if m != "variance" or topic == "01_ppca"])
            out = course / "submitted" / f"s{n:03d}" / topic / f"{topic}.ipynb"
            if kind == "untouched":
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(released, out)
            elif kind == "complete":
                fill(released, source, out)
            elif kind == "stub":
                fill(released, source, out, keep_stub={rng.choice(cells)})
            elif kind == "syntax":
                fill(released, source, out, override={rng.choice(cells): SYNTAX_ERROR})
            else:
                fill(released, source, out, override={"ppca_marginal_solution": BUGGY_MARGINAL})
            kinds[str(out)] = kind
    return kinds


def _solution_ids(notebook: Path) -> list[str]:
    import nbformat

    return [c.metadata["nbgrader"]["grade_id"]
            for c in nbformat.read(str(notebook), as_version=4).cells
            if c.get("metadata", {}).get("nbgrader", {}).get("solution")]


def nbgrader_scores(course: Path, csv_path: Path) -> dict[tuple[str, str], float]:
    """(student, assignment) -> raw score from ``nbgrader export``."""
    subprocess.run([sys.executable, "-m", "nbgrader", "export", f"--to={csv_path}"],
                   cwd=course, env=tool_env(), check=True, capture_output=True)
    with open(csv_path, newline="") as handle:
        return {(r["student_id"], r["assignment"]): float(r["raw_score"])
                for r in csv.DictReader(handle)}


def one_worker_seconds(grades: Path) -> dict[str, float]:
    """Topic -> mean seconds one worker spent on a notebook (from the stored results)."""
    spent: dict[str, list[float]] = {}
    for result in (grades / RECORDS).glob("*/*.json"):
        record = json.loads(result.read_text())
        if record.get("topic"):
            spent.setdefault(record["topic"], []).append(float(record.get("elapsed_s") or 0.0))
    return {topic: round(sum(v) / len(v), 2) for topic, v in sorted(spent.items())}


def clear_results(grades: Path) -> None:
    """Delete the stored results (the references stay cached): the next run grades them all."""
    for result in (grades / RECORDS).glob("*/*.json"):
        result.unlink()


def class_scores(grades: Path) -> dict[tuple[str, str], float]:
    """(student, assignment) -> total from ``grades_long.csv``."""
    totals: dict[tuple[str, str], float] = {}
    with open(grades / "grades_long.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            key = (row["student"], row["assignment"])
            totals[key] = round(totals.get(key, 0.0) + float(row["points"]), 2)
    return totals


def cluster_comparison(cmd: list[str], grades: Path, course: Path, args: argparse.Namespace,
                       n_notebooks: int) -> dict[str, object]:
    """The class graded again (references cached, results cleared) by ``--jobs`` local
    processes and on the cluster, alternately (local, cluster, local, cluster...) for
    ``--rounds`` rounds, so that a load shared by both halves of a round cancels out in its
    ratio: wall times, the median ratio and the cluster path's overhead per notebook."""
    workers = args.jobs or 2
    local = [*cmd, "--jobs", str(workers)] if "--jobs" not in cmd else cmd
    where = (["--scheduler", args.scheduler] if args.scheduler
             else ["--cluster", "local", "--workers", str(workers)])
    seconds: dict[str, list[float]] = {"local": [], "cluster": []}
    for round_ in range(1, args.rounds + 1):
        for name, command in (("local", local), ("cluster", [*cmd, *where])):
            clear_results(grades)
            spent, _, done = timed(command, course)
            seconds[name].append(spent)
            print(f"round {round_}, {name}: {spent:.1f} s "
                  f"({done.stdout.strip().splitlines()[-1]})", flush=True)
    ratio = statistics.median([c / lo for lo, c in zip(seconds["local"], seconds["cluster"],
                                                        strict=True)])
    local_s = statistics.median(seconds["local"])
    return {"cluster_workers": workers, "cluster_rounds": args.rounds,
            "local_cached_s": seconds["local"], "cluster_cached_s": seconds["cluster"],
            "cluster_overhead": ratio - 1,
            "cluster_overhead_per_notebook_s": (ratio - 1) * local_s / n_notebooks * workers}


def projection(measured: dict[str, float], args: argparse.Namespace,
               overhead: float) -> dict[str, object]:
    """Hours for ``--project-students`` x 8 topics on 1, 10 and 40 workers."""
    given = dict(item.split("=", 1) for item in args.topic_seconds)
    per_topic = {t: s for t, s in measured.items() if s > 0}
    for prefix, seconds in given.items():
        per_topic[next((t for t in topics_with_tasks() if t.startswith(prefix)), prefix)] = (
            float(seconds))
    mean = sum(per_topic.values()) / max(1, len(per_topic))
    total_s = args.project_students * (sum(per_topic.values())
                                       + mean * max(0, COURSE_TOPICS - len(per_topic)))
    total_s *= 1 + max(0.0, overhead)
    return {"students": args.project_students, "topics_known": sorted(per_topic),
            "hours": {w: total_s / w / 3600 for w in PROJECTED_WORKERS}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--topics", nargs="+", default=["01", "02", "03", "04", "05"],
                        help="topic numbers or names")
    parser.add_argument("--sample", type=int, default=3,
                        help="students also graded with nbgrader autograde (0: skip)")
    parser.add_argument("--jobs", type=int, default=None, help="grade-class --jobs")
    parser.add_argument("--changed", type=int, default=5,
                        help="students whose notebooks change before the second run")
    parser.add_argument("--no-cached", dest="cached", action="store_false",
                        help="skip re-grading the whole class with the references cached")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="build the class here and keep it")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--cluster", choices=("local",),
                       help="also grade on a Dask LocalCluster of --jobs workers")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="also grade on this running Dask cluster")
    parser.add_argument("--rounds", type=int, default=3,
                        help="local/cluster pairs of runs; the median ratio is reported")
    parser.add_argument("--project-students", type=int, default=500,
                        help="students in the projection table (x 8 topics)")
    parser.add_argument("--topic-seconds", nargs="*", default=[], metavar="NN=S",
                        help="one worker's seconds per notebook of topics not measured here")
    args = parser.parse_args()
    topics = [t for t in topics_with_tasks() if any(t.startswith(p) for p in args.topics)]
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-class-"))
    course = work / "course"
    course.mkdir(parents=True, exist_ok=True)
    print(f"building {args.students} students x {len(topics)} topics in {course} ...",
          flush=True)
    kinds = build_course(course, topics, args.students, args.seed)
    counts = {k: list(kinds.values()).count(k) for k in MUTATIONS}
    print(f"mutations: {counts}", flush=True)
    grades = work / "grades"
    jobs = ["--jobs", str(args.jobs)] if args.jobs else []
    cmd = [sys.executable, "-m", "autograder", "grade-class", "submitted", "--out",
           str(grades), *jobs]
    cold_s, cold_mb, done = timed(cmd, course)
    print(done.stdout.strip().splitlines()[-1])
    n_notebooks = len(kinds)
    figures: dict[str, object] = {
        "students": args.students, "topics": topics, "notebooks": n_notebooks,
        "cold_s": cold_s, "cold_per_notebook_s": cold_s / n_notebooks, "cold_peak_mb": cold_mb}
    if args.cached:
        # The whole class again with the references on disk: the per-notebook cost of
        # grading once a topic's references are cached (results cleared, references kept).
        clear_results(grades)
        cached_s, cached_mb, done = timed(cmd, course)
        print(done.stdout.strip().splitlines()[-1])
        figures.update({"cached_s": cached_s, "cached_per_notebook_s": cached_s / n_notebooks,
                        "cached_peak_mb": cached_mb})
    changed = sorted({Path(p).parts[-3] for p in kinds})[:args.changed]
    regraded = 0
    for student in changed:
        for topic in topics:
            target = course / "submitted" / student / topic / f"{topic}.ipynb"
            before = target.read_bytes()
            fill(course / "exercises" / topic / f"{topic}.ipynb",
                 course / "solutions" / topic / f"{topic}.ipynb", target)
            regraded += target.read_bytes() != before  # an already complete one is unchanged
    if changed:
        warm_s, warm_mb, done = timed(cmd, course)
        print(done.stdout.strip().splitlines()[-1])
        figures.update({"rerun_changed_notebooks": regraded, "rerun_s": warm_s,
                        "rerun_per_changed_notebook_s": warm_s / max(1, regraded),
                        "rerun_peak_mb": warm_mb})
    figures["seconds_per_topic"] = one_worker_seconds(grades)
    if args.cluster or args.scheduler:
        figures.update(cluster_comparison(cmd, grades, course, args, n_notebooks))
    figures["projection"] = projection(figures["seconds_per_topic"], args,
                                       figures.get("cluster_overhead", 0.0))
    ours = class_scores(grades)
    if args.sample:
        sample = sorted({Path(p).parts[-3] for p in kinds})[-args.sample:]
        nb_s, nb_mb = 0.0, 0.0
        for topic in topics:
            for student in sample:
                seconds, peak, _ = timed([sys.executable, "-m", "nbgrader", "autograde", topic,
                                          "--student", student, "--force"], course)
                nb_s += seconds
                nb_mb = max(nb_mb, peak)
        theirs = nbgrader_scores(course, work / "nbgrader_grades.csv")
        compared = {k: v for k, v in theirs.items() if k[0] in sample and k[1] in topics}
        mismatches = {k: (v, ours.get(k)) for k, v in compared.items() if ours.get(k) != v}
        per_nb = nb_s / (len(sample) * len(topics))
        figures.update({"nbgrader_notebooks": len(sample) * len(topics), "nbgrader_s": nb_s,
                        "nbgrader_per_notebook_s": per_nb, "nbgrader_peak_mb": nb_mb,
                        "ratio_vs_cold": per_nb / figures["cold_per_notebook_s"],
                        "scores_compared": len(compared), "scores_identical": not mismatches,
                        "mismatches": {f"{s}/{a}": v for (s, a), v in mismatches.items()}})
    print("\n".join(_lines(figures)))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


def _lines(f: dict) -> list[str]:
    lines = [f"class: {f['students']} students x {len(f['topics'])} topics = {f['notebooks']} "
             f"notebooks ({', '.join(f['topics'])})",
             f"grade-class, cold (references computed): {f['cold_s']:.1f} s total, "
             f"{f['cold_per_notebook_s']:.2f} s/notebook, peak memory {f['cold_peak_mb']:.0f} MiB"]
    if "cached_s" in f:
        lines.append(f"grade-class, whole class again with references cached: "
                     f"{f['cached_s']:.1f} s total, {f['cached_per_notebook_s']:.2f} s/notebook, "
                     f"peak memory {f['cached_peak_mb']:.0f} MiB")
    if "rerun_s" in f:
        lines.append(f"grade-class, re-run after {f['rerun_changed_notebooks']} notebooks "
                     f"changed: {f['rerun_s']:.1f} s total, "
                     f"{f['rerun_per_changed_notebook_s']:.2f} s per re-graded notebook, "
                     f"peak memory {f['rerun_peak_mb']:.0f} MiB")
    lines.append("one worker's mean seconds per notebook (its task threads in parallel): "
                 + ", ".join(f"{t} {s:.2f}" for t, s in f["seconds_per_topic"].items()))
    if "cluster_cached_s" in f:
        lines += [f"references cached, {f['cluster_workers']} local worker processes vs the "
                  f"Dask cluster ({f['cluster_workers']} workers), {f['cluster_rounds']} "
                  "alternating rounds: local "
                  + ", ".join(f"{s:.1f}" for s in f["local_cached_s"]) + " s; cluster "
                  + ", ".join(f"{s:.1f}" for s in f["cluster_cached_s"]) + " s",
                  f"cluster / local, median of the rounds' ratios: {1 + f['cluster_overhead']:.3f} "
                  f"({100 * f['cluster_overhead']:+.1f} %, "
                  f"{f['cluster_overhead_per_notebook_s']:+.2f} worker-s per notebook, start-up "
                  f"included; target <= +5 %: "
                  f"{'met' if f['cluster_overhead'] <= 0.05 else 'NOT met'})"]
    p = f["projection"]
    lines.append(f"projection, {p['students']} students x {COURSE_TOPICS} topics "
                 f"(seconds known for: {', '.join(p['topics_known'])}; "
                 "other topics at their mean): "
                 + ", ".join(f"{w} worker{'s' * (w > 1)} {h:.1f} h"
                             for w, h in p["hours"].items()))
    if "nbgrader_s" in f:
        lines += [f"nbgrader autograde, {f['nbgrader_notebooks']} notebooks: "
                  f"{f['nbgrader_s']:.1f} s total, {f['nbgrader_per_notebook_s']:.2f} s/notebook,"
                  f" peak memory {f['nbgrader_peak_mb']:.0f} MiB",
                  f"ratio (nbgrader s/notebook / grade-class s/notebook): "
                  f"{f['ratio_vs_cold']:.1f}x",
                  f"identical scores on {f['scores_compared']} sampled notebooks: "
                  f"{'yes' if f['scores_identical'] else 'NO ' + str(f['mismatches'])}"]
    return lines


if __name__ == "__main__":
    main()
