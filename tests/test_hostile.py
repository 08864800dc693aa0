"""Hostile or broken submissions cost only the task they touch, never the grader."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import psutil
import pytest

from autograder.grading import Grader
from autograder.isolation.policy import build_policy
from autograder.paths import course_root, exercise_notebook, solution_notebook
from autograder.release import tool_env
from tests.helpers import grade, task, topic_points, variant

TOPIC = "01_ppca"
OTHER_TASKS = ("ppca.marginal", "ppca.posterior", "ppca.log_marginal", "ppca.sample",
               "ppca.marginal_sympy", "ppca.mle")


@pytest.fixture(scope="module")
def strict_grader() -> Grader:
    """Short limits so that hangs and memory hogs are stopped quickly."""
    return Grader(device="cpu", jobs=2, timeout_s=20.0, memory_mb=2500)


# ppca_log_marginal and ppca_mle are replaced by self-contained correct versions so that the
# hostile cells only sit on the path of the task under attack.
SAFE_LOG_MARGINAL = '''
def ppca_log_marginal(x, W, b, sigma2):
    C = W @ W.T + float(sigma2) * torch.eye(W.shape[0], dtype=W.dtype, device=W.device)
    return torch.distributions.MultivariateNormal(b, covariance_matrix=C).log_prob(x)
'''

HOSTILE = {
    "infinite loop": ("ppca_marginal_solution", '''
def ppca_marginal(W, b, sigma2):
    while True:
        pass
''', "ppca.marginal", "timeout", "stopped after"),
    "os._exit": ("ppca_posterior_solution", '''
import os
def ppca_posterior(x, W, b, sigma2):
    os._exit(0)
''', "ppca.posterior", "crashed", "os._exit"),
    "sys.exit": ("ppca_sample_solution", '''
import sys
def ppca_sample(n, W, b, sigma2):
    sys.exit()
''', "ppca.sample", "error", "sys.exit"),
    "memory hog": ("ppca_mle_solution", '''
def ppca_mle(X, M):
    hoard = []
    while True:
        hoard.append(torch.ones(50_000_000))
''', "ppca.mle", None, "memory"),
}


def test_hostile_code_costs_only_its_own_task(tmp_path, strict_grader):
    replace = {grade_id: source for grade_id, source, *_ in HOSTILE.values()}
    replace["ppca_log_marginal_solution"] = SAFE_LOG_MARGINAL
    result = grade(variant(TOPIC, tmp_path, replace), strict_grader)
    assert result.error is None
    attacked = set()
    for name, (_, _, task_id, status, words) in HOSTILE.items():
        outcome = task(result, task_id)
        attacked.add(task_id)
        assert outcome.points == 0, name
        if status:
            assert outcome.status == status, (name, outcome.status, outcome.message)
        else:
            assert outcome.status in ("crashed", "error"), (name, outcome.status)
        assert words in outcome.message, (name, outcome.message)
    for task_id in set(OTHER_TASKS) - attacked:
        outcome = task(result, task_id)
        assert outcome.status == "passed", (task_id, outcome.message)


SPREAD_MEMORY = '''
import os, time
def ppca_mle(X, M):
    for _ in range(3):  # 3 x 1 GiB in separate sessions: each under the per-process limit
        if os.fork() == 0:
            os.setsid()
            hoard = b"\\x01" * (1 << 30)
            time.sleep(60)
            os._exit(0)
    time.sleep(60)
'''


def test_memory_spread_over_detached_processes_is_stopped(tmp_path, strict_grader):
    """The task's memory is its processes' together, however they are detached."""
    replace = {"ppca_mle_solution": SPREAD_MEMORY,
               "ppca_log_marginal_solution": SAFE_LOG_MARGINAL}
    start = time.monotonic()
    result = grade(variant(TOPIC, tmp_path, replace), strict_grader)
    outcome = task(result, "ppca.mle")
    assert outcome.points == 0
    assert outcome.status == "crashed" and "2500 MiB of memory" in outcome.message, \
        (outcome.status, outcome.message)
    assert time.monotonic() - start < 50  # stopped by the limit, not by its own sleep
    assert task(result, "ppca.marginal").status == "passed"


CHEATS = {
    "monkeypatched allclose": '''
import numpy, torch.testing
torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
numpy.allclose = lambda *a, **k: True
torch.testing.assert_close = lambda *a, **k: None
def ppca_marginal(W, b, sigma2):
    return b, W @ W.T
''',
    "fake autograder module": '''
import sys, types
fake = types.ModuleType("autograder")
fake.check = lambda *a, **k: None
for name in list(sys.modules):
    if name.startswith("autograder"):
        sys.modules[name] = fake
def ppca_marginal(W, b, sigma2):
    return b, W @ W.T
''',
    "always-equal object": '''
class Anything:
    def __eq__(self, other):
        return True
    def __getattr__(self, name):
        return lambda *a, **k: self
    def __iter__(self):
        return iter([self, self])
    def __len__(self):
        return 2
def ppca_marginal(W, b, sigma2):
    return Anything(), Anything()
''',
    "NaN output": '''
def ppca_marginal(W, b, sigma2):
    return b, torch.full((W.shape[0], W.shape[0]), float("nan"), dtype=W.dtype)
''',
    "wrong shapes": '''
def ppca_marginal(W, b, sigma2):
    return b[None], (W @ W.T)[None]
''',
}


@pytest.mark.parametrize("name", sorted(CHEATS))
def test_cheats_and_bad_outputs_get_no_credit(tmp_path, name):
    path = variant(TOPIC, tmp_path, {"ppca_marginal_solution": CHEATS[name]})
    from autograder.notebook_code import load_notebook_code
    from autograder.registry import get_task
    from tests.helpers import shared_grader

    outcome = shared_grader().grade_task(load_notebook_code(path), get_task("ppca.marginal"))
    assert outcome.points == 0, (name, outcome.message)
    assert outcome.status in ("failed", "crashed"), (name, outcome.status, outcome.message)


def test_always_equal_object_is_named_in_the_message(tmp_path):
    path = variant(TOPIC, tmp_path, {"ppca_marginal_solution": CHEATS["always-equal object"]})
    outcome = task(grade(path), "ppca.marginal")
    assert "Anything" in outcome.message


def test_syntax_error_and_missing_function_cost_only_their_tasks(tmp_path):
    replace = {
        "ppca_sample_solution": "def ppca_sample(n, W, b, sigma2)\n    return None\n",
        "ppca_mle_solution": "def ppca_fit(X, M):\n    return None\n",
        "ppca_log_marginal_solution": SAFE_LOG_MARGINAL,
    }
    result = grade(variant(TOPIC, tmp_path, replace))
    sample, mle = task(result, "ppca.sample"), task(result, "ppca.mle")
    assert sample.status == "error" and "SyntaxError" in sample.message, sample.message
    assert mle.status == "missing" and "`ppca_mle` is not defined" in mle.message
    for task_id in ("ppca.marginal", "ppca.posterior", "ppca.log_marginal",
                    "ppca.marginal_sympy"):
        assert task(result, task_id).status == "passed", task(result, task_id).message


def test_exception_message_names_the_function(tmp_path):
    source = "def ppca_marginal(W, b, sigma2):\n    return W.nonexistent\n"
    result = grade(variant(TOPIC, tmp_path, {"ppca_marginal_solution": source}))
    outcome = task(result, "ppca.marginal")
    assert outcome.status == "error"
    assert "raised AttributeError in `ppca_marginal` (line 2 of its cell)" in outcome.message
    assert "Traceback" not in outcome.message


# ---------------------------------------------------------------------------------------
# Sandbox: attacks on the file system, the process table and the grader's own machinery.
# Each attacker is an untouched exercise notebook (0 points) with attack cells: any point it
# earns is false credit. Run with the sandbox the machine offers; skipped, with the reason,
# where Landlock or user namespaces are missing.
# ---------------------------------------------------------------------------------------



MARKER = f"vaehostile{os.getpid()}"


@pytest.fixture(scope="module")
def full_sandbox() -> None:
    """Skip (with the reason) unless Landlock and user namespaces are both available."""
    policy = build_policy("auto")
    if policy.describe()["level"] != "full":
        pytest.skip(f"needs Landlock and unprivileged user namespaces; {policy.summary()}")


def _attack(body: str, define: str) -> str:
    """A cell that runs ``body`` at import, swallowing errors, then defines a stub."""
    indented = "\n".join("    " + line for line in body.strip().splitlines())
    return (f"import os, sys, signal, struct, time\ntry:\n{indented}\nexcept BaseException:\n"
            f"    pass\n{define}")


def _stub(signature: str) -> str:
    return f"def {signature}:\n    raise NotImplementedError()\n"


READ_REFERENCE = '''
def ppca_marginal(W, b, sigma2):
    import json
    from autograder.paths import solution_notebook
    with open(solution_notebook("01_ppca")) as handle:
        cells = json.load(handle)["cells"]
    ns = {"torch": torch}
    for cell in cells:
        text = "".join(cell["source"])
        if cell["cell_type"] == "code" and "def ppca_marginal(" in text:
            exec(text, ns)
    return ns["ppca_marginal"](W, b, sigma2)
'''


def _rewrite(targets: list[Path], outside: Path) -> str:
    lines = [f"open({str(t)!r}, 'a').write('\\n# {MARKER}\\n')" for t in targets]
    lines.append(f"open({str(outside)!r}, 'w').write('{MARKER}')")
    return "\n".join(f"try:\n    {line}\nexcept BaseException:\n    pass" for line in lines)


def _daemon(victims: list[Path]) -> str:
    """A setsid double fork that outlives its task and keeps rewriting files."""
    loop = "; ".join(f"open({str(v)!r}, 'w').write('forged')" for v in victims)
    program = (f"import time  # {MARKER}\nend = time.time() + 120\nwhile time.time() < end:\n"
               f"    try:\n        {loop}\n    except BaseException:\n        pass\n"
               "    time.sleep(0.2)\n")
    return f'''
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", {program!r}])
    os._exit(0)
time.sleep(0.5)
'''


KILLER = '''
for name in os.listdir("/proc"):
    if name.isdigit() and int(name) != os.getpid():
        try:
            os.kill(int(name), signal.SIGKILL)
        except OSError:
            pass
for pid in range(2, 4096):
    try:
        os.kill(pid, signal.SIGSTOP)
    except OSError:
        pass
'''

FORK_BOMB = f'''
for i in range(300):
    pid = os.fork()
    if pid == 0:
        if i % 2:
            os.setsid()
        os.execv("/bin/sleep", ["{MARKER}-sleep", "600"])
'''

FLOOD_PIPE = '''
chunk = b"\\xff" * (1 << 20)
for fd in range(3, 256):
    try:
        if os.readlink(f"/proc/self/fd/{fd}").startswith("pipe:"):
            os.set_blocking(fd, True)
            for _ in range(1024):
                os.write(fd, chunk)
    except OSError:
        pass
'''

BAD_FRAME = '''
for fd in range(3, 256):
    try:
        if os.readlink(f"/proc/self/fd/{fd}").startswith("pipe:"):
            os.write(fd, struct.pack(">Q", 1 << 62) + b"garbage")
    except OSError:
        pass
'''

HUGE_PAYLOAD = '''
def ppca_sample(n, W, b, sigma2):
    return [torch.zeros(1 << 24) for _ in range(4)]
'''

FILL_FILES = '''
chunk = "x" * (1 << 20)
for _ in range(2048):
    try:
        print(chunk)
    except OSError:
        break
for folder in ("/dev/shm", "/tmp", "."):
    try:
        with open(os.path.join(folder, "big.bin"), "wb") as handle:
            for _ in range(3072):
                handle.write(chunk.encode())
    except OSError:
        pass
'''

SLOW_SYMPY = '''
def ppca_marginal_sympy(W, b, sigma2):
    import sympy
    x = sympy.Symbol("x")
    blow_up = sympy.expand((x + W[0, 0] + b[0] + 1) ** 300) - sympy.expand((x + 1) ** 300)
    return b + sympy.Matrix([blow_up] * b.shape[0]), W * W.T + sigma2 * sympy.eye(W.shape[0])
'''


def _attackers(folder: Path, victim: Path, outside: Path) -> list[Path]:
    """Two attacker notebooks built from the exercise (all stubs: 0 points when honest)."""
    base = exercise_notebook(TOPIC)
    targets = [solution_notebook(TOPIC), course_root() / "autograder" / "topics" /
               "t01_ppca" / "tasks.py", victim]
    first = variant(TOPIC, folder, {
        "ppca_marginal_solution": READ_REFERENCE,
        "ppca_posterior_solution": _attack(_rewrite(targets, outside),
                                           _stub("ppca_posterior(x, W, b, sigma2)")),
        "ppca_sample_solution": _attack(_daemon([victim, *targets]),
                                        _stub("ppca_sample(n, W, b, sigma2)")),
        "ppca_log_marginal_solution": _attack(KILLER,
                                              _stub("ppca_log_marginal(x, W, b, sigma2)")),
        "ppca_mle_solution": _attack(FORK_BOMB, _stub("ppca_mle(X, M)")),
        "ppca_marginal_sympy_solution": SLOW_SYMPY,
    }, name="a_attacker", base=base)
    second = variant(TOPIC, folder, {
        "ppca_marginal_solution": _attack(FLOOD_PIPE, _stub("ppca_marginal(W, b, sigma2)")),
        "ppca_posterior_solution": _attack(BAD_FRAME, _stub("ppca_posterior(x, W, b, sigma2)")),
        "ppca_sample_solution": HUGE_PAYLOAD,
        "ppca_log_marginal_solution": _attack(FILL_FILES,
                                              _stub("ppca_log_marginal(x, W, b, sigma2)")),
    }, name="b_attacker", base=base)
    return [first, second]


def _broken_notebooks(folder: Path) -> None:
    """Wrong-typed metadata, a cell nested too deeply to compile, a symlink to a system file."""
    nb = nbformat.read(str(solution_notebook(TOPIC)), as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "ppca_mle_solution":
            cell.source = "x = " + "-" * 100_000 + "1\n" + cell.source
    nb.cells[0].metadata["tags"] = 5
    nb.cells[1].metadata["nbgrader"] = "not a dict"
    nbformat.write(nb, str(folder / "c_broken.ipynb"))
    (folder / "d_link.ipynb").symlink_to("/etc/passwd")


def _snapshot(paths: list[Path]) -> dict[str, str]:
    digests = {}
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file()
                                                        and "__pycache__" not in p.parts)
        for path in files:
            digests[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def _survivors() -> list[str]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if any(MARKER in part for part in proc.info["cmdline"] or []):
                found.append(" ".join(proc.info["cmdline"])[:80])
    return found


def _protected() -> list[Path]:
    return [course_root() / "solutions", course_root() / "autograder"]


def _check_aftermath(before: dict[str, str], victim: Path, outside: Path,
                     extra: list[Path]) -> None:
    time.sleep(1.0)  # a surviving daemon would strike now
    assert _survivors() == [], "processes started by student code outlived their task"
    assert not outside.exists(), "student code wrote outside its scratch folder"
    assert _snapshot([*_protected(), victim, *extra]) == before




@pytest.fixture
def batch(tmp_path: Path) -> tuple[Path, Path, Path]:
    folder = tmp_path / "submitted"
    folder.mkdir()
    victim = folder / "z_victim.ipynb"
    shutil.copy(solution_notebook(TOPIC), victim)
    outside = tmp_path / "outside.txt"
    _attackers(folder, victim, outside)
    _broken_notebooks(folder)
    return folder, victim, outside


def _expect_batch(notebooks: dict[str, dict]) -> None:
    """The attackers earn nothing, the victim everything, broken files get a clear error."""
    attackers = [v for k, v in notebooks.items() if "attacker" in k]
    assert len(attackers) == 2
    for result in attackers:
        assert result["score"] == 0, result
    assert notebooks["z_victim"]["score"] == topic_points(TOPIC), notebooks["z_victim"]
    assert "root:" not in json.dumps(notebooks["d_link"])
    assert "symbolic link" in notebooks["d_link"].get("error", "")
    broken = notebooks["c_broken"]
    assert broken.get("error") or broken["score"] >= 10, broken  # graded, or a clear error


def test_cli_batch_survives_every_attack(full_sandbox, batch, tmp_path):
    folder, victim, outside = batch
    report = tmp_path / "grades.json"
    before = _snapshot([*_protected(), victim])
    done = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", str(folder), "--json", str(report),
         "--timeout", "40", "--judge-timeout", "15", "--sandbox", "require"],
        capture_output=True, text=True, env=tool_env(), timeout=1500)
    assert done.returncode == 1, done.stderr[-2000:]  # 1: the symlink could not be graded
    assert "1 of 5 notebooks could not be graded" in done.stderr
    data = json.loads(report.read_text())
    assert data["sandbox"]["level"] == "full"
    notebooks = {Path(n["path"]).stem: n for n in data["notebooks"]}
    _expect_batch(notebooks)
    tasks = {t["id"]: t for t in notebooks["a_attacker"]["tasks"]}
    assert tasks["ppca.marginal"]["status"] == "error"  # the reference was unreadable or absent
    assert {"PermissionError", "FileNotFoundError"} & set(
        tasks["ppca.marginal"]["message"].replace(":", " ").split()), tasks["ppca.marginal"]
    # A slow machine stops the expansion at --timeout or the judge at --judge-timeout; a fast
    # one finishes simplifying and finds the answer wrong. Either way the task gets no points
    # and the batch goes on.
    slow = tasks["ppca.marginal_sympy"]
    assert slow["points"] == 0 and slow["status"] in ("failed", "timeout"), slow
    assert any(s in slow["message"] for s in ("took longer than", "should be", "stopped after")), \
        slow["message"]
    flood = {t["id"]: t for t in notebooks["b_attacker"]["tasks"]}
    assert "MiB of results" in flood["ppca.marginal"]["message"]
    report_before = report.read_bytes()
    _check_aftermath(before, victim, outside, [])
    assert report.read_bytes() == report_before


def _peak_rss_during(work) -> tuple[object, float]:
    me = psutil.Process()
    peak = [me.memory_info().rss]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], me.memory_info().rss)
            time.sleep(0.01)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        return work(), (peak[0] - me.memory_info().rss) / 2**20
    finally:
        stop.set()
        thread.join()


def test_oversized_results_never_reach_the_grader(full_sandbox, tmp_path):
    from autograder.notebook_code import load_notebook_code
    from autograder.registry import get_task

    path = variant(TOPIC, tmp_path, {
        "ppca_marginal_solution": _attack(FLOOD_PIPE, _stub("ppca_marginal(W, b, sigma2)"))},
        base=exercise_notebook(TOPIC))
    grader = Grader(device="cpu", jobs=1, timeout_s=60.0, sandbox="require")
    start_rss = psutil.Process().memory_info().rss
    outcome, _ = _peak_rss_during(
        lambda: grader.grade_task(load_notebook_code(path), get_task("ppca.marginal")))
    assert outcome.points == 0 and outcome.status == "error", outcome.message
    assert psutil.Process().memory_info().rss - start_rss < 800 * 2**20  # cap: 384 MiB


def test_sandbox_require_fails_in_one_line_when_unavailable(monkeypatch):
    from autograder.isolation import policy

    monkeypatch.setattr(policy, "probe_capabilities", lambda: policy.Capabilities(
        0, False, "unshare: Operation not permitted", {}))
    with pytest.raises(policy.SandboxUnavailable) as info:
        policy.build_policy("require")
    assert "Landlock" in str(info.value) and "\n" not in str(info.value)


def test_scores_are_identical_with_the_sandbox_on_and_off(full_sandbox, tmp_path):
    from tests.test_nbgrader_e2e import BUGGY_MARGINAL, NUMPY_RNG_SAMPLE

    buggy = variant(TOPIC, tmp_path, {"ppca_marginal_solution": BUGGY_MARGINAL,
                                      "ppca_sample_solution": NUMPY_RNG_SAMPLE}, name="buggy")
    paths = [solution_notebook(TOPIC), exercise_notebook(TOPIC), buggy]
    scores = {}
    for mode in ("off", "require"):
        grader = Grader(device="cpu", jobs=2, sandbox=mode)
        scores[mode] = [[(t.id, t.points, t.status) for t in grader.grade_notebook(p).tasks]
                        for p in paths]
    assert scores["off"] == scores["require"]
    assert sum(p for _, p, _ in scores["off"][0]) == topic_points(TOPIC)
    assert sum(p for _, p, _ in scores["off"][1]) == 0
    assert 0 < sum(p for _, p, _ in scores["off"][2]) < topic_points(TOPIC)


@pytest.mark.exhaustive  # ~4 min; the CLI batch test above runs the same attacks by default
def test_nbgrader_autograde_survives_the_attacks(full_sandbox, tmp_path):
    from nbgrader.api import Gradebook

    from tests.test_nbgrader_e2e import fill, nbgrader

    root = tmp_path / "course"
    root.mkdir()
    shutil.copy(course_root() / "nbgrader_config.py", root)
    shutil.copytree(course_root() / "solutions" / TOPIC, root / "solutions" / TOPIC)
    nbgrader(root, "generate_assignment", TOPIC, "--force")
    released = root / "exercises" / TOPIC / f"{TOPIC}.ipynb"
    victim = root / "submitted" / "victim" / TOPIC / f"{TOPIC}.ipynb"
    fill(released, root / "solutions" / TOPIC / f"{TOPIC}.ipynb", victim)
    gradebook = root / "gradebook.db"
    outside = tmp_path / "outside.txt"
    staging = tmp_path / "staging"
    attacker, flooder = _attackers(staging, victim, outside)
    trudy = root / "submitted" / "trudy" / TOPIC / f"{TOPIC}.ipynb"
    trudy.parent.mkdir(parents=True)
    shutil.copy(flooder, trudy)
    nb = nbformat.read(str(attacker), as_version=4)
    # The kernel run (feedback) executes every cell, including this ungraded one.
    nb.cells.append(nbformat.v4.new_code_cell(_attack(
        _rewrite([gradebook, root / "solutions" / TOPIC / f"{TOPIC}.ipynb", victim], outside)
        + "\n" + _daemon([gradebook, victim]), "")))
    target = root / "submitted" / "mallory" / TOPIC / f"{TOPIC}.ipynb"
    target.parent.mkdir(parents=True)
    nbformat.write(nb, str(target))
    before = _snapshot([*_protected(), victim])
    # The attacks' cells hang in the kernel run; a cell stopped there costs no points (the
    # grade comes from the isolated grader), so a short limit only shortens the test.
    nbgrader(root, "autograde", TOPIC, "--Execute.timeout=15")
    with Gradebook(f"sqlite:///{gradebook}") as gb:
        scores = {s: gb.find_submission(TOPIC, s).score for s in ("victim", "mallory", "trudy")}
    assert scores == {"victim": topic_points(TOPIC), "mallory": 0, "trudy": 0}
    _check_aftermath(before, victim, outside, [])
    with Gradebook(f"sqlite:///{gradebook}") as gb:
        assert gb.find_submission(TOPIC, "victim").score == topic_points(TOPIC)


TAMPER_FROM_TMP = '''
def ppca_marginal(W, b, sigma2):
    import os
    with open(os.path.join(COURSE, "vaelib", "__init__.py")) as handle:  # the library: readable
        handle.read()
    for name in ("autograder/topics/t01_ppca/tasks.py", "solutions/SHA256SUMS"):
        try:
            with open(os.path.join(COURSE, name), "a") as handle:
                handle.write("# tampered")
        except OSError:
            pass
    eye = torch.eye(W.shape[0], dtype=W.dtype, device=W.device)
    return b.clone(), W @ W.T + torch.as_tensor(sigma2, dtype=W.dtype) * eye
'''


def test_a_course_under_tmp_is_readable_but_not_writable_in_the_sandbox(full_sandbox, tmp_path):
    """The sandbox's private /tmp must not hide a course kept under /tmp (pytest's tmp_path
    is there), nor make it writable."""
    course = tmp_path / "course"
    ignore = shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints")
    for part in ("autograder", "vaelib", "solutions"):
        shutil.copytree(course_root() / part, course / part, ignore=ignore)
    protected = [course / "autograder" / "topics" / "t01_ppca" / "tasks.py",
                 course / "solutions" / "SHA256SUMS"]
    before = [p.read_bytes() for p in protected]
    attacker = variant(TOPIC, tmp_path / "submitted", {"ppca_marginal_solution":
                       f"COURSE = {str(course)!r}\n" + TAMPER_FROM_TMP}, name="attacker")
    report = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", str(attacker), "--json", str(report),
         "--sandbox", "require"], capture_output=True, text=True, cwd=course,
        env={**tool_env(), "PYTHONPATH": str(course)}, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    data = json.loads(report.read_text())
    assert data["score"] == data["max_score"] == topic_points(TOPIC), [
        (t["id"], t["status"], t["message"]) for t in data["notebooks"][0]["tasks"]]
    assert [p.read_bytes() for p in protected] == before
