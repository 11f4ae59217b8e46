"""Load the papers' official checkpoints into the course models.

``load_official(model, state_dict_or_path)`` accepts:

- HRNet (leoxiaobin/deep-high-resolution-net.pytorch, ``pose_hrnet_w32_256x192.pth`` etc.): the
  pretrained COCO/MPII models are linked from that repo's README (Google Drive / OneDrive folder
  ``pose_coco``); keys load by name into :class:`~.hrnet.HRNet` (``hrnet_w32``, ``hrnet_w48``);
- Stacked Hourglass (bearpaw/pytorch-pose, e.g. ``hg_s8_b1/model_best.pth.tar``, linked from its
  README): a ``{"state_dict": ...}`` wrapper with DataParallel's ``module.`` prefix, both removed;
  loads into ``hourglass_2`` / ``hourglass_8``;
- OpenPose (CMU's COCO body model ``pose_iter_440000.caffemodel`` from CMU-Perceptual-Computing-Lab/
  openpose, as converted for PyTorch by Hzzone/pytorch-openpose: ``body_pose_model.pth``, linked
  from its README): keys ``model0.*`` (trunk F), ``model{t}_1.*`` (branch L of stage t), ``model{t}_2.*``
  (branch S) are renamed to ``features.*``, ``L.{t-1}.*``, ``S.{t-1}.*``; loads into ``openpose_vgg19``.

Loading is strict: every official key is used exactly once and every parameter / buffer of the
model is set, with equal shapes; otherwise a ValueError lists what is missing, unexpected or mismatched.
"""
from __future__ import annotations

import os
from collections.abc import Mapping

import torch
import torch.nn as nn

__all__ = ["load_official", "official_key_map"]


def _unwrap(state) -> dict:
    if isinstance(state, (str, os.PathLike)):
        state = torch.load(state, map_location="cpu", weights_only=True)
    if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping):
        raise ValueError(f"state_dict_or_path: expected a state dict, a {{'state_dict': ...}} checkpoint or a path, got {type(state).__name__}")
    bad = [k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise ValueError(f"state_dict_or_path: expected a state dict of named tensors; {len(bad)} entries are not "
                         f"(first: {bad[0]!r})")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}


def official_key_map(model: nn.Module, keys) -> dict[str, str]:
    """Map official key -> our key for ``model``: the first of the model's ``official_key_rules``
    ``(prefix pattern, replacement)`` that matches renames the key's prefix (OpenPose's); none: the
    identity (HRNet and the hourglass, whose module names follow the official code)."""
    rules = getattr(model, "official_key_rules", ())
    return {k: next((p.sub(r, k, count=1) for p, r in rules if p.match(k)), k) for k in keys}


def load_official(model: nn.Module, state_dict_or_path) -> nn.Module:
    """Load an official checkpoint (dict or file path) into ``model`` strictly; returns ``model``."""
    state = _unwrap(state_dict_or_path)
    mapping = official_key_map(model, state.keys())
    ours = model.state_dict()
    mapped, unexpected, dup = {}, [], []
    for k, new in mapping.items():
        if new not in ours:
            unexpected.append(k)
        elif new in mapped:
            dup.append(k)
        else:
            mapped[new] = state[k]
    missing = [k for k in ours if k not in mapped]
    shapes = [f"{k}: {tuple(v.shape)} vs ours {tuple(ours[k].shape)}" for k, v in mapped.items()
              if tuple(v.shape) != tuple(ours[k].shape)]
    if missing or unexpected or dup or shapes:
        raise ValueError(f"state_dict_or_path: does not fit {type(model).__name__}: missing {missing[:20]} "
                         f"({len(missing)}), unexpected {unexpected[:20]} ({len(unexpected)}), "
                         f"duplicated {dup[:20]}, shape mismatches {shapes[:20]}")
    model.load_state_dict(mapped, strict=True)
    return model
