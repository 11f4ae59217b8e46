"""Prediction and evaluation on held-out data: a model, its codec and its metric object.

A lecture's metric is an object (:class:`PCK`, :class:`PCKh`, :class:`PDJ`, :class:`OKSAP`) called
on what its codec decodes and the held-out batch::

    prediction = lecture.codec.decode(predict(model, images))      # Poses (codecs.Poses)
    lecture.metric(prediction, batch)                              # {"metric", "value", ...}

Single-person metrics compare the one person predicted per image with person 0's joints ``(N, K, 2)``; OKS AP compares
every person, with COCO's evaluation (exactly pycocotools' numbers, see :func:`posecourse.metrics.coco_keypoint_eval`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import partial
from typing import ClassVar

import numpy as np
import torch

from .. import metrics
from ..targets.codecs import Poses
from ..skeletons import convert_keypoints, get_skeleton

__all__ = ["PCK", "PCKh", "PDJ", "OKSAP", "predict", "evaluate", "evaluate_cascade", "predict_flip", "coco_format",
           "coco_detections", "per_image_error"]


def _person0(batch: dict):
    return batch["keypoints"][:, 0], batch["visibility"][:, 0] > 0


def _result(name: str, r) -> dict:
    return {"metric": name, "value": float(r.mean), "per_joint": [float(v) for v in np.asarray(r.per_joint)]}


@dataclass(frozen=True)
class _SinglePerson:
    """A metric of person 0's joints, called on one-person-per-image :class:`~posecourse.targets.codecs.Poses` and a batch;
    a subclass names its ``label`` and its :mod:`posecourse.metrics` function ``measure``."""

    alpha: float
    skeleton: str = "mpii16"
    label: ClassVar[str] = ""

    @property
    def name(self) -> str:
        return f"{self.label}@{self.alpha}"

    def __call__(self, prediction: Poses, batch: dict) -> dict:
        (gt, vis), pred = _person0(batch), prediction.single()[0]
        return _result(self.name, self.measure(pred, gt, vis, alpha=self.alpha, skeleton=self.skeleton))

    def for_layout(self, skel):
        """This metric on data of the layout ``skel`` (a :class:`~posecourse.skeletons.Skeleton`)."""
        return replace(self, skeleton=skel.name)


class PCK(_SinglePerson):
    """Percentage of Correct Keypoints: a joint is correct within ``alpha`` x the torso diameter (as CPM
    reports on LSP and the course throughout)."""

    label, measure = "PCK", staticmethod(partial(metrics.pck, norm="torso"))


class PCKh(_SinglePerson):
    """PCK normalized by the head size (MPII). Synthetic people have no head box: the head size is the
    upper-neck to head-top distance (see :func:`posecourse.metrics.pckh`)."""

    label, measure = "PCKh", staticmethod(metrics.pckh)

    def for_layout(self, skel):
        """PCK@0.2 of the torso where the layout ``skel`` has no upper-neck/head-top segment."""
        return replace(self, skeleton=skel.name) if skel.head is not None else PCK(0.2, skel.name)


class PDJ(_SinglePerson):
    """DeepPose's Percentage of Detected Joints: within ``alpha`` x the torso diameter."""

    label, measure = "PDJ", staticmethod(metrics.pdj)


@dataclass(frozen=True)
class OKSAP:
    """COCO's keypoint AP (OKS thresholds .50:.05:.95) of every person of :class:`~posecourse.targets.codecs.Poses`."""

    skeleton: str = "coco18"
    name: str = "OKS AP"

    def __call__(self, prediction: Poses, batch: dict) -> dict:
        return oks_ap(*coco_format(batch, prediction, self.skeleton), self.name)


def oks_ap(gt, dt: list, name: str = "OKS AP") -> dict:
    """``{"metric", "value", "stats"}`` of COCO's evaluation (``gt``: a dict or file name; no detections: all 0)."""
    stats = metrics.coco_keypoint_eval(gt, dt) if dt else dict.fromkeys(metrics.STAT_NAMES, 0.0)
    return {"metric": name, "value": float(max(stats["AP"], 0.0)), "stats": stats}


def _cat(parts: list):
    """Concatenate batched model outputs along the batch: tensors, lists over stages, dicts."""
    first = parts[0]
    if isinstance(first, torch.Tensor):
        return torch.cat([p.float().cpu() for p in parts])
    if isinstance(first, dict):
        return {k: _cat([p[k] for p in parts]) for k in first}
    return [_cat([p[i] for p in parts]) for i in range(len(first))]


@torch.no_grad()
def predict(model: torch.nn.Module, images: torch.Tensor, batch_size: int = 64):
    """The model's raw output on ``images (N, 3, H, W)``, run in batches on the model's device and
    gathered on the CPU in float32 (same structure as one call: a tensor, or a list over stages)."""
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or len(images) == 0:
        got = f"shape {tuple(images.shape)}" if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images: expected a non-empty tensor (N, 3, H, W), got {got}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive int, got {batch_size!r}")
    dev = next(model.parameters()).device
    return _cat([model(images[i:i + batch_size].to(dev)) for i in range(0, len(images), batch_size)])


def evaluate(model: torch.nn.Module, lecture, data) -> dict:
    """The lecture's metric on ``data.val``; with several stages / stacks, ``per_stage`` values too."""
    stages = lecture.codec.decode_stages(predict(model, data.val["image"]))
    res = lecture.metric(stages[-1], data.val)
    if len(stages) > 1:
        res["per_stage"] = [lecture.metric(p, data.val)["value"] for p in stages]
    return res


@torch.no_grad()
def predict_flip(model: torch.nn.Module, images: torch.Tensor, codec, skeleton, shift: int = 0,
                 method: str | None = None, swap: bool = True) -> Poses:
    """The flip test (``codec.decode_flip``): average the heatmaps of the image and of its mirror image
    (mirrored back, left/right channels swapped, shifted by ``shift`` heatmap px), then decode.

    ``swap=False`` keeps the channels: right for the course's synthetic people, whose left/right cue
    is a colour that a mirror does not swap (on real images always swap)."""
    sk = get_skeleton(skeleton)
    flip_index = sk.flip_index if swap else np.arange(sk.num_joints)
    return codec.decode_flip(predict(model, images), predict(model, images.flip(-1)), flip_index, shift, method=method)


def per_image_error(pred: torch.Tensor, batch: dict) -> torch.Tensor:
    """Mean pixel error over the labelled joints of person 0, per image ``(N,)``: NaN-free, ``inf`` for an
    image with a NaN/inf prediction at a labelled joint (a miss ranks as the worst)."""
    gt, vis = _person0(batch)
    d = (torch.as_tensor(pred, dtype=torch.float32) - gt).norm(dim=-1)
    d = torch.where(torch.isfinite(d), d, torch.full_like(d, math.inf))
    return torch.where(vis, d, torch.zeros_like(d)).sum(-1) / vis.sum(-1).clamp_min(1)


def coco_format(batch: dict, poses: Poses | None = None, skeleton: str = "coco18"):
    """Ground truth of a collated multi-person batch (and optional predicted :class:`~posecourse.targets.codecs.Poses`,
    :func:`coco_detections`) as COCO dicts, image ``i`` with id ``i + 1``; joints converted to COCO-17 (OpenPose's neck
    is dropped), GT ``area`` the person box area (the synthetic data have no segmentation masks)."""
    kp, vis = convert_keypoints(batch["keypoints"], batch["visibility"], batch["skeleton"], "coco17")  # float arrays
    boxes = np.asarray(batch["boxes"], dtype=float)
    images, anns = [], []
    H, W = batch["image"].shape[-2:]
    for i in range(kp.shape[0]):
        images.append({"id": i + 1, "width": int(W), "height": int(H)})
        for p in range(int(batch["num_people"][i])):
            v = vis[i, p]
            flat = np.concatenate([kp[i, p], v[:, None]], 1)
            flat[v == 0] = 0
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": 1, "iscrowd": 0,
                         "keypoints": flat.ravel().tolist(), "num_keypoints": int((v > 0).sum()),
                         "bbox": boxes[i, p].tolist(), "area": float(boxes[i, p, 2] * boxes[i, p, 3])})
    coco17 = get_skeleton("coco17")
    gt = {"images": images, "annotations": anns, "categories": [{
        "id": 1, "name": "person", "supercategory": "person", "keypoints": list(coco17.joints),
        "skeleton": [list(limb) for limb in coco17.limbs]}]}
    return gt if poses is None else (gt, coco_detections(poses, skeleton, range(1, kp.shape[0] + 1)))


def coco_detections(poses: Poses, skeleton, image_ids) -> list[dict]:
    """COCO detection dicts of every person of ``poses`` (joints of ``skeleton``, converted to COCO-17), image
    ``b`` with id ``image_ids[b]``. A detection's score is the mean score of its found joints (score > 0) times
    the fraction of joints found; a person with none found (padding) is left out."""
    B, P, K = poses.scores.shape
    xy, s = convert_keypoints(poses.keypoints.cpu().numpy().reshape(B * P, K, 2),
                              poses.scores.cpu().numpy().reshape(B * P, K), skeleton, "coco17")
    dt = []
    for n, (xy17, s17) in enumerate(zip(xy, s)):
        ok = s17 > 0
        if ok.any():
            flat = np.concatenate([np.nan_to_num(xy17), np.where(ok, 1.0, 0.0)[:, None]], 1)
            dt.append({"image_id": image_ids[n // P], "category_id": 1, "keypoints": flat.ravel().tolist(),
                       "score": float(s17[ok].mean() * ok.mean())})
    return dt


class _AllStages(torch.nn.Module):
    """A DeepPose cascade whose output is every stage's estimate (a list of ``(B, K, 2)``)."""

    def __init__(self, cascade):
        super().__init__()
        self.cascade = cascade

    def forward(self, images):
        return self.cascade.forward_stages(images)[0]


def evaluate_cascade(cascade, lecture, data) -> dict:
    """:func:`evaluate` of every stage of a DeepPose cascade (``per_stage``; ``value`` is the last)."""
    return evaluate(_AllStages(cascade).eval(), lecture, data)
