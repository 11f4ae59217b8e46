"""HRNet: Deep High-Resolution Representation Learning (Sun, Xiao, Liu & Wang, CVPR 2019).

A high-resolution branch is kept through the whole network; stage s adds a branch at half the
previous lowest resolution (Sec. 3, "parallel multi-resolution subnetworks"). Inside a stage,
``HighResolutionModule`` = per-branch ``BasicBlock`` s, then the *exchange unit* (Sec. 3,
"repeated multi-scale fusion"): output ``Y_k = sum_i a(X_i, k)`` with
- ``a(X_i, k) = X_i`` for ``i = k``;
- upsampling (``i > k``): 1x1 conv + BN + nearest upsampling by ``2 ** (i - k)``;
- downsampling (``i < k``): ``k - i`` strided 3x3 convs + BN (ReLU between them).
Stem: two strided 3x3 convs (stride 4), ``layer1`` = 4 bottlenecks; a 1x1 conv on the
highest-resolution branch gives the heatmaps (stride 4: 256 x 192 -> 64 x 48).

Paper configs follow leoxiaobin/deep-high-resolution-net.pytorch ``pose_hrnet.py`` with
``w32_256x192`` / ``w48_256x192``: stages 2-4 have 1/4/3 modules of 4 basic blocks on 2/3/4
branches of widths ``C, 2C, 4C, 8C``; the last module of the last stage fuses into the
highest-resolution branch only. Module names follow that code so its checkpoints load by name.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .registry import ModelCard, check_images, register_configs

__all__ = ["BasicBlock", "Bottleneck", "HighResolutionModule", "HRNet", "CONFIGS", "CARDS"]

BN_MOMENTUM = 0.1


def _stages(c: int, blocks: int = 4, modules=(1, 4, 3)):
    # per stage: (num_modules, num_blocks, branch widths)
    return tuple((m, blocks, tuple(c * 2**b for b in range(s + 2))) for s, m in enumerate(modules))


# stem width, layer1 (bottleneck planes, blocks), stages 2.. : (num_modules, num_blocks, widths)
CONFIGS = {"hrnet_w32": dict(stem=64, layer1=(64, 4), stages=_stages(32)),
           "hrnet_w48": dict(stem=64, layer1=(64, 4), stages=_stages(48)),
           # CPU sibling for 64 px: all four stages (1 -> 4 branches, widths 16/32/64/128), one module and one
           # block per stage, a thin stem; ~0.9 M parameters, 16 x 16 heatmaps.
           "hrnet_tiny": dict(stem=32, layer1=(16, 1), stages=_stages(16, blocks=1, modules=(1, 1, 1)))}
# official weights: ImageNet-normalized RGB, integer-centred targets (see ModelCard); counts for 17 joints
_OFFICIAL = dict(input_size=(256, 192), output="heatmaps", paper=True, input_norm="imagenet", integer_centred=True,
                 source="leoxiaobin/deep-high-resolution-net.pytorch", min_size=32, multiple=32)
CARDS = {"hrnet_w32": ModelCard(official_params=28_536_113, **_OFFICIAL),  # w32_256x192
         "hrnet_w48": ModelCard(official_params=63_595_745, **_OFFICIAL),  # w48_256x192
         "hrnet_tiny": ModelCard((64, 64), "heatmaps", min_size=32, multiple=32)}


def _bn(c):
    return nn.BatchNorm2d(c, momentum=BN_MOMENTUM)


def _conv3x3(c_in, c_out, stride=1):
    return nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN with identity skip: ``(B, C, H, W) -> (B, C, H, W)``."""

    def __init__(self, c: int):
        super().__init__()
        self.conv1, self.bn1 = _conv3x3(c, c), _bn(c)
        self.conv2, self.bn2 = _conv3x3(c, c), _bn(c)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + x)


class Bottleneck(nn.Module):
    """1x1 - 3x3 - 1x1 (x4 expansion) bottleneck: ``(B, C_in, H, W) -> (B, 4 * planes, H, W)``."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int):
        super().__init__()
        out = planes * self.expansion
        self.conv1, self.bn1 = nn.Conv2d(inplanes, planes, 1, bias=False), _bn(planes)
        self.conv2, self.bn2 = _conv3x3(planes, planes), _bn(planes)
        self.conv3, self.bn3 = nn.Conv2d(planes, out, 1, bias=False), _bn(out)
        self.downsample = (nn.Sequential(nn.Conv2d(inplanes, out, 1, bias=False), _bn(out))
                           if inplanes != out else None)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


def exchange_unit(widths, i: int, k: int) -> nn.Module | None:
    """The transform ``a(X_i, k)`` taking branch ``i`` (width ``widths[i]``) to branch ``k``'s
    resolution and width; ``None`` for the identity ``i == k``."""
    if i == k:
        return None
    if i > k:  # upsample
        return nn.Sequential(nn.Conv2d(widths[i], widths[k], 1, bias=False), _bn(widths[k]),
                             nn.Upsample(scale_factor=2 ** (i - k), mode="nearest"))
    steps = []
    for s in range(k - i):  # downsample: k - i strided 3x3 convs
        last = s == k - i - 1
        c_out = widths[k] if last else widths[i]
        steps.append(nn.Sequential(_conv3x3(widths[i], c_out, 2), _bn(c_out), *([] if last else [nn.ReLU(True)])))
    return nn.Sequential(*steps)


class HighResolutionModule(nn.Module):
    """Parallel branches of basic blocks followed by an exchange unit.

    ``xs``: list of ``(B, widths[b], H / 2**b, W / 2**b)`` -> list of the same shapes
    (only the first one when ``multi_scale_output=False``).
    """

    def __init__(self, num_blocks: int, widths, multi_scale_output: bool = True):
        super().__init__()
        n = len(widths)
        self.branches = nn.ModuleList(nn.Sequential(*[BasicBlock(c) for _ in range(num_blocks)]) for c in widths)
        self.fuse_layers = nn.ModuleList(
            nn.ModuleList(exchange_unit(widths, i, k) for i in range(n)) for k in range(n if multi_scale_output else 1))

    def forward(self, xs):
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        out = []
        for k, fuse in enumerate(self.fuse_layers):  # Y_k = sum_i a(X_i, k)
            y = sum(x if a is None else a(x) for a, x in zip(fuse, xs))
            out.append(F.relu(y))
        return out


def _transition(prev, cur) -> nn.ModuleList:
    """Between stages: adapt existing branches' widths, and create each new branch from the
    previous lowest-resolution branch by strided 3x3 convs."""
    layers = []
    for b, c in enumerate(cur):
        if b < len(prev):
            layers.append(None if prev[b] == c else nn.Sequential(_conv3x3(prev[b], c), _bn(c), nn.ReLU(True)))
        else:
            steps = []
            for s in range(b + 1 - len(prev)):
                c_out = c if s == b - len(prev) else prev[-1]
                steps.append(nn.Sequential(_conv3x3(prev[-1], c_out, 2), _bn(c_out), nn.ReLU(True)))
            layers.append(nn.Sequential(*steps))
    return nn.ModuleList(layers)


class HRNet(nn.Module):
    """HRNet pose network (SimpleBaseline-style head on the highest-resolution branch).

    ``images (B, 3, H, W)`` -> ``[heatmaps (B, num_joints, H/4, W/4)]`` (a list of one).
    ``stages``: per stage after ``layer1``, ``(num_modules, num_blocks, branch widths)``.
    """

    def __init__(self, num_joints: int = 17, stem: int = 64, layer1=(64, 4), stages=_stages(32)):
        super().__init__()
        if num_joints < 1:
            raise ValueError(f"num_joints: must be positive, got {num_joints}")
        if not stages:
            raise ValueError("stages: need at least one stage")
        self.conv1, self.bn1 = _conv3x3(3, stem, 2), _bn(stem)
        self.conv2, self.bn2 = _conv3x3(stem, stem, 2), _bn(stem)
        planes, blocks = layer1
        self.layer1 = nn.Sequential(*[Bottleneck(stem if j == 0 else planes * 4, planes) for j in range(blocks)])
        prev = (planes * 4,)
        for s, (num_modules, num_blocks, widths) in enumerate(stages, start=2):
            last_stage = s == len(stages) + 1
            setattr(self, f"transition{s - 1}", _transition(prev, widths))
            setattr(self, f"stage{s}", nn.Sequential(*[
                HighResolutionModule(num_blocks, widths, multi_scale_output=not (last_stage and m == num_modules - 1))
                for m in range(num_modules)]))
            prev = widths
        self.num_stages, self.num_branches = len(stages), len(prev)
        self.final_layer = nn.Conv2d(prev[0], num_joints, 1)

    def exchange_units(self) -> list[HighResolutionModule]:
        """The modules ending in an exchange unit, in forward order (stage 2 first); their ``branches``
        compute the ``X_i`` and their output is ``Y_k = sum_i a(X_i, k)`` (used by the HRNet viewer)."""
        return [m for m in self.modules() if isinstance(m, HighResolutionModule)]

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """``images (B, 3, H, W)``, ``H, W`` divisible by ``4 * 2 ** (branches - 1)`` (32 with 4 branches: the
        stem's stride 4, then each branch half the previous one, upsampled back exactly) -> ``[(B, K, H/4, W/4)]``."""
        m = 4 * 2 ** (self.num_branches - 1)
        check_images(self, images, min_size=m, multiple=m)
        x = F.relu(self.bn1(self.conv1(images)))
        x = F.relu(self.bn2(self.conv2(x)))
        xs = [self.layer1(x)]
        for s in range(2, self.num_stages + 2):
            trans = getattr(self, f"transition{s - 1}")
            xs = [x_in if t is None else t(x_in)
                  for t, x_in in zip(trans, [xs[min(b, len(xs) - 1)] for b in range(len(trans))])]
            for module in getattr(self, f"stage{s}"):
                xs = module(xs)
        return [self.final_layer(xs[0])]


register_configs(HRNet, CONFIGS, CARDS, num_joints=17)
