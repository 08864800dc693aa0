"""A topic module's source with its hidden checks, and the code only they use, taken out.

The student kit ships topic modules rewritten by ``public_source``: every ``Check(...)``
marked ``hidden=True`` (or whose code imports ``autograder.trusted``) is removed from the
task tuples, then every top-level definition nothing else refers to any more, until none
is left. ``verify_public`` proves the result: it defines its tasks, none of them hidden, and
no judge reads the reference's results (``j.ref``).
"""

from __future__ import annotations

import ast
import sys
import types
from typing import Any

EXPORTED = frozenset({"TASKS", "TOPIC", "__all__"})
GRADER_ONLY_PACKAGE = "autograder.trusted"


class NotPublic(Exception):
    """The rewritten module still holds something a student must not get."""


TOPICS_PACKAGE = "autograder.topics."


def public_source(source: str, filename: str = "<topic>",
                  keep: frozenset[str] = frozenset()) -> str:
    """The source of a topic module without hidden checks or the code only they need.

    ``keep`` names definitions other topic modules import from this one (they stay).
    """
    tree = ast.parse(source, filename)
    grader_only = _grader_only_names(tree)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Tuple, ast.List)):
            node.elts = [e for e in node.elts if not _is_private_check(e, grader_only)]
    _drop_unused_definitions(tree, EXPORTED | keep)
    _drop_unused_topic_imports(tree)
    _add_to_docstring(tree, "Student kit: hidden checks and the code only they use removed.")
    return ast.unparse(tree) + "\n"


def _add_to_docstring(tree: ast.Module, note: str) -> None:
    first = tree.body[0] if tree.body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and \
            isinstance(first.value.value, str):
        first.value.value = f"{first.value.value.rstrip()}\n\n{note}\n"
    else:
        tree.body.insert(0, ast.Expr(ast.Constant(note)))


def verify_public(source: str, name: str) -> list[str]:
    """Raise ``NotPublic`` unless ``source`` defines tasks with public checks only; returns
    the tasks left with no public check at all (their checks all need grader-only code)."""
    tree = ast.parse(source)
    if any(isinstance(n, ast.Attribute) and n.attr == "ref" for n in ast.walk(tree)):
        raise NotPublic(f"{name}: a judge still reads the reference's results (.ref)")
    if _imports_grader_only(tree):
        raise NotPublic(f"{name}: still imports {GRADER_ONLY_PACKAGE}")
    module = types.ModuleType(name)
    sys.modules[name] = module  # dataclasses look their module up
    try:
        exec(compile(source, name, "exec"), module.__dict__)  # noqa: S102 - our topic code
    finally:
        del sys.modules[name]
    tasks: Any = getattr(module, "TASKS", ())
    hidden = [f"{t.id}: {c.name}" for t in tasks for c in t.checks if c.hidden]
    if hidden:
        raise NotPublic(f"{name}: hidden checks left: {hidden}")
    return [t.id for t in tasks if not t.checks]


def _definitions(tree: ast.Module) -> dict[str, ast.stmt]:
    """Top-level functions, classes and simple assignments, by the names they bind."""
    found: dict[str, ast.stmt] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for sub in ast.walk(target):
                    if isinstance(sub, ast.Name):
                        found[sub.id] = node
    return found


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _imports_grader_only(node: ast.AST) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.ImportFrom) and (sub.module or "").startswith(
                GRADER_ONLY_PACKAGE):
            return True
        if isinstance(sub, ast.Import) and any(a.name.startswith(GRADER_ONLY_PACKAGE)
                                               for a in sub.names):
            return True
    return False


def _grader_only_names(tree: ast.Module) -> set[str]:
    """Top-level definitions that import grader-only code, directly or through others."""
    definitions = _definitions(tree)
    tainted = {name for name, node in definitions.items() if _imports_grader_only(node)}
    changed = True
    while changed:
        changed = False
        for name, node in definitions.items():
            if name not in tainted and _names(node) & tainted:
                tainted.add(name)
                changed = True
    return tainted


def _is_private_check(node: ast.expr, grader_only: set[str]) -> bool:
    """A ``Check(...)`` call that is hidden or needs grader-only code."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == "Check"):
        return False
    hidden = any(k.arg == "hidden" and not (isinstance(k.value, ast.Constant)
                                             and k.value.value is False)
                 for k in node.keywords)
    return hidden or bool(_names(node) & grader_only) or _imports_grader_only(node)


def topic_imports(source: str) -> dict[str, set[str]]:
    """The names ``source`` imports from other topic modules, by module stem."""
    found: dict[str, set[str]] = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(TOPICS_PACKAGE):
            stem = node.module.removeprefix(TOPICS_PACKAGE)
            found.setdefault(stem, set()).update(a.name for a in node.names)
    return found


def _drop_unused_topic_imports(tree: ast.Module) -> None:
    """Remove top-level imports from other topic modules that nothing uses any more."""
    used = set().union(*(_names(n) for n in tree.body if not isinstance(n, ast.ImportFrom)))
    body = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(TOPICS_PACKAGE):
            node.names = [a for a in node.names if (a.asname or a.name) in used]
            if not node.names:
                continue
        body.append(node)
    tree.body = body


def _drop_unused_definitions(tree: ast.Module, exported: frozenset[str]) -> None:
    """Remove top-level definitions no other code refers to, until none is left."""
    while True:
        definitions = _definitions(tree)
        unused = []
        for node in tree.body:
            bound = {n for n, d in definitions.items() if d is node}
            if not bound or bound & exported or any(n.startswith("__") for n in bound):
                continue
            elsewhere = set().union(*(_names(other) for other in tree.body if other is not node))
            if not bound & elsewhere:
                unused.append(node)
        if not unused:
            return
        tree.body = [node for node in tree.body if node not in unused]
