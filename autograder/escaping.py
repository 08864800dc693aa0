"""Untrusted text made inert for each place it is written: terminal, Markdown and CSV.

Messages, file names and folder names can come from students (an exception's text, a folder
name). Each function here turns such text into what its sink shows literally: no terminal
control sequence, no live Markdown (images, links, HTML), no spreadsheet formula. HTML is
escaped where it is written (``html.escape``).
"""

from __future__ import annotations

import re
import unicodedata

_SPACES = str.maketrans({"\n": " ", "\r": " ", "\t": " ", "\v": " ", "\f": " "})
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def for_terminal(text: str) -> str:
    """One line of text a terminal shows as is.

    Line breaks and tabs become spaces; every other control character (ESC starting a cursor
    movement or a colour, C1 controls, DEL) and every bidirectional override is written as a
    visible escape such as ``\\x1b``.
    """
    out = []
    for ch in str(text).translate(_SPACES):
        if ch in _BIDI or unicodedata.category(ch) in ("Cc", "Cs"):
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


def error_line(text: object) -> str:
    """The command line's ``error: ...`` line, its text (paths, messages) made inert."""
    return f"error: {for_terminal(str(text))}"


def markdown_code(text: str) -> str:
    """Text as a Markdown code span: shown literally (no link, image, HTML or emphasis)."""
    line = for_terminal(text)
    fence = "`" * (max((len(run) for run in re.findall(r"`+", line)), default=0) + 1)
    pad = " " if line.startswith("`") or line.endswith("`") or not line.strip() else ""
    return f"{fence}{pad}{line}{pad}{fence}"


_PLAIN_NAME = re.compile(r"[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*")


def markdown_name(text: str) -> str:
    """A name for a Markdown heading or table: as is when plainly words joined by ``._-``
    (``01_ppca``, ``ppca.mle``; never ``www.``, which would be a link), else a code span
    (with table pipes escaped)."""
    if _PLAIN_NAME.fullmatch(text) and not text.lower().startswith("www."):
        return text
    return markdown_code(text).replace("|", "\\|")


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """A CSV cell no spreadsheet evaluates: text starting like a formula gets a leading ``'``.

    Numbers (``-1.5`` as a float) stay numbers; only text cells are changed (OWASP's advice
    for CSV injection).
    """
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value
