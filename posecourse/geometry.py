"""Boxes, the DeepPose normalization ``N(y; b)`` and its inverse, affine crops and flips.

Conventions: points ``(..., 2)`` as pixel (x, y) with pixel centres at integer
coordinates; boxes ``(..., 4)`` as ``(x0, y0, w, h)``. Everything is batched torch and runs
on whatever device its inputs are on.
"""
from __future__ import annotations

import torch

__all__ = ["box_center_size", "normalize", "denormalize"]


def _as_tensor(x, name: str) -> torch.Tensor:
    t = torch.as_tensor(x)
    if not torch.is_floating_point(t):
        t = t.float()
    return t


def box_center_size(boxes) -> tuple[torch.Tensor, torch.Tensor]:
    """Split ``(..., 4)`` boxes ``(x0, y0, w, h)`` into centre ``b_c (..., 2)`` and size ``(b_w, b_h) (..., 2)``."""
    b = _as_tensor(boxes, "boxes")
    if b.shape[-1:] != (4,):
        raise ValueError(f"boxes: expected shape (..., 4) as (x0, y0, w, h), got {tuple(b.shape)}")
    size = b[..., 2:]
    return b[..., :2] + size / 2, size


def _check_boxes(boxes, points) -> tuple[torch.Tensor, torch.Tensor]:
    center, size = box_center_size(boxes)
    if not torch.isfinite(size).all() or (size <= 0).any():
        raise ValueError("boxes: width and height must be finite and > 0")
    # one box per point set: (..., 4) broadcasts against points (..., K, 2)
    return center.unsqueeze(-2).to(points), size.unsqueeze(-2).to(points)


def normalize(points, boxes) -> torch.Tensor:
    """DeepPose's ``N(y; b) = (y - b_c) / (b_w, b_h)``: coordinates relative to a box, in [-0.5, 0.5] inside it.

    Args:
        points: ``(..., K, 2)`` pixel coordinates.
        boxes: ``(..., 4)`` boxes ``(x0, y0, w, h)``, one per point set.
    Returns:
        ``(..., K, 2)`` normalized coordinates.
    """
    p = _as_tensor(points, "points")
    if p.shape[-1:] != (2,) or p.dim() < 2:
        raise ValueError(f"points: expected shape (..., K, 2), got {tuple(p.shape)}")
    center, size = _check_boxes(boxes, p)
    return (p - center) / size


def denormalize(points, boxes) -> torch.Tensor:
    """Inverse of :func:`normalize`: ``N^{-1}(y; b) = y * (b_w, b_h) + b_c``. Shapes as there."""
    p = _as_tensor(points, "points")
    if p.shape[-1:] != (2,) or p.dim() < 2:
        raise ValueError(f"points: expected shape (..., K, 2), got {tuple(p.shape)}")
    center, size = _check_boxes(boxes, p)
    return p * size + center
