"""Convolutional Pose Machines (Wei, Ramakrishna, Kanade & Sheikh, CVPR 2016).

A sequence of ``T`` stages, each predicting ``P + 1`` belief maps (P joints and the background):

- stage 1: ``g_1(x)``, beliefs from image features alone;
- stage t > 1: ``g_t(x', psi(b_{t-1}), c)``: image features ``x'``, the previous beliefs ``b_{t-1}``
  (context) and the centre map ``c`` (a Gaussian at the person centre, telling the network *which*
  person to estimate), concatenated and passed through large-kernel convolutions, so that the
  receptive field grows with each stage. Every stage is supervised (intermediate supervision).

Paper / official MPII model (``convolutional-pose-machines-release``, ``pose_deploy_resize.prototxt``)
facts followed by the ``cpm`` config and tested in tests/models/test_models_deeppose_cpm.py:

- input 368 x 368, output stride 8 (46 x 46 belief maps), ``T = 6`` stages;
- stage 1: conv 9x9x128 - pool - conv 9x9x128 - pool - conv 9x9x128 - pool - conv 5x5x32 - conv 9x9x512 -
  conv 1x1x512 - conv 1x1x(P+1); max pools 3x3 stride 2 (Caffe rounds up: 368 -> 184 -> 92 -> 46);
- stage 2's image features ``x'``: the same three conv-pool blocks (separate weights) then conv 5x5x32;
  stages 3..T reuse stage 2's third pooled features with their own conv 5x5x32;
- centre map pooled to the belief resolution with a 9x9 stride-8 average pool;
- stage t > 1: concat(32 + (P+1) + 1) - 3 x conv 11x11x128 - conv 1x1x128 - conv 1x1x(P+1);
  ReLU after every conv but the last of each stage; no normalization layers.

The official MPII model predicts 14 joints + background (15 maps); here ``num_joints`` is free
(default 16, the course's MPII-16 layout).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .registry import ModelCard, check_images, register_configs

__all__ = ["CPM", "CONFIGS", "CARDS", "center_map"]


def _conv(c_in: int, c_out: int, k: int, relu: bool = True, bn: bool = False) -> list[nn.Module]:
    if not relu:  # a stage's last layer: plain linear output
        return [nn.Conv2d(c_in, c_out, k, padding=k // 2)]
    return [nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=not bn)] + ([nn.BatchNorm2d(c_out)] if bn else []) + \
        [nn.ReLU(inplace=True)]


def _pool() -> nn.Module:
    return nn.MaxPool2d(3, 2, ceil_mode=True)


def center_map(batch: int, height: int, width: int, sigma: float, center=None, device=None, dtype=torch.float32) -> torch.Tensor:
    """The CPM centre map: a Gaussian ``exp(-|p - c|^2 / (2 sigma^2))`` at ``center (B, 2)`` (pixel x, y;
    default the image centre). Returns ``(B, 1, H, W)``."""
    if center is None:
        center = torch.tensor([(width - 1) / 2, (height - 1) / 2], device=device, dtype=dtype).expand(batch, 2)
    center = torch.as_tensor(center, device=device, dtype=dtype)
    if center.shape != (batch, 2):
        raise ValueError(f"center: expected shape ({batch}, 2), got {tuple(center.shape)}")
    ys = torch.arange(height, device=center.device, dtype=dtype)
    xs = torch.arange(width, device=center.device, dtype=dtype)
    d2 = (xs[None, None, :] - center[:, 0, None, None]) ** 2 + (ys[None, :, None] - center[:, 1, None, None]) ** 2
    return torch.exp(-d2 / (2 * sigma**2)).unsqueeze(1)


class CPM(nn.Module):
    """Convolutional Pose Machine.

    Args:
        num_joints: P; every stage outputs ``P + 1`` maps (the last is the background).
        num_stages: T >= 1.
        widths: ``(c_feat, c_x, c_mid, c_s1)``: channels of the 9x9 feature convs (128), of ``x'`` (32),
            of the stage-t>1 convs (128) and of stage 1's 9x9 / 1x1 head (512).
        k_feat, k_stage: kernel sizes of the feature convs (9) and of stages t > 1 (11).
        num_pools: stride ``2 ** num_pools`` (3 -> 8).
        center_sigma: sigma of the default centre map in pixels (official code: 21 at 368 px).
        batch_norm: BatchNorm after every hidden conv (not in the paper, which predates it; the CPU
            sibling uses it so that it trains in minutes).

    Structure for the receptive-field explorer: ``stage1`` (``nn.Sequential``), ``features`` (stage 2's
    shared conv-pool trunk), ``x_heads[t-2]`` (the 5x5x32 conv of stage t) and ``stages[t-2]`` (stage t's
    belief network), ``pool_center``.
    """

    def __init__(self, num_joints: int = 16, num_stages: int = 6, widths=(128, 32, 128, 512),
                 k_feat: int = 9, k_stage: int = 11, num_pools: int = 3, center_sigma: float = 21.0,
                 batch_norm: bool = False):
        super().__init__()
        if num_joints < 1:
            raise ValueError(f"num_joints must be >= 1, got {num_joints}")
        if num_stages < 1:
            raise ValueError(f"num_stages must be >= 1, got {num_stages}")
        c_feat, c_x, c_mid, c_s1 = widths
        P1 = num_joints + 1
        self.num_joints, self.num_stages, self.stride, self.center_sigma = num_joints, num_stages, 2**num_pools, center_sigma

        bn = batch_norm

        def trunk() -> list[nn.Module]:
            layers, c = [], 3
            for _ in range(num_pools):
                layers += _conv(c, c_feat, k_feat, bn=bn) + [_pool()]
                c = c_feat
            return layers

        self.stage1 = nn.Sequential(*trunk(), *_conv(c_feat, c_x, 5, bn=bn), *_conv(c_x, c_s1, k_feat, bn=bn),
                                    *_conv(c_s1, c_s1, 1, bn=bn), *_conv(c_s1, P1, 1, relu=False))
        self.features = nn.Sequential(*trunk())
        self.x_heads = nn.ModuleList(nn.Sequential(*_conv(c_feat, c_x, 5, bn=bn)) for _ in range(num_stages - 1))
        self.stages = nn.ModuleList(
            nn.Sequential(*_conv(c_x + P1 + 1, c_mid, k_stage, bn=bn), *_conv(c_mid, c_mid, k_stage, bn=bn),
                          *_conv(c_mid, c_mid, k_stage, bn=bn), *_conv(c_mid, c_mid, 1, bn=bn), *_conv(c_mid, P1, 1, relu=False))
            for _ in range(num_stages - 1))
        k = self.stride + 1
        self.pool_center = nn.AvgPool2d(k, self.stride, ceil_mode=True)

    def receptive_fields(self) -> list[int]:
        """Theoretical receptive field (input pixels, one side) of a belief-map location, per stage.

        Each layer with kernel ``k`` adds ``(k - 1) * jump`` (``jump``: product of earlier strides).
        Stage t > 1 sees the widest of its inputs (``x'``, ``b_{t-1}``, the centre map).
        """
        def walk(layers, rf=1, jump=1):
            for m in layers:
                if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
                    k = m.kernel_size[0] if isinstance(m.kernel_size, tuple) else m.kernel_size
                    s = m.stride[0] if isinstance(m.stride, tuple) else m.stride
                    rf, jump = rf + (k - 1) * jump, jump * s
            return rf, jump

        rfs = [walk(self.stage1)[0]]
        feat_rf, jump = walk(self.features)
        center_rf = walk([self.pool_center])[0]
        for x_head, stage in zip(self.x_heads, self.stages):
            rf_in = max(walk(x_head, feat_rf, jump)[0], rfs[-1], center_rf)
            rfs.append(walk(stage, rf_in, jump)[0])
        return rfs

    def forward(self, images: torch.Tensor, centermap: torch.Tensor | None = None) -> list[torch.Tensor]:
        """``images (B, 3, H, W)``, optional ``centermap (B, 1, H, W)`` (default: Gaussian at the image centre)
        -> list of ``T`` belief maps ``(B, P + 1, H / s, W / s)``, stage 1 first; ``s = self.stride`` (8 in the
        paper) must divide ``H`` and ``W`` (else the pooled centre map and the beliefs differ in size)."""
        check_images(self, images, min_size=self.stride, multiple=self.stride)
        B, _, H, W = images.shape
        if centermap is None:
            centermap = center_map(B, H, W, self.center_sigma * H / 368, device=images.device, dtype=images.dtype)
        elif centermap.shape != (B, 1, H, W):
            raise ValueError(f"centermap: expected {(B, 1, H, W)}, got {tuple(centermap.shape)}")
        beliefs = [self.stage1(images)]
        if self.num_stages > 1:
            feats = self.features(images)
            c = self.pool_center(centermap)
            for x_head, stage in zip(self.x_heads, self.stages):
                beliefs.append(stage(torch.cat([x_head(feats), beliefs[-1], c], dim=1)))
        return beliefs


# cpm: the paper's MPII configuration (CPM's defaults: 368 x 368 input, stride 8, T = 6). cpm_tiny: for 64 x 64
# crops, T = 3, stride 4 (16 x 16 beliefs), narrow layers, 3x3 features and 7x7 stage kernels, so that stage 1
# sees a 37 px patch and the later stages the whole image (the paper's receptive-field growth at our scale)
CONFIGS = {"cpm": {}, "cpm_tiny": dict(num_stages=3, widths=(32, 16, 32, 64), k_feat=3, k_stage=7, num_pools=2,
                                       batch_norm=True)}
CARDS = {"cpm": ModelCard((368, 368), "heatmaps", paper=True, min_size=8, multiple=8),
         "cpm_tiny": ModelCard((64, 64), "heatmaps", min_size=4, multiple=4)}
register_configs(CPM, CONFIGS, CARDS)
