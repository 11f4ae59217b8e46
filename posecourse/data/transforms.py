"""Sample-level geometry: any affine (a crop, an augmentation, a resize) and a flip with left/right swap.

Each maps a sample dict (see :mod:`posecourse.data`) to a new one, so real and synthetic samples go
through the same code (:class:`posecourse.data.topdown.TopDown` builds its crops with them). Geometry comes from :mod:`posecourse.geometry`
(pixel centres at integer coordinates). Every geometric step is one affine ``M``: the image
is resampled, keypoints and boxes are mapped with ``M``, keypoints that leave the image get
visibility 0, and ``meta["affine"]`` (a ``(2, 3)`` tensor) accumulates the map from the
original image's pixels to the current ones, so predictions can be taken back with
:func:`posecourse.geometry.invert_affine`. A flip also swaps the left/right labels, so label ``k`` then
sits on the mirror image of another physical joint: ``meta["source_joints"]`` (a ``(K,)`` long tensor,
accumulated like the affine) says which original joint's point label ``k`` marks, and a prediction
``p`` of label ``k`` is original joint ``source_joints[k]`` at ``invert_affine(affine) p``
(:func:`posecourse.data.topdown.to_original` does both).

:class:`RandomFlip` draws from the ``generator`` passed to ``__call__`` (a ``torch.Generator``).
"""
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


def _with_affine(sample: dict, M: torch.Tensor) -> dict:
    meta = dict(sample.get("meta", {}))
    prev = meta.get("affine")
    meta["affine"] = M.clone() if prev is None else compose(M, prev)
    return meta


def apply_affine(sample: dict, M, out_size) -> dict:
    """Warp a sample by the ``(2, 3)`` input-to-output pixel affine ``M`` into an ``out_size`` image.

    Keypoints ``(P, K, 2)`` and boxes ``(P, 4)`` are mapped (boxes: the enclosing box of the mapped
    corners); a keypoint landing outside the output gets visibility 0. Returns a new dict.
    """
    M = torch.as_tensor(M, dtype=torch.float32)
    if M.shape != (2, 3):
        raise ValueError(f"M: expected one (2, 3) affine, got {tuple(M.shape)}")
    img = sample["image"]
    _image_size(sample)
    out = dict(sample)
    out["image"] = warp_images(img[None].float(), M[None].to(img.device), out_size)[0]
    kp = torch.as_tensor(sample["keypoints"], dtype=torch.float32)
    P = kp.shape[0]
    out["keypoints"] = warp_points(kp, M.to(kp.device).expand(P, 2, 3)) if P else kp.clone()
    vis = torch.as_tensor(sample["visibility"], dtype=torch.float32)
    out["visibility"] = torch.where(inside_image(out["keypoints"], tuple(out["image"].shape[-2:])), vis,
                                    torch.zeros_like(vis))
    boxes = torch.as_tensor(sample["boxes"], dtype=torch.float32)
    out["boxes"] = warp_boxes(boxes, M.expand(P, 2, 3)) if P else boxes.clone()
    out["meta"] = _with_affine(sample, M)
    return out


class RandomFlip:
    """Horizontal mirror with probability ``p``: image columns reversed, ``x' = W - 1 - x``, left/right joints
    swapped (``Skeleton.flip_index``; an unregistered layout by its ``meta["joint_names"]``, see :func:`layout`)
    so that labels keep naming the person's own side.

    Synthetic samples carry a left/right colour cue that a mirror puts on the wrong side, so they are
    refused (``ValueError``) unless ``allow_synthetic=True``.
    """

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
        M = flip_matrix(W)
        boxes = torch.as_tensor(sample["boxes"], dtype=torch.float32)
        out["boxes"] = warp_boxes(boxes, M.expand(boxes.shape[0], 2, 3)) if boxes.shape[0] else boxes.clone()
        meta = _with_affine(sample, M)
        perm = torch.as_tensor(skel.flip_index, dtype=torch.long)
        prev = meta.get("source_joints")
        meta["source_joints"] = perm if prev is None else torch.as_tensor(prev, dtype=torch.long)[perm]
        out["meta"] = meta
        return out

    def __repr__(self) -> str:
        return f"RandomFlip(p={self.p}, allow_synthetic={self.allow_synthetic})"
