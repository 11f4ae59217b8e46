"""Architecture figures drawn from the model object.

:func:`describe` walks one of the course's models and returns an :class:`Architecture`: its blocks (shapes
measured by one forward pass with hooks, on the meta device if the model lives there) and the paths between
them, among which the ones each paper is about: DeepPose's cascade (sub-image crops, refinement added to the
previous estimate), CPM's stage inputs (belief maps + image features + centre map), the hourglass skips and
re-injected heatmaps, OpenPose's two branches per stage, every ``a(X_i, k)`` of HRNet's exchange units.
:func:`draw_architecture` draws it. The walk reads the attributes each model file documents, one describer
per model file (:data:`DESCRIBERS`). Every block has a ``col`` (position along the forward pass) and a
``row``: resolution level (``log2`` of the stride) for DeepPose, the hourglass and HRNet, a lane per stage
or branch for CPM and OpenPose; ``row_labels`` names them.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..geometry import as_size
from ..models import create_model
from .architecture_blocks import PATH_KINDS, Architecture, Block, Path, _Builder, _record
from .architecture_families import DESCRIBERS, RUNNERS
from .architecture_figure import draw_architecture

__all__ = ["Block", "Path", "Architecture", "PATH_KINDS", "describe", "describe_model", "draw_architecture",
           "DESCRIBERS"]


def describe(model: nn.Module, input_size) -> Architecture:
    """Walk ``model`` (one of the course's five families, any config, any device incl. meta) with a
    forward pass of a ``(1, 3, *input_size)`` image (``input_size``: ``(H, W)`` or one side) and describe
    its blocks and paths."""
    input_size = as_size(input_size, "input_size")
    family = type(model).__module__.removeprefix("posecourse.models.")
    if family not in DESCRIBERS:
        raise ValueError(f"model: no describer for {type(model).__name__}; known: the models of posecourse.models."
                         f"{{{', '.join(DESCRIBERS)}}}")
    b = _Builder(_record(model, input_size, RUNNERS.get(family)), input_size)
    b.add("input", "input", "image", (3, *input_size), 0, 0.0)
    row_labels, extras = DESCRIBERS[family](model, b)
    extras["parameters"] = sum(p.numel() for p in model.parameters())
    for p in b.paths:
        if p.src not in b.names or p.dst not in b.names:
            raise RuntimeError(f"path {p} names an unknown block")
    return Architecture(family, input_size, b.blocks, b.paths, row_labels, extras)


def describe_model(name: str, input_size=None, device: str | torch.device = "meta", **kw) -> Architecture:
    """Build ``create_model(name, **kw)`` on ``device`` (default meta: no memory, no weights) and describe it at
    ``input_size`` (default: its card's, :func:`posecourse.models.model_card`: the paper's input for paper
    configs, 64 x 64 for the ``*_tiny`` ones)."""
    with torch.device(device):
        model = create_model(name, **kw)
    return describe(model, input_size or model.card.input_size)
