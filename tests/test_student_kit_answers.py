"""The student kit never hands out an exercise's answers through another topic's notebook.

The same line matching that ``release`` records in ``solutions/REVEALS.json`` is run here
over every file of kits built for several topic sets.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.answer_lines import (
    answer_lines,
    compute_reveals,
    normalise,
    read_reveals,
    revealed_symbols,
)
from autograder.cli import main
from autograder.paths import TOPICS, exercise_notebook
from autograder.student_kit import KIT_MANIFEST, KitError, add_to_kit, build_kit

T01, T02, T03, T04, T05, T06, T07, T08 = TOPICS


def file_lines(path: Path) -> set[str]:
    """Normalised lines of a kit file (every cell of a notebook)."""
    if path.suffix == ".ipynb":
        cells = nbformat.read(str(path), as_version=4).cells
        return {normalise(line) for cell in cells for line in cell.source.splitlines()}
    return {normalise(line) for line in path.read_text(errors="replace").splitlines()}


def leaks(kit: Path) -> list[tuple[str, str, list[str]]]:
    """(topic, file, symbols) for every shipped exercise whose answers a kit file reveals,
    the answers the kit's manifest lets out excepted."""
    manifest = json.loads((kit / KIT_MANIFEST).read_text())
    found = []
    for topic in manifest["topics"]:
        if topic in manifest["answers_out"]:
            continue
        answers = answer_lines(topic)
        own = kit / "exercises" / topic / f"{topic}.ipynb"
        for path in kit.rglob("*"):
            if path.is_file() and path != own and path.suffix in (".ipynb", ".py", ".md"):
                symbols = revealed_symbols(answers, file_lines(path))
                if symbols:
                    found.append((topic, str(path.relative_to(kit)), symbols))
    return found


def test_recorded_reveals_match_a_fresh_computation():
    assert read_reveals() == compute_reveals(), "run `python -m autograder release`"


def test_the_matching_finds_what_later_setup_cells_give_away():
    reveals = compute_reveals()
    assert {"ppca_marginal", "ppca_posterior", "ppca_log_marginal"} <= \
        set(reveals[T03][T01])
    assert "GaussianEncoder" in reveals[T06][T05]
    # One shared line of plumbing in a longer answer is not a reveal.
    assert T06 not in reveals.get(T07, {})


def test_a_notebook_pasting_an_answer_is_caught_and_an_unrelated_one_is_not():
    answers = answer_lines(T02)
    target = sorted(answers)[0]
    pasted = set(answers[target]) | file_lines(exercise_notebook(T04))
    assert target in revealed_symbols(answers, pasted)
    assert revealed_symbols(answers, file_lines(exercise_notebook(T04))) == []


@pytest.mark.parametrize(("topics", "answers_out"), [
    (None, []),
    ([T01, T02, T04, T05, T08], []),
    ([T05, T08], []),
    ([T06, T07, T08], []),
    ([T01, T03], [T01]),
    (list(TOPICS), [T01, T05]),
], ids=["default", "no-revealing-pair", "05-08", "06-07-08", "answers-out-01", "everything"])
def test_kits_hold_no_answer_of_a_shipped_exercise(tmp_path, topics, answers_out):
    kit = tmp_path / "kit"
    build_kit(kit, topics, answers_out=answers_out)
    assert leaks(kit) == []
    shipped = json.loads((kit / KIT_MANIFEST).read_text())["topics"]
    assert sorted(p.name for p in (kit / "exercises").iterdir() if p.is_dir()) == shipped


def test_a_kit_with_an_exercise_and_a_later_topic_revealing_it_is_refused(tmp_path):
    kit = tmp_path / "kit"
    with pytest.raises(KitError) as refused:
        build_kit(kit, [T01, T03])
    message = str(refused.value)
    assert "\n" not in message
    assert f"{T03} reveals the answers of {T01}" in message
    assert "ppca_posterior" in message and f"--answers-out {T01}" in message
    assert not kit.exists() or not any(kit.iterdir())


def test_answers_out_lets_the_lecturer_ship_them(tmp_path):
    lines = build_kit(tmp_path / "kit", [T01, T03], answers_out=[T01])
    assert lines[0] == f"exercises: {T01}, {T03}"


def test_the_default_kit_stops_before_the_first_leak_and_says_why(tmp_path):
    lines = build_kit(tmp_path / "kit")
    assert lines[0] == f"exercises: {T01}, {T02}"
    left_out = next(line for line in lines if line.startswith("left out"))
    assert T03 in left_out and f"reveals the answers of {T01}" in left_out


def test_the_kit_ships_only_its_topics_check_modules(tmp_path):
    build_kit(tmp_path / "kit", [T01, T02])
    modules = sorted(p.stem for p in (tmp_path / "kit/autograder/topics").glob("t*")
                     if p.suffix == ".py" or p.is_dir())  # modules, and packages (t01)
    assert modules == [f"t{T01}", f"t{T02}"]
    assert "ipywidgets" in (tmp_path / "kit/pyproject.toml").read_text()


def test_adding_topics_later_keeps_the_refusal_and_the_students_work(tmp_path):
    kit = tmp_path / "kit"
    build_kit(kit, [T01, T02])
    mine = kit / "exercises" / T01 / f"{T01}.ipynb"
    mine.write_text(mine.read_text().replace("# YOUR CODE HERE", "# my work", 1))
    with pytest.raises(KitError, match=f"{T03} reveals the answers of {T01}"):
        add_to_kit(kit, [T03])
    assert not (kit / "exercises" / T03).exists()
    lines = add_to_kit(kit, [T03, T04], answers_out=[T01])
    assert lines[0].startswith(f"added exercises: {T03}, {T04}")
    assert "# my work" in mine.read_text()
    assert (kit / "autograder" / "topics" / f"t{T03}" / "tasks.py").is_file()  # a package
    manifest = json.loads((kit / KIT_MANIFEST).read_text())
    assert manifest == {**manifest, "topics": [T01, T02, T03, T04], "answers_out": [T01]}
    assert leaks(kit) == []


def test_the_cli_refuses_in_one_line_and_adds(tmp_path, capsys):
    kit = tmp_path / "kit"
    assert main(["student-kit", str(kit), T01, T03]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: the kit would hand out answers") and "\n" not in err
    assert main(["student-kit", str(kit), T01]) == 0
    assert main(["student-kit", "--add", str(kit), T02]) == 0
    assert main(["student-kit", "--add", str(tmp_path / "nokit"), T02]) == 2
    assert "not a student kit" in capsys.readouterr().err


def test_lecturer_commands_in_the_kit_say_so_in_one_line(tmp_path):
    kit = tmp_path / "kit"
    build_kit(kit, [T01])
    for command in (["grade-class", "submitted", "--out", "grades"], ["release"]):
        # -S: no site-packages, so nothing of the course installed here can fill the gap.
        done = subprocess.run([sys.executable, "-S", "-m", "autograder", *command], cwd=kit,
                              capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": str(kit)})
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith(f"error: `{command[0]}` is a lecturer's or TA's command")
        assert done.stderr.strip().count("\n") == 0, done.stderr
