"""Imported by the grading fork server alone (``autograder.sandbox``), after the worker.

Work done here is inherited by every grading child and costs the grading process nothing:
the heavy libraries notebooks use, every topic's checks, sympy's integration tables.
"""

from autograder.preload import preload_libraries, warm_sympy
from autograder.registry import all_tasks

preload_libraries()
all_tasks()  # the fork server imports every topic's checks once, so children start warm
warm_sympy()
