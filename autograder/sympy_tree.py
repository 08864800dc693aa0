"""A closed, structural encoding of sympy expressions: plain lists, ints and checked strings.

A sympy answer leaves the child as a tree of nodes, each a list ``[kind, ...]``:

* ``["Integer", n]``, ``["Rational", p, q]`` (ints, or decimal strings for big ones);
* ``["Float", "1.25e-3", precision]`` (a plain decimal literal, checked by a strict pattern);
* ``["Symbol", name, [[assumption, bool], ...]]`` and ``["Dummy", name, index, [...]]``;
* ``["Const", name]`` for sympy's singletons (``pi``, ``E``, ``I``, ``oo``...);
* ``["Function", name, child...]`` for an undefined function ``f(x)``;
* ``["Matrix", rows, cols, [entry...]]``;
* ``[class name, child...]`` for a class of :data:`CLASSES` (``Add``, ``exp``, ``Piecewise``...).

:func:`check` validates a tree (kinds, names, literals, depth and size) without building
anything; :func:`rebuild` calls the classes' constructors on already-built children. No string
is ever handed to ``sympify``, ``parse_expr`` or ``eval``: the only strings that reach sympy
are symbol and function names matching :data:`NAME` and float literals matching
:data:`FLOAT_LITERAL`, both taken as names or digits, never as code.
"""

from __future__ import annotations

import re
from typing import Any

import sympy
from mpmath import libmp
from sympy.core.assumptions import _assume_defined
from sympy.core.function import AppliedUndef
from sympy.functions.elementary.piecewise import ExprCondPair

MAX_DEPTH = 200
MAX_NODES = 50_000
MAX_DIGITS = 1000
MAX_MATRIX_ENTRIES = 10_000
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
FLOAT_LITERAL = re.compile(r"-?[0-9]{1,400}(\.[0-9]{0,400})?(e[-+]?[0-9]{1,4})?")
DIGITS = re.compile(r"-?[0-9]{1,1000}")

_FUNCTIONS = ("exp", "log", "sin", "cos", "tan", "cot", "sec", "csc", "asin", "acos", "atan",
              "acot", "atan2", "sinh", "cosh", "tanh", "coth", "asinh", "acosh", "atanh", "Abs",
              "sign", "re", "im", "conjugate", "arg", "erf", "erfc", "gamma", "loggamma",
              "factorial", "binomial", "floor", "ceiling", "Heaviside", "DiracDelta", "Max",
              "Min", "LambertW", "polar_lift", "exp_polar", "periodic_argument",
              "principal_branch", "unbranched_argument", "Mod")
_RELATIONS = ("Equality", "Unequality", "StrictLessThan", "LessThan", "StrictGreaterThan",
              "GreaterThan")
_OTHERS = ("Add", "Mul", "Pow", "Piecewise", "ExprCondPair", "Integral", "Sum", "Product",
           "Derivative", "Tuple", "And", "Or", "Not", "Interval")
CLASSES: dict[str, type] = {name: getattr(sympy, name)
                            for name in (*_FUNCTIONS, *_RELATIONS, *_OTHERS)
                            if name != "ExprCondPair"}
CLASSES["ExprCondPair"] = ExprCondPair
"""The only sympy classes a tree may name (their constructors are called on built children)."""
_UNEVALUATED = frozenset((*_FUNCTIONS, *_RELATIONS, "Add", "Mul", "Pow", "Piecewise"))
CONSTANTS: dict[str, Any] = {
    "pi": sympy.pi, "E": sympy.E, "I": sympy.I, "oo": sympy.oo, "-oo": -sympy.oo,
    "zoo": sympy.zoo, "nan": sympy.nan, "EulerGamma": sympy.EulerGamma,
    "Catalan": sympy.Catalan, "GoldenRatio": sympy.GoldenRatio, "true": sympy.true,
    "false": sympy.false, "Reals": sympy.S.Reals,
}
ASSUMPTIONS = frozenset(_assume_defined) | {"commutative"}


class TreeError(ValueError):
    """A tree that is not a well-formed encoding of an allowed sympy object."""


# ------------------------------------------------------------------ child side: encoding
def encode(value: Any) -> list[Any]:
    """The tree of a sympy expression or matrix (raises TreeError on what it cannot encode)."""
    counter = [0]
    return _encode(value, 0, counter)


def _encode(value: Any, depth: int, counter: list[int]) -> list[Any]:
    counter[0] += 1
    if depth > MAX_DEPTH or counter[0] > MAX_NODES:
        raise TreeError("the expression is too large or nested too deeply")
    if isinstance(value, sympy.MatrixBase):
        rows, cols = value.shape
        return ["Matrix", int(rows), int(cols),
                [_encode(e, depth + 1, counter) for e in value]]
    for name, constant in CONSTANTS.items():
        if value is constant:
            return ["Const", name]
    if isinstance(value, sympy.Integer):
        return ["Integer", _int_atom(int(value))]
    if isinstance(value, sympy.Rational):
        return ["Rational", _int_atom(int(value.p)), _int_atom(int(value.q))]
    if isinstance(value, sympy.Float):
        digits = libmp.prec_to_dps(value._prec) + 3
        return ["Float", libmp.to_str(value._mpf_, digits), int(value._prec)]
    if isinstance(value, sympy.Dummy):
        return ["Dummy", value.name, int(value.dummy_index), _assumptions(value)]
    if isinstance(value, sympy.Symbol):
        return ["Symbol", value.name, _assumptions(value)]
    children = [_encode(a, depth + 1, counter) for a in value.args]
    if isinstance(value, AppliedUndef):
        return ["Function", type(value).__name__, *children]
    name = type(value).__name__
    if CLASSES.get(name) is not type(value):
        raise TreeError(f"{name} is not among the sympy classes the grader reads")
    return [name, *children]


def _int_atom(n: int) -> int | str:
    return n if abs(n) < 2**62 else str(n)


def _assumptions(symbol: sympy.Symbol) -> list[list[Any]]:
    given = getattr(symbol, "_assumptions_orig", None) or symbol.assumptions0
    return [[str(k), bool(v)] for k, v in sorted(given.items()) if v is not None]


# ---------------------------------------------------------- grading side: checking, rebuilding
def check(tree: Any) -> int:
    """Validate a tree without building anything; returns its node count (TreeError if bad)."""
    counter = [0]
    _check(tree, 0, counter)
    return counter[0]


def _check(node: Any, depth: int, counter: list[int]) -> None:
    counter[0] += 1
    if depth > MAX_DEPTH or counter[0] > MAX_NODES:
        raise TreeError("the expression is too large or nested too deeply")
    if type(node) is not list or not node or type(node[0]) is not str:
        raise TreeError("malformed expression node")
    kind, rest = node[0], node[1:]
    if kind == "Integer":
        _expect(len(rest) == 1, kind)
        _integer(rest[0])
    elif kind == "Rational":
        _expect(len(rest) == 2 and _integer(rest[1]) > 0, kind)
        _integer(rest[0])
    elif kind == "Float":
        _expect(len(rest) == 2 and type(rest[0]) is str and FLOAT_LITERAL.fullmatch(rest[0])
                is not None and type(rest[1]) is int and 1 <= rest[1] <= 4096, kind)
    elif kind == "Symbol":
        _expect(len(rest) == 2, kind)
        _name(rest[0])
        _assumption_list(rest[1])
    elif kind == "Dummy":
        _expect(len(rest) == 3 and type(rest[1]) is int, kind)
        _name(rest[0])
        _assumption_list(rest[2])
    elif kind == "Const":
        _expect(len(rest) == 1 and rest[0] in CONSTANTS, kind)
    elif kind == "Matrix":
        _expect(len(rest) == 3 and type(rest[0]) is int and type(rest[1]) is int
                and 0 <= rest[0] and 0 <= rest[1] and rest[0] * rest[1] <= MAX_MATRIX_ENTRIES
                and type(rest[2]) is list and len(rest[2]) == rest[0] * rest[1], kind)
        for entry in rest[2]:
            _check(entry, depth + 1, counter)
    elif kind == "Function":
        _expect(len(rest) >= 1, kind)
        _name(rest[0])
        for child in rest[1:]:
            _check(child, depth + 1, counter)
    elif kind in CLASSES:
        for child in rest:
            _check(child, depth + 1, counter)
    else:
        raise TreeError(f"unknown expression node {kind[:40]!r}")


def _expect(condition: bool, kind: str) -> None:
    if not condition:
        raise TreeError(f"malformed {kind} node")


def _integer(atom: Any) -> int:
    if type(atom) is int:
        return atom
    if type(atom) is str and DIGITS.fullmatch(atom):
        return int(atom)
    raise TreeError("malformed integer literal")


def _name(name: Any) -> str:
    if type(name) is not str or NAME.fullmatch(name) is None:
        raise TreeError("a symbol or function name is not a plain identifier")
    return name


def _assumption_list(pairs: Any) -> dict[str, bool]:
    if type(pairs) is not list or len(pairs) > len(ASSUMPTIONS):
        raise TreeError("malformed symbol assumptions")
    out = {}
    for pair in pairs:
        if type(pair) is not list or len(pair) != 2 or pair[0] not in ASSUMPTIONS \
                or type(pair[1]) is not bool:
            raise TreeError("malformed symbol assumptions")
        out[pair[0]] = pair[1]
    return out


def rebuild(tree: Any) -> Any:
    """The sympy object of a tree: constructors called on built children, never a parser."""
    check(tree)
    return _rebuild(tree)


def _rebuild(node: list[Any]) -> Any:
    kind, rest = node[0], node[1:]
    if kind == "Integer":
        return sympy.Integer(_integer(rest[0]))
    if kind == "Rational":
        return sympy.Rational(_integer(rest[0]), _integer(rest[1]))
    if kind == "Float":
        return sympy.Float(rest[0], precision=rest[1])
    if kind == "Symbol":
        return sympy.Symbol(rest[0], **_assumption_list(rest[1]))
    if kind == "Dummy":
        return sympy.Dummy(rest[0], dummy_index=rest[1], **_assumption_list(rest[2]))
    if kind == "Const":
        return CONSTANTS[rest[0]]
    if kind == "Matrix":
        return sympy.ImmutableDenseMatrix(rest[0], rest[1], [_rebuild(e) for e in rest[2]])
    children = [_rebuild(child) for child in rest[1:]] if kind == "Function" \
        else [_rebuild(child) for child in rest]
    if kind == "Function":
        return sympy.Function(rest[0])(*children)
    if kind in _UNEVALUATED:
        return CLASSES[kind](*children, evaluate=False)
    return CLASSES[kind](*children)
