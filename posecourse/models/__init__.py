"""The five papers' models, one architecture per file, and a registry (:mod:`.registry`).

``create_model(name, num_joints=..., **kw)`` builds a registered config (``model.card``: its :class:`ModelCard`),
``model_card(name)`` reads the card without building, ``list_models()`` lists them; each model file registers
its configs with their cards: adding a config is one entry in one file.

What ``model(images (B, 3, H, W))`` returns (``ModelCard.output``): heatmap models (cpm, hourglass, hrnet)
``list[Tensor]``, one ``(B, C, H', W')`` per stage / stack (HRNet: a list of one; intermediate supervision sums
over the list); openpose ``list[dict]``, one ``{"paf": (B, 2L, H', W'), "heatmaps": (B, C, H', W')}`` per
stage; deeppose ``(B, K, 2)`` normalized coordinates ``N(y; b)``. Every ``forward`` first checks its input
(:func:`check_images`: a ``ValueError`` naming the model, what it expects and what it got).
"""
from __future__ import annotations

# the five model files register their configs (with their cards) in the registry when imported here
from . import cpm, deeppose, hourglass, hrnet, openpose  # noqa: F401
from .official import load_official
from .registry import (ModelCard, check_images, create_model, list_models, model_card, model_label, register_configs,
                       register_model)

__all__ = ["ModelCard", "register_model", "register_configs", "create_model", "model_card", "list_models",
           "load_official", "check_images", "model_label"]
