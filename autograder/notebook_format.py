"""nbformat, imported without the optional IRI-syntax format checker of jsonschema.

``import nbformat`` imports jsonschema, and jsonschema imports ``rfc3987_syntax`` when it is
installed (it comes with JupyterLab), which builds a full grammar parser at import time:
about 1.4 s of CPU, more than the rest of nbformat ten times over. nbformat validates
notebooks without format checking, so that checker is never used by the grader; it is left
out while nbformat is imported, and only then (a later ``import rfc3987_syntax`` works).
"""

from __future__ import annotations

import sys
from types import ModuleType

SLOW_OPTIONAL = "rfc3987_syntax"


def import_nbformat() -> ModuleType:
    """The ``nbformat`` module, imported now if it was not yet, without ``rfc3987_syntax``."""
    if "nbformat" in sys.modules:
        return sys.modules["nbformat"]
    blocked = SLOW_OPTIONAL not in sys.modules
    if blocked:
        sys.modules[SLOW_OPTIONAL] = None  # type: ignore[assignment] - makes it an ImportError
    try:
        import nbformat
    finally:
        if blocked and sys.modules.get(SLOW_OPTIONAL, 0) is None:
            del sys.modules[SLOW_OPTIONAL]
    return nbformat
