"""The five papers' models, one architecture per file, and a registry.

``create_model(name, num_joints=..., **kw)`` builds a registered config; ``list_models()``
lists them. Each model file registers its configs with :func:`register_model`.

Output convention (what ``model(images)`` returns for ``images (B, 3, H, W)``):
- heatmap models (cpm, hourglass, hrnet): ``list[Tensor]``, one ``(B, C, H', W')`` per
  stage / stack (HRNet: a list of one), intermediate supervision sums over the list;
- openpose: ``list[dict]``, one ``{"paf": (B, 2L, H', W'), "heatmaps": (B, C, H', W')}`` per stage;
- deeppose: ``(B, K, 2)`` normalized coordinates ``N(y; b)``.
"""
from __future__ import annotations

from typing import Callable

import torch.nn as nn

__all__ = ["register_model", "create_model", "list_models"]

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str):
    """Decorator: register a builder ``fn(**kw) -> nn.Module`` under ``name``."""

    def deco(fn):
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        _REGISTRY[name] = fn
        return fn

    return deco


def list_models() -> list[str]:
    """Names accepted by :func:`create_model`, sorted."""
    _load_all()
    return sorted(_REGISTRY)


def create_model(name: str, **kw) -> nn.Module:
    """Build a registered model config, e.g. ``create_model("hrnet_w32", num_joints=17)``."""
    _load_all()
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(_REGISTRY)}")
    return _REGISTRY[name](**kw)


def _load_all() -> None:
    # import the architecture files so that their @register_model decorators run
    import importlib

    for mod in ("deeppose", "cpm", "hourglass", "openpose", "hrnet"):
        try:
            importlib.import_module(f"{__name__}.{mod}")
        except ModuleNotFoundError as e:  # a file not written yet
            if e.name != f"{__name__}.{mod}":
                raise
