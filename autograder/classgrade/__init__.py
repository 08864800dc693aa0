"""Grading a whole class: ``python -m autograder grade-class submitted/ --out grades/``.

Modules, one job each:

- ``discover``: submissions from nbgrader's ``<student>/<assignment>/<notebook>.ipynb`` layout or
  a flat folder of ``<student>_<anything>.ipynb`` files;
- ``names``: student and assignment names as file names, one-to-one;
- ``records``: the stored form of one graded submission;
- ``store``: the atomic, resumable per-submission result store and the grading keys;
- ``references``: the on-disk cache of reference results (a ``Grader`` ``reference_store``);
- ``integrity``: the seals that make a tampered record or reference be computed again;
- ``runner``: the progress bar over a backend; the local backend (worker processes here);
- ``cluster``: the Dask backend (``--scheduler``, ``--cluster local|slurm``): connecting,
  admitting workers, the grading loop, the Slurm job; ``cluster_worker``: what runs on a
  Dask worker (its admission check, grading a submission's bytes, computing references);
- ``tables``, ``feedback``, ``gradescope``, ``gradebook``, ``report``: the outputs;
- ``command``: the ``grade-class`` subcommand.
"""
