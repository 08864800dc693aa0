"""The teaching team's report: per task, the score distribution and the commonest failures.

Student text (exception messages, folder names) is written inert: messages as Markdown code
spans, names as plain words or code spans (``autograder.escaping``).
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from pathlib import Path
from urllib.parse import quote

from autograder.classgrade.names import component
from autograder.classgrade.records import Record
from autograder.classgrade.store import write_atomic
from autograder.classgrade.tables import gradable, task_columns
from autograder.escaping import markdown_code, markdown_name
from autograder.status import STUDENT_STATUSES as STATUSES

REPORT = "report.md"
FIGURES = "report"
TOP_MESSAGES = 3
MESSAGE_CHARS = 200
UNTOUCHED = "missing"
"""The status of a task left as handed out (not implemented yet): counted, not a failure."""
HISTOGRAM_BINS = 10
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?(?!\w)", re.I)


def message_pattern(message: str) -> str:
    """A failure message with its numbers blanked, so that the same mistake groups together;
    a long one is cut at a word boundary, with an ellipsis."""
    return shorten(_NUMBER.sub("#", " ".join(message.split())), MESSAGE_CHARS)


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters at a space (``…`` marks the cut)."""
    if len(text) <= limit:
        return text
    cut = text[:limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip() + "…"


def write_report(records: list[Record], out: Path) -> Path:
    """Write ``report.md`` and its PNG figures (one per assignment) into ``out``."""
    records = gradable(records)
    lines = ["# Class report", "",
             f"{len({r.student for r in records})} students, {len(records)} submissions.", ""]
    for assignment, task_ids in task_columns(records).items():
        mine = [r for r in records if r.assignment == assignment]
        figure = _figure(assignment, task_ids, mine, out / FIGURES)
        statuses = _status_figure(assignment, task_ids, mine, out / FIGURES)
        totals = [r.score for r in mine]
        lines += [f"## {markdown_name(assignment)}", "",
                  f"{len(mine)} submissions; total: mean {statistics.fmean(totals):.2f}, "
                  f"median {statistics.median(totals):g} of {max(r.max_score for r in mine):g};"
                  f" {sum(r.error is not None for r in mine)} could not be graded.", "",
                  f"![score distributions]({FIGURES}/{quote(figure.name)})", "",
                  f"![statuses per task]({FIGURES}/{quote(statuses.name)})", "",
                  "| task | max | mean | full marks | " + " | ".join(STATUSES) + " |",
                  "|---|---|---|---|" + "---|" * len(STATUSES)]
        for task_id in task_ids:
            grades = [t for r in mine for t in r.tasks if t.id == task_id]
            counts = Counter(t.status for t in grades)
            full = sum(t.points >= t.max_points for t in grades)
            lines.append(f"| {markdown_name(task_id)} | {grades[0].max_points:g} | "
                         f"{statistics.fmean(t.points for t in grades):.2f} | "
                         f"{100 * full / len(grades):.0f} % | "
                         + " | ".join(str(counts.get(s, 0)) for s in STATUSES) + " |")
        lines += ["", *_failure_lines(task_ids, mine), ""]
    path = out / REPORT
    write_atomic(path, "\n".join(lines).encode("utf-8", "backslashreplace"))
    return path


def _failure_lines(task_ids: list[str], records: list[Record]) -> list[str]:
    """The commonest failure messages per task, then the tasks left untouched."""
    lines = ["Most frequent failure messages (numbers shown as #):", ""]
    graded = [r for r in records if not r.error]
    for task_id in task_ids:
        failures = Counter(message_pattern(t.message) for r in graded for t in r.tasks
                           if t.id == task_id and t.status not in ("passed", UNTOUCHED))
        for pattern, count in failures.most_common(TOP_MESSAGES):
            lines.append(f"- **{markdown_name(task_id)}** ({count}×): {markdown_code(pattern)}")
    untouched = Counter(t.id for r in graded for t in r.tasks if t.status == UNTOUCHED)
    if untouched:
        lines += ["", "Not attempted (left as handed out, not implemented yet):", ""]
        lines += [f"- **{markdown_name(task_id)}**: {untouched[task_id]} of {len(graded)}"
                  for task_id in task_ids if untouched[task_id]]
    return lines


def _figure(assignment: str, task_ids: list[str], records: list[Record], folder: Path) -> Path:
    """Histograms of each task's points and of the assignment total."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    panels = [*task_ids, "total"]
    cols = min(4, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    for ax, name in zip(axes.flat, panels, strict=False):
        if name == "total":
            values = [r.score for r in records]
            top = max(r.max_score for r in records)
        else:
            grades = [t for r in records for t in r.tasks if t.id == name]
            values, top = [t.points for t in grades], grades[0].max_points
        histogram(ax, values, top)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("points", fontsize=8)
        ax.set_ylabel("students", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.suptitle(f"{_plain(assignment)}: score distributions ({len(records)} submissions)")
    fig.tight_layout()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{component(assignment)}_scores.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def histogram(ax: object, values: list[float], top: float) -> None:
    """Points on a numeric axis from 0 to ``top`` in equal bins: one per point when ``top``
    is a whole number from ``HISTOGRAM_BINS`` to twice that, else ``HISTOGRAM_BINS``."""
    import numpy as np

    top = max(float(top), 1e-9)
    whole = float(top).is_integer() and HISTOGRAM_BINS <= top <= 2 * HISTOGRAM_BINS
    edges = np.linspace(0.0, top, (int(top) if whole else HISTOGRAM_BINS) + 1)
    ax.hist(np.clip(values, 0.0, top), bins=edges, color="#4c72b0",  # type: ignore[attr-defined]
            edgecolor="white")
    ax.set_xlim(0.0, top)  # type: ignore[attr-defined]


def _status_figure(assignment: str, task_ids: list[str], records: list[Record],
                   folder: Path) -> Path:
    """One horizontal bar per task, split by status: where the class lost its points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(7, 0.45 * len(task_ids) + 1.6))
    left = [0] * len(task_ids)
    colours = dict(zip(STATUSES, ("#55a868", "#c44e52", "#dd8452", "#8172b3", "#937860",
                                  "#8c8c8c"), strict=True))
    for status in STATUSES:
        counts = [sum(t.status == status for r in records for t in r.tasks if t.id == task)
                  for task in task_ids]
        ax.barh(task_ids, counts, left=left, label=status, color=colours[status])
        left = [a + b for a, b in zip(left, counts, strict=True)]
    ax.invert_yaxis()
    ax.set_xlabel("submissions")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=7, ncols=len(STATUSES), loc="upper center", bbox_to_anchor=(0.4, -0.18),
              frameon=False)
    ax.set_title(f"{_plain(assignment)}: task statuses")
    fig.tight_layout()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{component(assignment)}_statuses.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _plain(name: str) -> str:
    """A name matplotlib draws as is (``$`` would start math)."""
    return name.replace("$", r"\$")
