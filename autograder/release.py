"""Regenerate ``exercises/`` from ``solutions/`` with nbgrader's ``generate_assignment``."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from autograder.answer_lines import REVEALS_FILE, write_reveals
from autograder.paths import TOPICS, course_root
from autograder.release_manifest import write_manifest


def tool_env() -> dict[str, str]:
    """The environment with this interpreter's scripts first on PATH (nbgrader runs alembic)."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def available_topics() -> list[str]:
    """Topics that have a solution notebook."""
    root = course_root() / "solutions"
    return [t for t in TOPICS if (root / t / f"{t}.ipynb").is_file()]


def generate(topics: Iterable[str], release_dir: Path) -> None:
    """Run ``nbgrader generate_assignment`` for each topic into ``release_dir``.

    A throw-away gradebook is used, so the course's own gradebook is never touched.
    """
    root = course_root()
    with tempfile.TemporaryDirectory() as tmp:
        for topic in topics:
            cmd = [sys.executable, "-m", "nbgrader", "generate_assignment", topic, "--force",
                   f"--CourseDirectory.root={root}",
                   f"--CourseDirectory.release_directory={release_dir}",
                   f"--CourseDirectory.db_url=sqlite:///{tmp}/gradebook.db"]
            done = subprocess.run(cmd, cwd=root, capture_output=True, text=True,
                                  env=tool_env())
            if done.returncode != 0:
                tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
                raise RuntimeError(f"nbgrader generate_assignment {topic} failed: "
                                   + " | ".join(tail))


def release_topics(topics: list[str] | None = None) -> list[str]:
    """Regenerate the released notebooks; returns one line per topic."""
    chosen = topics or available_topics()
    unknown = [t for t in chosen if t not in TOPICS]
    if unknown:
        raise ValueError(f"unknown topics {unknown}; known: {', '.join(TOPICS)}")
    generate(chosen, course_root() / "exercises")
    write_manifest(chosen)
    reveals = write_reveals()
    shown = [f"  {later} shows answers of {other}: {', '.join(symbols)}"
             for later, others in reveals.items() for other, symbols in others.items()]
    return [f"released exercises/{t}/{t}.ipynb" for t in chosen] + \
        [f"recorded in solutions/{REVEALS_FILE} what each notebook reveals of other topics"
         + (":" if shown else ": nothing")] + shown
