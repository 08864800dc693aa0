"""``python -m notes_figures [--only NN ...] [--out DIR] [--fast]``: draw the notes' figures."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from notes_figures import FIGURES_DIR, make


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, draw the figures and print one line per file."""
    parser = argparse.ArgumentParser(prog="python -m notes_figures", description=__doc__)
    parser.add_argument("--only", nargs="+", metavar="NN", help="topic numbers, e.g. 01 05")
    parser.add_argument("--out", type=Path, default=FIGURES_DIR, help="output folder")
    parser.add_argument("--fast", action="store_true", help="smallest versions (for tests)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    for path in make(args.out, only=args.only, fast=args.fast):
        print(path)
    print(f"done in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
