"""DeepPose regression targets: normalized pose vectors and cascade displacements.

Toshev & Szegedy, "DeepPose: Human Pose Estimation via Deep Neural Networks", CVPR 2014:

- Stage 1 regresses ``N(y; b) = (y - b_c) / (b_w, b_h)`` for the person box ``b`` (Sec. 3).
- Stage ``s >= 2`` crops a sub-box around each joint's previous prediction,
  ``b_i^(s-1) = (y_i^(s-1), sigma * diam(y^(s-1)), sigma * diam(y^(s-1)))`` where ``diam(y)`` is the
  distance between opposing torso joints (e.g. left shoulder and right hip), and regresses the
  displacement ``y_i - y_i^(s-1)`` normalized by that sub-box (Sec. 3.2, Eq. 6-7).

Boxes are ``(x0, y0, w, h)`` in image px; coordinates follow :mod:`posecourse.geometry`.
"""
from __future__ import annotations

import math
import numbers

import torch

from ..geometry import box_center_size, denormalize, normalize

__all__ = ["image_box", "encode", "decode", "pose_diameter", "cascade_boxes", "encode_displacement",
           "decode_displacement"]


def image_box(image_size, n: int = 1, device=None) -> torch.Tensor:
    """The box of a whole ``(H, W)`` image, ``(n, 4)`` as ``(x0, y0, w, h) = (-0.5, -0.5, W, H)`` (pixel centres at
    integers, :mod:`posecourse.geometry`): DeepPose's box when the image is the person crop, and its cascade's."""
    H, W = (int(v) for v in image_size)
    return torch.tensor([-0.5, -0.5, float(W), float(H)], device=device).expand(n, 4)


def _points(x, name: str) -> torch.Tensor:
    try:
        t = torch.as_tensor(x)
    except (TypeError, ValueError, RuntimeError) as e:
        raise ValueError(f"{name}: expected a tensor or array (..., K, 2), got {type(x).__name__} ({e})") from None
    if t.is_complex():
        raise ValueError(f"{name}: expected real coordinates, got dtype {t.dtype}")
    t = t.float() if not torch.is_floating_point(t) else t
    if t.dim() < 2 or t.shape[-1] != 2:
        raise ValueError(f"{name}: expected shape (..., K, 2), got {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name}: contains NaN/inf")
    return t


def encode(keypoints, boxes) -> torch.Tensor:
    """``(..., K, 2)`` image px and ``(..., 4)`` boxes -> ``N(y; b)`` ``(..., K, 2)`` (in [-0.5, 0.5] inside b)."""
    return normalize(_points(keypoints, "keypoints"), boxes)


def decode(normalized, boxes) -> torch.Tensor:
    """``N^{-1}(y; b)``: ``(..., K, 2)`` normalized -> image px."""
    return denormalize(_points(normalized, "normalized"), boxes)


def pose_diameter(pose, torso: tuple[int, int] | None = None) -> torch.Tensor:
    """``diam(y)`` ``(...,)``: distance between the two ``torso`` joints (e.g. ``Skeleton.torso``), or the
    diagonal of the pose's bounding box when ``torso`` is None."""
    y = _points(pose, "pose")
    if torso is not None:
        i, j = torso
        return (y[..., i, :] - y[..., j, :]).norm(dim=-1)
    return (y.amax(dim=-2) - y.amin(dim=-2)).norm(dim=-1)


def cascade_boxes(prev_pred, scale: float, torso: tuple[int, int] | None = None, diameter=None) -> torch.Tensor:
    """Square sub-boxes ``b_i^(s-1)`` of side ``scale * diam(y^(s-1))`` centred on each previous prediction.

    Args:
        prev_pred: ``(..., K, 2)`` stage ``s-1`` predictions, image px.
        scale: DeepPose's ``sigma`` (the paper crops ``sigma * diam``).
        torso: joint pair defining ``diam`` (see :func:`pose_diameter`); ignored if ``diameter`` is given.
        diameter: optional ``(...,)`` diameters to use instead.
    Returns:
        ``(..., K, 4)`` boxes ``(x0, y0, w, h)``.
    """
    y = _points(prev_pred, "prev_pred")
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real) or not (0 < float(scale) < math.inf):
        raise ValueError(f"scale: expected a finite number > 0, got {scale!r}")
    d = pose_diameter(y, torso) if diameter is None else torch.as_tensor(diameter, dtype=y.dtype, device=y.device)
    if not torch.isfinite(d).all() or (d <= 0).any():
        raise ValueError("diameter: pose diameters must be finite and > 0")
    side = (scale * d).unsqueeze(-1).unsqueeze(-1).expand(*y.shape[:-1], 2)  # (..., K, 2)
    if not torch.isfinite(side).all() or (side <= 0).any():
        raise ValueError(f"scale: {scale!r} x the pose diameters gives sub-box sides that are not finite and > 0 "
                         f"in {y.dtype} (from {float(side.min()):.3g} to {float(side.max()):.3g})")
    return torch.cat([y - side / 2, side], dim=-1)


def encode_displacement(keypoints, prev_pred, sub_boxes) -> torch.Tensor:
    """Cascade target ``(y_i - y_i^(s-1)) / (b_w, b_h)`` for sub-boxes ``(..., K, 4)``; ``(..., K, 2)``.

    Equal to ``N(y_i; b_i) - N(y_i^(s-1); b_i)``, so it does not need the box centred on the prediction.
    """
    y, prev = _points(keypoints, "keypoints"), _points(prev_pred, "prev_pred")
    if y.shape != prev.shape:
        raise ValueError(f"prev_pred: shape {tuple(prev.shape)} differs from keypoints {tuple(y.shape)}")
    _, size = box_center_size(sub_boxes)
    if size.shape != y.shape or (size <= 0).any():
        raise ValueError(f"sub_boxes: expected (..., K, 4) with positive sizes matching {tuple(y.shape)}")
    return (y - prev) / size.to(y)


def decode_displacement(displacement, prev_pred, sub_boxes) -> torch.Tensor:
    """Stage ``s`` prediction ``y^(s) = y^(s-1) + displacement * (b_w, b_h)``; ``(..., K, 2)`` image px."""
    d, prev = _points(displacement, "displacement"), _points(prev_pred, "prev_pred")
    _, size = box_center_size(sub_boxes)
    if size.shape != d.shape or prev.shape != d.shape or (size <= 0).any():
        raise ValueError(f"sub_boxes: expected (..., K, 4) with positive sizes matching {tuple(d.shape)}")
    return prev + d * size.to(d)
