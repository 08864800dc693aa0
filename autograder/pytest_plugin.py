"""pytest collection of course notebooks: one test per task, public checks only.

``pytest exercises/01_ppca`` grades the student's notebook file (as last saved) with the same
engine as the TA's grader, but only the public checks: one test per task, in the order of
the notebook's test cells. Training and plotting cells never run. ``VAE_COURSE_SELF_CHECK``
chooses the sandboxed or the fast way of running them (``autograder.self_check``); the fast
way asks the warm check server (``autograder.check_client``) when it can. The first test
of a notebook grades all its selected tasks at once, two at a time. As in the
TA's report, a failing task whose graded dependency fails its own task says so first
("`ppca_marginal`, which this uses, is wrong (ppca.marginal): fix it first.").

Only a notebook named like its topic (``01_ppca.ipynb``) is collected, not Jupyter's copies
(``01_ppca-Copy1.ipynb``) or nbconvert's output (``01_ppca.nbconvert.ipynb``); the report
says when the checked file was last saved.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from autograder.paths import TOPICS
from autograder.self_check import MODE_HEADER, SelfCheckSettingError, self_check_mode

# Nothing heavy is imported here: with the warm check server (``autograder.check_client``)
# a self-check never imports torch or the checks in the pytest process.


def open_self_check(path: Path, mode: str) -> Any:
    """The notebook's self-check: answered by the warm check server in ``fast`` mode when
    it is allowed and reachable, else graded in this process (``NotebookSelfCheck``)."""
    from autograder import check_client

    if mode == "fast" and check_client.server_enabled():
        try:
            return check_client.RemoteSelfCheck(path)
        except check_client.ServerUnavailable:
            pass
    from autograder.self_check_session import NotebookSelfCheck

    return NotebookSelfCheck(path, mode)


class TaskNotPassed(Exception):
    """A task's public checks did not all pass."""


class NotebookFile(pytest.File):
    """A course notebook: one item per graded task."""

    check: Any = None

    def collect(self):
        self._verdicts: dict[str, Any] = {}
        from autograder.check_client import NotebookRejected

        try:
            mode = self_check_mode()
        except SelfCheckSettingError as exc:
            raise self.CollectError(str(exc)) from None
        try:
            self.check = open_self_check(self.path, mode)
        except NotebookRejected as exc:
            raise self.CollectError(str(exc)) from None
        except Exception as exc:
            from autograder.notebook_code import NotebookError

            if isinstance(exc, NotebookError):
                raise self.CollectError(str(exc)) from None
            raise
        if self.check.topic is None:
            return
        for task_id in self.check.task_ids:
            yield TaskItem.from_parent(self, name=task_id)

    def verdict(self, item: TaskItem) -> Any:
        """The item's verdict; the first asks for every selected task of this notebook at
        once (graded in parallel), later ones read what came back."""
        if item.name not in self._verdicts:
            wanted = [other.name for other in self.session.items
                      if isinstance(other, TaskItem) and other.parent is self
                      and other.name not in self._verdicts]
            self._verdicts.update(self._ask(wanted or [item.name]))
        return self._verdicts[item.name]

    def _ask(self, ids: list[str]) -> dict[str, Any]:
        from autograder.check_client import ServerUnavailable

        try:
            return self.check.verdicts(ids)
        except ServerUnavailable:  # the server went away: grade here instead
            from autograder.self_check_session import NotebookSelfCheck

            self.check = NotebookSelfCheck(self.path, self_check_mode())
            return self.check.verdicts(ids)

    def close_check(self) -> None:
        """End the notebook's session with the check server, if it has one."""
        close = getattr(self.check, "close", None)
        if close is not None:
            close()


class TaskItem(pytest.Item):
    """One graded task of one notebook."""

    @property
    def task_id(self) -> str:
        return self.name

    def runtest(self) -> None:
        verdict = self.parent.verdict(self)
        if verdict.status != "passed":
            raise TaskNotPassed(verdict.text)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style=None) -> str:
        if isinstance(excinfo.value, TaskNotPassed):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"{self.path.name}::{self.task_id}"


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Close every notebook's connection to the check server."""
    for notebook in {item.parent for item in session.items if isinstance(item, TaskItem)}:
        notebook.close_check()


def is_course_notebook(file_path: Path) -> bool:
    """A topic's own notebook (``01_ppca.ipynb``), outside checkpoint folders."""
    return (file_path.suffix == ".ipynb" and file_path.stem in TOPICS
            and ".ipynb_checkpoints" not in file_path.parts)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.File | None:
    """Collect each topic's own notebook (not its copies) as a course notebook."""
    if is_course_notebook(file_path):
        return NotebookFile.from_parent(parent, path=file_path)
    return None


def saved_at(path: Path) -> str:
    """'<path>: checked as saved at <local time>' (the file's modification time)."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(path.stat().st_mtime))
    return f"{path}: checked as saved at {stamp} (save the notebook to check your latest edits)"


def pytest_report_header(config: pytest.Config) -> list[str]:
    """The way the public checks run, once at the top of the report."""
    try:
        return [MODE_HEADER[self_check_mode()]]
    except SelfCheckSettingError as exc:
        return [f"self-check: {exc}"]


def pytest_report_collectionfinish(config: pytest.Config, start_path: Path,
                                   items: list[pytest.Item]) -> list[str]:
    """One line per collected notebook: which saved version is checked."""
    paths = dict.fromkeys(item.path for item in items if isinstance(item, TaskItem))
    return [saved_at(path) for path in paths]
