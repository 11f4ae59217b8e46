"""Sample-level geometry: any affine (a crop, an augmentation, a resize) and a flip with left/right swap.

Each maps a sample dict (:mod:`posecourse.data`) to a new one, so real and synthetic samples share the code
(:class:`~posecourse.data.topdown.TopDown` builds its crops with it); pixel centres sit at integer coordinates
(:mod:`posecourse.geometry`). A step is one affine ``M``: the image is resampled, keypoints and boxes are mapped,
keypoints that leave the image get visibility 0, and ``meta["affine"]`` (``(2, 3)``) accumulates the map from the
original pixels to the current ones. A flip also swaps the left/right labels, so ``meta["source_joints"]`` (``(K,)``
long, accumulated alike) says which original joint label ``k`` marks: a prediction ``p`` of label ``k`` is original
joint ``source_joints[k]`` at ``invert_affine(affine) p`` (:func:`~posecourse.data.topdown.to_original` does both).
:class:`RandomFlip` draws from the ``torch.Generator`` passed to ``__call__``."""
from __future__ import annotations

import torch

from ..geometry import (compose, flip_images, flip_keypoints, flip_matrix, inside_image, warp_boxes, warp_images,
                        warp_points)
from ..skeletons import Skeleton, get_skeleton

__all__ = ["layout", "apply_affine", "RandomFlip"]


def _image_size(sample: dict) -> tuple[int, int]:
    img = sample.get("image")
    if not isinstance(img, torch.Tensor) or img.dim() != 3:
        raise ValueError("sample: expected 'image' to be a (3, H, W) tensor")
    return int(img.shape[-2]), int(img.shape[-1])


def layout(skeleton: str, joint_names=None) -> Skeleton:
    """The :class:`~posecourse.skeletons.Skeleton` of a sample: a registered name, or (``"raw"``, as
    CrowdPose's 14 joints) a layout built from ``meta["joint_names"]``, whose ``left_*``/``right_*``
    names give the flip pairs. ``ValueError`` if neither is available."""
    try:
        return get_skeleton(skeleton)
    except ValueError:
        if not joint_names:
            raise ValueError(f"skeleton {skeleton!r} is not a registered layout and the sample names no joints "
                             "(meta['joint_names']), so left and right are unknown") from None
        return Skeleton(name=str(skeleton), joints=tuple(joint_names), limbs=())


def _boxes_and_meta(sample: dict, M: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """``sample``'s boxes ``(P, 4)`` mapped by ``M`` (the enclosing box of the mapped corners) and a copy of its
    ``meta`` with ``M`` composed into ``meta["affine"]``."""
    boxes = torch.as_tensor(sample["boxes"], dtype=torch.float32)
    meta = dict(sample.get("meta", {}))
    meta["affine"] = M.clone() if meta.get("affine") is None else compose(M, meta["affine"])
    return (warp_boxes(boxes, M.expand(len(boxes), 2, 3)) if len(boxes) else boxes.clone()), meta


def apply_affine(sample: dict, M, out_size) -> dict:
    """A new sample: ``sample`` warped by the ``(2, 3)`` input-to-output pixel affine ``M`` into an ``out_size``
    image, keypoints ``(P, K, 2)`` and boxes ``(P, 4)`` mapped; a keypoint landing outside gets visibility 0."""
    M = torch.as_tensor(M, dtype=torch.float32)
    if M.shape != (2, 3):
        raise ValueError(f"M: expected one (2, 3) affine, got {tuple(M.shape)}")
    img = sample["image"]
    _image_size(sample)
    out = dict(sample)
    out["image"] = warp_images(img[None].float(), M[None].to(img.device), out_size)[0]
    kp = torch.as_tensor(sample["keypoints"], dtype=torch.float32)
    out["keypoints"] = warp_points(kp, M.to(kp.device).expand(len(kp), 2, 3)) if len(kp) else kp.clone()
    vis = torch.as_tensor(sample["visibility"], dtype=torch.float32)
    out["visibility"] = torch.where(inside_image(out["keypoints"], tuple(out["image"].shape[-2:])), vis,
                                    torch.zeros_like(vis))
    out["boxes"], out["meta"] = _boxes_and_meta(sample, M)
    return out


class RandomFlip:
    """Horizontal mirror with probability ``p``: image columns reversed, ``x' = W - 1 - x``, left/right joints
    swapped (``Skeleton.flip_index``; an unregistered layout by its ``meta["joint_names"]``, see :func:`layout`)
    so that labels keep naming the person's own side. Synthetic samples carry a left/right colour cue that a
    mirror puts on the wrong side, so they are refused (``ValueError``) unless ``allow_synthetic=True``."""

    def __init__(self, p: float = 0.5, allow_synthetic: bool = False):
        if not 0 <= p <= 1:
            raise ValueError(f"p: expected a probability in [0, 1], got {p!r}")
        self.p, self.allow_synthetic = p, allow_synthetic

    def __call__(self, sample: dict, generator: torch.Generator | None = None) -> dict:
        H, W = _image_size(sample)
        if sample.get("meta", {}).get("source") == "synthetic" and not self.allow_synthetic:
            raise ValueError("sample: synthetic figures mark left/right by colour; flipping with the label swap "
                             "would teach the wrong side (pass allow_synthetic=True to do it anyway)")
        if float(torch.rand((), generator=generator)) >= self.p:
            return sample
        out = dict(sample)
        out["image"] = flip_images(sample["image"])
        skel = layout(sample["skeleton"], sample.get("meta", {}).get("joint_names"))
        out["keypoints"], out["visibility"] = flip_keypoints(sample["keypoints"], sample["visibility"], W, skel)
        out["boxes"], meta = _boxes_and_meta(sample, flip_matrix(W))
        perm = torch.as_tensor(skel.flip_index, dtype=torch.long)
        prev = meta.get("source_joints")
        meta["source_joints"] = perm if prev is None else torch.as_tensor(prev, dtype=torch.long)[perm]
        out["meta"] = meta
        return out

    def __repr__(self) -> str:
        return f"RandomFlip(p={self.p}, allow_synthetic={self.allow_synthetic})"
