"""A written (sympy) answer cannot lie its way to credit: a Symbol subclass that claims to
equal everything and evaluates to the expected number travels as a plain tree, so the judge
sees only a foreign symbol."""

from __future__ import annotations

from tests.helpers import assert_caught, grade_variant

LIAR = '''
import sympy
class Liar(sympy.Symbol):
    def __new__(cls, *a, **k):
        return sympy.Symbol.__new__(cls, "liar")
    def _eval_evalf(self, prec):
        return sympy.Float(0)
    def __eq__(self, other):
        return True
    __hash__ = sympy.Symbol.__hash__
    def equals(self, other, *a, **k):
        return True
def gap_1d_sympy(x, s2, m, v):
    return Liar()
'''


def test_a_symbol_that_claims_to_equal_everything_gets_no_credit(tmp_path):
    result = grade_variant("03_elbo_jensen", tmp_path, "gap_1d_sympy_solution", LIAR,
                           "elbo.exam_gap_1d")
    assert_caught(result, "not given")
