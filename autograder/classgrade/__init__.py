"""Grading a whole class: ``python -m autograder grade-class submitted/ --out grades/``.

Modules, one job each:

- ``discover``: submissions from nbgrader's ``<student>/<assignment>/<notebook>.ipynb`` layout or
  a flat folder of ``<student>_<anything>.ipynb`` files;
- ``names``: student and assignment names as file names, one-to-one;
- ``records``: the stored form of one graded submission;
- ``store``: the atomic, resumable per-submission result store and the grading keys;
- ``references``: the on-disk cache of reference results (a ``Grader`` ``reference_store``);
- ``integrity``: the seals that make a tampered record or reference be computed again;
- ``runner``: parallel worker processes with a progress bar;
- ``tables``, ``feedback``, ``gradescope``, ``gradebook``, ``report``: the outputs;
- ``command``: the ``grade-class`` subcommand.
"""
