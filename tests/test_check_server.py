"""The warm check server of the student's self-check (``autograder.check_server``).

Behaviour only (speed lives in ``bench/student_loop.py``): the same outcomes and messages as
the in-process self-check, one server reused across runs, no torch in the pytest process,
a new server for other settings, exit when idle or told to stop, and the in-process check
when no server can be reached. Every server here lives in the test's own private folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from autograder.check_client import _package_stamp, server_key
from autograder.registry import tasks_for_topic
from tests.helpers import PPCA_SQUARED_SIGMA2_MARGINAL, fill

ROOT = Path(__file__).resolve().parents[1]
RELEASED = ROOT / "exercises" / "01_ppca" / "01_ppca.ipynb"
SOLUTION = ROOT / "solutions" / "01_ppca" / "01_ppca.ipynb"
BUGGY_MARGINAL = PPCA_SQUARED_SIGMA2_MARGINAL
CONFTEST = '''import json, os, sys
pytest_plugins = ["autograder.pytest_plugin"]


def pytest_sessionfinish(session):
    with open(os.environ["TORCH_SEEN_FILE"], "w") as out:
        json.dump("torch" in sys.modules, out)
'''


@pytest.fixture
def run_dir():
    """A private runtime folder for this test's servers (short: a socket's path has at most
    107 bytes), all stopped and removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="vcs-", dir="/tmp"))
    yield folder
    subprocess.run([sys.executable, "-m", "autograder.check_server", "stop"],
                   env=_env(folder, "on"), capture_output=True, timeout=60)
    shutil.rmtree(folder, ignore_errors=True)


def _env(run_dir: Path, server: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "VAE_COURSE_SELF_CHECK": "fast",
            "VAE_COURSE_CHECK_SERVER": server, "XDG_RUNTIME_DIR": str(run_dir), **extra}


def _notebooks(tmp_path: Path) -> Path:
    """solved/, untouched/ and buggy/ folders with topic 01's notebook, and a conftest that
    records whether the pytest process imported torch."""
    folder = tmp_path / "notebooks"
    fill(RELEASED, SOLUTION, folder / "solved" / "01_ppca.ipynb")
    (folder / "untouched").mkdir()
    shutil.copy(RELEASED, folder / "untouched" / "01_ppca.ipynb")
    fill(RELEASED, SOLUTION, folder / "buggy" / "01_ppca.ipynb",
         override={"ppca_marginal_solution": BUGGY_MARGINAL})
    (folder / "conftest.py").write_text(CONFTEST)
    return folder


def _self_check(folder: Path, env: dict[str, str], name: str
                ) -> tuple[dict[str, tuple[str, str]], bool]:
    """(each test's outcome and failure text by '<folder>::<task>', whether the pytest
    process imported torch)."""
    report, seen = folder / f"{name}.xml", folder / f"{name}.torch"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "0", "-p",
                           "no:cacheprovider", f"--junitxml={report}", "--rootdir",
                           str(folder), str(folder)], cwd=folder,
                          env={**env, "TORCH_SEEN_FILE": str(seen)}, capture_output=True,
                          text=True, timeout=400)
    assert report.exists(), done.stdout[-2000:] + done.stderr[-2000:]
    outcomes = {}
    for case in ET.parse(report).iter("testcase"):
        failure = case.find("failure")
        key = f"{case.get('classname')}::{case.get('name')}"
        outcomes[key] = ("failed", failure.text or "") if failure is not None else ("passed", "")
    return outcomes, json.loads(seen.read_text())


def _server_pids(run_dir: Path) -> list[str]:
    return sorted(p.read_text() for p in run_dir.glob("vae-course-checks-*/check-*.pid"))


def test_the_server_answers_as_the_pytest_process_does_and_is_reused(tmp_path, run_dir):
    folder = _notebooks(tmp_path)
    first, torch_first = _self_check(folder, _env(run_dir, "on"), "first")
    pids = _server_pids(run_dir)
    assert len(pids) == 1
    second, torch_second = _self_check(folder, _env(run_dir, "on"), "second")
    assert _server_pids(run_dir) == pids  # the warm server answered the second run
    here, torch_here = _self_check(folder, _env(run_dir, "off"), "here")
    assert len(here) == 3 * len(tasks_for_topic("01_ppca"))
    assert first == second == here
    assert (torch_first, torch_second, torch_here) == (False, False, True)
    buggy = {k.rsplit("::", 1)[1]: v for k, v in here.items() if k.startswith("buggy")}
    assert buggy["ppca.marginal"][0] == "failed" and buggy["ppca.sample"][0] == "passed"
    log = next(run_dir.glob("vae-course-checks-*/check-*.log")).read_text()
    assert "8 tasks" in log and "s CPU" in log


def test_other_settings_get_their_own_server_and_an_idle_one_exits(tmp_path, run_dir):
    folder = _notebooks(tmp_path)
    (folder / "buggy").rename(tmp_path / "buggy")
    (folder / "untouched").rename(tmp_path / "untouched")
    quick = _env(run_dir, "on", VAE_COURSE_CHECK_SERVER_IDLE_S="2")
    outcomes, _ = _self_check(folder, quick, "idle")
    assert {status for status, _ in outcomes.values()} == {"passed"}
    deadline = time.monotonic() + 120
    while _server_pids(run_dir) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _server_pids(run_dir)  # it ended by itself, and took its socket along
    assert not list(run_dir.glob("vae-course-checks-*/check-*.sock"))


def test_start_then_stop_the_server(tmp_path, run_dir):
    folder = _notebooks(tmp_path)
    shutil.rmtree(folder / "solved")
    shutil.rmtree(folder / "buggy")
    shell = {k: v for k, v in _env(run_dir, "on").items() if k != "VAE_COURSE_SELF_CHECK"}
    start = subprocess.run([sys.executable, "-m", "autograder.check_server", "start"],
                           env=shell, capture_output=True, text=True, timeout=120)
    assert start.returncode == 0 and "running" in start.stdout, start.stderr
    started = _server_pids(run_dir)
    outcomes, _ = _self_check(folder, _env(run_dir, "on"), "stop")
    assert {status for status, _ in outcomes.values()} == {"failed"}
    assert _server_pids(run_dir) == started and len(started) == 1  # pytest used that one
    stop = subprocess.run([sys.executable, "-m", "autograder.check_server", "stop"],
                          env=_env(run_dir, "on"), capture_output=True, text=True, timeout=60)
    assert stop.stdout.strip() == "stopped 1 check server(s)"
    deadline = time.monotonic() + 30
    while list(run_dir.glob("vae-course-checks-*/check-*.sock")) and \
            time.monotonic() < deadline:
        time.sleep(0.2)
    assert not list(run_dir.glob("vae-course-checks-*/check-*.sock"))


def test_without_a_private_folder_the_pytest_process_checks_alone(tmp_path, run_dir):
    folder = _notebooks(tmp_path)
    shutil.rmtree(folder / "untouched")
    shared = run_dir / f"vae-course-checks-{os.getuid()}"
    shared.mkdir()
    shared.chmod(0o777)  # not private: no socket goes there
    outcomes, torch_seen = _self_check(folder, _env(run_dir, "on"), "shared")
    assert torch_seen and not _server_pids(run_dir)
    assert outcomes[next(k for k in outcomes if k.startswith("buggy")
                         and k.endswith("ppca.marginal"))][0] == "failed"


def test_the_key_follows_course_files_and_settings(tmp_path, monkeypatch):
    package = tmp_path / "stamped_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("x = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = _package_stamp("stamped_pkg")
    (package / "__init__.py").write_text("x = 12\n")
    assert _package_stamp("stamped_pkg") != before and len(before) == 1
    key = server_key()
    monkeypatch.setenv("VAE_COURSE_FAST", "1")
    assert server_key() != key
    monkeypatch.delenv("VAE_COURSE_FAST")
    assert server_key() == key


def test_task_timings_are_kept_between_self_checks_and_order_the_next(tmp_path):
    from autograder.check_server import TimingsFile

    timings = TimingsFile(tmp_path / "check-x.timings.json")
    assert timings.read() == {}
    timings.update({"kl.sympy": 1.5, "kl.diag": 0.1})
    timings.update({"kl.diag": 0.2, "kl.fit_reverse": 2.0})
    assert timings.read() == {"kl.sympy": 1.5, "kl.diag": 0.2, "kl.fit_reverse": 2.0}
    (tmp_path / "check-x.timings.json").write_text("not json")
    assert timings.read() == {}


LOOPING_MARGINAL = '''def ppca_marginal(W, b, sigma2):
    while True:
        pass
'''


def _stop_a_looping_self_check(tmp_path: Path, env: dict[str, str], tree) -> list:
    """Start pytest on a notebook whose marginal loops forever, kill pytest once the loop
    runs; returns the processes of ``tree(pytest's pid)`` at that moment still alive 30 s on."""
    import psutil

    folder = tmp_path / "looping"
    fill(RELEASED, SOLUTION, folder / "01_ppca.ipynb",
         override={"ppca_marginal_solution": LOOPING_MARGINAL})
    (folder / "conftest.py").write_text('pytest_plugins = ["autograder.pytest_plugin"]\n')
    pytest_run = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-n", "0", "-p",
                                   "no:cacheprovider", str(folder)], cwd=folder, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while len(tree(pytest_run.pid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(3.0)  # every other task of topic 01 is done by now: the loop is running
        started = tree(pytest_run.pid)
        for process in started:
            process.cpu_percent(None)
        time.sleep(1.0)
        busy = max(process.cpu_percent(None) for process in started)
    finally:
        pytest_run.kill()
        pytest_run.wait(30)
    assert len(started) >= 3 and busy > 20  # the looping task was running

    def alive() -> list[psutil.Process]:
        return [p for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]

    end = time.monotonic() + 30
    while alive() and time.monotonic() < end:
        time.sleep(0.2)
    return alive()


def test_a_stopped_self_check_ends_its_tasks_in_the_server(tmp_path, run_dir):
    import psutil

    def server_tree(_: int) -> list[psutil.Process]:
        pids = _server_pids(run_dir)
        return psutil.Process(int(pids[0])).children(recursive=True) if pids else []

    assert not _stop_a_looping_self_check(tmp_path, _env(run_dir, "on"), server_tree)
    assert _server_pids(run_dir)  # the server itself goes on
    log = next(run_dir.glob("vae-course-checks-*/check-*.log")).read_text()
    assert "the self-check was stopped" in log


def test_a_killed_pytest_leaves_no_task_behind(tmp_path, run_dir):
    import psutil

    def pytest_tree(pid: int) -> list[psutil.Process]:
        try:
            return psutil.Process(pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    assert not _stop_a_looping_self_check(tmp_path, _env(run_dir, "off"), pytest_tree)


TAMPERING_MARGINAL = '''def ppca_marginal(W, b, sigma2):
    import glob, os
    for path in glob.glob(os.path.join(os.environ["XDG_RUNTIME_DIR"], "*", "check-*")):
        try:
            if path.endswith(".timings.json"):
                open(path, "w").write('{"ppca.marginal": "fast", "ppca.sample": 1e308}')
            else:
                os.unlink(path)  # the server's socket, pid file and log
        except OSError:
            pass
    return b, W @ W.T
'''


def test_a_submission_that_tampers_with_the_server_only_fails_its_own_task(tmp_path, run_dir):
    folder = tmp_path / "tampering"
    fill(RELEASED, SOLUTION, folder / "01_ppca.ipynb",
         override={"ppca_marginal_solution": TAMPERING_MARGINAL})
    (folder / "conftest.py").write_text(CONFTEST)
    runs = [_self_check(folder, _env(run_dir, "on"), f"run{n}")[0] for n in range(2)]
    here, _ = _self_check(folder, _env(run_dir, "off"), "here")
    assert runs[0] == runs[1] == here  # a removed socket or a forged timing changes nothing
    status = {k.rsplit("::", 1)[1]: v[0] for k, v in here.items()}
    assert status["ppca.marginal"] == "failed" and status["ppca.sample"] == "passed"
