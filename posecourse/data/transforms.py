"""Sample-level transforms: crop to the person box, random affine, flip with left/right swap, resize.

Each transform maps a sample dict (see :mod:`posecourse.data`) to a new one, so real and
synthetic samples go through the same code. Geometry comes from :mod:`posecourse.geometry`
(pixel centres at integer coordinates). Every geometric step is one affine ``M``: the image
is resampled, keypoints and boxes are mapped with ``M``, keypoints that leave the image get
visibility 0, and ``meta["affine"]`` (a ``(2, 3)`` tensor) accumulates the map from the
original image's pixels to the current ones, so predictions can be taken back with
:func:`posecourse.geometry.invert_affine`. A flip also swaps the left/right labels, so label ``k`` then
sits on the mirror image of another physical joint: ``meta["source_joints"]`` (a ``(K,)`` long tensor,
accumulated like the affine) says which original joint's point label ``k`` marks, and a prediction
``p`` of label ``k`` is original joint ``source_joints[k]`` at ``invert_affine(affine) p``
(:func:`posecourse.data.topdown.to_original` does both).

Random transforms draw from the ``generator`` passed to ``__call__`` (a ``torch.Generator``);
:class:`TransformedDataset` seeds one per index, so augmented sample ``i`` is reproducible.
"""
from __future__ import annotations

import torch
from torch.utils.data import Dataset

from ..geometry import (compose, crop_affine, expand_boxes, flip_images, flip_keypoints, flip_matrix, inside_image,
                        random_affine, warp_boxes, warp_images, warp_points)
from ..skeletons import Skeleton, get_skeleton

__all__ = ["layout", "apply_affine", "Compose", "CropToBox", "RandomAffine", "RandomFlip", "Resize",
           "TransformedDataset"]


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


class Compose:
    """Apply transforms in order, passing the same ``generator`` to each."""

    def __init__(self, *transforms):
        if len(transforms) == 1 and isinstance(transforms[0], (list, tuple)):
            transforms = tuple(transforms[0])
        for t in transforms:
            if not callable(t):
                raise ValueError(f"transforms: {t!r} is not callable")
        self.transforms = transforms

    def __call__(self, sample: dict, generator: torch.Generator | None = None) -> dict:
        for t in self.transforms:
            sample = t(sample, generator)
        return sample

    def __repr__(self) -> str:
        return "Compose(" + ", ".join(map(repr, self.transforms)) + ")"


class CropToBox:
    """DeepPose's crop ``N(x; b)``: the person box, grown by ``padding`` and widened to the output's
    aspect ratio, rendered at ``out_size``. ``person``: which box (index), or ``"all"`` for the box
    enclosing every person."""

    def __init__(self, out_size, padding: float = 1.25, person: int | str = 0):
        if not padding > 0:
            raise ValueError(f"padding: expected a factor > 0, got {padding!r}")
        if not (person == "all" or isinstance(person, int)):
            raise ValueError(f"person: expected an index or 'all', got {person!r}")
        self.out_size = (out_size, out_size) if isinstance(out_size, int) else tuple(out_size)
        self.padding, self.person = padding, person

    def box(self, sample: dict) -> torch.Tensor:
        """The ``(4,)`` crop box (after padding and aspect correction) in the sample's pixels."""
        boxes = torch.as_tensor(sample["boxes"], dtype=torch.float32)
        if boxes.shape[0] == 0:
            raise ValueError("sample: has no person box to crop to")
        if self.person == "all":
            lo, hi = boxes[:, :2].amin(0), (boxes[:, :2] + boxes[:, 2:]).amax(0)
            b = torch.cat([lo, hi - lo])
        else:
            if not -boxes.shape[0] <= self.person < boxes.shape[0]:
                raise ValueError(f"person: index {self.person} but the sample has {boxes.shape[0]} boxes")
            b = boxes[self.person]
        H, W = self.out_size
        return expand_boxes(b, self.padding, aspect=W / H)

    def __call__(self, sample: dict, generator: torch.Generator | None = None) -> dict:
        return apply_affine(sample, crop_affine(self.box(sample), self.out_size), self.out_size)

    def __repr__(self) -> str:
        return f"CropToBox(out_size={self.out_size}, padding={self.padding}, person={self.person!r})"


class RandomAffine:
    """Random scale / rotation / translation about the image centre (:func:`posecourse.geometry.random_affine`),
    applied with probability ``p``; the image keeps its size."""

    def __init__(self, scale_range=(0.75, 1.25), rot_deg: float = 30.0, translate: float = 0.0, p: float = 1.0):
        if not 0 <= p <= 1:
            raise ValueError(f"p: expected a probability in [0, 1], got {p!r}")
        random_affine(0, 8, scale_range, rot_deg, translate)  # validates the ranges
        self.scale_range, self.rot_deg, self.translate, self.p = tuple(scale_range), rot_deg, translate, p

    def __call__(self, sample: dict, generator: torch.Generator | None = None) -> dict:
        size = _image_size(sample)
        if float(torch.rand((), generator=generator)) >= self.p:
            return sample
        M = random_affine(1, size, self.scale_range, self.rot_deg, self.translate, generator=generator)[0]
        return apply_affine(sample, M, size)

    def __repr__(self) -> str:
        return f"RandomAffine(scale_range={self.scale_range}, rot_deg={self.rot_deg}, translate={self.translate}, p={self.p})"


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


class Resize:
    """Resize the whole image to ``out_size`` (int or ``(H, W)``); the image edges map onto the new edges."""

    def __init__(self, out_size):
        self.out_size = (out_size, out_size) if isinstance(out_size, int) else tuple(out_size)

    def __call__(self, sample: dict, generator: torch.Generator | None = None) -> dict:
        H, W = _image_size(sample)
        M = crop_affine(torch.tensor([-0.5, -0.5, W, H]), self.out_size)
        return apply_affine(sample, M, self.out_size)

    def __repr__(self) -> str:
        return f"Resize(out_size={self.out_size})"


class TransformedDataset(Dataset):
    """``dataset[i]`` passed through ``transform`` with a generator seeded from ``(seed, i)``: reproducible
    augmentation regardless of worker or order."""

    def __init__(self, dataset, transform, seed: int = 0):
        if not callable(transform):
            raise ValueError(f"transform: expected a callable, got {transform!r}")
        self.dataset, self.transform, self.seed = dataset, transform, int(seed)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        g = torch.Generator().manual_seed((self.seed * 1_000_003 + int(index)) % 2**63)
        return self.transform(self.dataset[index], g)
