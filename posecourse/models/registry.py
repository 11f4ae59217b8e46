"""The model registry: :class:`ModelCard`, :func:`register_model` / :func:`register_configs` (each model
file registers its configs with their cards when :mod:`posecourse.models` imports it), :func:`create_model`,
:func:`model_card`, :func:`list_models`, and the input check every model runs (:func:`check_images`)."""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn

__all__ = ["ModelCard", "register_model", "register_configs", "create_model", "model_card", "list_models",
           "model_label", "check_images"]


@dataclass(frozen=True)
class ModelCard:
    """The facts of one registered config, declared beside it in its model file (timm's ``default_cfgs``):
    ``input_size`` ``(H, W)`` it is built for (the paper's crop, or 64 x 64), ``output`` (see the module note),
    ``paper`` (the paper's own config, else a CPU-sized sibling). Of the official code, where there is one:
    ``official_params`` (measured; repo, commit, config in ``../shared/reference/official_models.json``),
    ``source``, ``input_norm`` (the :data:`posecourse.train.weights.NORMS` entry its weights expect) and
    ``integer_centred``: its targets centre at heatmap px ``int(x / s + 0.5)``, so a flip test shifts 1 px and
    heatmap px ``j`` is crop px ``j * s`` (the course's codecs: ``(j + 0.5) s - 0.5``). The sizes ``forward``
    takes (:func:`check_images`): ``H, W >= min_size``, divisible by ``multiple``; only ``input_size`` if ``fixed_size``."""

    input_size: tuple[int, int]
    output: str  #: "coordinates" (B, K, 2) | "heatmaps" list[(B, C, H', W')] | "paf+heatmaps" list[dict]
    paper: bool = False
    official_params: int | None = None
    source: str | None = None
    input_norm: str | None = None
    integer_centred: bool = False
    min_size: int = 1
    multiple: int = 1
    fixed_size: bool = False


_REGISTRY: dict[str, tuple[Callable[..., nn.Module], ModelCard]] = {}


def register_model(name: str, card: ModelCard):
    """Decorator: register a builder ``fn(**kw) -> nn.Module`` under ``name`` with its :class:`ModelCard`."""

    def deco(fn):
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        _REGISTRY[name] = (fn, card)
        return fn

    return deco


def register_configs(cls: type, configs: dict[str, dict], cards: dict[str, ModelCard], **defaults) -> None:
    """Register one builder per entry of a config table, with ``cards[name]``: ``create_model(name, **kw)``
    builds ``cls(**defaults, **configs[name], **kw)`` (later keys win)."""
    if set(configs) != set(cards):
        raise ValueError(f"{cls.__name__}: configs and cards name different models: {sorted(set(configs) ^ set(cards))}")
    for name, config in configs.items():
        def build(_config=config, **kw):
            return cls(**{**defaults, **_config, **kw})

        build.__name__ = name
        build.__doc__ = f"``{name}``: :class:`{cls.__name__}` with {config} (defaults {defaults})."
        register_model(name, cards[name])(build)


def model_card(name: str) -> ModelCard:
    """The :class:`ModelCard` of a registered config, without building the model."""
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(_REGISTRY)}")
    return _REGISTRY[name][1]


def list_models() -> list[str]:
    """Names accepted by :func:`create_model`, sorted."""
    return sorted(_REGISTRY)


def create_model(name: str, **kw) -> nn.Module:
    """Build a registered model config, e.g. ``create_model("hrnet_w32", num_joints=17)``; a count (``num_joints``,
    ``num_stages``, ``num_stacks``, ``image_size``) that is not a positive int is refused by name."""
    card = model_card(name)
    for key in ("num_joints", "num_stages", "num_stacks", "image_size"):
        v = kw.get(key)
        if (v is not None or key == "num_joints" and key in kw) and \
                (isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1):
            raise ValueError(f"{name}: {key}: expected a positive int, got {v!r} ({type(v).__name__})")
    model = _REGISTRY[name][0](**kw)
    model.config_name, model.card = name, card  # the name is in input errors (see check_images)
    return model


def model_label(model: nn.Module) -> str:
    """``"hrnet_tiny (HRNet)"`` for a model from :func:`create_model`, else the class name."""
    name = getattr(model, "config_name", None)
    return f"{name} ({type(model).__name__})" if name else type(model).__name__


def check_images(model: nn.Module, images, *, channels: int = 3, min_size: int = 1, multiple: int = 1,
                 size: tuple[int, int] | None = None) -> None:
    """Raise a ``ValueError`` unless ``images`` is a floating-point ``(B, channels, H, W)`` tensor with
    ``H, W >= min_size``, both divisible by ``multiple``, and ``(H, W) == size`` when ``size`` is given, of the
    weights' dtype unless autocast is on. Reads only shape and dtype (no GPU synchronization; works on meta)."""
    rules = [f"(H, W) = {tuple(size)}"] if size is not None else \
        [f"H, W >= {min_size}"] * (min_size > 1) + [f"divisible by {multiple}"] * (multiple > 1)
    want = f"a float tensor (B, {channels}, H, W)" + (f" with {' and '.join(rules)}" if rules else "")
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
