"""Imported by the grading fork server alone (``autograder.sandbox``), after the worker.

Work done here is inherited by every grading child and costs the grading process nothing:
the heavy libraries notebooks use, the probes and fixtures (never a topic package's judges:
the children forked from here hold no judge code), sympy's integration tables.
"""

from autograder.preload import preload_libraries, preload_probes, warm_sympy

preload_libraries()
preload_probes()
warm_sympy()
