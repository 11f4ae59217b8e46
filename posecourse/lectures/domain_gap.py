"""The domain gap between the course's synthetic people and photos, measured: what ``lectures/extra/domain_gap.ipynb``
shows. The shipped models learned from drawn figures whose left limbs are warm-coloured and right limbs cool
(:mod:`posecourse.data.synthetic`), in the MPII-16 layout, at 64 x 64. This module scores such a model on real person
crops (:class:`~posecourse.data.topdown.TopDown`, scored in the photo's pixels by :mod:`posecourse.evaluation.real`),
checks how much its left/right labels rely on the colour cue, and fine-tunes it on the crops
(:func:`posecourse.train.run.run`)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..evaluation import PCK, predict
from ..train.fit import make_data
from ..metrics import pck
from ..metrics.pck import _accuracy, _distance, normalizer
from ..evaluation.real import predict_crops, score_crops
from ..train.run import RealSource, RunConfig, run
from ..skeletons import get_skeleton

__all__ = ["RealCrops", "open_crops", "per_crop_pck", "sides_check", "score", "colour_cue", "finetune"]


@dataclass
class RealCrops:
    """Un-augmented person crops of one dataset folder: ``crops`` (a TopDown dataset), ``skel`` (the data's
    layout) and ``model_skel`` (the layout the model predicts when it differs, else None)."""

    fmt: str
    root: Path
    crops: object
    skel: object
    model_skel: object = None


def open_crops(fmt: str, root, lecture) -> RealCrops:
    """The held-out person crops of ``root`` (a ``fmt`` folder, :class:`~posecourse.train.run.RealSource`) at
    the lecture's input size, for a model in the lecture's layout (COCO-17 data, MPII-16 model: joints are
    converted by name)."""
    src = RealSource(fmt, root, lecture, (lecture.data.image_size,) * 2)
    model_skel = None if src.skeleton.name == lecture.skeleton else get_skeleton(lecture.skeleton)
    return RealCrops(fmt, Path(root), src.held_out, src.skeleton, model_skel)


def per_crop_pck(pred, gt, visible, skeleton, alpha: float = 0.2) -> np.ndarray:
    """PCK@``alpha`` of the torso of each person: the fraction of its visible joints within ``alpha`` x its
    left-shoulder - right-hip distance. ``pred, gt (N, K, 2)``, ``visible (N, K)`` -> ``(N,)``, NaN for a
    person without a visible torso or joint."""
    pred, gt = np.asarray(pred, float), np.asarray(gt, float)
    vis = np.asarray(visible) > 0
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[-1] != 2 or vis.shape != pred.shape[:2]:
        raise ValueError(f"pred, gt: expected (N, K, 2) and visible (N, K); got {pred.shape}, {gt.shape}, {vis.shape}")
    size, valid = normalizer("torso", gt, vis, skeleton)
    hit, n, _ = _accuracy((_distance(pred, gt) <= alpha * size[:, None]).T, vis.T, (), alpha)  # per person (N,)
    return np.where(valid & (n > 0), hit, np.nan)


def sides_check(pred, gt, visible, skeleton, alpha: float = 0.2) -> dict:
    """Whether the predicted left/right labels match the person's: PCK@``alpha`` (torso) of ``pred`` as labelled and
    with every left joint renamed right and vice versa (``Skeleton.flip_index``). A model that knows sides scores far
    higher as labelled; one that ignores them, about the same either way. ``pred, gt (N, K, 2)``, ``visible (N, K)``."""
    sk = get_skeleton(skeleton)
    exchanged = np.asarray(pred, float)[:, sk.flip_index]
    return {"as_labelled": float(pck(pred, gt, visible, "torso", alpha, skeleton=sk).mean),
            "sides_exchanged": float(pck(exchanged, gt, visible, "torso", alpha, skeleton=sk).mean)}


def score(model, lecture, real: RealCrops, alpha: float = 0.2) -> dict:
    """``model`` on the crops, scored in the photo's pixels (no flip test): ``pck`` (the lecture's PCK@0.2 of the torso,
    :func:`posecourse.evaluation.real.score_crops`), ``oks_ap`` (COCO files: OKS AP on the annotated boxes, else None),
    ``per_crop`` ``(N,)``, ``sides`` (:func:`sides_check`) and the predictions (``pred``, ``gt`` ``(N, K, 2)``,
    ``visible`` ``(N, K)``, ``meta``) for overlays."""
    lec = lecture.replace(metric=PCK(alpha, real.skel.name))
    out = predict_crops(model.eval(), lec, real.crops, real.skel, model_skeleton=real.model_skel)
    res = score_crops(out, lec, real.crops, real.skel)
    pred, gt, vis = out["pred"].numpy(), out["gt"].numpy(), out["visible"].numpy()
    oks = res.get("oks_ap_gt_boxes")
    return {"pck": res["value"], "oks_ap": None if oks is None else max(float(oks["AP"]), 0.0), "crops": res["crops"],
            "per_crop": per_crop_pck(pred, gt, vis, real.skel, alpha), "sides": sides_check(pred, gt, vis, real.skel, alpha),
            "pred": pred, "gt": gt, "visible": vis, "meta": out["meta"]}


def colour_cue(model, lecture, n: int = 64) -> dict:
    """The colour cue's weight: the model on ``n`` held-out synthetic images as drawn and with the red and blue
    channels exchanged (warm left limbs turn cool and cool right limbs warm; poses unchanged), each with
    :func:`sides_check` (PCK@0.2 of the torso as labelled / sides exchanged). Returns ``{"drawn": {...},
    "red_blue_exchanged": {...}, "images": (n, 3, H, W) as drawn}``."""
    held = make_data(lecture, n_val=n).val
    gt, vis = held["keypoints"][:, 0], held["visibility"][:, 0] > 0
    out = {"images": held["image"]}
    for name, images in (("drawn", held["image"]), ("red_blue_exchanged", held["image"][:, [2, 1, 0]])):
        coords, _ = lecture.codec.decode(predict(model.eval(), images)).single()
        out[name] = sides_check(coords.numpy(), gt.numpy(), vis.numpy(), lecture.skeleton)
    return out


def finetune(lecture, real: RealCrops, steps: int, out=None, *, init=None, batch_size: int | None = None,
             device=None, seed: int = 0, lr: float | None = None):
    """Train ``lecture``'s model on the crops' folder for ``steps`` steps of ``batch_size`` (default: every crop) with
    :func:`posecourse.train.run.run` (augmented crops, flips that swap sides), from ``init`` (a checkpoint path:
    fine-tuning) or from scratch. ``out``: a new folder for its checkpoint and metrics, or None (nothing written).
    Returns ``(model in eval mode on device, the run's info: what metrics.json holds)``."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps: expected a positive int (optimizer steps), got {steps!r}")
    result = run(RunConfig(lecture.name, data=real.fmt, data_root=real.root, out=out, steps=steps,
                           batch_size=batch_size or len(real.crops), seed=seed, device=device, progress=False,
                           model_skeleton=real.model_skel and real.model_skel.name, init=init, lr=lr))
    return result.model, result.info
