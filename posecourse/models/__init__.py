"""The five papers' models, one architecture per file, and a registry.

``create_model(name, num_joints=..., **kw)`` builds a registered config (``model.card``: its
:class:`ModelCard`); ``model_card(name)`` reads the card without building; ``list_models()`` lists
them. Each model file registers its configs, each with its card, with :func:`register_model` or
:func:`register_configs`: adding a config is one entry in one file.

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

# the five model files register their configs (with their cards) in the registry when imported here
from . import cpm, deeppose, hourglass, hrnet, openpose  # noqa: F401
from .official import load_official
from .registry import (ModelCard, check_images, create_model, list_models, model_card, model_label, register_configs,
                       register_model)

__all__ = ["ModelCard", "register_model", "register_configs", "create_model", "model_card", "list_models",
           "load_official", "check_images", "model_label"]
