"""What student code returns can neither run code in the grader nor buy credit.

Sympy answers travel as closed structural trees (``autograder.sympy_tree``), judge children
run in the task sandbox and only the grading process decides a verdict; what a child sends is
decoded within a per-task budget; grade-class's cached references and records are sealed.
"""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import pytest
import sympy
import torch

from autograder import judging, payload, sandbox, symbolic, sympy_tree
from autograder.checks.api import CheckFailed, Judgement
from autograder.classgrade.records import Record, TaskGrade
from autograder.classgrade.references import DiskReferenceStore
from autograder.classgrade.store import ResultStore
from autograder.grading import Grader
from autograder.registry import get_task
from tests.helpers import assert_full, grade_variant

# ------------------------------------------------------------------ payloads that would run code


def _evil_payloads(marker: Path) -> list[dict]:
    """Tagged sympy values that run ``touch marker`` wherever a string reaches sympify/eval."""
    code = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    return [
        {"t": "sympy", "srepr": f"ImmutableDenseMatrix([[{code!r}]])"},  # the old encoding
        {"t": "sympy", "tree": ["Matrix", 1, 1, [code]]},
        {"t": "sympy", "tree": ["Symbol", code, []]},
        {"t": "sympy", "tree": ["Float", code, 53]},
        {"t": "sympy", "tree": ["Function", code, ["Integer", 1]]},
        {"t": "sympy", "tree": ["Integer", code]},
        {"t": "sympy", "tree": ["sympify", ["Integer", 1]]},
        {"t": "sympy", "tree": ["Add", code, ["Integer", 1]]},
        {"t": "sympy", "tree": ["Symbol", "x", [["positive", code]]]},
    ]


def test_strings_that_sympify_would_evaluate_are_refused_and_never_parsed(tmp_path,
                                                                           monkeypatch):
    import sympy.parsing.sympy_parser as parser

    def forbidden(*args, **kwargs):
        raise AssertionError(f"a string reached sympy's parser: {args!r}")

    monkeypatch.setattr(parser, "parse_expr", forbidden)  # where sympify sends strings
    marker = tmp_path / "ran"
    for evil in _evil_payloads(marker):
        value = payload.decode(payload.loads_raw(payload.dumps(evil)))
        with pytest.raises(CheckFailed, match="could not be read as a sympy expression"):
            symbolic.to_sympy(value, "the answer")
        with pytest.raises(sympy_tree.TreeError):
            sympy_tree.rebuild(evil.get("tree", evil.get("srepr")))
    assert not marker.exists()


FORGE_FRAMES = '''
def ppca_marginal_sympy(W, b, sigma2):
    import io, os, struct, torch
    frames = {frames!r}
    for fd in range(3, 256):
        try:
            if not os.readlink(f"/proc/self/fd/{{fd}}").startswith("pipe:"):
                continue
            for index, value in enumerate(frames):
                buffer = io.BytesIO()
                torch.save({{"kind": "probe", "index": "mock" if index == 0 else index,
                            "record": {{"status": "ok", "value": value}}}}, buffer)
                blob = buffer.getvalue()
                os.write(fd, struct.pack(">Q", len(blob)) + blob)
        except OSError:
            pass
    os._exit(0)
'''


def _pair(first: dict, second: dict) -> dict:
    return {"t": "tuple", "items": [first, second]}


@pytest.fixture(scope="module")
def public_grader() -> Grader:
    """Public checks only (no reference run), short limits."""
    return Grader(device="cpu", jobs=1, timeout_s=60.0, include_hidden=False)


@pytest.mark.parametrize("which", [0, 1, 2])
def test_forged_sympy_frames_run_nothing_and_get_no_credit(tmp_path, which):
    """Frames written straight to the result pipe, judged with the sandbox off (so that only
    the encoding stands between the payload and code execution)."""
    marker = tmp_path / "ran"
    evil = _evil_payloads(marker)[which]
    grader = Grader(device="cpu", jobs=1, sandbox="off", timeout_s=60.0, include_hidden=False)
    outcome = grade_variant("01_ppca", tmp_path, "ppca_marginal_sympy_solution",
                            FORGE_FRAMES.format(frames=[_pair(evil, evil)]),
                            "ppca.marginal_sympy", grader)
    assert outcome.points == 0
    assert "could not be read as a sympy expression" in outcome.message
    assert not marker.exists()


# ------------------------------------------------------------- the verdict is the parent's


def _received(value: object) -> object:
    return payload.loads(payload.dumps(payload.encode(value)))


def _forged_verdict(monkeypatch, status: str = "passed") -> None:
    """Every judge child 'answers' ``status`` without judging (a lying or forged frame)."""
    def lying_child(entry, job, timeout_s, memory_mb, policy, max_bytes=0):
        return sandbox.ChildRun("finished", 0, 0.0, 0.0,
                                {("verdict", 0): {"status": status, "message": ""},
                                 ("done", 0): True})
    monkeypatch.setattr(sandbox, "run_child", lying_child)


def _check_id(task_id: str, hidden: bool) -> str:
    return next(c.id for c in get_task(task_id).checks if c.hidden == hidden)


def test_a_forged_passed_verdict_gives_no_credit_for_a_wrong_answer(monkeypatch):
    _forged_verdict(monkeypatch)
    wrong = _received((sympy.Matrix([1, -1]), sympy.Matrix([[5, 2], [2, 8]])))
    right = _received((sympy.Matrix([1, -1]), sympy.Matrix([[3, 2], [2, 6]])))
    mock = _check_id("ppca.marginal_sympy", hidden=False)
    status, message = judging.judge_in_child(
        "ppca.marginal_sympy", mock, Judgement({}, wrong, None, False, "cpu"))
    assert status == "failed" and "covariance" in message
    assert judging.judge_in_child("ppca.marginal_sympy", mock,
                                  Judgement({}, right, None, False, "cpu")) == ("passed", "")

    mu1, s1, mu2, s2 = sympy.symbols("mu1 s1 mu2 s2", positive=True)
    wrong_kl = _received(sympy.log(s2 / s1) + (s1**2 + (mu1 - mu2) ** 2) / s2**2 - 1)
    for hidden in (False, True):
        status, _ = judging.judge_in_child("kl.sympy", _check_id("kl.sympy", hidden),
                                           Judgement({}, wrong_kl, None, hidden, "cpu"))
        assert status == "failed"


def test_a_forged_verdict_that_is_not_plain_data_counts_as_a_failure(monkeypatch):
    _forged_verdict(monkeypatch, status="maybe")
    right = _received((sympy.Matrix([1, -1]), sympy.Matrix([[3, 2], [2, 6]])))
    status, _ = judging.judge_in_child("ppca.marginal_sympy", "mock",
                                       Judgement({}, right, None, False, "cpu"))
    assert status == "failed"


def test_every_sympy_check_has_a_confirmation_in_the_grading_process():
    for task_id in ("ppca.marginal_sympy", "kl.sympy"):
        assert all(check.confirm is not None for check in get_task(task_id).checks), task_id


def test_numeric_evaluation_refuses_astronomical_values_quickly():
    x = sympy.Symbol("x", positive=True)
    huge = payload.Symbolic(["Mul", ["Pow", ["Integer", 10], ["Integer", 10**12]],
                             ["Symbol", "x", []]])
    tower = _received(sympy.exp(sympy.exp(sympy.exp(sympy.exp(x * 1000)))))
    for value in (huge, tower):
        with pytest.raises(CheckFailed, match="does not evaluate to a finite number"):
            symbolic.values_at(value, {"x": 1.5}, "the answer")


# ------------------------------------------------- correct answers, in other forms, still pass
PPCA_BY_HAND = '''
def ppca_marginal_sympy(W, b, sigma2):
    W = sympy.Matrix(W)
    D = W.shape[0]
    return sympy.Matrix(b).reshape(D, 1), W @ W.T + sigma2 * sympy.eye(D)
'''

KL_OTHER_FORM = '''
def kl_normal_sympy(mu1, s1, mu2, s2):
    return (sympy.log(s2) - sympy.log(s1) + s1**2 / (2 * s2**2)
            + (mu2 - mu1) ** 2 * sympy.Rational(1, 2) / s2**2 - sympy.Float(0.5))
'''


def test_correct_sympy_answers_in_other_forms_get_full_marks(tmp_path):
    assert_full(grade_variant("01_ppca", tmp_path / "a", "ppca_marginal_sympy_solution",
                              PPCA_BY_HAND, "ppca.marginal_sympy"))
    assert_full(grade_variant("02_gaussian_kl", tmp_path / "b", "kl_normal_sympy_solution",
                              KL_OTHER_FORM, "kl.sympy"))


# --------------------------------------------------------- bounded decoding of what comes back


def _frame(value: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return struct.pack(">Q", len(buffer.getvalue())) + buffer.getvalue()


@pytest.mark.parametrize("stream", [
    b"\0" * (8 * 2_000_000),  # 2 M empty frames
    _frame({"kind": "probe", "index": 0, "record": [{} for _ in range(400_000)]}),
    _frame({"kind": "probe", "index": 0, "record": [[[[[]]]]] * 60_000}),
], ids=["empty frames", "many dicts", "many objects"])
def test_result_streams_beyond_the_decode_budget_are_refused(stream):
    with pytest.raises(payload.TooComplex):
        sandbox.parse_frames(stream)


def test_deep_or_cyclic_structures_are_refused():
    deep: list = []
    for _ in range(1000):
        deep = [deep]
    cyclic: list = []
    cyclic.append(cyclic)
    for value in (deep, cyclic):
        with pytest.raises(payload.TooComplex):
            payload.DecodeBudget().take_objects(value)


def test_ordinary_results_fit_the_budget():
    frames = sandbox.parse_frames(b"".join(
        _frame({"kind": "probe", "index": i, "record": {"status": "ok", "value": payload.encode(
            [torch.randn(64, 64)] * 200)}}) for i in range(8)))
    assert len(frames) == 8


FLOOD_FRAMES = '''
def ppca_marginal_sympy(W, b, sigma2):
    import os
    for fd in range(3, 256):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("pipe:"):
                os.set_blocking(fd, True)
                zeros = bytes(1 << 20)
                for _ in range(384):
                    os.write(fd, zeros)
        except OSError:
            pass
    os._exit(0)
'''


def test_a_flood_of_empty_frames_is_refused_with_a_clear_message(tmp_path, public_grader):
    outcome = grade_variant("01_ppca", tmp_path, "ppca_marginal_sympy_solution", FLOOD_FRAMES,
                            "ppca.marginal_sympy", public_grader)
    assert outcome.points == 0 and outcome.status == "error"
    assert "too large or too complex" in outcome.message
    assert "result frames" in outcome.message


# ------------------------------------------------------------ sealed references and records


def test_a_tampered_reference_is_ignored_with_a_warning_and_computed_again(tmp_path, capsys):
    store = DiskReferenceStore(tmp_path / ".references", "cpu")
    value = _received((sympy.Matrix([1, -1]), torch.ones(2)))
    store.put("01_ppca", "ppca.marginal_sympy", 1, value)
    kept = store.get("01_ppca", "ppca.marginal_sympy", 1)
    assert kept[0].tree == value[0].tree and torch.equal(kept[1], value[1])
    path = store._path("01_ppca", "ppca.marginal_sympy", 1)
    genuine = path.read_bytes()
    forged = payload.dumps(payload.encode(_received((sympy.Matrix([7, 7]), torch.zeros(2)))))
    for content in (genuine.replace(genuine.split(b"\n", 2)[2], forged),  # content swapped
                    forged,  # no seal at all
                    genuine[:-1] + bytes([genuine[-1] ^ 1])):  # one bit flipped
        path.write_bytes(content)
        with pytest.raises(KeyError):
            store.get("01_ppca", "ppca.marginal_sympy", 1)
        assert "seal does not match" in capsys.readouterr().err
    other = store._path("01_ppca", "ppca.marginal_sympy", 0)  # a genuine file, moved
    other.write_bytes(genuine)
    with pytest.raises(KeyError):
        store.get("01_ppca", "ppca.marginal_sympy", 0)


def test_a_tampered_record_is_graded_again_with_a_warning(tmp_path, capsys):
    store = ResultStore(tmp_path)
    record = Record("alice", "01_ppca", "01_ppca", "a.ipynb", "k1",
                    [TaskGrade("ppca.marginal", 0.0, 2.0, "failed", "wrong")])
    store.save(record)
    assert store.load("alice", "01_ppca", "k1") == record
    path = store.path("alice", "01_ppca")
    data = json.loads(path.read_text())
    data["tasks"][0].update(points=2.0, status="passed")
    path.write_text(json.dumps(data))
    assert store.load("alice", "01_ppca", "k1") is None
    assert "seal does not match" in capsys.readouterr().err
    data.pop("seal")
    path.write_text(json.dumps(data))
    assert store.load("alice", "01_ppca", "k1") is None
    assert (tmp_path / ".seal-key").stat().st_mode & 0o077 == 0


def test_children_can_write_nothing_outside_their_scratch_space(tmp_path):
    from autograder.isolation.policy import build_policy

    policy = build_policy("auto")
    if not policy.active:
        pytest.skip(policy.summary())
    out = (tmp_path / "grades").resolve()
    private = {"/tmp", "/dev/shm"} if policy.namespaces else set()
    scratch = str(tmp_path / "scratch")
    for writable in policy.spec(scratch)["write"]:
        if writable in private or writable == scratch:
            continue
        assert not (out == Path(writable) or Path(writable) in out.parents), writable


def test_grade_class_recomputes_a_tampered_record_and_reference(tmp_path):
    import re
    import shutil
    import subprocess
    import sys

    from autograder.paths import exercise_notebook

    topic = "04_reparameterisation"
    (tmp_path / "submitted" / "bob" / topic).mkdir(parents=True)
    shutil.copy(exercise_notebook(topic), tmp_path / "submitted" / "bob" / topic / f"{topic}.ipynb")
    out = tmp_path / "grades"

    def grade_class() -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "autograder", "grade-class",
                               str(tmp_path / "submitted"), "--out", str(out), "--jobs", "1"],
                              capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
        return done

    grade_class()
    record_path = ResultStore(out).path("bob", topic)
    record = json.loads(record_path.read_text())
    assert record["score"] == 0  # the untouched exercise
    for item in record["tasks"]:
        item.update(points=item["max_points"], status="passed")
    record_path.write_text(json.dumps(record))
    references = sorted((out / ".references").rglob("*.pt"))
    assert references
    genuine = references[0].read_bytes()
    references[0].write_bytes(genuine[:-1] + bytes([genuine[-1] ^ 1]))
    done = grade_class()
    assert re.search(r"\(1 graded now, 0 unchanged", done.stdout), done.stdout
    assert f"{record_path}: its seal does not match" in done.stderr
    assert f"{references[0]}: its seal does not match" in done.stderr
    assert json.loads(record_path.read_text())["score"] == 0
