"""Top-down person crops from any real format: one sample per person box, at a fixed input size.

The pipeline of the top-down papers (Hourglass, HRNet) on the course's geometry:

1. the person box is grown by ``padding`` (1.25) and widened to the input's aspect ratio;
2. training only: a random similarity about the crop centre (scale ``U(scale_range)``; rotation
   ``U(-rot_deg, rot_deg)`` with probability ``rot_p``, as HRNet's 0.6), composed with the crop so
   the image is resampled **once** from the original (no black corners where the photo has pixels);
3. training only: a horizontal flip with probability ``flip_p`` that swaps left/right joints
   (``Skeleton.flip_index``), so ``left_wrist`` still names the person's own left wrist.

A sample is the dict of :mod:`posecourse.data` with ``P = 1``: ``image (3, H, W)``, ``keypoints (1, K, 2)`` in crop
pixels, ``visibility (1, K)`` (0 where a joint left the crop), ``boxes (1, 4)`` (the person box in crop pixels),
``skeleton``; ``meta`` keeps the source's entries and adds ``affine`` (``(2, 3)``: original pixels -> crop pixels,
flip included), ``crop_box`` ``(4,)`` (the padded box in original pixels), ``flipped``, ``source_index`` and
``person``, ``original_keypoints (K, 2)`` / ``original_visibility (K,)`` (the annotation, for scoring in the
photo's pixels) and ``source_joints (K,)`` (which original joint label ``k`` marks: a flip swaps them, see
:mod:`posecourse.data.transforms`). :func:`to_original` maps predictions back to the photo and its joint order.

:func:`open_source` builds the per-person loader of a format from a dataset folder, so a command
can say ``--data coco --data-root PATH``.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path

import torch
from torch.utils.data import Dataset

from ..geometry import compose, crop_affine, expand_boxes, invert_affine, random_affine, warp_points
from ..params import as_float, as_int, as_pair, as_seed
from ._io import check_index
from .coco import CocoKeypoints
from .crowdpose import CrowdPoseKeypoints
from .flic import FlicExamples
from .lsp import LspJoints
from .mpii import MpiiJson, MpiiMat
from .transforms import RandomFlip, apply_affine, layout

__all__ = ["TopDown", "WholeImages", "to_original", "batch_to_original", "open_source", "skeleton_of", "source_layout",
           "source_file", "FORMATS"]


class TopDown(Dataset):
    """Person crops of ``source`` (a dataset of :mod:`posecourse.data` samples), one per (sample, person) pair.
    Per-person loaders (``P = 1``, e.g. ``CocoKeypoints(per_person=True)``) are the fast case; ``people_per_sample``
    ``(N,)``, the people count of each source sample, covers several. ``input_size``: int or ``(H, W)`` of the crops
    (HRNet: ``(256, 192)``; Hourglass: 256); ``padding``: box growth factor before the aspect correction; ``augment``:
    draw the random scale/rotation/flip (training) or not (evaluation: crop only); ``scale_range``, ``rot_deg``,
    ``rot_p``, ``flip_p``: the augmentation, drawn uniformly (HRNet's COCO code: scale ``N(1, 0.35)`` clipped to
    1 +- 0.35; rotation with probability 0.6, ``N(0, 45 deg)`` within +-90; flip 0.5); ``seed``: augmentation of item
    ``i`` draws from a generator seeded with ``(seed, i, epoch)`` (:meth:`set_epoch` changes it per epoch), so every
    worker and every rank agrees."""

    whole = False  #: crop the person box (False) or fit the whole photo with everyone in it (WholeImages)

    def __init__(self, source, input_size=(256, 192), *, padding: float = 1.25, augment: bool = False,
                 scale_range=(0.65, 1.35), rot_deg: float = 45.0, rot_p: float = 0.6, flip_p: float = 0.5,
                 seed: int = 0, people_per_sample=None):
        self.source = source
        self.input_size = as_pair("input_size", input_size, lambda n, v: as_int(n, v, 1, exact=True))  # (H, W)
        self.padding = as_float("padding", padding, exact=True)
        if not self.padding > 0:
            raise ValueError(f"padding: expected a finite factor > 0, got {padding!r}")
        rot_p, flip_p = (as_float(n, p, 0.0, 1.0, exact=True) for n, p in (("rot_p", rot_p), ("flip_p", flip_p)))
        random_affine(0, self.input_size, scale_range, rot_deg)  # validates the ranges
        self.augment = bool(augment)
        self.scale_range, self.rot_deg, self.rot_p, self.flip_p = tuple(scale_range), float(rot_deg), rot_p, flip_p
        self.seed, self.epoch = as_seed("seed", seed), 0
        self._flip = RandomFlip(p=flip_p)
        if self.augment and flip_p > 0:
            try:
                source_layout(source)
            except ValueError as e:
                raise ValueError(f"{e}: a flip cannot swap left/right joints (or pass flip_p=0)") from None
        counts = [1] * len(source) if people_per_sample is None else [int(c) for c in people_per_sample]
        if len(counts) != len(source):
            raise ValueError(f"people_per_sample: {len(counts)} counts for {len(source)} source samples")
        self._items = [(i, p) for i, c in enumerate(counts) for p in range(c)]  # (source sample, person)

    def __len__(self) -> int:
        return len(self._items)

    def set_epoch(self, epoch: int) -> None:
        """New augmentation draws for every item from this epoch on."""
        self.epoch = int(epoch)

    def crop_matrix(self, box, generator: torch.Generator | None = None) -> torch.Tensor:
        """The ``(2, 3)`` original -> crop affine for a person ``box (4,)``: padded crop, then (if
        ``augment``) the random scale/rotation about the crop centre. Flips are applied afterwards."""
        H, W = self.input_size
        crop_box = expand_boxes(torch.as_tensor(box, dtype=torch.float32), self.padding, aspect=W / H)
        M = crop_affine(crop_box, (H, W))
        if self.augment:
            rotate = float(torch.rand((), generator=generator)) < self.rot_p
            A = random_affine(1, (H, W), self.scale_range, self.rot_deg if rotate else 0.0, generator=generator)[0]
            M = compose(A, M)
        return M

    def __getitem__(self, index: int) -> dict:
        index = check_index(index, len(self))
        src_i, person = self._items[index]
        sample = self.source[src_i]
        P = int(sample["keypoints"].shape[0])
        if not person < P:
            raise ValueError(f"source sample {src_i}: has {P} people, the index expects person {person}")
        if self.whole:
            _, h, w = sample["image"].shape
            one, box = sample, torch.tensor([-0.5, -0.5, float(w), float(h)])  # the whole photo (pixel edges)
        else:
            one = {**sample, **{k: sample[k][person:person + 1] for k in ("keypoints", "visibility", "boxes")}}
            box = one["boxes"][0]
        if not (torch.isfinite(box).all() and box[2] > 0 and box[3] > 0):
            meta = sample.get("meta", {})  # the loader's "where" names the file and the record
            where = meta.get("where") or meta.get("file_name", f"source sample {src_i}")
            raise ValueError(f"{where}: person {person} has no usable box {box.tolist()} (w, h must be > 0)")
        g = torch.Generator().manual_seed((self.seed * 1_000_003 + index) * 1_009 + self.epoch)
        out = cropped = apply_affine(one, self.crop_matrix(box, g), self.input_size)
        if self.augment and self.flip_p > 0:
            out = self._flip(out, g)  # RandomFlip returns its input unchanged when it does not flip
        H, W = self.input_size
        meta = dict(out["meta"])
        meta.setdefault("source_joints", torch.arange(out["keypoints"].shape[1]))
        meta.update(index=index, source_index=src_i, person=person, flipped=out is not cropped,
                    crop_box=expand_boxes(box, self.padding, aspect=W / H),
                    original_keypoints=(one["keypoints"] if self.whole else one["keypoints"][0]).clone(),
                    original_visibility=(one["visibility"] if self.whole else one["visibility"][0]).clone())
        out["meta"] = meta
        return out

    def __repr__(self) -> str:
        return (f"TopDown({len(self)} crops of {type(self.source).__name__}, input_size={self.input_size}, "
                f"augment={self.augment})")


class WholeImages(TopDown):
    """Bottom-up samples (OpenPose): the whole photo with every annotated person, fitted into ``input_size``
    (letterboxed: the photo widened to the input's aspect ratio, ``padding`` 1.0) with the same random
    scale/rotation/flip as :class:`TopDown`. ``source`` yields one sample per image (``P`` people);
    ``meta["original_keypoints"]`` is ``(P, K, 2)``. People without labelled joints are not in the
    sample, so a model sees them as background (OpenPose masks them out of the loss instead)."""

    whole = True

    def __init__(self, source, input_size=(368, 368), *, padding: float = 1.0, **kwargs):
        if kwargs.get("people_per_sample") is not None:
            raise ValueError("people_per_sample: WholeImages takes every person of a sample at once")
        super().__init__(source, input_size, padding=padding, **kwargs)

    def __repr__(self) -> str:
        return f"WholeImages({len(self)} photos of {type(self.source).__name__}, input_size={self.input_size})"


def to_original(coords, affines, source_joints=None) -> torch.Tensor:
    """Crop-pixel predictions ``coords (B, K, 2)`` (joint ``k`` = the crop's label ``k``) back to the photo:
    ``(B, K, 2)`` original pixels in the original joint order. ``affines (B, 2, 3)``: the samples'
    ``meta["affine"]`` stacked; ``source_joints (B, K)`` long: their ``meta["source_joints"]`` (``None``: no
    flips). A flipped crop's label ``k`` marks the mirror image of original joint ``source_joints[k]`` (its left
    wrist is the photo's right wrist), so the labels are put back in place too."""
    A, c = torch.as_tensor(affines, dtype=torch.float32), torch.as_tensor(coords, dtype=torch.float32)
    if A.dim() != 3 or A.shape[1:] != (2, 3) or c.dim() != 3 or c.shape[0] != A.shape[0] or c.shape[-1] != 2:
        raise ValueError(f"to_original: expected coords (B, K, 2) and affines (B, 2, 3), got {tuple(c.shape)} "
                         f"and {tuple(A.shape)}")
    back = warp_points(c, invert_affine(A).to(c))
    if source_joints is None:
        return back
    src = torch.as_tensor(source_joints, dtype=torch.long, device=back.device)
    if src.shape != back.shape[:2]:
        raise ValueError(f"source_joints: expected shape {tuple(back.shape[:2])}, got {tuple(src.shape)}")
    return torch.empty_like(back).scatter_(1, src[..., None].expand_as(back), back)


def batch_to_original(coords, batch: dict) -> torch.Tensor:
    """:func:`to_original` with the affines and joint orders of a collated batch of crops (``batch["meta"]``)."""
    metas = batch["meta"]
    K = coords.shape[1]
    affines = torch.stack([torch.as_tensor(m["affine"], dtype=torch.float32).cpu() for m in metas])
    src = torch.stack([torch.as_tensor(m.get("source_joints", torch.arange(K)), dtype=torch.long).cpu() for m in metas])
    return to_original(torch.as_tensor(coords).cpu(), affines, src)


# --------------------------------------------------------------------------- dataset folders
def _one(root: Path, patterns, what: str, exclude=("_det_", "results")) -> Path:
    found = sorted({p for pat in patterns for p in root.glob(pat) if not any(x in p.name for x in exclude)})
    if len(found) != 1:
        names = ", ".join(str(p.relative_to(root)) for p in found) or "none"
        raise ValueError(f"{root}: expected one {what} ({' or '.join(patterns)}), found {names}; "
                         "pass the file explicitly (ann_file=..., --ann)")
    return found[0]


def _with_image_dir(loader, root: Path, ann_file: Path, first_file: str | None):
    """``loader`` with ``img_dir`` set to the folder that holds its first image (the loader read the file once)."""
    stem = ann_file.stem.split("_")[-1]  # person_keypoints_val2017 -> val2017
    for d in (root / "images" / stem, root / stem, root / "images", root):
        if first_file is None or (d / first_file).is_file():
            loader.img_dir = d
            return loader
    raise ValueError(f"{ann_file.name}: its first image {first_file!r} is in no folder of {root} (looked in "
                     f"images/{stem}, {stem}, images, .); pass img_dir=... (--img-dir)")


def _images(root: Path) -> Path:
    return root / "images" if (root / "images").is_dir() else root


def _open_coco(loader, root: Path, ann_file, img_dir, per_image: bool):
    ann = Path(ann_file) if ann_file else _one(root, ("*.json", "annotations/*.json"), "keypoint JSON")
    ds = loader(ann, img_dir or root, per_person=not per_image, min_keypoints=1, skip_empty=per_image)
    return ds if img_dir else _with_image_dir(ds, root, ann, ds.images[0]["file_name"] if ds.images else None)


def _open_mpii(root: Path, ann_file, img_dir, per_image: bool):
    ann = Path(ann_file) if ann_file else _one(root, ("*.json", "*.mat", "annotations/*.json", "annot/*.mat"),
                                                "MPII annotation file")
    if ann.suffix == ".mat":
        return MpiiMat(ann, img_dir or _images(root), per_person=True)
    ds = MpiiJson(ann, img_dir or root)
    return ds if img_dir else _with_image_dir(ds, root, ann, ds.files[0] if ds.files else None)


def _open_mat(loader, pattern: str, what: str, root: Path, ann_file, img_dir, per_image: bool):
    mat = Path(ann_file) if ann_file else _one(root, (pattern,), what)
    return loader(mat, img_dir or _images(root))


#: format -> how a folder of it opens, ``opener(root, ann_file, img_dir, per_image)``; the formats in
#: :data:`MULTI_PERSON` also open as whole images with all their people
_OPENERS = {"coco": partial(_open_coco, CocoKeypoints), "crowdpose": partial(_open_coco, CrowdPoseKeypoints),
            "mpii": _open_mpii, "lsp": partial(_open_mat, LspJoints, "joints.mat", "LSP annotation file"),
            "flic": partial(_open_mat, FlicExamples, "examples.mat", "FLIC annotation file")}
FORMATS = tuple(_OPENERS)
MULTI_PERSON = ("coco", "crowdpose")


def open_source(fmt: str, root, ann_file=None, img_dir=None, per_image: bool = False):
    """The per-person loader of a dataset folder (one sample per annotated person, ``P = 1``). ``fmt``:
    ``"coco"`` / ``"crowdpose"`` (a keypoint JSON, ``annotations/`` or the folder itself), ``"mpii"`` (the HRNet
    JSON or the release ``.mat``), ``"lsp"`` (``joints.mat``), ``"flic"`` (``examples.mat``); images in
    ``images/<split>``, ``<split>``, ``images`` or the folder itself. People with no labelled joint are dropped
    (COCO, CrowdPose). ``per_image``: one sample per photo with all its people (COCO and CrowdPose; photos left
    without people are dropped), for :class:`WholeImages`."""
    if fmt not in FORMATS:
        raise ValueError(f"data: unknown format {fmt!r}; choose one of {FORMATS}")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data root {root} is not a folder")
    if img_dir is not None and not Path(img_dir).is_dir():
        raise FileNotFoundError(f"img_dir: {img_dir} is not a folder (--img-dir: where the images are)")
    if per_image and fmt not in MULTI_PERSON:
        raise ValueError(f"data: {fmt} has one person per sample; whole images with everyone are read from COCO "
                         "and CrowdPose files")
    return _OPENERS[fmt](root, ann_file, Path(img_dir) if img_dir else None, per_image)


def skeleton_of(source) -> str:
    """The layout name of a source's samples (its ``skeleton`` attribute, else its first sample's)."""
    name = getattr(source, "skeleton", None)
    return name if isinstance(name, str) else source[0]["skeleton"]


def source_layout(source):
    """The :class:`~posecourse.skeletons.Skeleton` of a source's samples (:func:`~posecourse.data.transforms.layout`);
    ``ValueError`` naming the source's file (``ann_file`` / ``mat_file``) if it has none (e.g. a COCO file whose
    categories name no keypoints)."""
    try:
        return layout(skeleton_of(source), getattr(source, "joint_names", None))
    except ValueError as e:
        file = source_file(source)
        raise ValueError(f"source{f' {file.name}' if file else ''}: {e}") from None


def source_file(source) -> Path | None:
    """The annotation file a loader reads (its ``ann_file``, or ``mat_file`` for the MATLAB formats); None if it has
    neither (a synthetic or custom dataset)."""
    file = getattr(source, "ann_file", None) or getattr(source, "mat_file", None)
    return Path(file) if file else None
