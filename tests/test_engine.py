"""Unit tests of the engine's building blocks: payloads, sympy parsing, code extraction."""

from __future__ import annotations

import pytest
import sympy
import torch
from nbformat.v4 import new_notebook

from autograder import authoring, payload
from autograder.checks.api import CheckFailed
from autograder.checks.compare import expect_close, expect_tensor
from autograder.notebook_code import extract_code
from autograder.sympy_tree import TreeError, encode, rebuild


def roundtrip(value):
    return payload.loads(payload.dumps(payload.encode(value)))


def test_payload_keeps_tensors_and_their_origin():
    t = torch.arange(6.0, dtype=torch.float64).reshape(2, 3).requires_grad_()
    back = roundtrip((t * 2, {"a": 1.5, "b": [None, "x"]}))
    assert torch.equal(back[0], torch.arange(6.0, dtype=torch.float64).reshape(2, 3) * 2)
    info = payload.tensor_info(back[0])
    assert info.device == "cpu" and info.has_grad_fn
    assert back[1] == {"a": 1.5, "b": [None, "x"]}


def test_payload_never_delivers_foreign_objects():
    class AlwaysEqual:
        def __eq__(self, other):
            return True

    back = roundtrip(AlwaysEqual())
    assert isinstance(back, payload.Opaque) and back.type_name == "AlwaysEqual"
    assert back != 1


def test_payload_refuses_pickled_code():
    import io
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    blob = io.BytesIO()
    torch.save({"t": "list", "items": [Evil()]}, blob, pickle_protocol=2)
    with pytest.raises(pickle.UnpicklingError):
        payload.loads(blob.getvalue())


def test_sympy_tree_round_trips_sympy_and_refuses_anything_else():
    x = sympy.Symbol("x", positive=True)
    expr = sympy.Matrix([[x**2 + sympy.Rational(1, 3), sympy.log(x)], [sympy.pi, 2]])
    assert rebuild(encode(expr)) == expr
    for evil in ("__import__('os').system('true')", ["Symbol", "x.__class__", []],
                 ["eval", ["Integer", 1]], ["Float", "1+1", 53], ["Integer", 1.5],
                 ["Matrix", 1, 1, ["__import__('os')"]]):
        with pytest.raises(TreeError):
            rebuild(evil)


def test_expect_close_checks_shape_dtype_then_values():
    expected = torch.tensor([1.0, 2.0], dtype=torch.float64)
    with pytest.raises(CheckFailed, match="shape"):
        expect_close(torch.ones(3, dtype=torch.float64), expected, "x", reveal=True)
    with pytest.raises(CheckFailed, match="dtype"):
        expect_close(expected.float(), expected, "x", reveal=True)
    with pytest.raises(CheckFailed, match=r"expected 2, got 2\.5"):
        expect_close(torch.tensor([1.0, 2.5], dtype=torch.float64), expected, "x", reveal=True)
    with pytest.raises(CheckFailed) as hidden:
        expect_close(torch.tensor([1.0, 2.5], dtype=torch.float64), expected, "x", reveal=False)
    assert "expected" not in str(hidden.value) and "2.5" not in str(hidden.value)


def test_expect_tensor_reports_the_device():
    t = roundtrip(torch.zeros(2))
    t.vc_info = payload.TensorInfo("cuda:0", False, False)
    with pytest.raises(CheckFailed, match="device"):
        expect_tensor(t, "x", device="cpu")


def test_code_extraction_runs_only_setup_and_needed_solution_cells():
    nb = new_notebook(cells=[
        authoring.md("# title"),
        authoring.setup("import torch", "setup"),
        authoring.solution("def helper(x):\n    return x + 1", "helper_solution"),
        authoring.solution("def graded(x):\n    return helper(x) * 2", "graded_solution"),
        authoring.solution("while True:\n    pass", "unrelated_solution"),
        authoring.code("train_forever()"),
        authoring.tests("demo.task", 1),
    ])
    extracted = extract_code(nb)
    chosen = extracted.cells_for(("graded",))
    assert [c.index for c in chosen] == [1, 2, 3]
    assert extracted.grade_ids == ("demo_task",)


def test_code_extraction_understands_magics_and_syntax_errors():
    nb = new_notebook(cells=[
        authoring.solution("%matplotlib inline\ndef f():\n    return 1", "a"),
        authoring.solution("def g(:\n    pass", "b"),
    ])
    first, second = extract_code(nb).cells
    assert "f" in first.defines and first.syntax_error is None
    assert second.syntax_error and "g" in second.defines


def test_a_rewritten_answer_cell_with_a_syntax_error_is_named_as_the_cause():
    import nbformat

    from autograder.failures import load_problem as _load_problem
    from autograder.paths import solution_notebook
    from autograder.registry import get_task
    from autograder.sandbox import ChildRun

    path = solution_notebook("01_ppca")
    reference = extract_code(nbformat.read(str(path), as_version=4), str(path))
    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "ppca_sample_solution":
            cell.source = "def broken(:\n    pass\n"
    submission = extract_code(nb, "student.ipynb")
    load = {"failures": {}, "present": {"ppca_sample": False}}
    finished = ChildRun("finished", 0, 0.0, 0.0)
    status, message = _load_problem(submission, get_task("ppca.sample"), finished, load,
                                    reference)
    assert status == "error" and "SyntaxError at line 1" in message, message
    # Without knowing the answer cell, the symbol is only missing.
    assert _load_problem(submission, get_task("ppca.sample"), finished, load)[0] == "missing"
