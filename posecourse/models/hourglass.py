"""Stacked Hourglass Networks (Newell, Yang & Deng, ECCV 2016).

- ``Residual`` (Fig. 4 left, pre-activation bottleneck): BN-ReLU-conv1x1(C/2) - BN-ReLU-conv3x3(C/2)
  - BN-ReLU-conv1x1(C), plus a skip (a 1x1 conv when the width changes).
- ``Hourglass`` (Sec. 3.1, Fig. 3): recursion of depth ``n``: ``up1 = Residual(x)``; ``low = pool(x)``
  -> Residual -> (Hourglass(n-1) or Residual at n = 1) -> Residual -> nearest 2x upsampling;
  output ``up1 + up(low)``.
- Stacking with intermediate supervision (Sec. 3.4, Fig. 4 right): each stack predicts heatmaps,
  which are mapped back by a 1x1 conv and added, with the stack's features, to its input.

Paper config = bearpaw/pytorch-pose ``hg(num_stacks, num_blocks=1, num_classes=16)``: stem
conv7x7/2 - Residual(128) - maxpool - Residual(256) - Residual(256), depth 4, 256 features, input
256 x 256 -> heatmaps 64 x 64. Module names (``hg``, ``res``, ``fc``, ``score``, ``fc_``, ``score_``)
follow that code so its checkpoints load by name (see :mod:`.official`).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .registry import ModelCard, check_images, register_configs

__all__ = ["Residual", "Hourglass", "StackedHourglass", "CONFIGS", "CARDS"]

# name: (num_stacks, num_blocks, stem width, num_feats (= C/2), hourglass depth)
CONFIGS = {"hourglass_2": dict(num_stacks=2, num_blocks=1, inplanes=64, num_feats=128, depth=4),
           "hourglass_8": dict(num_stacks=8, num_blocks=1, inplanes=64, num_feats=128, depth=4),
           "hourglass_tiny": dict(num_stacks=2, num_blocks=1, inplanes=8, num_feats=24, depth=3)}
# official counts: bearpaw/pytorch-pose hg(num_stacks=S, num_blocks=1, num_classes=16)
_PAPER = dict(input_size=(256, 256), output="heatmaps", paper=True, source="bearpaw/pytorch-pose", min_size=64,
              multiple=64)
CARDS = {"hourglass_2": ModelCard(official_params=6_730_912, **_PAPER),
         "hourglass_8": ModelCard(official_params=25_594_624, **_PAPER),
         "hourglass_tiny": ModelCard((64, 64), "heatmaps", min_size=32, multiple=32)}


class Residual(nn.Module):
    """Pre-activation bottleneck residual module: ``(B, C_in, H, W) -> (B, 2 * planes, H, W)``."""

    expansion = 2

    def __init__(self, inplanes: int, planes: int):
        super().__init__()
        out = planes * self.expansion
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.conv1 = nn.Conv2d(inplanes, planes, 1)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1)
        self.bn3 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1)
        self.downsample = nn.Sequential(nn.Conv2d(inplanes, out, 1)) if inplanes != out else None

    def forward(self, x):
        y = self.conv1(F.relu(self.bn1(x)))
        y = self.conv2(F.relu(self.bn2(y)))
        y = self.conv3(F.relu(self.bn3(y)))
        return y + (x if self.downsample is None else self.downsample(x))


def _residuals(inplanes: int, planes: int, n: int) -> nn.Sequential:
    return nn.Sequential(*[Residual(inplanes if i == 0 else planes * 2, planes) for i in range(n)])


class Hourglass(nn.Module):
    """One hourglass of depth ``depth`` on ``2 * planes`` channels: ``(B, C, H, W) -> (B, C, H, W)``,
    ``H, W`` divisible by ``2 ** depth``. ``hg[n - 1]`` holds level n's [up1, low1, low3(, low2 at n=1)]."""

    def __init__(self, num_blocks: int, planes: int, depth: int):
        super().__init__()
        self.depth = depth
        c = planes * 2
        self.hg = nn.ModuleList(
            nn.ModuleList(_residuals(c, planes, num_blocks) for _ in range(4 if n == 0 else 3)) for n in range(depth)
        )

    def _level(self, n: int, x):
        up1 = self.hg[n - 1][0](x)
        low1 = self.hg[n - 1][1](F.max_pool2d(x, 2, 2))
        low2 = self._level(n - 1, low1) if n > 1 else self.hg[0][3](low1)
        low3 = self.hg[n - 1][2](low2)
        return up1 + F.interpolate(low3, scale_factor=2, mode="nearest")

    def forward(self, x):
        if x.shape[-1] % 2**self.depth or x.shape[-2] % 2**self.depth:
            raise ValueError(f"x: spatial size {tuple(x.shape[-2:])} must be divisible by 2**depth = {2**self.depth}")
        return self._level(self.depth, x)


class StackedHourglass(nn.Module):
    """Stacked hourglass network.

    ``images (B, 3, H, W)`` -> list of ``num_stacks`` heatmaps ``(B, num_joints, H/4, W/4)``.
    """

    def __init__(self, num_joints: int = 16, num_stacks: int = 2, num_blocks: int = 1, inplanes: int = 64,
                 num_feats: int = 128, depth: int = 4):
        super().__init__()
        for name, v in dict(num_joints=num_joints, num_stacks=num_stacks, num_blocks=num_blocks,
                            inplanes=inplanes, num_feats=num_feats, depth=depth).items():
            if int(v) < 1:
                raise ValueError(f"{name}: must be a positive integer, got {v}")
        self.num_stacks, self.depth = num_stacks, depth
        ch = num_feats * 2
        self.conv1 = nn.Conv2d(3, inplanes, 7, stride=2, padding=3)
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.layer1 = _residuals(inplanes, inplanes, 1)
        self.layer2 = _residuals(inplanes * 2, inplanes * 2, 1)
        self.layer3 = _residuals(inplanes * 4, num_feats, 1)
        self.hg = nn.ModuleList(Hourglass(num_blocks, num_feats, depth) for _ in range(num_stacks))
        self.res = nn.ModuleList(_residuals(ch, num_feats, num_blocks) for _ in range(num_stacks))
        self.fc = nn.ModuleList(
            nn.Sequential(nn.Conv2d(ch, ch, 1), nn.BatchNorm2d(ch), nn.ReLU(inplace=True)) for _ in range(num_stacks))
        self.score = nn.ModuleList(nn.Conv2d(ch, num_joints, 1) for _ in range(num_stacks))
        # re-injection of features and heatmaps into the next stack (intermediate supervision)
        self.fc_ = nn.ModuleList(nn.Conv2d(ch, ch, 1) for _ in range(num_stacks - 1))
        self.score_ = nn.ModuleList(nn.Conv2d(num_joints, ch, 1) for _ in range(num_stacks - 1))

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """``images (B, 3, H, W)``, ``H, W`` divisible by ``4 * 2 ** depth`` (the stem's stride 4, then
        ``depth`` halvings in each hourglass; 64 for the paper's depth 4) -> ``num_stacks`` maps ``(B, K, H/4, W/4)``."""
        m = 4 * 2**self.depth
        check_images(self, images, min_size=m, multiple=m)
        x = F.relu(self.bn1(self.conv1(images)))
        x = self.layer3(self.layer2(F.max_pool2d(self.layer1(x), 2, 2)))
        out = []
        for i in range(self.num_stacks):
            y = self.fc[i](self.res[i](self.hg[i](x)))
            score = self.score[i](y)
            out.append(score)
            if i < self.num_stacks - 1:
                x = x + self.fc_[i](y) + self.score_[i](score)
        return out


register_configs(StackedHourglass, CONFIGS, CARDS, num_joints=16)
