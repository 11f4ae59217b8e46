"""Boxes, the DeepPose normalization ``N(y; b)`` and its inverse, affine crops and flips.

Pixel-centre convention (used everywhere in the course):
    points ``(..., 2)`` are pixel (x, y), x to the right, y down, with pixel centres at
    integer coordinates: pixel ``(i, j)`` (row i, column j) covers ``[j-0.5, j+0.5] x [i-0.5, i+0.5]``,
    so an image of width ``W`` spans ``x in [-0.5, W-0.5]``. Hence the horizontal mirror is
    ``x' = W - 1 - x`` and :func:`warp_images` samples with ``align_corners=False``.
    Boxes ``(..., 4)`` are ``(x0, y0, w, h)`` in the same continuous coordinates.

Affine maps are ``(B, 2, 3)`` matrices ``M`` acting on homogeneous pixel coordinates,
``q = M @ [x, y, 1]``, mapping *input* pixels to *output* pixels (the direction points go);
:func:`warp_images` inverts them internally to pull pixels. Everything is batched torch and
runs on whatever device its inputs are on.
"""
from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F

from .params import as_int, as_pair
from .skeletons import get_skeleton

__all__ = ["box_center_size", "normalize", "denormalize", "expand_boxes",
           "crop_affine", "random_affine", "flip_matrix", "to_homogeneous", "compose", "invert_affine",
           "warp_points", "warp_images", "warp_boxes", "flip_images", "flip_keypoints", "inside_image", "as_size"]


def _as_tensor(x, name: str) -> torch.Tensor:
    t = torch.as_tensor(x)
    return t if torch.is_floating_point(t) else t.float()


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


# --------------------------------------------------------------------------- boxes
def expand_boxes(boxes, factor: float = 1.0, aspect: float | None = None) -> torch.Tensor:
    """Grow ``(..., 4)`` boxes about their centre by ``factor`` and, if ``aspect = w / h`` is given,
    widen the shorter side so the box has that aspect ratio (nothing is cut off). Returns ``(..., 4)``."""
    if not factor > 0:
        raise ValueError(f"factor: expected a number > 0, got {factor!r}")
    if aspect is not None and not aspect > 0:
        raise ValueError(f"aspect: expected a number > 0 (w / h), got {aspect!r}")
    center, size = box_center_size(boxes)
    size = size * factor
    if aspect is not None:
        w = torch.maximum(size[..., 0], size[..., 1] * aspect)
        size = torch.stack([w, w / aspect], -1)
    return torch.cat([center - size / 2, size], -1)


def as_size(value, name: str) -> tuple[int, int]:
    """``(H, W)`` of positive ints from one side or a pair; else a ``ValueError`` naming ``name``."""
    return as_pair(name, value, lambda n, v: as_int(n, v, 1, exact=True))


# --------------------------------------------------------------------------- affine matrices


def _check_matrix(M, name: str = "M") -> torch.Tensor:
    M = _as_tensor(M, name)
    if M.dim() < 2 or M.shape[-2:] not in ((2, 3), (3, 3)):
        raise ValueError(f"{name}: expected affine matrices of shape (..., 2, 3), got {tuple(M.shape)}")
    return M[..., :2, :]


def to_homogeneous(M) -> torch.Tensor:
    """``(..., 2, 3)`` affine -> ``(..., 3, 3)`` with last row ``[0, 0, 1]``."""
    M = _check_matrix(M)
    last = torch.zeros(M.shape[:-2] + (1, 3), dtype=M.dtype, device=M.device)
    last[..., 0, 2] = 1
    return torch.cat([M, last], -2)


def compose(*Ms) -> torch.Tensor:
    """``compose(A, B, C) = A @ B @ C`` on ``(..., 2, 3)`` affines (C is applied first). Broadcasts batches."""
    if not Ms:
        raise ValueError("compose: expected at least one matrix")
    out = to_homogeneous(Ms[0])
    for M in Ms[1:]:
        out = out @ to_homogeneous(M).to(out)
    return out[..., :2, :]


def invert_affine(M) -> torch.Tensor:
    """Inverse of ``(..., 2, 3)`` affines, ``(..., 2, 3)``."""
    A = _check_matrix(M)
    lin, t = A[..., :2], A[..., 2:]
    inv = torch.linalg.inv(lin)
    return torch.cat([inv, -inv @ t], -1)


def crop_affine(boxes, out_size) -> torch.Tensor:
    """Matrices of the crop ``N(x; b)`` rendered at a fixed size: box ``b`` -> the whole output image.

    ``boxes (B, 4)`` (or ``(4,)``) ``(x0, y0, w, h)``, ``out_size``: int or ``(H_out, W_out)`` -> ``(B, 2, 3)``
    (or ``(2, 3)``) input-to-output pixel affines. The box edges map to the output image edges (``x0 -> -0.5``,
    ``x0 + w -> W_out - 0.5``), i.e. ``q = (N(p; b) + 0.5) * (W_out, H_out) - 0.5``; a box with another aspect
    ratio than the output is stretched (use :func:`expand_boxes` with ``aspect`` first to avoid that).
    """
    H, W = as_size(out_size, "out_size")
    b = _as_tensor(boxes, "boxes")
    if b.shape[-1:] != (4,):
        raise ValueError(f"boxes: expected shape (B, 4) as (x0, y0, w, h), got {tuple(b.shape)}")
    if not torch.isfinite(b).all():
        raise ValueError("boxes: NaN/inf in a box (x0, y0, w, h)")
    if (b[..., 2:] <= 0).any():
        raise ValueError("boxes: width and height must be > 0")
    sx, sy = W / b[..., 2], H / b[..., 3]
    zero = torch.zeros_like(sx)
    row0 = torch.stack([sx, zero, -b[..., 0] * sx - 0.5], -1)
    row1 = torch.stack([zero, sy, -b[..., 1] * sy - 0.5], -1)
    return torch.stack([row0, row1], -2)


def random_affine(batch_size: int, size, scale_range=(0.75, 1.25), rot_deg: float = 30.0, translate: float = 0.0,
                  generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """Random similarity transforms about the image centre, for augmentation (output size = input size).

    ``q = c + t + s R(theta) (p - c)`` with ``c = ((W-1)/2, (H-1)/2)``, ``s ~ U(scale_range)``,
    ``theta ~ U(-rot_deg, rot_deg)`` degrees (counter-clockwise on screen), ``t ~ U(-translate, translate) * (W, H)``
    for images of ``size`` (int or ``(H, W)``). ``generator``: a CPU torch generator for reproducible draws.
    Returns ``(batch_size, 2, 3)`` float32 matrices on ``device``.
    """
    if not isinstance(batch_size, int) or batch_size < 0:
        raise ValueError(f"batch_size: expected an int >= 0, got {batch_size!r}")
    H, W = as_size(size, "size")
    try:
        lo, hi = (float(v) for v in scale_range)
    except (TypeError, ValueError):
        raise ValueError(f"scale_range: expected (low, high), got {scale_range!r}") from None
    if not 0 < lo <= hi < math.inf:
        raise ValueError(f"scale_range: expected finite 0 < low <= high, got {scale_range!r}")
    for name, v in (("rot_deg", rot_deg), ("translate", translate)):
        if isinstance(v, bool) or not (isinstance(v, numbers.Real) and 0 <= v < math.inf):
            raise ValueError(f"{name}: expected a finite number >= 0, got {v!r}")
    u = torch.rand(batch_size, 4, generator=generator)
    s = lo + (hi - lo) * u[:, 0]
    theta = torch.deg2rad((2 * u[:, 1] - 1) * rot_deg)
    t = (2 * u[:, 2:] - 1) * translate * torch.tensor([W, H], dtype=torch.float32)
    # y points down, so a counter-clockwise turn on screen is R(-theta) in (x, y)
    cos, sin = torch.cos(theta) * s, torch.sin(theta) * s
    lin = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], -2)
    c = torch.tensor([(W - 1) / 2, (H - 1) / 2])
    trans = c + t - (lin @ c)
    return torch.cat([lin, trans[..., None]], -1).to(device)


def flip_matrix(width: int, batch_size: int | None = None, device=None) -> torch.Tensor:
    """The horizontal mirror ``x' = W - 1 - x`` as a ``(2, 3)`` (or ``(B, 2, 3)``) affine."""
    M = torch.tensor([[-1.0, 0.0, width - 1.0], [0.0, 1.0, 0.0]], device=device)
    return M if batch_size is None else M.expand(batch_size, 2, 3).clone()


# --------------------------------------------------------------------------- applying them
def warp_points(points, M) -> torch.Tensor:
    """Apply affines to points: ``(B, ..., 2)`` with ``M (B, 2, 3)`` (or one ``(2, 3)`` for all). NaN stays NaN."""
    p = _as_tensor(points, "points")
    if p.shape[-1:] != (2,):
        raise ValueError(f"points: expected shape (B, ..., 2), got {tuple(p.shape)}")
    A = _check_matrix(M).to(p)
    if A.dim() == 3:
        if p.dim() < 2 or p.shape[0] != A.shape[0]:
            raise ValueError(f"points: batch size {tuple(p.shape)[:1]} does not match M's {A.shape[0]}")
        A = A.view(A.shape[0], *([1] * (p.dim() - 2)), 2, 3)
    return (A[..., :2] @ p.unsqueeze(-1)).squeeze(-1) + A[..., 2]


def _pixel_to_grid(size: tuple[int, int], like: torch.Tensor) -> torch.Tensor:
    """``(3, 3)`` map pixel coords -> ``affine_grid``'s [-1, 1] coords (``align_corners=False``)."""
    H, W = size
    return torch.tensor([[2.0 / W, 0.0, 1.0 / W - 1.0], [0.0, 2.0 / H, 1.0 / H - 1.0], [0.0, 0.0, 1.0]],
                        dtype=like.dtype, device=like.device)


def warp_images(images, M, out_size, mode: str = "bilinear", padding_mode: str = "zeros") -> torch.Tensor:
    """Resample ``images (B, C, H, W)`` so that input pixel ``p`` lands on output pixel ``M p`` (``M (B, 2, 3)``
    input-to-output pixel affines, e.g. :func:`crop_affine`, :func:`random_affine`) -> ``(B, C, H_out, W_out)``
    (``out_size``: int or ``(H_out, W_out)``; ``mode``, ``padding_mode``: as in ``F.grid_sample``)."""
    x = _as_tensor(images, "images")
    if x.dim() != 4:
        raise ValueError(f"images: expected shape (B, C, H, W), got {tuple(x.shape)}")
    Ho, Wo = as_size(out_size, "out_size")
    A = _check_matrix(M).to(x)
    A = A.expand(x.shape[0], 2, 3) if A.dim() == 2 else A
    if A.shape[0] != x.shape[0]:
        raise ValueError(f"M: batch size {A.shape[0]} does not match images' {x.shape[0]}")
    # grid (output, normalized) -> output pixels -> input pixels -> input normalized
    theta = _pixel_to_grid(tuple(x.shape[-2:]), x) @ to_homogeneous(invert_affine(A)) @ torch.linalg.inv(
        _pixel_to_grid((Ho, Wo), x))
    grid = F.affine_grid(theta[:, :2], [x.shape[0], x.shape[1], Ho, Wo], align_corners=False)
    return F.grid_sample(x, grid, mode=mode, padding_mode=padding_mode, align_corners=False)


def warp_boxes(boxes, M) -> torch.Tensor:
    """Axis-aligned boxes enclosing the warped corners of ``(B, ..., 4)`` boxes; ``(B, ..., 4)``."""
    b = _as_tensor(boxes, "boxes")
    if b.shape[-1:] != (4,):
        raise ValueError(f"boxes: expected shape (B, ..., 4), got {tuple(b.shape)}")
    x0, y0, w, h = b.unbind(-1)
    corners = torch.stack([torch.stack([x0, y0], -1), torch.stack([x0 + w, y0], -1),
                           torch.stack([x0, y0 + h], -1), torch.stack([x0 + w, y0 + h], -1)], -2)
    q = warp_points(corners, M)
    lo, hi = q.amin(-2), q.amax(-2)
    return torch.cat([lo, hi - lo], -1)


def inside_image(points, size) -> torch.Tensor:
    """``(...)`` bool: the point lies on the image, ``-0.5 <= x < W - 0.5`` and the same for y."""
    H, W = as_size(size, "size")
    p = _as_tensor(points, "points")
    x, y = p[..., 0], p[..., 1]
    return (x >= -0.5) & (x < W - 0.5) & (y >= -0.5) & (y < H - 0.5)


def flip_images(images) -> torch.Tensor:
    """Mirror ``(..., H, W)`` images left-right (column ``j`` -> ``W - 1 - j``)."""
    x = torch.as_tensor(images)
    if x.dim() < 2:
        raise ValueError(f"images: expected shape (..., H, W), got {tuple(x.shape)}")
    return x.flip(-1)


def flip_keypoints(keypoints, visibility, width: int, skeleton):
    """Mirror ``keypoints (..., K, 2)`` and ``visibility (..., K)`` about an image of width ``W``: ``x' = W - 1 - x``
    (pixel-centre convention) and joint ``k`` of the result is joint ``flip_index[k]`` of ``skeleton``'s input, so
    that ``left_wrist`` still names the person's left wrist. Returns ``(keypoints, visibility)``, same shapes."""
    kp = _as_tensor(keypoints, "keypoints")
    vis = torch.as_tensor(visibility)
    skel = get_skeleton(skeleton)
    if kp.shape[-2:] != (skel.num_joints, 2):
        raise ValueError(f"keypoints: expected shape (..., {skel.num_joints}, 2) for {skel.name}, got {tuple(kp.shape)}")
    if vis.shape != kp.shape[:-1]:
        raise ValueError(f"visibility: expected shape {tuple(kp.shape[:-1])}, got {tuple(vis.shape)}")
    perm = torch.as_tensor(skel.flip_index, device=kp.device)
    kp = kp.index_select(-2, perm)
    kp = torch.stack([(width - 1) - kp[..., 0], kp[..., 1]], -1)
    return kp, vis.index_select(-1, perm.to(vis.device))
