"""DeepPose (Toshev & Szegedy, CVPR 2014): pose estimation as direct regression of joint coordinates.

A convolutional network ``psi(x; theta)`` maps the image ``x`` of a person box ``b`` to ``2K`` numbers,
the joints in box-normalized coordinates ``N(y; b) = (y - b_c) / (b_w, b_h)`` (see
:func:`posecourse.geometry.normalize`). Prediction in pixels is ``y* = N^{-1}(psi(N(x); theta))``.

Cascade (Sec. 3.2; sub-boxes and targets in :mod:`posecourse.targets.regression`): stage ``s >= 2`` regresses
each joint's displacement from a sub-image ``x_b`` around its previous estimate, normalized by the sub-box:
``y_i^s = y_i^{s-1} + (b_w, b_h) psi_s(x_b; theta_s)``. One network per stage, shared by all joints (each
sub-image is one sample with 2 outputs).

Paper facts followed by :func:`deeppose_alexnet` (Sec. 3.1, tested in tests/models/test_models_deeppose_cpm.py):

- input 220 x 220;
- ``C(55x55x96) - LRN - P - C(27x27x256) - LRN - P - C(13x13x384) - C(13x13x384) - C(13x13x256) - P -
  F(4096) - F(4096)`` then a linear layer with ``2K`` outputs; ReLU after every learned layer but the
  last; first conv 11 x 11 stride 4 (the AlexNet filters the paper reuses), 5 x 5 then 3 x 3;
- dropout on the fully connected layers (the paper uses p = 0.6).

Measured here: 58.4 M parameters for K = 16 (ungrouped convolutions; 4096 x 4096 and 9216 x 4096
dominate). Not from the paper: conv1 padding 4 (floor((220 + 2p - 11) / 4) + 1 = 55 for p = 4
and p = 5; 4 is the smaller, the paper gives none), LRN constants and pooling 3 x 3 stride 2 as in AlexNet, ungrouped convolutions.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..geometry import denormalize, normalize
from ..targets.regression import cascade_boxes, decode_displacement, encode_displacement, image_box
from .registry import ModelCard, check_images, register_model

__all__ = ["DeepPoseRegressor", "DeepPoseCascade", "deeppose_alexnet", "deeppose_tiny", "sub_boxes", "crop_sub_images"]


def _alexnet_features() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 96, 11, stride=4, padding=4), nn.ReLU(inplace=True),      # 220 -> 55
        nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0),
        nn.MaxPool2d(3, 2),                                                     # 55 -> 27
        nn.Conv2d(96, 256, 5, padding=2), nn.ReLU(inplace=True),               # 27
        nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0),
        nn.MaxPool2d(3, 2),                                                     # 27 -> 13
        nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(inplace=True),              # 13
        nn.Conv2d(384, 384, 3, padding=1), nn.ReLU(inplace=True),              # 13
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True),              # 13
        nn.MaxPool2d(3, 2))                                                     # 13 -> 6


def _tiny_features(width: int) -> nn.Sequential:
    layers, c_in = [], 3
    for c in (width, 2 * width, 4 * width, 4 * width):                     # four stride-2 blocks: /16
        layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
                   nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
        c_in = c
    return nn.Sequential(*layers)


class DeepPoseRegressor(nn.Module):
    """``psi(x; theta)``: image ``(B, 3, S, S)`` -> normalized joints ``(B, K, 2)``.

    Attributes ``features`` (convolutions) and ``regressor`` (fully connected) are exposed for the
    receptive-field explorer and for fine-tuning.
    """

    def __init__(self, features: nn.Module, feat_dim: int, hidden: int, num_joints: int,
                 dropout: float = 0.6, input_size: int = 220):
        super().__init__()
        if num_joints < 1:
            raise ValueError(f"num_joints must be >= 1, got {num_joints}")
        self.num_joints, self.input_size = num_joints, input_size
        self.features = features
        fc = [nn.Flatten()]
        d = feat_dim
        for _ in range(2 if hidden else 0):
            fc += [nn.Linear(d, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout)]
            d = hidden
        fc.append(nn.Linear(d, 2 * num_joints))
        self.regressor = nn.Sequential(*fc)
        nn.init.zeros_(self.regressor[-1].bias)
        nn.init.normal_(self.regressor[-1].weight, std=1e-3)  # start near the box centre

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``images (B, 3, S, S)``, ``S = input_size`` (the fully connected layers fix it) -> ``(B, K, 2)``."""
        check_images(self, images, size=(self.input_size, self.input_size))
        return self.regressor(self.features(images)).view(-1, self.num_joints, 2)


def sub_boxes(pred: torch.Tensor, image_size: tuple[int, int], diam_joints: tuple[int, int], sigma: float) -> torch.Tensor:
    """Cascade sub-boxes ``b_i = (y_i, sigma diam(y), sigma diam(y))`` around every joint of ``pred (B, K, 2)``
    (normalized to the full ``image_size (H, W)`` image): ``(B, K, 4)`` square boxes ``(x0, y0, w, h)`` in image px
    (:func:`posecourse.targets.regression.cascade_boxes`); ``diam(y)`` is the pixel distance of the two
    ``diam_joints`` (at least 1 px)."""
    y = denormalize(pred, image_box(image_size, pred.shape[0], pred.device))
    a, b = diam_joints
    diam = (y[:, a] - y[:, b]).norm(dim=-1).clamp_min(1.0)
    return cascade_boxes(y, sigma, diameter=diam)


def crop_sub_images(images: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Crop and resize ``(B, K, 4)`` pixel boxes ``(x0, y0, w, h)`` out of ``images (B, 3, H, W)``.

    Returns ``(B * K, 3, size, size)`` (bilinear, zeros outside the image), differentiable in ``images``.
    A box centre ``c`` maps to ``grid_sample``'s ``g = 2 N(c; image box)`` (``align_corners=False``).
    """
    B, K, _ = boxes.shape
    H, W = images.shape[-2:]
    b = boxes.reshape(B * K, 4).to(images.dtype)
    frame = image_box((H, W), B * K, images.device).to(images.dtype)
    center = normalize((b[:, :2] + b[:, 2:] / 2)[:, None], frame)[:, 0]
    theta = torch.zeros(B * K, 2, 3, dtype=images.dtype, device=images.device)
    theta[:, 0, 0], theta[:, 1, 1] = b[:, 2] / W, b[:, 3] / H
    theta[:, :, 2] = 2 * center
    grid = F.affine_grid(theta, (B * K, 3, size, size), align_corners=False)
    src = images.repeat_interleave(K, dim=0)
    return F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


class DeepPoseCascade(nn.Module):
    """DeepPose with ``S`` stages: ``stages[0]`` regresses all joints from the whole image, every
    ``stages[s]`` (s >= 1) a displacement per joint from its sub-image.

    Joints are normalized by the whole image (``N(y; image box)``), sub-boxes are pixel ``(x0, y0, w, h)``,
    and a displacement is normalized by its sub-box, ``(y_i - y_i^{s-1}) / (b_w, b_h)`` (paper Eq. 7),
    with :func:`posecourse.targets.regression.encode_displacement` / ``decode_displacement``.
    ``forward(images (B, 3, H, W)) -> (B, K, 2)`` the final refined normalized joints;
    :meth:`forward_stages` returns every stage's estimate (list of ``(B, K, 2)``) and the sub-boxes used.
    Train stage ``s`` with :meth:`stage_displacement` on targets from :meth:`displacement_target`.
    """

    def __init__(self, stages: list[nn.Module], diam_joints: tuple[int, int], sigma: float = 1.0):
        super().__init__()
        self.stages = nn.ModuleList(stages)
        self.num_joints = stages[0].num_joints
        if any(s.num_joints != 1 for s in stages[1:]):
            raise ValueError("stages: refinement stages (s >= 2) must regress one joint (num_joints=1)")
        self.diam_joints, self.sigma = tuple(diam_joints), float(sigma)
        sizes = {s.input_size for s in stages[1:]} or {stages[0].input_size}
        if len(sizes) != 1:
            raise ValueError(f"stages: refinement stages must share one input size, got {sorted(sizes)}")
        #: side of the sub-images the refinement stages see (their input size)
        self.crop_size = sizes.pop()

    def stage_displacement(self, s: int, images: torch.Tensor, prev: torch.Tensor):
        """Stage ``s`` (0-based, >= 1): displacement ``(B, K, 2)`` normalized by the sub-boxes ``(B, K, 4)`` (px)."""
        boxes = sub_boxes(prev.detach(), images.shape[-2:], self.diam_joints, self.sigma)
        crops = crop_sub_images(images, boxes, self.crop_size)
        return self.stages[s](crops).view(prev.shape), boxes

    @staticmethod
    def displacement_target(target: torch.Tensor, prev: torch.Tensor, boxes: torch.Tensor,
                            image_size: tuple[int, int]) -> torch.Tensor:
        """``(y_i - y_i^{s-1}) / (b_w, b_h)`` for normalized ``target``/``prev`` ``(B, K, 2)`` and pixel
        sub-boxes ``(B, K, 4)`` of an ``image_size = (H, W)`` image."""
        frame = image_box(image_size, target.shape[0], target.device)
        return encode_displacement(denormalize(target, frame), denormalize(prev, frame), boxes)

    def refine(self, prev: torch.Tensor, displacement: torch.Tensor, boxes: torch.Tensor, image_size) -> torch.Tensor:
        """``y^s = y^{s-1} + d * (b_w, b_h)``, in normalized coordinates ``(B, K, 2)``."""
        frame = image_box(image_size, prev.shape[0], prev.device)
        return normalize(decode_displacement(displacement, denormalize(prev, frame), boxes), frame)

    def forward_stages(self, images: torch.Tensor):
        """``images (B, 3, S, S)`` (``S``: stage 1's input size) -> (list of ``(B, K, 2)`` per stage, list of
        ``(B, K, 4)`` sub-boxes per refinement stage)."""
        check_images(self, images, size=(self.stages[0].input_size,) * 2)
        preds, all_boxes = [self.stages[0](images)], []
        for s in range(1, len(self.stages)):
            d, boxes = self.stage_displacement(s, images, preds[-1])
            preds.append(self.refine(preds[-1], d, boxes, images.shape[-2:]))
            all_boxes.append(boxes)
        return preds, all_boxes

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.forward_stages(images)[0][-1]


def _stages(regressor, num_joints: int, num_stages: int, diam_joints, sigma: float) -> nn.Module:
    """``regressor(k)`` (a stage of ``k`` joints) alone, or the cascade of ``num_stages`` such stages."""
    if num_stages < 1:
        raise ValueError(f"num_stages must be >= 1, got {num_stages}")
    stages = [regressor(num_joints)] + [regressor(1) for _ in range(num_stages - 1)]
    return stages[0] if num_stages == 1 else DeepPoseCascade(stages, diam_joints, sigma)


@register_model("deeppose_alexnet", ModelCard((220, 220), "coordinates", paper=True, fixed_size=True))
def deeppose_alexnet(num_joints: int = 16, num_stages: int = 1, diam_joints: tuple[int, int] = (13, 2),
                     sigma: float = 1.0, dropout: float = 0.6) -> nn.Module:
    """The paper's regressor on 220 x 220 crops (``num_stages=1``) or the cascade (the paper uses 3
    stages, ``sigma`` from {0.5, 1.0}). ``diam_joints`` default: MPII-16 left shoulder and right hip."""
    return _stages(lambda k: DeepPoseRegressor(_alexnet_features(), 256 * 6 * 6, 4096, k, dropout, 220),
                   num_joints, num_stages, diam_joints, sigma)


@register_model("deeppose_tiny", ModelCard((64, 64), "coordinates", fixed_size=True))
def deeppose_tiny(num_joints: int = 16, image_size: int = 64, width: int = 16, num_stages: int = 1,
                  diam_joints: tuple[int, int] = (13, 2), sigma: float = 1.0) -> nn.Module:
    """CPU-sized DeepPose: 8 conv-BN-ReLU layers (/16) and one linear layer; learns on 64-96 px in minutes."""
    side = -(-image_size // 16)  # four stride-2 blocks, rounding up
    return _stages(lambda k: DeepPoseRegressor(_tiny_features(width), 4 * width * side ** 2, 0, k, 0.0, image_size),
                   num_joints, num_stages, diam_joints, sigma)
