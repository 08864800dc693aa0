"""A folder for the fork server's listening socket that no sandboxed child can reach.

Whoever connects to Python's fork server gets a fork of it, outside every sandbox. Its socket
normally lives in ``$TMPDIR/pymp-*``; here it lives in a fresh 0700 folder under ``/tmp`` or
``/dev/shm`` (a child with namespaces has private, empty ones of its own) that lies under no
tree a child may read, list or write (so no Landlock rule grants anything in it and a child
without namespaces cannot list the folder that holds it). Creating a unix socket is refused to
every sandboxed child anyway (``seccomp``).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterable

PRIVATE_BASES = ("/tmp", "/dev/shm")


def _under(path: str, root: str) -> bool:
    root = os.path.realpath(root)
    return path == root or path.startswith(root.rstrip("/") + "/")


def private_folder(avoid: Iterable[str]) -> str:
    """A fresh 0700 folder, removed at exit, under none of ``avoid`` (the trees a child may
    read, list or write): under /tmp or /dev/shm when one of them qualifies."""
    avoid = list(avoid)
    for base in (*PRIVATE_BASES, tempfile.gettempdir()):
        real = os.path.realpath(base)
        if not os.path.isdir(real) or not os.access(real, os.W_OK | os.X_OK) \
                or any(_under(real, tree) for tree in avoid):
            continue
        folder = tempfile.mkdtemp(prefix="vae-grader-", dir=real)
        os.chmod(folder, 0o700)
        atexit.register(shutil.rmtree, folder, True)
        return folder
    raise OSError("no folder for the fork server's socket lies outside the sandbox's trees")
