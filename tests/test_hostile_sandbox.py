"""Hostile submissions against the sandbox itself: sockets, /tmp, environment, limits.

Each attack runs inside a task function and reports what it reached in the message of the
exception it raises (``RuntimeError("probe: ...")``), which comes back as the task's message;
the tests then check that nothing was reached. Grading runs in a fresh process, once per
sandbox level this machine offers (``landlock``: Landlock without namespaces, as on a kernel
that forbids unprivileged user namespaces; ``namespaces``: namespaces without Landlock, as on
a kernel < 5.13; ``full``: both); levels the kernel lacks are skipped with the reason.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

from autograder.isolation.policy import probe_capabilities
from autograder.paths import course_root
from tests.helpers import solution_cell, topic_points, variant

TOPIC = "01_ppca"
LEVELS = ("landlock", "namespaces", "full")

RUNNER = r'''
import dataclasses, json, multiprocessing.forkserver, sys
from pathlib import Path
from autograder.grading import Grader
from autograder.isolation import policy as policies
from autograder.notebook_code import load_notebook_code
from autograder.registry import get_task

spec = json.loads(sys.argv[1])

def policy_for(level, cgroups):
    use = {"landlock": (True, False), "namespaces": (False, True), "full": (True, True)}[level]
    built = policies.build_policy("auto", landlock=use[0], namespaces=use[1])
    return built if cgroups else dataclasses.replace(built, cgroups={})

grader = Grader(device="cpu", jobs=1, timeout_s=60.0, memory_mb=spec["memory_mb"])
warm = load_notebook_code(Path(spec["warmup"]))
grader.grade_task(warm, get_task("ppca.marginal"))  # starts the fork server as grading does
address = multiprocessing.forkserver._forkserver._forkserver_address
template = Path(spec["notebook"])
notebook = template.with_name("attack.ipynb")
notebook.write_text(template.read_text().replace("@LISTENER@", address))
code = load_notebook_code(notebook)
out = {"listener": address}
for level, task_ids, cgroups in spec["runs"]:
    grader.policy = policy_for(level, cgroups)
    for task_id in task_ids:
        result = grader.grade_task(code, get_task(task_id))
        out[f"{level}{'' if cgroups else '-nocgroup'}/{task_id}"] = [result.status,
                                                                       result.message]
print("RESULT " + json.dumps(out))
'''


def available_levels() -> dict[str, str]:
    """Each level, mapped to '' when this machine has it, else the reason it is skipped."""
    caps = probe_capabilities()
    no_landlock = "" if caps.landlock_abi else "this kernel has no Landlock"
    no_ns = "" if caps.namespaces else f"no user namespaces ({caps.namespace_problem})"
    return {"landlock": no_landlock, "namespaces": no_ns,
            "full": "; ".join(r for r in (no_landlock, no_ns) if r)}


def _levels(*wanted: str) -> list[str]:
    missing = {level: why for level, why in available_levels().items() if why}
    for level in wanted:
        if level in missing:
            print(f"sandbox level {level} skipped: {missing[level]}")
    return [level for level in wanted if level not in missing]


def _grade(notebook: Path, runs: list[tuple[str, list[str], bool]], cwd: Path,
           env: dict[str, str], memory_mb: int = 2500) -> dict[str, list[str]]:
    """Grade tasks of ``notebook`` at the given levels in a fresh process; {level/task: ...}."""
    warmup = variant(TOPIC, notebook.parent / "warmup", {})
    spec = {"notebook": str(notebook), "warmup": str(warmup), "runs": runs,
            "memory_mb": memory_mb}
    done = subprocess.run([sys.executable, "-c", RUNNER, json.dumps(spec)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


def _probe(body: str, signature: str) -> str:
    """A task function that runs ``body`` (which fills ``seen``) and reports it."""
    indented = "\n".join("    " + line for line in body.strip().splitlines())
    return (f"import os, sys, glob, socket\ndef {signature}:\n    seen = []\n{indented}\n"
            "    raise RuntimeError('probe: ' + ' '.join(seen))\n")


def _report(results: dict[str, list[str]], key: str) -> str:
    status, message = results[key]
    assert "probe:" in message, (key, status, message)  # the attack itself ran
    return message.split("probe:", 1)[1]


@pytest.fixture
def outside_tmp():
    """A temporary folder that is neither under /tmp nor in any tree a child may read."""
    folder = Path(tempfile.mkdtemp(prefix="vae-hostile-", dir="/var/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(extra)
    return env


# -- sockets: the fork server, and any socket file ------------------------------------------

CONNECT_EACH = '''
for path in sorted(found):
    try:
        client = socket.socket(socket.AF_UNIX)
        client.connect(path)
        seen.append("CONNECTED")
    except OSError as exc:
        seen.append(type(exc).__name__)
'''

CONNECT = '''
found = set(glob.glob(TMPDIR + "/pymp-*/listener-*")) | {"@LISTENER@"}
try:
    for line in open("/proc/net/unix").read().splitlines()[1:]:
        if "listener-" in line:
            found.add(line.split()[-1])
except OSError:
    pass
''' + CONNECT_EACH


LIST_LISTENER = '''
folder = os.path.dirname("@LISTENER@")
for path in (folder, os.path.dirname(folder)):
    try:
        names = os.listdir(path)
        if path == folder or os.path.basename(folder) in names:
            seen.append("LISTED:" + path)
    except OSError as exc:
        seen.append(type(exc).__name__)
'''


def test_no_level_lets_a_child_see_or_connect_to_the_fork_server(tmp_path, outside_tmp):
    """Whoever connects to the fork server's listener gets an unsandboxed fork of it, so no
    child may list the folder that holds it nor connect to it, even knowing its path. The
    grader's TMPDIR is outside /tmp (where Python would put it, visible at ``namespaces``):
    the listener lives in a private 0700 folder under /tmp or /dev/shm instead."""
    levels = _levels(*LEVELS)
    if not levels:
        pytest.skip("no sandbox level is available on this machine")
    cell = f"TMPDIR = {str(outside_tmp)!r}\n" + _probe(LIST_LISTENER + CONNECT,
                                                       "ppca_marginal(W, b, sigma2)")
    notebook = variant(TOPIC, tmp_path, {"ppca_marginal_solution": cell}, name="template")
    results = _grade(notebook, [(level, ["ppca.marginal"], True) for level in levels],
                     course_root(), _env(TMPDIR=str(outside_tmp)))
    folder = os.path.dirname(results["listener"])
    assert folder.startswith(("/tmp/vae-grader-", "/dev/shm/vae-grader-")), results["listener"]
    assert not os.path.exists(folder), "the folder outlived the grading process"
    for level in levels:
        report = _report(results, f"{level}/ppca.marginal")
        assert "CONNECTED" not in report and "LISTED" not in report, (level, report)
        assert "PermissionError" in report, (level, report)


KERNEL_ATTACK = "import socket, sys\nfound, seen = sys.argv[1:], []\n" + CONNECT_EACH + (
    'sys.exit(3 if "CONNECTED" in seen else 0 if set(seen) == {"PermissionError"} else 4)\n')


def _listen(path: Path) -> socket.socket:
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen()
    threading.Thread(target=lambda: server.accept(), daemon=True).start()
    return server


@pytest.mark.parametrize("level", LEVELS)
def test_the_feedback_kernel_cannot_connect_to_socket_files(level, tmp_path, outside_tmp):
    """nbgrader's kernel runs through ``isolation.launch``: a socket file next to the
    notebook (bound into its view) or elsewhere on the host must refuse it. (The launched
    command's output goes to a log inside the sandbox; the exit status tells: 3 connected,
    4 refused otherwise than by the sandbox, 0 refused by it.)"""
    from autograder.isolation.kernel import POLICY_FILE, sandboxed_kernel_manager
    from autograder.isolation.policy import build_policy

    if level not in _levels(level):
        pytest.skip(f"sandbox level {level}: {available_levels()[level]}")
    use = {"landlock": (True, False), "namespaces": (False, True), "full": (True, True)}[level]
    policy = build_policy("auto", landlock=use[0], namespaces=use[1])
    sandboxed_kernel_manager(policy, tmp_path)
    notebook_dir = tmp_path / "submission"
    notebook_dir.mkdir()
    servers = [_listen(notebook_dir / "next-to-notebook.sock"), _listen(outside_tmp / "host.sock")]
    try:
        done = subprocess.run(
            [sys.executable, "-m", "autograder.isolation.launch", "--policy",
             str(tmp_path / POLICY_FILE), "--", sys.executable, "-c", KERNEL_ATTACK,
             str(notebook_dir / "next-to-notebook.sock"),
             str(outside_tmp / "host.sock")],
            cwd=notebook_dir, capture_output=True, text=True, timeout=120, env=_env())
    finally:
        for server in servers:
            server.close()
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])


NETWORK_REACH = """
import socket
seen = []
try:
    socket.create_connection(("127.0.0.1", TCP_PORT), timeout=5).close()
    seen.append("CONNECTED")
except OSError as exc:
    seen.append(type(exc).__name__)
try:
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("127.0.0.1", UDP_PORT))
except OSError as exc:
    seen.append(type(exc).__name__)
"""
"""Tries the host's TCP listener and UDP socket on ``TCP_PORT``/``UDP_PORT``; fills ``seen``."""

NETWORK_ATTACK = "import sys\nTCP_PORT, UDP_PORT = int(sys.argv[1]), int(sys.argv[2])\n" + \
    NETWORK_REACH + """
listed = open("/proc/net/tcp").read() + open("/proc/net/udp").read()
if f":{TCP_PORT:04X} " in listed or f":{UDP_PORT:04X} " in listed:
    seen.append("LISTED")
sys.exit(3 if "CONNECTED" in seen else 5 if "LISTED" in seen else 0)
"""


class _HostListeners:
    """A TCP listener and a UDP socket on the host's 127.0.0.1 that record what reaches them."""

    def __init__(self) -> None:
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.reached: list[str] = []
        for server, what in ((self.tcp, "tcp"), (self.udp, "udp")):
            threading.Thread(target=self._wait, args=(server, what), daemon=True).start()

    def _wait(self, server: socket.socket, what: str) -> None:
        with contextlib.suppress(OSError):
            server.accept() if what == "tcp" else server.recvfrom(16)
            self.reached.append(what)

    @property
    def ports(self) -> tuple[int, int]:
        return self.tcp.getsockname()[1], self.udp.getsockname()[1]

    def close(self) -> None:
        self.tcp.close()
        self.udp.close()


def _launch(policy_dir: Path, command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    from autograder.isolation.kernel import POLICY_FILE

    return subprocess.run([sys.executable, "-m", "autograder.isolation.launch", "--policy",
                           str(policy_dir / POLICY_FILE), "--", *command],
                          cwd=cwd, capture_output=True, text=True, timeout=120, env=_env())


def _level_policy(level: str, folder: Path) -> None:
    from autograder.isolation.kernel import sandboxed_kernel_manager
    from autograder.isolation.policy import build_policy

    if level not in _levels(level):
        pytest.skip(f"sandbox level {level}: {available_levels()[level]}")
    use = {"landlock": (True, False), "namespaces": (False, True), "full": (True, True)}[level]
    sandboxed_kernel_manager(build_policy("auto", landlock=use[0], namespaces=use[1]), folder)


@pytest.mark.parametrize("level", ["namespaces", "full"])
def test_the_feedback_kernel_has_no_way_into_the_hosts_network(level, tmp_path):
    """With namespaces the kernel has a network of its own (loopback only): a TCP listener
    and a UDP socket on the host's 127.0.0.1 are neither reached nor listed in /proc/net
    (at ``namespaces``, without Landlock's TCP rules, only the network namespace stops it).
    Exit status of the launched command: 3 connected, 5 listed, 0 neither."""
    _level_policy(level, tmp_path)
    host = _HostListeners()
    try:
        done = _launch(tmp_path, [sys.executable, "-c", NETWORK_ATTACK,
                                  *map(str, host.ports)], tmp_path)
        time.sleep(0.5)  # a datagram that got through has arrived by now
    finally:
        host.close()
    assert done.returncode == 0 and host.reached == [], (done.returncode, host.reached,
                                                         done.stderr[-2000:])


ECHO_KERNEL = """
import json, socket, sys
info = json.load(open(sys.argv[sys.argv.index("-f") + 1]))
server = socket.create_server((info["ip"], info["shell_port"]))
for _ in range(2):
    client, _ = server.accept()
    client.sendall(b"kernel:" + client.recv(64))
    client.close()
"""


@pytest.mark.parametrize("level", ["namespaces", "full"])
def test_the_kernels_client_reaches_it_through_the_relay(level, tmp_path):
    """The connection file's ports on the host's loopback lead to the kernel's private
    loopback (a stand-in kernel that echoes on its shell port, twice)."""
    _level_policy(level, tmp_path)
    ports = []
    for _ in range(5):
        with socket.create_server(("127.0.0.1", 0)) as probe:
            ports.append(probe.getsockname()[1])
    names = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")
    connection = tmp_path / "kernel-test.json"
    connection.write_text(json.dumps({**dict(zip(names, ports, strict=True)), "ip": "127.0.0.1",
                                      "transport": "tcp", "key": "k"}))
    kernel = subprocess.Popen(
        [sys.executable, "-m", "autograder.isolation.launch", "--policy",
         str(tmp_path / "policy.json"), "--", sys.executable, "-c", ECHO_KERNEL,
         "-f", str(connection)], cwd=tmp_path, env=_env(), stderr=subprocess.PIPE, text=True)
    replies = []
    try:
        deadline = time.monotonic() + 60
        while len(replies) < 2 and time.monotonic() < deadline:
            with contextlib.suppress(OSError), \
                    socket.create_connection(("127.0.0.1", ports[0]), timeout=10) as client:
                client.sendall(b"hello%d" % len(replies))
                reply = client.recv(64)
                if reply:
                    replies.append(reply)
                    continue
            time.sleep(0.1)  # not listening yet: the relay closed the connection
        assert kernel.wait(timeout=60) == 0, kernel.stderr.read()[-2000:]
    finally:
        kernel.kill()
    assert replies == [b"kernel:hello0", b"kernel:hello1"]


NETWORK_CELL = NETWORK_REACH + 'print("network probe:", *seen)\n'


def test_nbgrader_autogrades_notebook_cells_without_the_hosts_network(tmp_path):
    """Under ``nbgrader autograde`` at level full, a notebook cell connects to a TCP listener
    and sends a datagram to a UDP socket on the host's 127.0.0.1: neither is reached, the
    cell ran (its output is in the autograded notebook) and the grade is the solution's."""
    import nbformat
    from nbgrader.api import Gradebook

    from tests.test_nbgrader_e2e import fill, nbgrader

    if "full" not in _levels("full"):
        pytest.skip(f"sandbox level full: {available_levels()['full']}")
    root = tmp_path / "course"
    root.mkdir()
    shutil.copy(course_root() / "nbgrader_config.py", root)
    shutil.copytree(course_root() / "solutions" / TOPIC, root / "solutions" / TOPIC)
    nbgrader(root, "generate_assignment", TOPIC, "--force")
    submission = root / "submitted" / "mallory" / TOPIC / f"{TOPIC}.ipynb"
    fill(root / "exercises" / TOPIC / f"{TOPIC}.ipynb",
         root / "solutions" / TOPIC / f"{TOPIC}.ipynb", submission)
    host = _HostListeners()
    try:
        nb = nbformat.read(str(submission), as_version=4)
        tcp_port, udp_port = host.ports
        nb.cells.append(nbformat.v4.new_code_cell(
            f"TCP_PORT, UDP_PORT = {tcp_port}, {udp_port}\n" + NETWORK_CELL))
        nbformat.write(nb, str(submission))
        nbgrader(root, "autograde", TOPIC, "--Execute.timeout=30")
        time.sleep(0.5)
    finally:
        host.close()
    assert host.reached == []
    graded = nbformat.read(str(root / "autograded" / "mallory" / TOPIC / f"{TOPIC}.ipynb"),
                           as_version=4)
    text = "".join(o.get("text", "") for o in graded.cells[-1].get("outputs", []))
    assert "network probe:" in text and "CONNECTED" not in text, text
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        assert gb.find_submission(TOPIC, "mallory").score == topic_points(TOPIC)


# -- a course, its data and a package tree under /tmp or /dev/shm ---------------------------

READ_AROUND = '''
for name, path in TARGETS.items():
    try:
        with open(path, "rb") as handle:
            seen.append(name + ("=READ" if handle.read(16) else "=EMPTY"))
    except OSError as exc:
        seen.append(name + "=" + type(exc).__name__)
try:
    import vaefakepkg
    seen.append("package=" + str(vaefakepkg.VALUE))
    with open(vaefakepkg.__file__, "a") as handle:
        handle.write("# tampered")
    seen.append("packagewrite=DONE")
except Exception as exc:
    seen.append("package=" + type(exc).__name__)
'''

ENVIRONMENT = '''
texts = []
for path in ("/proc/self/environ", "/proc/1/environ", "/proc/%d/environ" % os.getppid()):
    try:
        with open(path, "rb") as handle:
            texts.append(handle.read().decode(errors="replace"))
    except OSError:
        pass
visible = " ".join(f"{k}={v}" for k, v in os.environ.items()) + " ".join(texts)
seen.append("LEAKED" if CANARY in visible else "clean")
seen.append("keys=" + ",".join(sorted(os.environ)))
'''

MANY_FILES = '''
import tempfile
folder = tempfile.mkdtemp()
made = 0
try:
    for made in range(200_000):
        open(os.path.join(folder, str(made)), "w").close()
    seen.append("made=200000")
except OSError as exc:
    seen.append(f"made={made} errno={exc.errno}")
'''

COW_WORKERS = '''
import time
_forked = []
def ppca_mle(X, M):
    if not _forked:  # once: 4 workers share a 1 GiB tensor copy-on-write (3 GiB of RSS more)
        _forked.append(True)
        big = torch.ones(256 * 2**20)
        workers = []
        for _ in range(4):
            pid = os.fork()
            if pid == 0:
                float(big.sum())
                time.sleep(2)
                os._exit(0)
            workers.append(pid)
        for pid in workers:
            os.waitpid(pid, 0)
        del big
'''


def _build_course(root: Path) -> dict[str, Path]:
    """The course (autograder, vaelib, solutions), MNIST-named files and a package tree."""
    course, data, site = root / "course", root / "data", root / "site"
    ignore = shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints")
    for part in ("autograder", "vaelib", "solutions"):
        shutil.copytree(course_root() / part, course / part, ignore=ignore)
    raw = data / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (raw / name).write_bytes(b"\x00" * 64)
    (site / "vaefakepkg").mkdir(parents=True)
    (site / "vaefakepkg" / "__init__.py").write_text("VALUE = 42\n")
    return {"course": course, "data": data, "site": site, "raw": raw}


def _root_only_file() -> Path | None:
    """A file under /opt that only root may read (None where the tests cannot make one)."""
    folder = Path("/opt") / f"vae-hostile-{uuid.uuid4().hex[:8]}"
    try:
        folder.mkdir(mode=0o700)
    except OSError:
        return None
    secret = folder / "secret.txt"
    secret.write_text("root only")
    secret.chmod(0o600)
    return secret


def _grade_from(base: str, runs: list[tuple[str, list[str], bool]]) -> dict[str, object]:
    """Build a course under ``base`` and grade the attack notebook from there."""
    root = Path(tempfile.mkdtemp(prefix="vae-hostile-", dir=base))
    opt_secret = _root_only_file()
    try:
        paths = _build_course(root)
        canary = f"vae-canary-{uuid.uuid4().hex}"
        topic = paths["course"] / "autograder" / "topics" / "t01_ppca"
        targets = {"trusted": paths["course"] / "autograder" / "trusted" / "gaussian_kl.py",
                   "hidden": topic / "hidden.py", "judges": topic / "public.py",
                   "t10k": paths["raw"] / "t10k-images-idx3-ubyte",
                   "train": paths["raw"] / "train-images-idx3-ubyte",
                   "library": paths["course"] / "vaelib" / "__init__.py"}
        if opt_secret is not None:
            targets["opt"] = opt_secret
        setup = (f"TARGETS = {({k: str(v) for k, v in targets.items()})!r}\n"
                 f"CANARY = {canary!r}\n")
        mle = solution_cell(TOPIC, "ppca_mle_solution").replace("def ppca_mle(X, M):", "")
        cells = {"ppca_sample_solution": setup + _probe(READ_AROUND, "ppca_sample(n, W, b, s)"),
                 "ppca_posterior_solution": setup + _probe(ENVIRONMENT,
                                                           "ppca_posterior(x, W, b, s)"),
                 "ppca_log_marginal_solution": _probe(MANY_FILES,
                                                      "ppca_log_marginal(x, W, b, s)"),
                 "ppca_mle_solution": "import os\n" + COW_WORKERS + mle}
        notebook = variant(TOPIC, root / "submitted", cells, name="template")
        env = _env(PYTHONPATH=f"{paths['course']}{os.pathsep}{paths['site']}",
                   VAE_COURSE_DATA=str(paths["data"]), VAE_HOSTILE_CANARY=canary)
        env.pop("VAE_COURSE_ROOT", None)
        results = _grade(notebook, runs, paths["course"], env)
        results["opt"] = opt_secret is not None
        return results
    finally:
        shutil.rmtree(root, ignore_errors=True)
        if opt_secret is not None:
            shutil.rmtree(opt_secret.parent, ignore_errors=True)


@pytest.fixture(scope="module")
def under_tmp() -> dict[str, object]:
    """Every attack of this section, graded with the course and data under /tmp."""
    reading = ["ppca.sample", "ppca.posterior"]
    runs = [(level, reading, True) for level in _levels("landlock")]
    runs += [(level, [*reading, "ppca.log_marginal"], True) for level in _levels("namespaces")]
    runs += [(level, [*reading, "ppca.log_marginal", "ppca.mle"], True)
             for level in _levels("full")]
    runs += [(level, ["ppca.mle"], False) for level in _levels("full")]
    if not runs:
        pytest.skip("no sandbox level is available on this machine")
    return _grade_from("/tmp", runs)


def _ran(results: dict[str, object], task_id: str, *levels: str) -> list[str]:
    ran = [key for key in results if key.endswith("/" + task_id)
           and key.split("/")[0] in levels]
    if not ran:
        pytest.skip(f"none of the levels {levels} is available on this machine")
    return ran


def _check_reading(results: dict[str, object]) -> None:
    for key in _ran(results, "ppca.sample", *LEVELS):
        report = _report(results, key).split()
        for name in ("trusted", "hidden", "judges", "t10k"):  # refused, not there or empty
            assert {f"{name}=PermissionError", f"{name}=FileNotFoundError",
                    f"{name}=EMPTY"} & set(report), (
                key, report)
        assert "train=READ" in report and "library=READ" in report, (key, report)
        assert "package=42" in report and "packagewrite=DONE" not in report, (key, report)


def test_grader_only_files_and_test_data_under_tmp_stay_unreadable(under_tmp):
    """Course, data and a package tree under /tmp: the child reads the library, the training
    files and the package, and neither ``autograder/trusted``, a topic's judges (``hidden.py``,
    ``public.py``) nor the MNIST test files."""
    _check_reading(under_tmp)


def test_grader_only_files_and_test_data_under_dev_shm_stay_unreadable():
    runs = [(level, ["ppca.sample"], True) for level in _levels(*LEVELS)]
    if not runs:
        pytest.skip("no sandbox level is available on this machine")
    _check_reading(_grade_from("/dev/shm", runs))


def test_the_graders_environment_never_reaches_the_child(under_tmp):
    for key in _ran(under_tmp, "ppca.posterior", *LEVELS):
        report = _report(under_tmp, key).split()
        assert report[0] == "clean", (key, report)
        keys = set(report[1].removeprefix("keys=").split(","))
        assert "VAE_HOSTILE_CANARY" not in keys and "HOME" in keys and "PATH" in keys, keys
        assert "VAE_COURSE_DATA" in keys, keys


def test_a_root_only_file_under_opt_is_unreadable(under_tmp):
    if not under_tmp["opt"]:
        pytest.skip("cannot create a file under /opt here (not root)")
    for key in _ran(under_tmp, "ppca.sample", *LEVELS):  # refused, or not in the child's root
        report = _report(under_tmp, key).split()
        assert {"opt=PermissionError", "opt=FileNotFoundError"} & set(report), (key, report)


def test_many_files_in_the_private_tmp_hit_the_inode_cap(under_tmp):
    from autograder.isolation.namespaces import TMP_INODES

    for key in _ran(under_tmp, "ppca.log_marginal", "namespaces", "full"):
        report = _report(under_tmp, key)
        found = re.search(r"made=(\d+) errno=(\d+)", report)
        assert found, (key, report)
        assert int(found[1]) <= TMP_INODES and found[2] == str(errno.ENOSPC), (key, report)
        assert under_tmp[key][0] == "error", under_tmp[key]


def test_honest_workers_sharing_memory_copy_on_write_are_not_stopped(under_tmp):
    """Four forked workers reading one 1 GiB tensor: 5 GiB of RSS, about 1 GiB of memory;
    within the 2500 MiB limit, with the task's memory cgroup and without it (PSS)."""
    ran = _ran(under_tmp, "ppca.mle", "full", "full-nocgroup")
    assert len(ran) == 2, ran
    for key in ran:
        assert under_tmp[key][0] == "passed", (key, under_tmp[key])


def test_the_fork_servers_folder_avoids_every_tree_a_child_may_reach():
    """With /tmp itself readable by children, the folder goes to /dev/shm (or nowhere)."""
    from autograder.isolation.listener_dir import private_folder

    folder = private_folder([])
    assert folder.startswith("/tmp/vae-grader-") and os.stat(folder).st_mode & 0o777 == 0o700
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        moved = private_folder(["/tmp", tempfile.gettempdir()])
        assert moved.startswith("/dev/shm/vae-grader-"), moved
    with pytest.raises(OSError, match="outside the sandbox"):
        private_folder(["/"])
