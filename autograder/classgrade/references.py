"""An on-disk cache of reference results, shared by every worker and every run.

Used as the ``reference_store`` of a :class:`autograder.grading.Grader`: the reference notebook's
probe output for a hidden check is deterministic for the grader's fixed inputs, so it is kept
under the solution notebook's hash (and the grader's code and device) and computed once per
topic rather than once per student. Files are written atomically and read back with
``torch.load(weights_only=True)`` (no code runs on reading).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from autograder import payload
from autograder.classgrade.store import grader_fingerprint, solution_sha256, write_atomic


class DiskReferenceStore:
    """``<root>/<device>/<topic>-<solution hash>-<grader hash>/<task id>.<check index>.pt``."""

    def __init__(self, root: Path, device: str) -> None:
        self.root = Path(root) / device

    def folder(self, topic: str) -> Path:
        """Where one topic's references are kept (for this solution and grader)."""
        return self.root / f"{topic}-{solution_sha256(topic)[:16]}-{grader_fingerprint()[:16]}"

    def _path(self, topic: str, task_id: str, index: int) -> Path:
        return self.folder(topic) / f"{task_id}.{index}.pt"

    def get(self, topic: str, task_id: str, index: int) -> Any:
        """The cached reference value; KeyError when there is none (or it is unreadable)."""
        path = self._path(topic, task_id, index)
        try:
            return payload.loads(path.read_bytes())
        except Exception:  # noqa: BLE001 - a missing or damaged file is a cache miss
            raise KeyError((topic, task_id, index)) from None

    def put(self, topic: str, task_id: str, index: int, value: Any) -> None:
        """Cache a reference value."""
        write_atomic(self._path(topic, task_id, index), payload.dumps(reencode(value)))


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
