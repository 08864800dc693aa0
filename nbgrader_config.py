"""nbgrader configuration: the repository root is the course directory.

solutions/  is nbgrader's source directory  (lecturers edit it)
exercises/  is nbgrader's release directory (generated: ``python -m autograder release``)

Autograding replaces nbgrader's Execute step with ``IsolatedExecute``: the notebook still runs
in a kernel (for the feedback), but each test cell's points come from the autograder's
isolated child processes, so ``nbgrader autograde`` and ``python -m autograder grade`` agree.
"""

import warnings
from pathlib import Path

import nbgrader

import autograder

c = get_config()  # noqa: F821 - injected by nbgrader

# nbgrader 0.9.6 under SQLAlchemy 2 warns "Object of type <SubmittedAssignment> not in
# session, add operation along 'Student.submissions' will not proceed" for every submission
# it autogrades: nbgrader adds those objects to the session itself right after, and the
# grades are stored (tests/test_nbgrader_e2e.py reads them back). Only that message is hidden.
warnings.filterwarnings("ignore", message=r"Object of type <Submitted\w+> not in session")

# The course root is the folder nbgrader runs in (its default, already absolute: a relative
# "." here only made nbgrader warn "root '.' is not absolute" on every command).
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback",
                            ".pytest_cache"]

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# nbgrader's own sanitising steps, after RestoreReleasedCells (a notebook's nbgrader cells
# become exactly the released ones: duplicated or foreign grade cells, which would stop
# nbgrader for every later student, are dropped, released ones restored) and with
# OverwriteCells replaced by a version that does not report untouched test cells as changed
# (nbgrader issue #1961: the gradebook keeps the checksum of the cell *with* its hidden
# tests); real changes are still reported.
c.Autograde.sanitize_preprocessors = [
    "nbgrader.preprocessors.ClearOutput",
    "autograder.nbgrader_sanitize.RestoreReleasedCells",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "autograder.nbgrader_plugin.OverwriteReleasedCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.Autograde.autograde_preprocessors = [
    "autograder.nbgrader_plugin.IsolatedExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.Execute.timeout = 600

# Feedback is generated from the autograded notebook, whose test cells were restored from the
# gradebook *with* their hidden tests: strip them again before rendering. A student's HTML,
# Markdown and outputs are cleaned (no script or event handler from a notebook runs in the page).
# The page is
# nbgrader's, with each test cell named by its task in the summary and long lines wrapped
# (autograder/templates/feedback/vae_feedback.html.j2, which extends nbgrader's page).
c.HTMLExporter.template_file = "vae_feedback.html.j2"
c.HTMLExporter.extra_template_basedirs = [
    str(Path(autograder.__file__).parent / "templates"),
    str(Path(nbgrader.__file__).parent / "server_extensions" / "formgrader" / "templates"),
]
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "autograder.nbgrader_plugin.HideHiddenTests",
    "autograder.nbgrader_sanitize.SanitizeFeedback",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
