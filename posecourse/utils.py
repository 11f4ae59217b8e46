"""Small shared helpers: device choice, seeding, and values as plain data (what a checkpoint or a JSON file stores)."""
from __future__ import annotations

import dataclasses
import enum
import os
import random
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

import numpy as np
import torch

__all__ = ["resolve_device", "seed_everything", "to_plain"]


def resolve_device(device: str | torch.device | None = None, name: str = "device") -> torch.device:
    """The one place a device is chosen and checked: ``None`` or ``"auto"`` -> CUDA if available, else Apple MPS if
    available, else CPU; a :class:`torch.device` or a name it accepts -> that device, which must be present (CUDA, its
    index, MPS), else a ``ValueError`` naming the parameter ``name``. Every ``device`` argument in the library goes
    through here (:func:`posecourse.params.as_device` first checks a parameter's form)."""
    if device is None or device == "auto":
        auto = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
        return torch.device(auto)
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{name}: {device!r} asks for CUDA, but torch.cuda.is_available() is False "
                         "(use 'auto' for the best device present)")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"{name}: {device!r}: only {torch.cuda.device_count()} CUDA device(s) are present")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"{name}: {device!r} asks for Apple MPS, which is not available here")
    return dev


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA) and return a torch generator seeded with ``seed``."""
    if not isinstance(seed, int):
        raise ValueError(f"seed must be an int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    return torch.Generator().manual_seed(seed)


def _type_name(obj) -> str:
    t = type(obj)
    return f"{t.__module__}.{t.__qualname__}"


def to_plain(value: Any, where: str = "value") -> Any:
    """``value`` as data ``torch.load(weights_only=True)`` reads back: NumPy and torch scalars -> ``int`` /
    ``float`` / ``bool`` / ``str``; NumPy arrays -> nested lists; tuples and sets -> lists; paths, enums,
    ``torch.dtype`` / ``torch.device`` -> ``str``; dataclasses and mappings -> ``dict`` (keys must become
    str/int/float/bool/None); tensors with a dimension stay tensors (detached, on the CPU). Anything else is a
    ``ValueError`` naming ``where`` (``extra['meta']['x']``)."""
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, enum.Enum):
        return to_plain(value.value, where)
    if isinstance(value, (np.bool_, np.integer, np.floating, np.str_, np.ndarray)):
        return to_plain(value.tolist(), where)  # Python scalars / nested lists
    for plain in (int, float, str):  # subclasses (bool cannot be subclassed)
        if isinstance(value, plain):
            return plain(value)
    if isinstance(value, torch.Tensor):
        return value.item() if value.dim() == 0 else value.detach().cpu()
    if isinstance(value, (PurePath, torch.dtype, torch.device)):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            key = to_plain(k, f"{where} key {k!r}")
            if not (key is None or isinstance(key, (bool, int, float, str))):
                raise ValueError(f"save_checkpoint: {where} has the key {k!r}; keys must be str, int, float or bool")
            out[key] = to_plain(v, f"{where}[{k!r}]")
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
        if isinstance(value, (set, frozenset)):
            try:
                items = sorted(items)
            except TypeError:  # unorderable members: iteration order
                pass
        return [to_plain(v, f"{where}[{i}]") for i, v in enumerate(items)]
    raise ValueError(f"save_checkpoint: {where} is a {_type_name(value)}, which torch.load(weights_only=True) "
                     f"cannot read back; convert it to int/float/str/bool, a list or dict of them, or a tensor")
