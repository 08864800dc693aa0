"""Topic packages keep the trust boundary by their layout: what a child or a student may read
never imports grader-only code, the kit ships a package minus ``hidden.py``, and the sandbox
lets a child read a package's probes only."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import autograder
from autograder.isolation.policy import grader_only_paths
from autograder.kit_topics import grader_only_imports, is_topic_package
from autograder.student_kit import build_kit

PACKAGE = Path(autograder.__file__).resolve().parent
PACKAGES = sorted(p for p in (PACKAGE / "topics").iterdir() if is_topic_package(p))
SHIPPED = ("__init__.py", "tasks.py", "inputs.py", "probes.py", "public.py")
PROBE_IMPORTS = ("autograder.checks.api", "autograder.fixtures")
"""All a ``probes.py`` may import of the autograder (besides torch, sympy, vaelib)."""


def test_grader_only_imports_are_found_however_written():
    source = ("from autograder.trusted.ppca import Ppca\nfrom . import hidden\n"
              "from .hidden import judge\nimport autograder.trusted\n"
              "from autograder.topics.t01_ppca.hidden import GRADER_ONLY_CHECKS\n"
              "from autograder.topics.t01_ppca import public\nimport torch\n")
    assert grader_only_imports(source) == [
        "autograder.topics.t01_ppca.hidden", "autograder.topics.t01_ppca.hidden.GRADER_ONLY_CHECKS",
        "autograder.trusted", "autograder.trusted.ppca", "autograder.trusted.ppca.Ppca",
        "hidden", "hidden.judge"]


def test_topic_01_is_a_package():
    assert PACKAGE / "topics" / "t01_ppca" in PACKAGES


@pytest.mark.parametrize("package", PACKAGES, ids=[p.name for p in PACKAGES])
def test_shipped_files_never_import_hidden_or_trusted(package):
    for name in SHIPPED:
        path = package / name
        assert path.is_file(), path
        assert grader_only_imports(path.read_text()) == [], path


@pytest.mark.parametrize("package", PACKAGES, ids=[p.name for p in PACKAGES])
def test_probes_import_only_the_api_and_fixtures_of_the_autograder(package):
    import ast

    tree = ast.parse((package / "probes.py").read_text())
    for node in ast.walk(tree):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        for name in names:
            if name.startswith("autograder"):
                assert name.startswith(PROBE_IMPORTS), (package.name, name)


@pytest.mark.parametrize("package", PACKAGES, ids=[p.name for p in PACKAGES])
def test_a_child_may_read_a_package_s_probes_only(package):
    hidden = set(grader_only_paths(PACKAGE))
    for path in sorted(package.glob("*.py")):
        assert (path in hidden) == (path.name not in ("__init__.py", "probes.py")), path
    assert package / "__pycache__" in hidden


KIT_CHECK = '''
import sys, torch
from autograder.notebook import check
ns = {"torch": torch}
exec(sys.argv[1], ns)
check("ppca.marginal", ns)
'''
RIGHT = ("def ppca_marginal(W, b, sigma2):\n"
         "    return b.clone(), W @ W.T + float(sigma2) * torch.eye(W.shape[0], dtype=W.dtype)\n")
WRONG = RIGHT.replace("float(sigma2)", "float(sigma2) ** 2")


def test_a_kit_of_topic_01_has_no_hidden_py_and_runs_its_public_checks(tmp_path):
    kit = tmp_path / "kit"
    build_kit(kit, ["01_ppca"])
    package = kit / "autograder" / "topics" / "t01_ppca"
    assert sorted(p.name for p in package.iterdir()) == sorted(SHIPPED)
    assert not (kit / "autograder" / "trusted").exists()

    def run(source: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", KIT_CHECK, source], capture_output=True,
                              text=True, cwd=kit, env={"PYTHONPATH": str(kit)}, timeout=300)

    right = run(RIGHT)
    assert right.returncode == 0, right.stderr[-2000:]
    assert "2 public checks passed" in right.stdout or "passed" in right.stdout, right.stdout
    wrong = run(WRONG)
    assert wrong.returncode != 0 and "ChecksFailed" in wrong.stderr, wrong.stderr[-2000:]
