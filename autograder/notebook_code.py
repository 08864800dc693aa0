"""Pick out of a notebook the code that defines the graded symbols.

Only two kinds of code cells ever run during grading: cells tagged ``setup`` (imports,
fixed helper networks) and nbgrader solution cells that are needed, directly or through
the names they use, to define the symbols a task grades. Demos, training loops and plots
never run.
"""

from __future__ import annotations

import ast
import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from autograder.notebook_format import import_nbformat

nbformat = import_nbformat()
SETUP_TAG = "setup"
# What a cell that does not parse probably defines: top-level def/class names and assignments.
_DEFINITION_LINE = re.compile(r"^(?:def|class)\s+(\w+)|^(\w+)\s*=", re.M)


class NotebookError(Exception):
    """The file is not a notebook the grader can read."""


@dataclass(frozen=True)
class CodeCell:
    """One runnable cell: its position in the notebook, kind and (magics-free) source."""

    index: int
    kind: str  # "setup" or "solution"
    source: str
    defines: frozenset[str] = field(default_factory=frozenset)
    uses: frozenset[str] = field(default_factory=frozenset)
    syntax_error: str | None = None
    grade_id: str | None = None


@dataclass(frozen=True)
class NotebookCode:
    """The setup and solution cells of a notebook, plus its grade-cell ids."""

    path: str
    cells: tuple[CodeCell, ...]
    grade_ids: tuple[str, ...]

    def cells_for(self, symbols: tuple[str, ...]) -> tuple[CodeCell, ...]:
        """Setup cells plus the solution cells the given symbols depend on, in notebook order."""
        _, needed = self._closure(symbols)
        return tuple(c for c in self.cells if c.kind == "setup" or c.index in needed)

    def names_reached(self, symbols: tuple[str, ...]) -> frozenset[str]:
        """Every name the solution cells defining ``symbols`` use, directly or through the
        cells defining those names (the dependencies ``cells_for`` follows), minus
        ``symbols`` themselves."""
        seen, _ = self._closure(symbols)
        return frozenset(seen - set(symbols))

    def _closure(self, symbols: tuple[str, ...]) -> tuple[set[str], set[int]]:
        """(names reached from ``symbols`` through the solution cells that define them and
        the names those cells use, indices of those cells)."""
        solution = [c for c in self.cells if c.kind == "solution"]
        needed: set[int] = set()
        pending = list(symbols)
        seen: set[str] = set()
        while pending:
            name = pending.pop()
            if name in seen:
                continue
            seen.add(name)
            for cell in solution:
                if name in cell.defines and cell.index not in needed:
                    needed.add(cell.index)
                    pending.extend(cell.uses)
        return seen, needed

    def defining_cells(self, symbol: str) -> tuple[CodeCell, ...]:
        """Solution or setup cells that define ``symbol`` (by assignment, def, class or import)."""
        return tuple(c for c in self.cells if symbol in c.defines)

    def cell_with_id(self, grade_id: str) -> CodeCell | None:
        """The setup or solution cell with this nbgrader grade_id, if any."""
        return next((c for c in self.cells if grade_id and c.grade_id == grade_id), None)


MAX_NOTEBOOK_BYTES = 32 * 2**20


def read_notebook_bytes(path: str | Path) -> bytes:
    """A notebook file's bytes: a regular file, not a symbolic link, of bounded size."""
    path = Path(path)
    if path.is_symlink():
        raise NotebookError(f"{path}: is a symbolic link; submissions must be regular files")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NotebookError(f"{path}: no such notebook") from None
    except OSError as exc:
        raise NotebookError(f"{path}: cannot be opened ({exc.strerror})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotebookError(f"{path}: not a regular file")
        if info.st_size > MAX_NOTEBOOK_BYTES:
            raise NotebookError(f"{path}: larger than {MAX_NOTEBOOK_BYTES // 2**20} MiB")
        with os.fdopen(os.dup(fd), "rb") as handle:
            return handle.read(MAX_NOTEBOOK_BYTES + 1)[:MAX_NOTEBOOK_BYTES]
    finally:
        os.close(fd)


def parse_notebook(data: bytes, path: str | Path = "<notebook>", *,
                   validate: bool = True) -> nbformat.NotebookNode:
    """A notebook from its bytes; a NotebookError that never quotes the file's content.

    ``validate``: log what nbformat's schema finds wrong, as ``nbformat.reads`` does (the
    self-check skips it: it changes nothing a grade depends on and costs its first call a
    schema compilation)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise NotebookError(f"{path}: not a readable notebook (not UTF-8 text)") from None
    try:
        json.loads(text)
    except (ValueError, RecursionError) as exc:
        where = f" at line {exc.lineno}, column {exc.colno}" \
            if isinstance(exc, json.JSONDecodeError) else ""
        raise NotebookError(f"{path}: not a readable notebook (invalid JSON{where})") from None
    try:
        nb = nbformat.reads(text, as_version=4) if validate else \
            nbformat.converter.convert(nbformat.reader.reads(text), 4)
    except Exception as exc:  # noqa: BLE001 - nbformat raises many types
        raise NotebookError(f"{path}: not a readable notebook ({type(exc).__name__})") from None
    if not isinstance(nb.get("cells"), list):
        raise NotebookError(f"{path}: not a readable notebook (no list of cells)")
    return nb


def read_notebook(path: str | Path, *, validate: bool = True) -> nbformat.NotebookNode:
    """Read a notebook with nbformat, turning every failure into a one-line NotebookError."""
    return parse_notebook(read_notebook_bytes(path), path, validate=validate)


def extract_code(nb: nbformat.NotebookNode, path: str = "<notebook>") -> NotebookCode:
    """The gradable code of an in-memory notebook."""
    cells: list[CodeCell] = []
    grade_ids: list[str] = []
    for index, cell in enumerate(nb.get("cells", [])):
        if not isinstance(cell, dict):
            continue
        meta = _mapping(cell.get("metadata"))
        nbg = _mapping(meta.get("nbgrader"))
        if nbg.get("grade") and nbg.get("grade_id"):
            grade_ids.append(str(nbg["grade_id"]))
        if cell.get("cell_type") != "code":
            continue
        tags = meta.get("tags")
        tags = [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []
        if SETUP_TAG in tags:
            kind = "setup"
        elif nbg.get("solution") and not nbg.get("grade"):
            kind = "solution"
        else:
            continue
        source = cell.get("source", "")
        source = "".join(map(str, source)) if isinstance(source, list) else str(source)
        grade_id = nbg.get("grade_id")
        cells.append(_analyse(index, kind, _strip_magics(source),
                              str(grade_id) if grade_id else None))
    return NotebookCode(path=path, cells=tuple(cells), grade_ids=tuple(grade_ids))


def _mapping(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def load_notebook_code(path: str | Path, *, validate: bool = True) -> NotebookCode:
    """Read a notebook file and extract its gradable code (``validate``: see
    ``parse_notebook``)."""
    return extract_code(read_notebook(path, validate=validate), str(path))


def _strip_magics(source: str) -> str:
    """Turn IPython syntax (``%magic``, ``!shell``) into plain Python calls."""
    if "%" not in source and "!" not in source:
        return source
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - leave it; compile() will report the problem
        return source


def _analyse(index: int, kind: str, source: str, grade_id: str | None = None) -> CodeCell:
    try:
        tree = ast.parse(source)
        defines, uses = _names(tree)
    except (SyntaxError, RecursionError, MemoryError, ValueError) as exc:
        if isinstance(exc, SyntaxError):
            message = f"SyntaxError at line {exc.lineno} of its cell: {exc.msg}"
        else:
            message = f"its cell cannot be compiled ({type(exc).__name__}: nested too deeply)"
        guessed = frozenset(a or b for a, b in _DEFINITION_LINE.findall(source))
        return CodeCell(index, kind, source, defines=guessed, syntax_error=message,
                        grade_id=grade_id)
    return CodeCell(index, kind, source, frozenset(defines), frozenset(uses - defines),
                    grade_id=grade_id)


def _names(tree: ast.Module) -> tuple[set[str], set[str]]:
    """(names a cell defines at top level, names it reads)."""
    defines: set[str] = set()
    uses: set[str] = set()
    for node in tree.body:
        defines |= _top_level_names(node)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            uses.add(node.id)
    return defines, uses


def _top_level_names(node: ast.stmt) -> set[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    targets: list[ast.expr] = []
    if isinstance(node, ast.Assign):
        targets = list(node.targets)
    elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        targets = [node.target]
    elif isinstance(node, (ast.If, ast.Try, ast.With, ast.For, ast.While)):
        names: set[str] = set()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.stmt):
                names |= _top_level_names(child)
        for handler in getattr(node, "handlers", []):
            for child in handler.body:
                names |= _top_level_names(child)
        return names
    names = set()
    for target in targets:
        for sub in ast.walk(target):
            if isinstance(sub, ast.Name):
                names.add(sub.id)
    return names
