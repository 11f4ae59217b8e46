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

__all__ = ["register_model", "register_configs", "create_model", "list_models", "load_official", "OFFICIAL_PARAMS"]

# Parameter counts of the official implementations (measured from their code; see
# ../shared/reference/official_models.json for repo, commit and config of each figure).
OFFICIAL_PARAMS = {
    "hrnet_w32": 28_536_113,  # leoxiaobin/deep-high-resolution-net.pytorch, w32_256x192, 17 joints
    "hrnet_w48": 63_595_745,  # same repo, w48_256x192
    "openpose_vgg19": 52_311_446,  # CMU COCO body model as converted for PyTorch (Hzzone/pytorch-openpose)
    "hourglass_8": 25_594_624,  # bearpaw/pytorch-pose hg(num_stacks=8, num_blocks=1, num_classes=16)
    "hourglass_2": 6_730_912,  # bearpaw/pytorch-pose hg(num_stacks=2, num_blocks=1, num_classes=16)
}

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str):
    """Decorator: register a builder ``fn(**kw) -> nn.Module`` under ``name``."""

    def deco(fn):
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        _REGISTRY[name] = fn
        return fn

    return deco


def register_configs(cls: type, configs: dict[str, dict], **defaults) -> dict[str, Callable[..., nn.Module]]:
    """Register one builder per entry of a config table: ``create_model(name, **kw)`` builds
    ``cls(**defaults, **configs[name], **kw)`` (later keys win). Returns the builders by name."""
    builders = {}
    for name, config in configs.items():
        def build(_config=config, **kw):
            return cls(**{**defaults, **_config, **kw})

        build.__name__ = name
        build.__doc__ = f"``{name}``: :class:`{cls.__name__}` with {config} (defaults {defaults})."
        builders[name] = register_model(name)(build)
    return builders


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


def load_official(model: nn.Module, state_dict_or_path) -> nn.Module:
    """Load an official HRNet / Stacked Hourglass / OpenPose checkpoint strictly (see :mod:`.official`)."""
    from .official import load_official as _load

    return _load(model, state_dict_or_path)
