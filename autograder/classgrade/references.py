"""An on-disk cache of reference results, shared by every worker and every run.

Used as the ``reference_store`` of a :class:`autograder.grading.Grader`: the reference notebook's
probe output for a hidden check is deterministic for the grader's fixed inputs, so it is kept
under the solution notebook's hash (and the grader's code and device) and computed once per
topic rather than once per student. Files are written atomically by the grading processes,
sealed (``autograder.classgrade.integrity``), and read back only when their seal matches, with
``torch.load(weights_only=True)`` (no code runs on reading).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from autograder import payload
from autograder.classgrade import integrity
from autograder.classgrade.store import grader_fingerprint, solution_sha256, write_atomic

MAGIC = b"vae-course reference 1\n"


class DiskReferenceStore:
    """``<root>/<device>/<topic>-<solution hash>-<grader hash>/<task id>.<check id>.pt``."""

    def __init__(self, root: Path, device: str) -> None:
        self.key_root = Path(root)
        self.root = Path(root) / device

    def folder(self, topic: str) -> Path:
        """Where one topic's references are kept (for this solution and grader)."""
        return self.root / f"{topic}-{solution_sha256(topic)[:16]}-{grader_fingerprint()[:16]}"

    def _path(self, topic: str, task_id: str, check_id: str) -> Path:
        return self.folder(topic) / f"{task_id}.{check_id}.pt"

    def get(self, topic: str, task_id: str, check_id: str) -> Any:
        """The cached reference value; KeyError when there is none, it is unreadable or its
        seal does not match (then with a warning line: it will be computed again)."""
        path = self._path(topic, task_id, check_id)
        try:
            data = path.read_bytes()
        except OSError:
            raise KeyError((topic, task_id, check_id)) from None
        mark, _, blob = data.removeprefix(MAGIC).partition(b"\n")
        if not data.startswith(MAGIC) or not integrity.verified(
                integrity.seal_key(self.key_root), self._fingerprint(path), blob,
                mark.decode("ascii", "replace")):
            integrity.warn_tampered(path)
            raise KeyError((topic, task_id, check_id))
        try:
            return payload.loads(blob)
        except Exception:  # noqa: BLE001 - a damaged file is a cache miss
            raise KeyError((topic, task_id, check_id)) from None

    def put(self, topic: str, task_id: str, check_id: str, value: Any) -> None:
        """Cache a reference value, sealed."""
        path = self._path(topic, task_id, check_id)
        blob = payload.dumps(reencode(value))
        mark = integrity.seal(integrity.seal_key(self.key_root), self._fingerprint(path), blob)
        write_atomic(path, MAGIC + mark.encode() + b"\n" + blob)

    def _fingerprint(self, path: Path) -> str:
        """What a seal binds a file to besides its content: this grader and its place."""
        return f"{grader_fingerprint()}:{path.relative_to(self.root)}"


def reencode(value: Any) -> Any:
    """The tagged plain data that ``payload.decode`` turns back into ``value``."""
    if isinstance(value, torch.Tensor):
        info = payload.tensor_info(value)
        return {"t": "tensor", "data": value.detach().clone(), "device": info.device,
                "rg": info.requires_grad, "gf": info.has_grad_fn}
    if isinstance(value, (list, tuple)):
        return {"t": type(value).__name__, "items": [reencode(v) for v in value]}
    if isinstance(value, dict):
        return {"t": "dict", "items": [[k, reencode(v)] for k, v in value.items()]}
    if isinstance(value, payload.Symbolic):
        return payload.encode_symbolic(value)
    if isinstance(value, payload.DistributionInfo):
        return _reencode_distribution(value)
    if isinstance(value, payload.Opaque):
        return {"t": "object", "type": value.type_name, "repr": value.text}
    return value


def _reencode_distribution(info: payload.DistributionInfo) -> dict[str, Any]:
    return {"t": "dist", "type": info.type_name, "batch": list(info.batch_shape),
            "event": list(info.event_shape),
            "base": _reencode_distribution(info.base) if info.base is not None else None}
