"""``grade-class --scheduler``/``--cluster``: the same class graded on a real Dask cluster of
this machine (a ``distributed.LocalCluster`` of two worker processes on 127.0.0.1, plus a worker
whose installed grader differs), a worker killed mid-run, the GPU routing, and the Slurm job
script (built without a Slurm controller).

The class (topic 01): alice hands in the reference solution, bob the untouched exercise,
carol a buggy notebook (variance squared, a ``ppca_mle`` that raises) and dave an unreadable
file.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.classgrade.cluster_worker import Expected, refusal
from autograder.paths import course_root
from autograder.registry import tasks_for_topic
from tests.test_grade_class import (
    P01,
    P03,
    build_class,
    command,
    read_csv,
    stored_results,
    summary_counts,
)

pytestmark = pytest.mark.slow
GRADED = ("alice", "bob", "carol")
COMPARED = ("grades.csv", "grades_long.csv", "errors.csv", "report.md")
STALE_NAME = "stale-grader"


def build_small_class(root: Path) -> Path:
    """The class of the module docstring: test_grade_class's, topic 01 only, without erin."""
    sub = build_class(root)
    shutil.rmtree(sub / "alice" / P03)
    shutil.rmtree(sub / "erin")
    return sub


def without_timing(path: Path) -> bytes | dict:
    """A file's bytes; for Gradescope's results.json, its data without ``execution_time``."""
    if path.name != "results.json":
        return path.read_bytes()
    data = json.loads(path.read_text())
    data.pop("execution_time")
    return data


def run_cli(submitted: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", "grade-class", str(submitted),
                           "--out", str(out), "--gradescope", *extra],
                          capture_output=True, text=True, timeout=900)


def stale_course(root: Path) -> Path:
    """A copy of the installed course whose grader source differs by one line."""
    for part in ("autograder", "vaelib", "solutions"):
        shutil.copytree(course_root() / part, root / part,
                        ignore=shutil.ignore_patterns("__pycache__"))
    with open(root / "autograder" / "grading.py", "a") as handle:
        handle.write("\n# an older release of the grader\n")
    return root


@pytest.fixture(scope="module")
def small_class(tmp_path_factory) -> tuple[Path, Path]:
    """(submitted/, the grades folder of a run on local processes)."""
    root = tmp_path_factory.mktemp("dask-class")
    submitted = build_small_class(root)
    local = root / "local"
    done = subprocess.run(command(submitted, local, "--gradescope"), capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return submitted, local


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A LocalCluster of two workers, joined by a third whose installed grader differs."""
    from distributed import Client, LocalCluster

    stale = stale_course(tmp_path_factory.mktemp("stale-course"))
    env = {k: v for k, v in os.environ.items() if k != "VAE_COURSE_ROOT"}
    env["PYTHONPATH"] = str(stale)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0") as local, Client(local) as client:
        worker = subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", local.scheduler_address,
             "--nthreads", "1", "--name", STALE_NAME, "--no-dashboard"],
            env=env, cwd=stale, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            client.wait_for_workers(3, timeout=300)
            yield local, client
        finally:
            worker.terminate()
            worker.wait(60)


def stale_address(client) -> str:
    workers = client.scheduler_info(n_workers=-1)["workers"]
    return next(a for a, w in workers.items() if w.get("name") == STALE_NAME)


def executing_keys(dask_worker) -> list[str]:
    """The keys of the tasks a worker is running now."""
    return [str(ts.key) for ts in dask_worker.state.executing]


@pytest.fixture(scope="module")
def on_cluster(small_class, cluster, tmp_path_factory):
    submitted, _ = small_class
    local, _ = cluster
    out = tmp_path_factory.mktemp("dask-grades") / "grades"
    return out, run_cli(submitted, out, "--scheduler", local.scheduler_address)


def test_the_cluster_grades_like_local_processes(small_class, on_cluster, cluster):
    _, local = small_class
    out, done = on_cluster
    assert done.returncode == 0, done.stderr[-3000:]
    for name in COMPARED:
        assert (out / name).read_bytes() == (local / name).read_bytes(), name
    for folder in ("feedback", "gradescope"):
        pages = sorted(p.relative_to(local) for p in (local / folder).rglob("*") if p.is_file())
        assert pages and pages == sorted(p.relative_to(out) for p in (out / folder).rglob("*")
                                         if p.is_file())
        for page in pages:
            assert without_timing(out / page) == without_timing(local / page), page
    rows = {r["student"]: r for r in read_csv(out / "grades.csv")}
    assert float(rows["alice"][f"{P01}/total"]) == sum(t.points for t in tasks_for_topic(P01))
    assert 0 < float(rows["carol"][f"{P01}/total"]) < float(rows["alice"][f"{P01}/total"])
    assert {p.parent.name for p in stored_results(out)} == set(GRADED)
    assert "Dask dashboard: http://" in done.stderr
    assert "2 workers admitted" in done.stderr
    references = list((out / ".references").rglob("*.pt"))
    assert references, "the references computed on a worker are cached by the head"


def test_a_worker_with_another_grader_is_refused_and_gets_no_task(on_cluster, cluster):
    _, done = on_cluster
    _, client = cluster
    address = stale_address(client)
    line = next(x for x in done.stderr.splitlines() if x.startswith("refused worker"))
    assert line.startswith(f"refused worker {address}: its grader fingerprint ")
    assert "differs from the head's" in line
    executed = client.run(lambda dask_worker: dask_worker.state.executed_count)
    assert executed[address] == 0
    assert all(count > 0 for a, count in executed.items() if a != address)


def test_a_worker_killed_mid_run_loses_and_doubles_nothing(small_class, on_cluster, cluster,
                                                           tmp_path):
    submitted, local = small_class
    graded_out, _ = on_cluster
    local_cluster, client = cluster
    out = tmp_path / "grades"
    shutil.copytree(graded_out / ".references", out / ".references")
    process = subprocess.Popen(
        [sys.executable, "-m", "autograder", "grade-class", str(submitted), "--out", str(out),
         "--gradescope", "--scheduler", local_cluster.scheduler_address],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed, deadline = None, time.monotonic() + 600
    while killed is None and time.monotonic() < deadline:
        assert process.poll() is None, "the run ended before a worker could be killed"
        running = client.run(executing_keys, on_error="return")
        busy = [a for a, keys in running.items()
                if isinstance(keys, list) and any(k.startswith("grade-") for k in keys)]
        if busy:
            killed = client.run(os.getpid, workers=[busy[0]])[busy[0]]
            os.kill(killed, signal.SIGKILL)
        else:
            time.sleep(0.1)
    assert killed is not None, "no grading task was seen running"
    stdout, stderr = process.communicate(timeout=900)
    assert process.returncode == 0, stderr[-3000:]
    done = subprocess.CompletedProcess(process.args, 0, stdout, stderr)
    assert summary_counts(done) == (len(GRADED), 0)
    for name in COMPARED:
        assert (out / name).read_bytes() == (local / name).read_bytes(), name
    long = read_csv(out / "grades_long.csv")
    assert len(long) == len({(r["student"], r["task"]) for r in long})
    assert {p.parent.name for p in stored_results(out)} == set(GRADED)


def test_gpu_without_a_gpu_worker_is_a_clear_error(small_class, cluster, tmp_path):
    submitted, _ = small_class
    local_cluster, _ = cluster
    done = run_cli(submitted, tmp_path / "grades", "--scheduler",
                   local_cluster.scheduler_address, "--gpu")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: no worker can grade: ")
    refused = [line for line in done.stderr.splitlines() if line.startswith("refused worker")]
    assert len(refused) == 3  # the two workers without a GPU, and the stale one
    assert sum(line.endswith("it has no GPU resource (start it with `--resources GPU=1`)")
               for line in refused) == 2
    assert not stored_results(tmp_path / "grades")


def test_cluster_local_starts_its_workers_and_gpu_refuses_them(small_class, tmp_path):
    submitted, _ = small_class
    done = run_cli(submitted, tmp_path / "grades", "--cluster", "local", "--workers", "1",
                   "--gpu")
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Dask dashboard: http://127.0.0.1:" in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: no worker can grade: ")
    assert "it has no GPU resource" in done.stderr and "Traceback" not in done.stderr


def test_an_unreachable_scheduler_is_a_one_line_error(small_class, tmp_path):
    submitted, _ = small_class
    done = run_cli(submitted, tmp_path / "grades", "--scheduler", "tcp://127.0.0.1:9",
                   "--worker-timeout", "5")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith(
        "error: cannot reach the Dask scheduler at tcp://127.0.0.1:9")
    assert "Traceback" not in done.stderr


def _worker_name() -> str:
    from distributed import get_worker

    return str(get_worker().name)


async def _open_gate(gate: str, dask_worker) -> None:
    await dask_worker.set_resources(**{gate: 1})


def test_gpu_tasks_land_only_on_gpu_workers():
    from distributed import Client, Scheduler, SpecCluster, Worker

    workers = {"cpu": {"cls": Worker, "options": {"nthreads": 1}},
               "gpu": {"cls": Worker, "options": {"nthreads": 1, "resources": {"GPU": 1}}}}
    scheduler = {"cls": Scheduler, "options": {"dashboard_address": ":0"}}
    with SpecCluster(workers=workers, scheduler=scheduler) as spec, Client(spec) as client:
        for gpu in (True, False):
            expected = Expected("f" * 64, (), "auto", gpu=gpu)
            client.run(_open_gate, expected.gate)  # what admission gives an admitted worker
            futures = [client.submit(_worker_name, resources=expected.task_resources(),
                                     pure=False) for _ in range(8)]
            names = set(client.gather(futures))
            assert names == {"gpu"} if gpu else names <= {"cpu", "gpu"}


def test_admission_names_what_a_worker_lacks():
    expected = Expected("a" * 64, ((P01, "s" * 64),), "require", gpu=True, protocol="p")
    good = {"fingerprint": "a" * 64, "protocol": "p", "solutions": {P01: "s" * 64},
            "sandbox_problem": "", "cuda": True}
    assert refusal(good, expected, {"GPU": 1}) is None
    assert "grade-class code differs" in refusal({**good, "protocol": "q"}, expected,
                                                 {"GPU": 1})
    assert "fingerprint bbbbbbbbbbbb differs" in refusal(
        {**good, "fingerprint": "b" * 64}, expected, {"GPU": 1})
    assert P01 in refusal({**good, "solutions": {P01: "t" * 64}}, expected, {"GPU": 1})
    assert refusal({**good, "sandbox_problem": "--sandbox require: this machine lacks Landlock"},
                   expected, {"GPU": 1}).startswith("--sandbox require")
    assert "no GPU resource" in refusal(good, expected, {})
    assert "no CUDA device" in refusal({**good, "cuda": False}, expected, {"GPU": 1})


def test_a_submission_that_keeps_killing_workers_is_recorded_crashed():
    from types import SimpleNamespace

    from distributed import KilledWorker

    from autograder.classgrade.cluster import finished_record
    from autograder.classgrade.runner import Job

    job = Job("carol", P01, P01, "submitted/carol/01_ppca/01_ppca.ipynb", "k" * 64)
    killed = KilledWorker("grade-carol", SimpleNamespace(address="tcp://10.0.0.7:4000"), 3)
    future = SimpleNamespace(key="grade-carol", status="error", exception=lambda: killed)
    record = finished_record(future, job)
    assert {t.status for t in record.tasks} == {"crashed"}
    assert record.score == 0 and len(record.tasks) == len(tasks_for_topic(P01))
    assert "ended the worker process 4 times" in record.error


def test_slurm_job_script_asks_for_the_workers_described(tmp_path, monkeypatch):
    from autograder.classgrade.cluster import slurm_cluster
    from autograder.cli import build_parser

    monkeypatch.setenv("VAE_COURSE_DATA", "/scratch/mnist")
    args = build_parser().parse_args([
        "grade-class", "submitted", "--out", str(tmp_path), "--cluster", "slurm",
        "--workers", "40", "--worker-cores", "2", "--worker-memory", "8GB",
        "--queue", "gpu-short", "--walltime", "03:30:00", "--gpu"])
    with slurm_cluster(args) as slurm:
        script = slurm.job_script()
    lines = script.splitlines()
    assert "#SBATCH --cpus-per-task=2" in lines
    assert "#SBATCH --mem=8G" in lines
    assert "#SBATCH -t 03:30:00" in lines
    assert "#SBATCH -p gpu-short" in lines
    assert "#SBATCH --gres=gpu:1" in lines
    assert "export VAE_COURSE_DATA=/scratch/mnist" in lines
    worker = next(line for line in lines if "distributed.cli.dask_worker" in line)
    assert worker.startswith(f"{sys.executable} -m distributed.cli.dask_worker tcp://")
    assert "--nthreads 1" in worker and "--nworkers 2" in worker  # one process per core
    assert "--memory-limit 3.73GiB" in worker  # 8 GB shared by the two
    assert "--resources GPU=1" in worker
