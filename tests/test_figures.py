"""The lecture notes' figures: every image a note links exists, is drawn by
``notes_figures``, and the drawing code still writes it (fast mode)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from notes_figures import FIGURES_DIR, all_figures, make

NOTES_DIR = FIGURES_DIR.parent
NOTES = sorted(NOTES_DIR.glob("[0-9][0-9]_*.md"))
IMAGE_LINK = re.compile(r"!\[[^\]]*\]\((figures/[^)\s]+)\)")


def linked_figures(note: Path) -> list[str]:
    """File names (relative to figures/) of the images a note links."""
    return [link.removeprefix("figures/") for link in IMAGE_LINK.findall(note.read_text())]


def test_every_note_is_found() -> None:
    assert [note.name[:2] for note in NOTES] == [f"{n:02d}" for n in range(1, 9)]


@pytest.mark.parametrize("note", NOTES, ids=[note.stem for note in NOTES])
def test_note_links_at_least_three_figures_drawn_by_code(note: Path) -> None:
    links = linked_figures(note)
    assert len(set(links)) >= 3, f"{note.name} links {len(set(links))} figures"
    drawn = all_figures([note.name[:2]])
    for name in links:
        assert (FIGURES_DIR / name).is_file(), f"{note.name} links missing figures/{name}"
        assert name in drawn, f"figures/{name} is not drawn by notes_figures/t{note.name[:2]}_*"


@pytest.mark.parametrize("note", NOTES, ids=[note.stem for note in NOTES])
def test_figure_code_writes_every_linked_file(note: Path, tmp_path: Path) -> None:
    written = {path.name for path in make(tmp_path, only=[note.name[:2]], fast=True)}
    missing = set(linked_figures(note)) - written
    assert not missing, f"not written by the figure code: {sorted(missing)}"
    for name in written:
        assert (tmp_path / name).stat().st_size > 1000, f"{name} is (nearly) empty"
