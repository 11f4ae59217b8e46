"""Losses: masked MSE on belief maps / PAFs with intermediate supervision, and DeepPose's L2.

Reduction, the same everywhere: for one stage, ``L = sum_p W(p) * (output(p) - target(p))^2 / n``
where ``n`` is the number of elements with ``W(p) > 0`` (with a 0/1 mask: the mean over the valid
elements; 0 when none is valid), computed in float32 (also under AMP). Stage / stack losses are **summed** (CPM Eq. 4, the hourglass's
and OpenPose's intermediate supervision), so a 6-stage model's loss is about 6x a 1-stage one.
"""
from __future__ import annotations

from typing import Sequence

import torch

__all__ = ["masked_mse", "heatmap_loss", "openpose_loss", "coordinate_loss"]


def masked_mse(output: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """One stage: ``sum W (o - t)^2 / #{W > 0}``.

    Args:
        output, target: ``(B, C, H, W)`` (any equal shapes).
        weight: ``None`` (all ones), per-channel ``(B, C)`` or anything broadcastable to ``output``
            (per-pixel ``(B, C, H, W)`` or ``(B, 1, H, W)``). Non-negative.
    """
    if output.shape != target.shape:
        raise ValueError(f"target: shape {tuple(target.shape)} differs from the output's {tuple(output.shape)}")
    sq = (output.float() - target.float()).pow(2)  # float32 even under bf16/fp16 autocast
    if weight is None:
        return sq.mean()
    w = torch.as_tensor(weight, device=output.device, dtype=sq.dtype)
    if output.dim() == 4 and w.dim() == 2:  # per-channel weights (B, C)
        w = w[:, :, None, None]
    try:
        w = w.expand_as(sq)
    except RuntimeError:
        raise ValueError(f"weight: shape {tuple(w.shape)} does not broadcast to {tuple(output.shape)}") from None
    n = (w > 0).sum().clamp_min(1)
    return (w * sq).sum() / n


def _as_list(outputs) -> list[torch.Tensor]:
    if isinstance(outputs, torch.Tensor):
        return [outputs]
    if not isinstance(outputs, (list, tuple)) or not outputs:
        raise ValueError("outputs: expected a tensor or a non-empty list of tensors (one per stage)")
    return list(outputs)


def heatmap_loss(outputs, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Belief-map loss summed over stages: ``sum_t masked_mse(outputs[t], target, weight)``.

    Args:
        outputs: ``(B, C, H, W)`` or a list of them (one per stage / stack).
        target: ``(B, C, H, W)`` belief maps (with CPM's background channel if the model predicts one).
        weight: see :func:`masked_mse`, e.g. the ``(B, C)`` joint weights from ``targets.heatmap.encode``.
    """
    return sum(masked_mse(o, target, weight) for o in _as_list(outputs))


def openpose_loss(outputs: Sequence[dict], paf_target: torch.Tensor, heatmap_target: torch.Tensor,
                  paf_weight: torch.Tensor | None = None, heatmap_weight: torch.Tensor | None = None) -> torch.Tensor:
    """OpenPose (Cao et al. 2017, Eq. 3-5): ``sum_t f_L^t + f_S^t`` over stages.

    Args:
        outputs: list of ``{"paf": (B, 2L, H, W), "heatmaps": (B, C, H, W)}``, one per stage.
        paf_target, heatmap_target: ``(B, 2L, H, W)``, ``(B, C, H, W)``.
        paf_weight, heatmap_weight: masks ``W(p)`` (0 where people are unlabelled), see :func:`masked_mse`.
    """
    if not isinstance(outputs, (list, tuple)) or not outputs or not all(isinstance(o, dict) for o in outputs):
        raise ValueError("outputs: expected a non-empty list of {'paf', 'heatmaps'} dicts, one per stage")
    return sum(masked_mse(o["paf"], paf_target, paf_weight) + masked_mse(o["heatmaps"], heatmap_target, heatmap_weight)
               for o in outputs)


def coordinate_loss(pred: torch.Tensor, target: torch.Tensor, visibility: torch.Tensor | None = None) -> torch.Tensor:
    """DeepPose's L2 loss ``sum_{labelled i} ||N(y_i) - psi_i(x)||_2^2 / #labelled`` (0 when none is labelled) of
    normalized ``pred, target (B, K, 2)`` (``target`` may hold NaN where unlabelled); joints with ``visibility
    (B, K) > 0`` count (default: every finite target)."""
    if pred.shape != target.shape or pred.shape[-1:] != (2,):
        raise ValueError(f"pred/target: expected equal (B, K, 2) shapes, got {tuple(pred.shape)} and {tuple(target.shape)}")
    pred, target = pred.float(), target.float()
    valid = torch.isfinite(target).all(-1)
    if visibility is not None:
        if visibility.shape != pred.shape[:-1]:
            raise ValueError(f"visibility: expected shape {tuple(pred.shape[:-1])}, got {tuple(visibility.shape)}")
        valid = valid & (visibility > 0)
    d2 = (pred - torch.nan_to_num(target)).pow(2).sum(-1)
    return (d2 * valid).sum() / valid.sum().clamp_min(1)
