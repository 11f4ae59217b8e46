"""The only data that crosses between the grader and the untrusted worker: plain numbers.

One message is one line of JSON. Values are encoded as
    ``null``, ``true``/``false``, ints (|x| < 2**63), finite floats, JSON lists (Python lists),
    ``{"t": [...]}`` tuples, ``{"d": {"key": value}}`` dicts with short string keys,
    ``{"f": "nan" | "inf" | "-inf"}`` non-finite floats,
    ``{"nd": {"dtype": "<f8", "shape": [...], "b64": "..."}}`` numeric arrays (``"torch": true`` for a tensor,
    ``"grad": true`` for one that requires grad), and ``{"ref": "name"}`` (grader -> worker only: a name in the
    student's namespace, e.g. a function passed to a test helper).
Nothing else exists on the wire: no strings as values, no object dtype, no pickles. :func:`decode` is strict (it
runs in the grader on what the student's process sent) and :func:`encode` refuses anything that is not numeric data.
This module imports only numpy (torch lazily, when a tensor is met).
"""
from __future__ import annotations

import base64
import json
import math

import numpy as np

MAX_ELEMENTS = 2_000_000          # numbers in one message
MAX_DEPTH = 12
MAX_KEY = 64
DTYPES = {"|b1", "|i1", "|u1", "<i2", "<u2", "<i4", "<u4", "<i8", "<u8", "<f2", "<f4", "<f8"}


class WireError(ValueError):
    """A value that cannot be sent, or a message that is not valid plain data."""


def _array(a: np.ndarray, **tags) -> dict:
    if a.dtype.kind not in "biuf":
        raise WireError(f"arrays must have a numeric dtype, got dtype {a.dtype}")
    a = np.array(a, dtype=a.dtype.newbyteorder("<") if a.dtype.itemsize > 1 else a.dtype, order="C", copy=True)
    out = {"dtype": a.dtype.str, "shape": list(a.shape), "b64": base64.b64encode(a.tobytes()).decode()}
    out.update({k: True for k, v in tags.items() if v})
    return {"nd": out}


def encode(value, refs: dict | None = None, _depth: int = 0):
    """Python value -> JSON-able plain data. ``refs`` maps objects (by id) to the names sent as ``{"ref": name}``."""
    if _depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    if refs and id(value) in refs:
        return {"ref": refs[id(value)]}
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, np.bool_):
        v = int(value)
        if abs(v) >= 2 ** 63:
            raise WireError("integer out of the 64-bit range")
        return v
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else {"f": "nan" if v != v else ("inf" if v > 0 else "-inf")}
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return _array(value)
    if type(value).__module__.startswith("torch") and type(value).__name__ in ("Tensor", "Parameter"):
        t = value.detach().cpu()
        if t.dtype.is_complex:
            raise WireError("complex tensors are not numbers the tests compare")
        if str(t.dtype) == "torch.bfloat16":
            t = t.float()
        return _array(t.numpy(), torch=True, grad=bool(value.requires_grad))
    if isinstance(value, (list, tuple)):
        items = [encode(v, refs, _depth + 1) for v in value]
        return {"t": items} if isinstance(value, tuple) else items
    if isinstance(value, dict):
        if not all(isinstance(k, str) and len(k) <= MAX_KEY for k in value):
            raise WireError("dict keys must be short strings")
        return {"d": {k: encode(v, refs, _depth + 1) for k, v in value.items()}}
    raise WireError(f"expected numbers, arrays, lists, tuples or dicts of them, got {type(value).__name__}")


def dumps(message) -> bytes:
    return json.dumps(message, allow_nan=False, separators=(",", ":")).encode() + b"\n"


class _Budget:
    def __init__(self, limit: int):
        self.left = limit

    def take(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise WireError(f"more than {MAX_ELEMENTS} numbers in one message")


def decode(data, resolve=None, torch_ok: bool = True, _depth: int = 0, _budget: _Budget | None = None):
    """Strictly decode plain data (see the module docstring) into fresh Python/numpy/torch values.

    ``resolve(name)`` turns ``{"ref": name}`` into an object (the worker's side); without it refs are refused.
    Raises :class:`WireError` on anything else.
    """
    budget = _budget or _Budget(MAX_ELEMENTS)
    if _depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    if data is None or isinstance(data, bool):
        return data
    if isinstance(data, int):
        if abs(data) >= 2 ** 63:
            raise WireError("integer out of the 64-bit range")
        return data
    if isinstance(data, float):
        if not math.isfinite(data):
            raise WireError("non-finite float outside the {'f': ...} form")
        return data
    if isinstance(data, list):
        budget.take(len(data))
        return [decode(v, resolve, torch_ok, _depth + 1, budget) for v in data]
    if not isinstance(data, dict) or len(data) != 1:
        raise WireError(f"unexpected {type(data).__name__} in a message")
    (tag, body), = data.items()
    if tag == "t" and isinstance(body, list):
        budget.take(len(body))
        return tuple(decode(v, resolve, torch_ok, _depth + 1, budget) for v in body)
    if tag == "d" and isinstance(body, dict):
        if not all(isinstance(k, str) and len(k) <= MAX_KEY for k in body):
            raise WireError("dict keys must be short strings")
        budget.take(len(body))
        return {k: decode(v, resolve, torch_ok, _depth + 1, budget) for k, v in body.items()}
    if tag == "f" and body in ("nan", "inf", "-inf"):
        return float(body)
    if tag == "ref" and isinstance(body, str) and resolve is not None:
        return resolve(body)
    if tag == "nd" and isinstance(body, dict):
        return _decode_array(body, torch_ok, budget)
    raise WireError(f"unexpected tag {tag!r} in a message")


def _decode_array(body: dict, torch_ok: bool, budget: _Budget):
    if not set(body) <= {"dtype", "shape", "b64", "torch", "grad"} or not {"dtype", "shape", "b64"} <= set(body):
        raise WireError("array: unexpected fields")
    dtype, shape, b64 = body["dtype"], body["shape"], body["b64"]
    if dtype not in DTYPES:
        raise WireError(f"array: dtype {dtype!r} is not a plain numeric dtype")
    if (not isinstance(shape, list) or len(shape) > 8
            or not all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= MAX_ELEMENTS for n in shape)):
        raise WireError(f"array: invalid shape {shape!r}")
    count = math.prod(shape)
    budget.take(count)
    if not isinstance(b64, str) or len(b64) > 4 * (count * 8 + 3) // 3 + 4:
        raise WireError("array: data does not match the shape")
    try:
        raw = base64.b64decode(b64, validate=True)
    except ValueError:
        raise WireError("array: data is not base64") from None
    dt = np.dtype(dtype)
    if len(raw) != count * dt.itemsize:
        raise WireError(f"array: {len(raw)} bytes for shape {shape} and dtype {dtype}")
    a = np.frombuffer(raw, dtype=dt).astype(dt.newbyteorder("="), copy=True).reshape(shape)
    if dt.kind == "b" and a.size and not np.isin(a.view(np.uint8), (0, 1)).all():
        raise WireError("array: booleans other than 0/1")
    if body.get("torch") is True and torch_ok:
        import torch
        t = torch.from_numpy(a)
        return t.requires_grad_(True) if body.get("grad") is True and t.is_floating_point() else t
    return a
