"""The five papers' models, one architecture per file, and a registry.

``create_model(name, num_joints=..., **kw)`` builds a registered config; ``list_models()``
lists them. Each model file registers its configs with :func:`register_model`.

Output convention (what ``model(images)`` returns for ``images (B, 3, H, W)``):
- heatmap models (cpm, hourglass, hrnet): ``list[Tensor]``, one ``(B, C, H', W')`` per
  stage / stack (HRNet: a list of one), intermediate supervision sums over the list;
- openpose: ``list[dict]``, one ``{"paf": (B, 2L, H', W'), "heatmaps": (B, C, H', W')}`` per stage;
- deeppose: ``(B, K, 2)`` normalized coordinates ``N(y; b)``.

Every model checks its input at the top of ``forward`` (:func:`check_images`: a 4-D floating-point
tensor, 3 channels, the minimum size and divisibility its strides need, DeepPose's fixed size) and
raises a ``ValueError`` naming the model, what it expects and what it got; images of another floating dtype
than the model's weights (half or double into a float32 model) are refused unless autocast is on.
:func:`create_model` refuses a ``num_joints`` (and stage/stack/size count) that is not a positive int. The checks read shapes
only, so they cost nothing, never synchronize a GPU and work on the meta device.
"""
from __future__ import annotations

import numbers
from typing import Callable

import torch
import torch.nn as nn

__all__ = ["register_model", "register_configs", "create_model", "list_models", "load_official", "OFFICIAL_PARAMS",
           "check_images"]

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
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(_REGISTRY)}")
    for key in ("num_joints", "num_stages", "num_stacks", "image_size"):
        v = kw.get(key)
        if (v is not None or key == "num_joints" and key in kw) and \
                (isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1):
            raise ValueError(f"{name}: {key}: expected a positive int, got {v!r} ({type(v).__name__})")
    model = _REGISTRY[name](**kw)
    model.config_name = name  # named in input errors (see check_images)
    return model


def model_label(model: nn.Module) -> str:
    """``"hrnet_tiny (HRNet)"`` for a model from :func:`create_model`, else the class name."""
    name = getattr(model, "config_name", None)
    return f"{name} ({type(model).__name__})" if name else type(model).__name__


def check_images(model: nn.Module, images, *, channels: int = 3, min_size: int = 1, multiple: int = 1,
                 size: tuple[int, int] | None = None) -> None:
    """Raise a ``ValueError`` unless ``images`` is a floating-point ``(B, channels, H, W)`` tensor with
    ``H, W >= min_size``, both divisible by ``multiple``, and ``(H, W) == size`` when ``size`` is given.
    Reads only shape and dtype (cheap, no GPU synchronization, fine on the meta device)."""
    want = f"a float tensor (B, {channels}, H, W)"
    if size is not None:
        want += f" with (H, W) = {tuple(size)}"
    else:
        rules = ([f"H, W >= {min_size}"] if min_size > 1 else []) + \
                ([f"divisible by {multiple}"] if multiple > 1 else [])
        want += f" with {' and '.join(rules)}" if rules else ""
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"{model_label(model)}: images: expected {want}, got a {type(images).__name__}")
    got = f"shape {tuple(images.shape)}, {images.dtype}"
    bad = images.dim() != 4 or not images.is_floating_point() or images.shape[1] != channels
    if not bad:
        H, W = images.shape[-2:]
        bad = (tuple(size) != (H, W)) if size is not None else \
            (min(H, W) < min_size or H % multiple != 0 or W % multiple != 0)
    if bad:
        raise ValueError(f"{model_label(model)}: images: expected {want}, got {got}")
    weight = next(iter(model.parameters()), None)
    if weight is not None and images.dtype != weight.dtype and weight.is_floating_point() \
            and not torch.is_autocast_enabled(images.device.type):
        raise ValueError(f"{model_label(model)}: images: {images.dtype}, but the model's weights are {weight.dtype}; "
                         f"convert one to the other (images.to({weight.dtype}) or model.to({images.dtype})), or run "
                         "under torch.autocast")


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
