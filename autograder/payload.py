"""Safe transport of values from an untrusted child process to the grading process.

The child turns whatever student code returned into plain tagged data (tensors,
numbers, strings, lists, dicts); the parent reads it with ``torch.load(weights_only=True)``,
which cannot execute code. Objects of any other type arrive as a description only, so an
object that overrides ``__eq__`` can never reach a comparison.
"""

from __future__ import annotations

import io
import math
import sys
import zipfile
from typing import Any

import numpy as np
import torch

_PRIMITIVES = (bool, int, float, str, type(None))
MAX_DEPTH = 8
MAX_ITEMS = 256


class TensorInfo:
    """Where a decoded tensor came from (its device and autograd state in the child)."""

    __slots__ = ("device", "requires_grad", "has_grad_fn")

    def __init__(self, device: str, requires_grad: bool, has_grad_fn: bool) -> None:
        self.device = device
        self.requires_grad = requires_grad
        self.has_grad_fn = has_grad_fn


class Opaque:
    """A value the child could not send: only its type name and a short repr survive."""

    def __init__(self, type_name: str, text: str) -> None:
        self.type_name = type_name
        self.text = text

    def __repr__(self) -> str:
        return f"<{self.type_name}>"


class Symbolic:
    """A sympy expression sent as a checked structural tree (``autograder.sympy_tree``).

    ``problem`` says why there is no tree (the child could not encode the expression, or what
    came back is not a well-formed tree); rebuild with ``autograder.symbolic.to_sympy``.
    """

    def __init__(self, tree: list[Any] | None, problem: str = "") -> None:
        self.tree = tree
        self.problem = problem

    def __repr__(self) -> str:
        return "<sympy expression>"


class DistributionInfo:
    """A ``torch.distributions`` object: its class, shapes and (as tensors) its parameters."""

    def __init__(self, type_name: str, batch_shape: tuple[int, ...], event_shape: tuple[int, ...],
                 base: DistributionInfo | None = None) -> None:
        self.type_name = type_name
        self.batch_shape = batch_shape
        self.event_shape = event_shape
        self.base = base

    def __repr__(self) -> str:
        return (f"{self.type_name}(batch_shape={list(self.batch_shape)}, "
                f"event_shape={list(self.event_shape)})")


def encode(value: Any, depth: int = 0) -> Any:
    """Turn a value produced by (untrusted) code into tagged plain data. Runs in the child."""
    if depth > MAX_DEPTH:
        return {"t": "object", "type": "nested too deeply", "repr": ""}
    if isinstance(value, torch.Tensor):
        plain = torch.Tensor.as_subclass(value, torch.Tensor)
        info = getattr(value, "vc_info", None)
        if not isinstance(info, TensorInfo):  # a decoded tensor keeps its origin
            info = TensorInfo(str(plain.device), bool(plain.requires_grad),
                              plain.grad_fn is not None)
        return {
            "t": "tensor",
            "data": plain.detach().to("cpu").clone().contiguous(),
            "device": info.device,
            "rg": info.requires_grad,
            "gf": info.has_grad_fn,
        }
    if type(value) in _PRIMITIVES:
        return value
    try:
        if isinstance(value, np.ndarray):
            return {"t": "tensor", "data": torch.from_numpy(np.array(value, copy=True)),
                    "device": "numpy", "rg": False, "gf": False}
        if isinstance(value, np.generic):
            return {"t": "tensor", "data": torch.tensor(value.item()), "device": "numpy",
                    "rg": False, "gf": False}
    except Exception:  # noqa: BLE001 - numpy missing or odd array: fall through
        pass
    if type(value) in (list, tuple):
        items = [encode(v, depth + 1) for v in list(value)[:MAX_ITEMS]]
        return {"t": type(value).__name__, "items": items}
    if type(value) is dict:
        pairs = [[str(k), encode(v, depth + 1)] for k, v in list(value.items())[:MAX_ITEMS]]
        return {"t": "dict", "items": pairs}
    if isinstance(value, torch.Size):
        return {"t": "tuple", "items": [int(v) for v in value]}
    if isinstance(value, Symbolic):
        return encode_symbolic(value)
    if isinstance(value, DistributionInfo):
        return _encode_info(value)
    if isinstance(value, Opaque):
        return {"t": "object", "type": value.type_name, "repr": value.text}
    dist = _encode_distribution(value, depth)
    if dist is not None:
        return dist
    sym = _encode_sympy(value)
    if sym is not None:
        return sym
    try:
        text = object.__repr__(value)
    except Exception:  # noqa: BLE001
        text = ""
    return {"t": "object", "type": type(value).__name__, "repr": text[:200]}


def _encode_distribution(value: Any, depth: int) -> dict | None:
    if not isinstance(value, torch.distributions.Distribution):
        return None
    base = getattr(value, "base_dist", None)
    return {
        "t": "dist",
        "type": type(value).__name__,
        "batch": [int(s) for s in value.batch_shape],
        "event": [int(s) for s in value.event_shape],
        "base": _encode_distribution(base, depth + 1) if base is not None else None,
    }


def _encode_info(info: DistributionInfo) -> dict:
    return {"t": "dist", "type": info.type_name, "batch": list(info.batch_shape),
            "event": list(info.event_shape),
            "base": _encode_info(info.base) if info.base is not None else None}


def contains(value: Any, kind: type) -> bool:
    """Whether a decoded value holds an instance of ``kind`` anywhere inside."""
    if isinstance(value, kind):
        return True
    if isinstance(value, (list, tuple)):
        return any(contains(v, kind) for v in value)
    if isinstance(value, dict):
        return any(contains(v, kind) for v in value.values())
    return False


def _encode_sympy(value: Any) -> dict | None:
    """The tagged tree of a sympy value; None for anything else.

    Sympy is not imported for this: a process that never imported it holds no sympy value.
    """
    sympy = sys.modules.get("sympy")
    if sympy is not None and isinstance(value, (sympy.Basic, sympy.MatrixBase)):
        from autograder import sympy_tree

        try:
            return {"t": "sympy", "tree": sympy_tree.encode(value)}
        except sympy_tree.TreeError as exc:
            return {"t": "sympy", "tree": None, "problem": str(exc)}
        except Exception as exc:  # noqa: BLE001 - e.g. a recursion error
            return {"t": "sympy", "tree": None, "problem": type(exc).__name__}
    return None


def encode_symbolic(value: Symbolic) -> dict[str, Any]:
    """The tagged form of an already-decoded sympy answer (``decode`` gives it back)."""
    return {"t": "sympy", "tree": value.tree, "problem": value.problem}


def _decode_symbolic(data: dict) -> Symbolic:
    """A sympy answer whose tree passed ``sympy_tree.check`` (or one that says why not)."""
    tree = data.get("tree")
    if tree is None:
        return Symbolic(None, str(data.get("problem", ""))[:200] or "no expression was sent")
    from autograder import sympy_tree

    try:
        sympy_tree.check(tree)
    except sympy_tree.TreeError as exc:
        return Symbolic(None, str(exc))
    return Symbolic(tree)


def decode(data: Any) -> Any:
    """Rebuild a value from tagged plain data. Runs in the grading process; trusts nothing."""
    if type(data) in _PRIMITIVES:
        if type(data) is float and math.isnan(data):
            return data
        return data
    if type(data) is not dict:
        return Opaque(type(data).__name__, "")
    tag = data.get("t")
    if tag == "tensor" and isinstance(data.get("data"), torch.Tensor):
        tensor = data["data"]
        tensor.vc_info = TensorInfo(str(data.get("device", "cpu")), bool(data.get("rg")),
                                    bool(data.get("gf")))
        return tensor
    if tag in ("list", "tuple") and isinstance(data.get("items"), list):
        items = [decode(v) for v in data["items"]]
        return tuple(items) if tag == "tuple" else items
    if tag == "dict" and isinstance(data.get("items"), list):
        return {str(k): decode(v) for k, v in data["items"]}
    if tag == "sympy":
        return _decode_symbolic(data)
    if tag == "dist":
        return _decode_distribution(data)
    return Opaque(str(data.get("type", "object")), str(data.get("repr", "")))


def _decode_distribution(data: dict) -> DistributionInfo:
    base = data.get("base")
    return DistributionInfo(
        str(data.get("type")),
        tuple(int(s) for s in data.get("batch", [])),
        tuple(int(s) for s in data.get("event", [])),
        _decode_distribution(base) if isinstance(base, dict) else None,
    )


def dumps(value: Any) -> bytes:
    """Serialise already-encoded data."""
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


def loads_raw(blob: bytes, budget: DecodeBudget | None = None) -> Any:
    """Deserialise without executing code (no decoding of tags).

    With a ``budget`` (what an untrusted child sent), the frame's pickle is measured before it
    is read and the objects it made are counted after: past the budget, TooComplex is raised.
    """
    if budget is not None:
        budget.take_pickle(_pickle_size(blob))
    value = torch.load(io.BytesIO(blob), weights_only=True, map_location="cpu")
    if budget is not None:
        budget.take_objects(value)
    return value


class TooComplex(ValueError):
    """What a child sent is beyond what the grading process agrees to read for one task."""


class DecodeBudget:
    """How much of a child's results the grading process reads for one task.

    Decoding runs in the grading process after the task's clock stopped, so it is bounded on
    its own: at most ``MAX_FRAMES`` frames, ``MAX_PICKLE_BYTES`` of pickled structure (what
    costs time to read; tensor data is copied in bulk and bounded by the pipe's byte cap),
    ``MAX_OBJECTS`` objects visited (shared or cyclic references count each time they are
    reached) and nesting up to ``MAX_NESTING`` containers deep.
    """

    MAX_FRAMES = 1024
    MAX_PICKLE_BYTES = 2 * 2**20
    MAX_ENTRIES = 4096
    MAX_OBJECTS = 200_000
    MAX_NESTING = 300

    def __init__(self) -> None:
        self.frames = 0
        self.pickle_bytes = 0
        self.objects = 0

    def take_frame(self) -> None:
        """Count one frame."""
        self.frames += 1
        if self.frames > self.MAX_FRAMES:
            raise TooComplex(f"more than {self.MAX_FRAMES} result frames")

    def take_pickle(self, size: int) -> None:
        """Count one frame's pickled structure (bytes)."""
        self.pickle_bytes += size
        if self.pickle_bytes > self.MAX_PICKLE_BYTES:
            raise TooComplex(f"more than {self.MAX_PICKLE_BYTES // 2**20} MiB of structure "
                             "(lists, dicts, numbers and strings, tensors aside)")

    def take_objects(self, value: Any) -> None:
        """Count the objects of a loaded frame, walking it without recursion."""
        stack = [(value, 0)]
        while stack:
            item, depth = stack.pop()
            self.objects += 1
            if self.objects > self.MAX_OBJECTS:
                raise TooComplex(f"more than {self.MAX_OBJECTS} objects")
            if depth > self.MAX_NESTING:
                raise TooComplex(f"containers nested more than {self.MAX_NESTING} deep")
            if type(item) in (list, tuple):
                stack.extend((v, depth + 1) for v in item)
            elif type(item) is dict:
                stack.extend((v, depth + 1) for pair in item.items() for v in pair)


def _pickle_size(blob: bytes) -> int:
    """The size of a torch.save archive's pickle, read from its zip directory only.

    Refuses archives with too many entries or compressed entries (whose size would be a claim,
    not a bound), so nothing large is read or inflated before the budget allows it; ValueError
    for what is not a torch archive at all.
    """
    buffer = io.BytesIO(blob)
    end = zipfile._EndRecData(buffer)  # noqa: SLF001 - only the end record: cheap
    if end is None:
        raise ValueError("not a torch archive")
    if end[zipfile._ECD_ENTRIES_TOTAL] > DecodeBudget.MAX_ENTRIES:  # noqa: SLF001
        raise TooComplex(f"a result frame holds more than {DecodeBudget.MAX_ENTRIES} tensors")
    infos = zipfile.ZipFile(buffer).infolist()
    if any(info.compress_type != zipfile.ZIP_STORED for info in infos) \
            or sum(info.file_size for info in infos) > len(blob):
        raise TooComplex("a result frame is a compressed archive")
    pickles = [info.file_size for info in infos if info.filename.endswith("data.pkl")]
    if len(pickles) != 1:
        raise ValueError("not a torch archive")
    return pickles[0]


def loads(blob: bytes) -> Any:
    """Deserialise without executing code, then decode."""
    return decode(loads_raw(blob))


def tensor_info(tensor: torch.Tensor) -> TensorInfo:
    """Origin of a decoded tensor (CPU, no grad for tensors made in the grading process)."""
    info = getattr(tensor, "vc_info", None)
    if isinstance(info, TensorInfo):
        return info
    return TensorInfo(str(tensor.device), bool(tensor.requires_grad), tensor.grad_fn is not None)


def to_device(value: Any, device: torch.device) -> Any:
    """Move every tensor in a nested structure to ``device`` (dtype unchanged)."""
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, list):
        return [to_device(v, device) for v in value]
    if isinstance(value, tuple):
        return tuple(to_device(v, device) for v in value)
    if isinstance(value, dict):
        return {k: to_device(v, device) for k, v in value.items()}
    return value
