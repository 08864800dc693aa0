"""The answers of topic 05's written questions (exam practice), for the hidden checks: the
Gaussian decoder's negative log-likelihood and its best variance, and the β-ELBO's optimal
q(z|x) for a linear Gaussian toy; and the symbolic comparison the judges use."""

from __future__ import annotations

from typing import Any

import sympy

from autograder.symbolic import is_zero


def exam_answers(nll: bool, args: tuple[Any, ...]) -> tuple[Any, Any]:
    """The two written questions' answers: (-log p(x|z), best sigma2) of the Gaussian decoder
    at (SE, D, sigma2), or the β-ELBO's optimal (mean, variance) of q at (x, sigma2, beta)."""
    if nll:
        se, d, s2 = args
        return d / 2 * sympy.log(2 * sympy.pi * s2) + se / (2 * s2), se / d
    x, s2, beta = args
    return x / (1 + beta * s2), beta * s2 / (1 + beta * s2)


def same_value(a: Any, b: Any) -> bool:
    """Symbolic equality (logs expanded), with a 40-digit numeric fallback at three points."""
    try:
        if is_zero(sympy.expand_log(a - b, force=True)):
            return True
    except Exception:  # noqa: BLE001 - simplification can fail on odd forms: go numeric
        pass
    symbols = sorted((a - b).free_symbols, key=str)
    for k in range(3):
        point = {s: sympy.Rational(5 + 7 * k + 3 * i, 4 + k) for i, s in enumerate(symbols)}
        try:
            if abs(complex(sympy.N((a - b).subs(point), 40))) > 1e-20:
                return False
        except (TypeError, ValueError):
            return False
    return True
