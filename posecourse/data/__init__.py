"""Datasets: the course's synthetic generator and loaders for the real formats.

Every dataset yields the same **sample** structure (a ``dict``)::

    image       FloatTensor (3, H, W), RGB in [0, 1]
    keypoints   FloatTensor (P, K, 2), pixel coordinates (x, y); x to the right, y down,
                pixel centres at integer coordinates (pixel (0, 0) covers [-0.5, 0.5]^2)
    visibility  FloatTensor (P, K), COCO convention: 0 = not labelled / outside the image,
                1 = labelled but occluded, 2 = labelled and visible
    boxes       FloatTensor (P, 4), person boxes (x0, y0, w, h) in pixels (COCO order)
    skeleton    str, a name from posecourse.skeletons ("mpii16", "coco17", ...)
    meta        dict, source-specific extras (file name, image id, MPII center/scale,
                head box, ...); always has "source" and "index"; a real loader's also has
                "where", the annotation file and record (as its errors name them)

What each loader accepts, rejects (``ValueError`` naming the file, the record and the field: a labelled
joint not finite or more than one image size outside the image, an undefined visibility code, a duplicate
id, ...) and marks unlabelled is written down in docs/loaders.md.

``P`` is the number of people (1 for single-person data). :func:`collate` pads ``P`` across a batch with visibility 0.
"""
from __future__ import annotations

import torch

from .coco import CocoKeypoints
from .crowdpose import CrowdPoseKeypoints
from .flic import FlicExamples
from .lsp import LspJoints
from .mpii import MpiiJson, MpiiMat
from .synthetic import SyntheticPoseDataset
from .topdown import TopDown, WholeImages, open_source

__all__ = ["collate", "SyntheticPoseDataset", "CocoKeypoints", "CrowdPoseKeypoints", "MpiiJson", "MpiiMat",
           "LspJoints", "FlicExamples", "TopDown", "WholeImages", "open_source"]


def collate(samples: list[dict]) -> dict:
    """Batch samples of possibly different person counts (all images of one size): ``image (B, 3, H, W)``,
    ``keypoints (B, P_max, K, 2)`` (NaN-free: padding is 0 with visibility 0), ``visibility (B, P_max, K)``,
    ``boxes (B, P_max, 4)``, ``num_people (B,)``, ``skeleton`` (str) and ``meta`` (list)."""
    if not samples:
        raise ValueError("collate: samples is empty")
    shapes = {tuple(s["image"].shape) for s in samples}
    if len(shapes) != 1:
        raise ValueError(f"collate: images differ in shape {sorted(shapes)}; resize or crop first")
    skels = {s["skeleton"] for s in samples}
    if len(skels) != 1:
        raise ValueError(f"collate: samples mix skeletons {sorted(skels)}")
    B, K = len(samples), samples[0]["keypoints"].shape[-2]
    P = max(int(s["keypoints"].shape[0]) for s in samples)
    kp, vis, boxes = torch.zeros(B, P, K, 2), torch.zeros(B, P, K), torch.zeros(B, P, 4)
    for b, s in enumerate(samples):
        p = s["keypoints"].shape[0]
        kp[b, :p] = torch.nan_to_num(torch.as_tensor(s["keypoints"], dtype=torch.float32))
        vis[b, :p] = torch.as_tensor(s["visibility"], dtype=torch.float32)
        boxes[b, :p] = torch.as_tensor(s["boxes"], dtype=torch.float32)
    return {"image": torch.stack([torch.as_tensor(s["image"]) for s in samples]), "keypoints": kp, "visibility": vis,
            "boxes": boxes, "num_people": torch.tensor([s["keypoints"].shape[0] for s in samples]),
            "skeleton": samples[0]["skeleton"], "meta": [s.get("meta", {}) for s in samples]}
