"""Small shared helpers: device choice and seeding."""
from __future__ import annotations

import os
import random

import numpy as np
import torch

__all__ = ["resolve_device", "seed_everything"]


def resolve_device(device: str | torch.device | None = None, name: str = "device") -> torch.device:
    """The one place a device is chosen and checked: ``None`` or ``"auto"`` -> CUDA if available, else
    Apple MPS if available, else CPU; a :class:`torch.device` or a name it accepts -> that device, which
    must be present (CUDA, its index, MPS), else a ``ValueError`` naming the parameter ``name``. Every
    ``device`` argument in the library goes through here (:func:`posecourse.params.as_device` first
    checks a parameter's form)."""
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if torch.backends.mps.is_available() else "cpu")
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
