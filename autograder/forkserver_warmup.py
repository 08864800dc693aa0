"""Imported by the grading fork server alone (``autograder.sandbox``), after the worker.

Work done here is inherited by every grading child and costs the grading process nothing.
"""

from autograder.preload import warm_sympy

warm_sympy()
