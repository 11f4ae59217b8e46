"""OpenPose: Realtime Multi-Person 2D Pose Estimation using Part Affinity Fields
(Cao, Simon, Wei & Sheikh, CVPR 2017).

Image features ``F`` (VGG-19's first 10 conv layers + conv4_3_CPM / conv4_4_CPM, stride 8), then
``T`` stages of two branches (Sec. 2.1, Fig. 3):

- branch 1, ``L`` (``phi``): part affinity fields, ``2 x num_limbs`` channels (38 for COCO-18);
- branch 2, ``S`` (``rho``): confidence maps, ``num_joints + 1`` channels (19: 18 parts + background);
- stage 1: ``S^1 = rho^1(F)``, ``L^1 = phi^1(F)`` (3x3 convs);
- stage t > 1: ``S^t = rho^t(F, S^{t-1}, L^{t-1})``, ``L^t = phi^t(F, S^{t-1}, L^{t-1})`` (7x7 convs),
  input ``concat(L^{t-1}, S^{t-1}, F)`` (Eq. 1-2); every stage is supervised (Eq. 3-5).

Paper config = CMU's COCO body model as converted by Hzzone/pytorch-openpose (``bodypose_model``):
368 x 368 -> 46 x 46, 6 stages (parameters: its card). Layer names follow the Caffe model
(``conv5_1_CPM_L1``, ``Mconv1_stage2_L2``, ...) so :func:`.official.load_official` maps them by rules.
"""
from __future__ import annotations

import re
from collections import OrderedDict

import torch
import torch.nn as nn

from .registry import ModelCard, check_images, register_configs

__all__ = ["OpenPose", "CONFIGS", "CARDS"]

VGG19_10 = (("conv1_1", 64), ("conv1_2", 64), "M", ("conv2_1", 128), ("conv2_2", 128), "M",
            ("conv3_1", 256), ("conv3_2", 256), ("conv3_3", 256), ("conv3_4", 256), "M",
            ("conv4_1", 512), ("conv4_2", 512), ("conv4_3_CPM", 256), ("conv4_4_CPM", 128))

# trunk F; stage 1: n 3x3 convs of width w, then 1x1 of width mid; stages t > 1: n k x k convs of width w
CONFIGS = {
    "openpose_vgg19": dict(trunk=VGG19_10, num_stages=6, stage1=(3, 128, 512), stage_t=(5, 7, 128)),
    "openpose_tiny": dict(trunk=(("conv1_1", 16), "M", ("conv2_1", 24), "M", ("conv3_1", 32), ("conv4_4_CPM", 32)),
                          num_stages=2, stage1=(2, 24, 48), stage_t=(2, 3, 24), batch_norm=True),
}
# official: CMU's COCO body model as converted for PyTorch (BGR uint8 / 256 - 0.5 input)
CARDS = {"openpose_vgg19": ModelCard((368, 368), "paf+heatmaps", paper=True, official_params=52_311_446,
                                     source="Hzzone/pytorch-openpose", input_norm="openpose", min_size=8),
         "openpose_tiny": ModelCard((64, 64), "paf+heatmaps", min_size=4)}


def _convs(layers, c_in: int, bn: bool = False, relu: str = "relu_{name}", head: bool = True) -> nn.Sequential:
    """``layers``: ``(name, c_out, kernel)`` convs and ``"M"`` (a 2x2 max pool ``pool{j}``, ``j`` its position); a ReLU
    named ``relu`` (after BatchNorm ``bn_{name}`` if ``bn``) after every conv, but the last if ``head`` (an output)."""
    mods = OrderedDict()
    for j, item in enumerate(layers):
        if item == "M":
            mods[f"pool{j}"] = nn.MaxPool2d(2, 2)
            continue
        name, c_out, k = item
        hidden = not head or j < len(layers) - 1
        mods[name] = nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=not (bn and hidden))
        if hidden:
            mods.update({f"bn_{name}": nn.BatchNorm2d(c_out)} if bn else {})
            mods[relu.format(j=j, name=name)] = nn.ReLU(inplace=True)
        c_in = c_out
    return nn.Sequential(mods)


class OpenPose(nn.Module):
    """Two-branch multi-stage CNN.

    ``images (B, 3, H, W)`` -> list of ``num_stages`` dicts ``{"paf": (B, 2 * num_limbs, H/s, W/s), "heatmaps":
    (B, num_joints + 1, H/s, W/s)}``, ``s = 2 ** (number of pools in the trunk)`` (8 for VGG-19); ``batch_norm``:
    BatchNorm after each hidden conv (not in the paper).
    """

    #: the official checkpoint's key prefixes -> ours (see :func:`posecourse.models.official.official_key_map`)
    official_key_rules = ((re.compile(r"^model0\."), "features."),
                          (re.compile(r"^model(\d+)_1\."), lambda m: f"L.{int(m.group(1)) - 1}."),
                          (re.compile(r"^model(\d+)_2\."), lambda m: f"S.{int(m.group(1)) - 1}."))

    def __init__(self, num_joints: int = 18, num_limbs: int = 19, trunk=VGG19_10, num_stages: int = 6,
                 stage1=(3, 128, 512), stage_t=(5, 7, 128), batch_norm: bool = False):
        super().__init__()
        if num_joints < 1 or num_limbs < 1 or num_stages < 1:
            raise ValueError(f"num_joints, num_limbs, num_stages: must be positive, got {num_joints}, {num_limbs}, {num_stages}")
        n_paf, n_hm = 2 * num_limbs, num_joints + 1
        self.features = _convs([it if it == "M" else (*it, 3) for it in trunk], 3, batch_norm, "relu{j}", head=False)
        c = next(it[1] for it in reversed(trunk) if it != "M")  # F's channels
        self.stride = 2 ** sum(item == "M" for item in trunk)
        (n1, w1, mid1), (nt, kt, wt) = stage1, stage_t
        self.L, self.S = nn.ModuleList(), nn.ModuleList()
        for t in range(1, num_stages + 1):  # stage 1 reads F, stage t > 1 concat(L^{t-1}, S^{t-1}, F)
            n, k, w, mid, c_in, name = (n1, 3, w1, mid1, c, "conv5_{}_CPM") if t == 1 else \
                (nt, kt, wt, wt, c + n_paf + n_hm, f"Mconv{{}}_stage{t}")
            for branch, mlist, c_out in ((1, self.L, n_paf), (2, self.S, n_hm)):
                shapes = [(w, k)] * n + [(mid, 1), (c_out, 1)]  # (width, kernel) of each conv
                mlist.append(_convs([(f"{name.format(j + 1)}_L{branch}", *wk) for j, wk in enumerate(shapes)], c_in,
                                    batch_norm))

    def forward(self, images: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        """``images (B, 3, H, W)``, ``H, W >= stride`` -> per stage ``{"paf": (B, 2L, H // s, W // s),
        "heatmaps": (B, K + 1, H // s, W // s)}`` (the trunk's 2x2 pools floor odd sizes)."""
        check_images(self, images, min_size=self.stride)
        feats = self.features(images)
        out, x = [], feats
        for phi, rho in zip(self.L, self.S):
            paf, hm = phi(x), rho(x)
            out.append({"paf": paf, "heatmaps": hm})
            x = torch.cat([paf, hm, feats], dim=1)  # concat(L^t, S^t, F), official channel order
        return out


register_configs(OpenPose, CONFIGS, CARDS, num_joints=18, num_limbs=19)
