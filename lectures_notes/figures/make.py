"""Redraw every figure of the lecture notes: ``python lectures_notes/figures/make.py``.

The same as ``python -m notes_figures``; the drawing code lives in ``notes_figures/``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from notes_figures.__main__ import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
