"""Hostile inputs to class grading: what students control reaches ``grade-class``'s and
nbgrader's inputs (files, folder names, notebook metadata) and their outputs (CSV, Markdown,
terminal, HTML). Each attack costs at most the attacker's own grade and never reaches anyone
else or the teaching team's tools.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import textwrap
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from autograder.classgrade.records import Record, TaskGrade
from autograder.paths import course_root, exercise_notebook, solution_notebook
from autograder.registry import tasks_for_topic
from tests.helpers import fill, variant

P01 = "01_ppca"
FULL = sum(t.points for t in tasks_for_topic(P01))
STUDENT_TEXT = ("![pixel](https://attacker.example/p.png) [click](https://attacker.example/x) "
                "<img src=x onerror=alert(1)> \x1b[1A\x1b[2K   ppca.mle  2/2  passed")
RAISING_MLE = f'''def ppca_mle(X, M):
    raise ValueError({STUDENT_TEXT!r})
'''


# --- discovery: files, links, pipes ----------------------------------------------------------

DISCOVER_CHILD = textwrap.dedent('''
    import json, resource, sys
    from pathlib import Path
    from autograder.classgrade.discover import discover
    size = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
    resource.setrlimit(resource.RLIMIT_AS, (size + 2**30, resource.RLIM_INFINITY))
    found = discover(Path(sys.argv[1]), sys.argv[2] == "flat")
    print(json.dumps([[s.student, s.assignment, s.topic, s.problem] for s in found]))
''')


def discover_in_child(root: Path, flat: bool = False) -> tuple[list, str]:
    """``discover`` in a child process with 1 GiB of memory to spare and a time limit: what
    it found and what it reported on stderr."""
    try:
        done = subprocess.run([sys.executable, "-c", DISCOVER_CHILD, str(root),
                               "flat" if flat else "nbgrader"], capture_output=True, text=True,
                              timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("discovery blocked (it opened a named pipe?)")
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout), done.stderr


def test_discovery_refuses_pipes_devices_links_and_huge_files(tmp_path):
    sub = tmp_path / "submitted"
    shutil.copytree(solution_notebook(P01).parent, sub / "alice" / P01)
    for who, make in (("bob", os.mkfifo), ("carol", lambda p: p.symlink_to("/dev/zero")),
                      ("dave", lambda p: open(p, "wb").truncate(64 * 2**20))):
        (sub / who / P01).mkdir(parents=True)
        make(sub / who / P01 / f"{P01}.ipynb")
    (sub / "mallory").symlink_to(sub / "alice")  # another student's folder
    (sub / "trudy").mkdir()
    (sub / "trudy" / P01).symlink_to(sub / "alice" / P01)
    (sub / ".hidden" / P01).mkdir(parents=True)
    (sub / "notes.txt").write_text("not a student")

    result, skipped = discover_in_child(sub)
    found = {student: (assignment, topic, problem)
             for student, assignment, topic, problem in result}
    assert set(found) == {"alice", "bob", "carol", "dave", "trudy"}
    assert found["alice"] == (P01, P01, None)
    assert "not a regular file" in found["bob"][2]
    assert "symbolic link" in found["carol"][2]
    assert "larger than" in found["dave"][2]
    assert "symbolic link" in found["trudy"][2] and found["trudy"][1] == P01
    for student in ("bob", "carol", "dave", "trudy"):
        assert "\n" not in found[student][2]
    assert "mallory skipped: a symbolic link" in skipped
    assert ".hidden skipped: a hidden name" in skipped
    assert "notes.txt skipped" in skipped


def test_flat_folder_refuses_pipes_and_links(tmp_path):
    shutil.copy(solution_notebook(P01), tmp_path / "alice_01_ppca.ipynb")
    os.mkfifo(tmp_path / "bob_01_ppca.ipynb")
    (tmp_path / "carol_01_ppca.ipynb").symlink_to("/dev/zero")
    (tmp_path / "mallory_01_ppca.ipynb").symlink_to(tmp_path / "alice_01_ppca.ipynb")
    shutil.copy(solution_notebook(P01), tmp_path / ".eve_01_ppca.ipynb")

    result, skipped = discover_in_child(tmp_path, flat=True)
    found = {student: problem for student, _, _, problem in result}
    assert found["alice"] is None
    assert "not a regular file" in found["bob"]
    assert "symbolic link" in found["carol"] and "symbolic link" in found["mallory"]
    assert ".eve_01_ppca.ipynb skipped: a hidden name" in skipped


# --- names -----------------------------------------------------------------------------------

def test_file_names_of_students_are_one_to_one_and_reversible():
    from autograder.classgrade.names import component, name_of

    names = ["a b", "a?b", "a_b", "a%5Fb", "a%b", ".hidden", "..", ".", "grades.csv", "é",
             "e\u0301", "a/b", "x" * 255, "x" * 254 + "y", "\x1b[1A", os.fsdecode(b"\xff")]
    encoded = [component(n) for n in names]
    assert len(set(encoded)) == len(names)
    for name, enc in zip(names, encoded, strict=True):
        assert "/" not in enc and not enc.startswith(".") and len(enc) <= 200
        assert all(32 < ord(ch) < 127 for ch in enc)
        if "~" not in enc:
            assert name_of(enc) == name
    assert component("alice") == "alice" and component("01_ppca") == "01_ppca"


def test_file_names_of_students_differ_on_case_insensitive_file_systems():
    """``Alice`` and ``alice`` must not share a record, feedback or results file where the
    file system ignores case (macOS, Windows): no two encodings are equal ignoring case."""
    from autograder.classgrade.names import component, name_of

    names = ["Alice", "alice", "ALICE", "aLiCe", "A b", "a B", "a^b", "A%b", "x" * 240 + "Y",
             "x" * 240 + "y", "Ω", "ω"]
    encoded = [component(n) for n in names]
    assert len({e.casefold() for e in encoded}) == len(names), encoded
    for name, enc in zip(names, encoded, strict=True):
        assert len(enc) <= 200 and all(32 < ord(ch) < 127 for ch in enc)
        if "~" not in enc:
            assert name_of(enc) == name


# --- hashing a submission --------------------------------------------------------------------

def test_hashing_a_submission_streams_regular_files_only(tmp_path):
    """The result store's key hashes the notebook: never a pipe (which would block), a
    device (which would never end) or more than the cap, and the same hash as its bytes."""
    import hashlib
    import threading

    from autograder.classgrade.store import file_sha256

    regular = tmp_path / "alice.ipynb"
    regular.write_bytes(b"{}" * 5000)
    assert file_sha256(regular) == hashlib.sha256(regular.read_bytes()).hexdigest()
    assert file_sha256(regular, max_bytes=9999) == ""
    os.mkfifo(tmp_path / "bob.ipynb")
    (tmp_path / "carol.ipynb").symlink_to("/dev/zero")
    results: list[str] = []
    worker = threading.Thread(target=lambda: results.extend(
        file_sha256(tmp_path / name) for name in ("bob.ipynb", "carol.ipynb", "none.ipynb")),
        daemon=True)
    worker.start()
    worker.join(30)
    assert not worker.is_alive(), "hashing blocked on a pipe or read a device forever"
    assert results == ["", "", ""]


# --- the command line's own lines ------------------------------------------------------------

def test_error_lines_show_escape_sequences_as_text(tmp_path):
    """A path (a student's file or folder name) in an ``error:`` line cannot move the
    cursor or recolour the terminal."""
    evil = "\x1b[1A\x1b[2K\x1b]0;title\x07"
    notebook = tmp_path / f"{evil}x.ipynb"
    notebook.write_text("not a notebook")
    runs = [[sys.executable, "-m", "autograder", "grade", str(notebook), "--sandbox", "off"],
            [sys.executable, "-m", "autograder", "grade-class", str(tmp_path / f"{evil}none"),
             "--out", str(tmp_path / "out")]]
    for command in runs:
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert done.returncode == 2, done.stderr[-2000:]
        errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
        assert errors and "\\x1b[1A" in errors[-1], done.stderr[-2000:]
        assert "\x1b" not in done.stderr + done.stdout and "\x07" not in done.stderr


# --- grade-class end to end ------------------------------------------------------------------

def build_hostile_class(root: Path) -> Path:
    """Students whose names, files and messages attack the outputs (topic 01 exercises, so
    that grading is quick)."""
    sub = root / "submitted"
    exercise = exercise_notebook(P01)
    for index, student in enumerate(("a b", "a?b", "a_b", "grades.csv", "=1+2")):
        variant(P01, sub / student / P01, {"ppca_mle_solution": RAISING_MLE.replace(
            "![pixel]", f"marker{index} ![pixel]")}, base=exercise)
    (sub / "\x1b[1Azed" / P01).mkdir(parents=True)
    (sub / "\x1b[1Azed" / P01 / f"{P01}.ipynb").write_text("not a notebook")
    (sub / "bob" / P01).mkdir(parents=True)
    os.mkfifo(sub / "bob" / P01 / f"{P01}.ipynb")
    (sub / "carol" / P01).mkdir(parents=True)
    (sub / "carol" / P01 / f"{P01}.ipynb").symlink_to("/dev/zero")
    (sub / "mallory").symlink_to(sub / "a b")
    shutil.copytree(sub / "a b", sub / ".hidden")
    return sub


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    root = tmp_path_factory.mktemp("hostile")
    sub = build_hostile_class(root)
    out = root / "grades"
    try:
        done = subprocess.run(
            [sys.executable, "-m", "autograder", "grade-class", str(sub), "--out", str(out),
             "--jobs", "2", "--gradescope"], capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        pytest.fail("grade-class did not finish (blocked on a named pipe?)")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return out, done


def read_rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


STUDENTS = ["a b", "a?b", "a_b", "grades.csv", "'=1+2"]


@pytest.mark.slow
def test_every_student_keeps_their_own_record_feedback_and_results(hostile_run):
    from autograder.classgrade.names import component

    out, _ = hostile_run
    rows = {r[0]: r for r in read_rows(out / "grades.csv")[1:]}
    assert set(STUDENTS) <= set(rows)
    assert not {"mallory", ".hidden"} & set(rows)
    for index, student in enumerate(s.lstrip("'") for s in STUDENTS):
        record = json.loads((out / "records" / component(student) / f"{P01}.json").read_text())
        assert record["student"] == student
        mle = next(t for t in record["tasks"] if t["id"] == "ppca.mle")
        assert f"marker{index} " in mle["message"]
        page = (out / "feedback" / component(student) / f"{P01}.html").read_text()
        assert f"marker{index} " in page and "<img src=x" not in page
        results = out / "gradescope" / component(student) / P01 / "results.json"
        assert f"marker{index} " in results.read_text()
    assert (out / "report.md").is_file() and (out / "errors.csv").is_file()


@pytest.mark.slow
def test_pipes_links_and_linked_folders_are_that_students_error(hostile_run):
    out, done = hostile_run
    errors = {r[0]: r[3] for r in read_rows(out / "errors.csv")[1:]}
    assert "not a regular file" in errors["bob"]
    assert "symbolic link" in errors["carol"]
    assert "mallory skipped: a symbolic link" in done.stderr
    assert ".hidden skipped: a hidden name" in done.stderr


@pytest.mark.slow
def test_no_csv_cell_starts_a_formula(hostile_run):
    out, _ = hostile_run
    for name in ("grades.csv", "grades_long.csv", "errors.csv"):
        for row in read_rows(out / name):
            for cell in row:
                assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (name, cell)
    long = read_rows(out / "grades_long.csv")
    points = [float(r[4]) for r in long[1:]]
    assert points and all(p == 0 for p in points)  # numbers are written as numbers


@pytest.mark.slow
def test_terminal_output_has_no_escape_sequences(hostile_run):
    _, done = hostile_run
    assert "\x1b" not in done.stdout + done.stderr
    assert "\\x1b[1Azed" in done.stderr  # the student is still named, visibly


@pytest.mark.slow
def test_report_markdown_renders_no_student_image_or_link(hostile_run):
    out, _ = hostile_run
    assert_inert_markdown((out / "report.md").read_text())


def assert_inert_markdown(text: str) -> None:
    import mistune

    html = mistune.create_markdown(plugins=["url", "table"])(text)
    assert "attacker.example" in html  # the message is there ...
    links = LinkParser()
    links.feed(html)
    assert not [u for u in links.urls if "attacker.example" in u or u == "x"], links.urls
    assert "onerror" not in links.attributes  # ... but as text only


class LinkParser(HTMLParser):
    """Every URL and attribute name in rendered HTML."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.attributes: set[str] = set()
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_script = tag == "script"
        for name, value in attrs:
            self.attributes.add(name)
            if name in ("href", "src") and value is not None:
                self.urls.append(value)

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False


# --- outputs, unit by unit -------------------------------------------------------------------

def record(student: str, tasks: list[tuple[str, float, str, str]], error: str | None = None,
           path: str = "x.ipynb") -> Record:
    maxima = {t.id: t.points for t in tasks_for_topic(P01)}
    return Record(student, P01, P01, path, "k",
                  [TaskGrade(task, points, maxima[task], status, message)
                   for task, points, status, message in tasks], error)


def test_csv_neutralises_text_cells_only(tmp_path):
    from autograder.classgrade.tables import write_tables

    records = [record(name, [("ppca.mle", -1.5 if name == "+x" else 2.0, "failed", message)])
               for name, message in (("=1+2", "@SUM(A1)"), ("+x", "\tcmd"), ("\rcr", "-1"))]
    write_tables(records, tmp_path)
    with open(tmp_path / "grades_long.csv", newline="") as handle:
        rows = {r["student"]: r for r in csv.DictReader(handle)}
    assert set(rows) == {"'+x", "'=1+2", "'\rcr"}
    assert [rows[s]["message"] for s in ("'=1+2", "'+x", "'\rcr")] == ["'@SUM(A1)", "'\tcmd",
                                                                      "'-1"]
    assert [rows[s]["points"] for s in ("'=1+2", "'+x")] == ["2.0", "-1.5"]  # numbers stay


def test_report_is_inert_cut_at_words_and_lists_untouched_tasks_apart(tmp_path):
    from autograder.classgrade.report import write_report

    long = "the covariance should be symmetric " * 12
    untouched = "`ppca_mle` is not implemented yet (it raises NotImplementedError)."
    records = [record(f"s{i}", [("ppca.mle", 0.0, "missing", untouched),
                                ("ppca.marginal", 0.0, "error", STUDENT_TEXT),
                                ("ppca.sample", 1.0, "failed", long)]) for i in range(3)]
    text = write_report(records, tmp_path).read_text()
    assert_inert_markdown(text)
    failures = text.split("Most frequent failure messages")[1].split("Not attempted")[0]
    assert "not implemented" not in failures
    sample = next(line for line in failures.splitlines() if "ppca.sample" in line)
    cut = sample.split("): ", 1)[1].strip("`")
    assert cut.endswith("…") and len(cut) <= 200 and long.startswith(cut[:-1]), sample
    assert long[len(cut) - 1] == " ", sample  # cut between two words
    attempted = text.split("Not attempted")[1]
    assert "**ppca.mle**: 3 of 3" in attempted


def test_score_histogram_has_a_numeric_axis():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from autograder.classgrade.report import histogram

    fig, ax = plt.subplots()
    histogram(ax, [0.0, 0.0, 1.33, 2.0], 2.0)
    bars = sorted((p.get_x(), p.get_height()) for p in ax.patches)
    assert ax.get_xlim() == (0.0, 2.0)
    assert [round(x, 2) for x, _ in bars] == [round(0.2 * i, 2) for i in range(10)]
    assert sum(h for _, h in bars) == 4 and bars[0][1] == 2 and bars[-1][1] == 1
    plt.close(fig)


def test_cli_table_shows_escape_sequences_as_text():
    from autograder.grading import NotebookResult, TaskResult
    from autograder.report import format_table

    result = NotebookResult(path="x\x1b[2J.ipynb", topic=P01, tasks=[
        TaskResult("ppca.mle", 0.0, 2.0, "error", "raised ValueError: " + STUDENT_TEXT
                   + "\n   ppca.sample  2/2  passed")], elapsed_s=1.0)
    table = format_table(result)
    assert "\x1b" not in table and "\\x1b[1A" in table
    rows = [line for line in table.splitlines() if line[3:4].strip()]  # text in the id column
    assert len(table.splitlines()) > len(rows) and not [r for r in rows if "passed" in r], table


# --- gradebook -------------------------------------------------------------------------------

def test_a_bad_timestamp_is_that_students_warning_and_the_others_are_stored(tmp_path):
    from nbgrader.api import Gradebook

    from autograder.classgrade.gradebook import write_gradebook

    db = tmp_path / "gradebook.db"
    with Gradebook(f"sqlite:///{db}") as gb:
        gb.add_assignment(P01)
        gb.add_notebook(P01, P01)
        for task in tasks_for_topic(P01):
            gb.add_grade_cell(task.grade_id, P01, P01, max_score=task.points, cell_type="code")
    records = []
    for student, stamp in (("anna", "not a date"), ("ben", "2026-01-05 10:00:00 UTC"),
                           ("cleo", None)):
        folder = tmp_path / "submitted" / student / P01
        folder.mkdir(parents=True)
        if stamp:
            (folder / "timestamp.txt").write_text(stamp)
        records.append(record(student, [(t.id, t.points, "passed", "")
                                        for t in tasks_for_topic(P01)],
                              path=str(folder / f"{P01}.ipynb")))
    (tmp_path / "submitted" / "cleo" / P01 / "timestamp.txt").symlink_to("/dev/zero")
    warnings = write_gradebook(records, db)
    assert len(warnings) == 2, warnings
    assert "anna/01_ppca: timestamp.txt does not hold a date" in warnings[0]
    assert "cleo/01_ppca: timestamp.txt cannot be read" in warnings[1]
    with Gradebook(f"sqlite:///{db}") as gb:
        for student in ("anna", "ben", "cleo"):
            assert gb.find_submission(P01, student).score == FULL
        assert gb.find_submission(P01, "ben").timestamp is not None
        assert gb.find_submission(P01, "anna").timestamp is None


# --- nbgrader: grade cells restored, feedback sanitised --------------------------------------

def released() -> list:
    from autograder.nbgrader_sanitize import ReleasedCell

    cells = []
    for cell in nbformat.read(str(exercise_notebook(P01)), as_version=4).cells:
        meta = cell.metadata.get("nbgrader")
        if meta:
            cells.append(ReleasedCell(meta["grade_id"], cell.cell_type, cell.source,
                                      meta["locked"], meta.get("checksum"), meta["grade"],
                                      meta["solution"], meta.get("task", False),
                                      meta.get("points")))
    return cells


def grade_ids(cells: list) -> list[str]:
    return [c.metadata["nbgrader"]["grade_id"] for c in cells if "nbgrader" in c.metadata]


def tampered_notebook() -> nbformat.NotebookNode:
    """The solution with every metadata trick: duplicated tests, a bonus cell, 200 points,
    swapped grade ids, an unlocked test, a test deleted, a copied answer cell."""
    nb = nbformat.read(str(solution_notebook(P01)), as_version=4)
    by_id = {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells
             if "nbgrader" in c.metadata}
    by_id["ppca_sample"].metadata["nbgrader"]["points"] = 200
    by_id["ppca_marginal"].metadata["nbgrader"]["locked"] = False
    by_id["ppca_posterior"].metadata["nbgrader"]["grade_id"] = "ppca_log_marginal"
    by_id["ppca_log_marginal"].metadata["nbgrader"]["grade_id"] = "ppca_posterior"
    nb.cells.remove(by_id["ppca_mle"])
    duplicate = nbformat.from_dict(json.loads(json.dumps(by_id["ppca_sample"])))
    duplicate.metadata["nbgrader"].pop("schema_version", None)
    bonus = nbformat.v4.new_code_cell("print('bonus')", metadata={"nbgrader": {
        "grade": True, "grade_id": "bonus", "locked": True, "points": 100, "solution": False,
        "schema_version": 3}})
    answer_copy = nbformat.from_dict(json.loads(json.dumps(by_id["ppca_marginal_solution"])))
    answer_copy.source = "# my first try"
    at = nb.cells.index(by_id["ppca_marginal_solution"])
    nb.cells[at:at] = [answer_copy]
    nb.cells += [duplicate, bonus]
    return nb


def test_restore_cells_gives_back_exactly_the_released_grade_cells():
    from autograder.nbgrader_sanitize import restore_cells

    spec = released()
    honest = nbformat.read(str(exercise_notebook(P01)), as_version=4).cells
    assert restore_cells(list(honest), spec) == (honest, [])  # nothing to restore, no notes
    nb = tampered_notebook()
    cells, notes = restore_cells(list(nb.cells), spec)
    assert sorted(grade_ids(cells)) == sorted(c.name for c in spec)  # each exactly once
    metadata = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"] for c in cells
                if "nbgrader" in c.metadata}
    for cell in spec:
        assert metadata[cell.name] == cell.metadata()
    assert metadata["ppca_sample"]["points"] == 2 and metadata["ppca_marginal"]["locked"]
    answers = [c for c in cells if "nbgrader" in c.metadata
               and c.metadata["nbgrader"]["grade_id"] == "ppca_marginal_solution"]
    assert len(answers) == 1 and "my first try" not in answers[0].source
    assert any("# my first try" == c.source for c in cells)  # kept, as a plain cell
    assert any("bonus" in n for n in notes) and any("put back" in n for n in notes)
    assert not any("bonus" in c.source for c in cells)


def test_metadata_tampering_earns_no_credit_in_the_grader(tmp_path):
    from tests.helpers import grade

    path = tmp_path / f"{P01}.ipynb"
    nbformat.write(tampered_notebook(), str(path))
    result = grade(path)
    assert (result.score, result.max_score) == (FULL, FULL)


class ScriptFinder(LinkParser):
    """Scripts, event handlers and javascript: URLs in an HTML page."""


def dangerous(html: str, marker: str) -> list[str]:
    parser = ScriptFinder()
    parser.feed(html)
    found = [s for s in parser.scripts if marker in s]
    found += [a for a in parser.attributes if a.startswith("on")]
    found += [u for u in parser.urls if u.lower().startswith("javascript:")]
    return found


HOSTILE_OUTPUTS = [
    nbformat.v4.new_output("display_data", data={
        "text/html": "<b>ok</b><script>PWNED_1()</script><img src=x onerror=PWNED_2()>"
                     "<a href='javascript:PWNED_3()'>x</a><table><tr><td>1</td></tr></table>",
        "text/plain": "ok"}),
    nbformat.v4.new_output("display_data", data={"application/javascript": "PWNED_4()",
                                                  "text/plain": "js"}),
    nbformat.v4.new_output("display_data", data={
        "image/svg+xml": "<svg><script>PWNED_5()</script></svg>", "text/plain": "svg"}),
    nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=",
                                                  "text/plain": "png"},
                           metadata={"image/png": {"width": "1 onerror=PWNED_6()"}}),
]


def test_feedback_sanitiser_removes_scripts_and_handlers():
    from nbconvert import HTMLExporter

    from autograder.nbgrader_sanitize import SanitizeFeedback

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Notes\n<script>PWNED_7()</script><b>bold</b>"),
        nbformat.v4.new_code_cell("show()", outputs=HOSTILE_OUTPUTS)])
    nb, _ = SanitizeFeedback()(nb, {})  # as nbconvert calls it
    html, _ = HTMLExporter(template_name="classic").from_notebook_node(nb)
    assert dangerous(html, "PWNED") == []
    assert "<table>" in html and "<b>bold</b>" in html  # harmless markup stays


@pytest.mark.slow
def test_nbgrader_contains_duplicated_test_cells_and_student_scripts(tmp_path):
    """``nbgrader autograde`` + ``generate_feedback``: the tampered notebook (first in order)
    costs nobody else anything; a student's script never runs in a feedback page."""
    from nbgrader.api import Gradebook

    from tests.test_nbgrader_e2e import nbgrader

    course = tmp_path / "course"
    shutil.copytree(course_root() / "solutions" / P01, course / "solutions" / P01)
    shutil.copy(course_root() / "nbgrader_config.py", course)
    nbgrader(course, "generate_assignment", P01, "--force")
    released_nb = course / "exercises" / P01 / f"{P01}.ipynb"
    source = course / "solutions" / P01 / f"{P01}.ipynb"
    submitted = course / "submitted"
    target = submitted / "a_tamper" / P01 / f"{P01}.ipynb"
    target.parent.mkdir(parents=True)
    nbformat.write(tampered_notebook(), str(target))
    fill(released_nb, source, submitted / "b_script" / P01 / f"{P01}.ipynb")
    nb = nbformat.read(str(submitted / "b_script" / P01 / f"{P01}.ipynb"), as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(
        "from IPython.display import HTML, Javascript, display\n"
        "display(HTML('<script>PWNED_1()</script><img src=x onerror=PWNED_2()>'))\n"
        "display(Javascript('PWNED_3()'))"))
    nb.cells.append(nbformat.v4.new_markdown_cell("<script>PWNED_4()</script>"))
    nbformat.write(nb, str(submitted / "b_script" / P01 / f"{P01}.ipynb"))
    fill(released_nb, source, submitted / "c_victim" / P01 / f"{P01}.ipynb")

    nbgrader(course, "autograde", P01)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        scores = {s: gb.find_submission(P01, s).score
                  for s in ("a_tamper", "b_script", "c_victim")}
        max_score = gb.find_assignment(P01).max_score
    assert scores == {"a_tamper": FULL, "b_script": FULL, "c_victim": FULL}
    assert max_score == FULL
    nbgrader(course, "generate_feedback", P01)
    page = (course / "feedback" / "b_script" / P01 / f"{P01}.html").read_text()
    assert "PWNED_1" in page  # the output is there, as text
    assert dangerous(page, "PWNED") == []
