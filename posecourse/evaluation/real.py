"""What the command (:mod:`posecourse.train.command`) reports: the run's loss curve and sample split gathered from every
process, and the lecture's metric on real person crops or (bottom-up) whole photos.

Real crops are scored where the annotations live, in the photo's pixels: predictions in crop pixels go back through the
crop's inverse affine (and a flipped crop's joint order), and are compared with the annotation as loaded. The lecture's
metric keeps its definition with the data's layout (PCK@0.2 of the torso, PCKh@0.5 of the upper-neck/head-top segment
where the layout has one, else PCK@0.2 of the torso); a layout that is not registered (CrowdPose) gets PCK@0.2 of the
person's joint extent. COCO files are also scored with COCO's OKS AP on the ground-truth boxes (``oks_ap_gt_boxes``).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from .. import data, metrics
from ..targets.codecs import Poses
from ..data.topdown import batch_to_original, to_original
from . import _result, coco_detections, oks_ap, predict, predict_flip
from ..models import model_card
from ..skeletons import SKELETONS, convert_keypoints
from ..utils import to_plain

__all__ = ["gather_run", "predict_crops", "evaluate_crops", "score_crops", "evaluate_images", "oks_file", "oks_scores",
           "annotate_checkpoint"]


def gather_run(history, seen, dataset_size: int, world: int) -> dict:
    """``loss_curve``: per step, the mean of the processes' losses (= the global batch's loss when they
    weigh alike); ``samples``: images trained on in the first epoch, over all processes, and how many of
    them more than one process (or step) took. Collective: every process must call it."""
    if history is None:
        return {"loss_curve": [], "samples": None}
    mine = (list(history.losses), list(seen.seen))
    parts = [mine]
    if world > 1 and dist.is_initialized():
        parts = [None] * world
        dist.all_gather_object(parts, mine)
    n = min(len(p[0]) for p in parts)
    curve = [float(np.mean([p[0][i] for p in parts])) for i in range(n)]
    every = [i for p in parts for i in p[1]]
    return {"loss_curve": curve, "final_loss": curve[-1] if curve else None,
            "samples": {"dataset_size": dataset_size, "seen_first_epoch": len(every),
                        "unique_first_epoch": len(set(every)), "duplicates_first_epoch": len(every) - len(set(every)),
                        "per_process": [len(p[1]) for p in parts]}}


def _metric(lecture, skel):
    """The lecture's metric for the data's layout ``skel`` (see the module note); None for a layout not registered."""
    return lecture.metric.for_layout(skel) if skel.name in SKELETONS else None


def predict_crops(model, lecture, crops, skel, flip: bool = False, official: bool = False, chunk: int = 32,
                  model_skeleton=None) -> dict:
    """Predictions of ``model`` on a :class:`~posecourse.data.topdown.TopDown` dataset (no augmentation), in
    the photo's pixels: ``{"pred" (N, K, 2), "score" (N, K), "gt" (N, K, 2), "visible" (N, K) bool, "meta"}``
    (``meta``: the crops' meta dicts, with ``file_name``, ``source_index``, ...). A NaN/inf prediction stays
    in ``pred`` and its joint stays ``visible``: the metrics count it as a miss (never as "not annotated").
    ``flip``: flip test (codecs with ``flip_test``); ``official``: official weights (decoded as the model card's
    ``integer_centred`` says); ``model_skeleton``: the model's layout when it is not the data's ``skel``
    (predictions are converted by joint name; joints the model lacks are not ``visible``)."""
    mskel = model_skeleton if model_skeleton is not None else skel
    integer = official and model_card(lecture.model).integer_centred
    # joints of the data's layout the model does not predict (converted by name: NaN there) are left out
    _, has = convert_keypoints(np.zeros((mskel.num_joints, 2)), np.ones(mskel.num_joints), mskel, skel)
    preds, scores, metas = [], [], []
    for batch in DataLoader(crops, chunk, collate_fn=data.collate):
        coords, s = (predict_flip(model, batch["image"], lecture.codec, mskel, shift=int(integer)) if flip else
                     lecture.codec.decode(predict(model, batch["image"]))).single()
        if integer:  # course decode: (j + 0.5) s - 0.5; the official convention: j s
            coords = coords - (lecture.codec.stride / 2 - 0.5)
        if mskel.name == skel.name:
            preds.append(batch_to_original(coords, batch))
        else:  # evaluation crops are not flipped: the affine alone takes them back
            back = to_original(coords, _stacked(batch["meta"], "affine"))
            xy, s = convert_keypoints(back.numpy(), s.numpy(), mskel, skel)
            preds.append(torch.as_tensor(xy, dtype=torch.float32))
            s = torch.as_tensor(np.nan_to_num(s), dtype=torch.float32)
        scores.append(s)
        metas.extend(batch["meta"])
    return {"pred": torch.cat(preds), "score": torch.cat(scores), "gt": _stacked(metas, "original_keypoints"),
            "visible": (_stacked(metas, "original_visibility") > 0) & torch.as_tensor(has > 0), "meta": metas,
            "integer_centred": integer}


def _stacked(metas: list, key: str) -> torch.Tensor:
    """The entry ``key`` of every sample's meta dict, stacked (``(N, ...)``)."""
    return torch.stack([torch.as_tensor(m[key]) for m in metas])


def evaluate_crops(model, lecture, crops, skel, flip: bool = False, official: bool = False, chunk: int = 32,
                   model_skeleton=None) -> dict:
    """:func:`score_crops` of :func:`predict_crops`."""
    out = predict_crops(model, lecture, crops, skel, flip, official, chunk, model_skeleton)
    return score_crops(out, lecture, crops, skel)


def score_crops(out: dict, lecture, crops, skel) -> dict:
    """The metric of :func:`predict_crops`'s predictions ``out`` against the annotations (see the module note); adds
    ``oks_ap_gt_boxes`` for COCO files."""
    pred, score, gt, v = out["pred"], out["score"], out["gt"], out["visible"]
    metric = _metric(lecture, skel)
    if metric is not None:
        res = metric(Poses.one_each(pred, score), {"keypoints": gt[:, None], "visibility": v[:, None]})
    else:
        res = _result("PCK@0.2 (joint extent)", metrics.pck(pred, gt, v, norm="bbox", alpha=0.2))
    res["crops"] = len(crops)
    if out["integer_centred"]:
        res["conventions"] = "integer-centred heatmaps (HRNet code): flip shift 1 px, heatmap px j = crop px j * stride"
    if (file := oks_file(crops, skel)) is not None:
        far = torch.nan_to_num(pred, nan=-1e6, posinf=-1e6, neginf=-1e6)  # a NaN joint: far off, a miss
        dt = coco_detections(Poses.one_each(far, score), skel, [m["image_id"] for m in out["meta"]])
        res["oks_ap_gt_boxes"] = oks_scores(file, dt)
    return res


def oks_file(crops, skel=None) -> Path | None:
    """The annotation file COCO's OKS AP scores the people of ``crops`` against: whole photos' (bottom-up: the
    metric), else a COCO loader's (not CrowdPose's) when its joints ``skel`` are COCO-17 (``oks_ap_gt_boxes``);
    None: not scored with OKS AP. The command checks it can be scored (:func:`oks_scores` ``(file, [])``) before
    training."""
    source = getattr(crops, "source", None)
    if getattr(crops, "whole", False) or (skel.name == "coco17" and getattr(source, "source", "coco") == "coco"
                                          and hasattr(source, "ann_file")):
        return Path(source.ann_file)
    return None


def oks_scores(file: Path, dt: list, how=metrics.coco_keypoint_eval) -> dict:
    """``how`` (:func:`~posecourse.metrics.coco_keypoint_eval`, or :func:`~posecourse.evaluation.oks_ap`) of the
    detections ``dt`` against the annotations of ``file``; a ``ValueError`` names the file (``dt=[]``: checks that
    the file can be scored: pycocotools reads every annotation's ``area``, ``category_id``, ``num_keypoints``)."""
    try:
        return how(str(file), dt)
    except ValueError as e:
        raise ValueError(f"{file}: COCO's OKS AP cannot score this file: {e}") from None


def evaluate_images(model, lecture, photos, collate_fn, chunk: int = 16) -> dict:
    """COCO's OKS AP of a bottom-up model on :class:`~posecourse.data.topdown.WholeImages` of a COCO file:
    the people its codec assembles, mapped back to the photo's pixels and converted to COCO-17, against
    the file's annotations (``stats``: AP, AP50, ..., as pycocotools)."""
    dt = []
    for batch in DataLoader(photos, chunk, collate_fn=collate_fn):
        kp, s = lecture.codec.decode(predict(model, batch["image"]))  # crop px -> the photo's, image by image
        back = to_original(kp.flatten(1, 2), _stacked(batch["meta"], "affine")).view(kp.shape)
        dt += coco_detections(Poses(back, s), lecture.skeleton, [m["image_id"] for m in batch["meta"]])
    return {**oks_scores(oks_file(photos), dt, oks_ap), "images": len(photos), "people_found": len(dt)}


def annotate_checkpoint(path: Path, info: dict) -> None:
    """Add the run's settings and result (``"run"``) to a :func:`posecourse.train.train` checkpoint, kept
    readable with ``weights_only=True``; written atomically."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    state["run"] = to_plain({k: v for k, v in info.items() if k != "loss_curve"}, "run")
    tmp = Path(str(path) + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
