"""COCO keypoint annotations (``person_keypoints_*.json``) and COCO-style files (CrowdPose).

Pixel convention. COCO boxes and polygons are continuous coordinates in which pixel ``(0, 0)`` covers ``[0, 1]^2``;
its keypoints are integer pixel indices (the annotation tool clicks a pixel), i.e. they already sit on pixel
centres. We follow the reading of Detectron2's COCO loader (keypoints are "pixel indices"): in the course's frame,
where pixel centres are at integer coordinates, **keypoints are used as stored** and **boxes are shifted by -0.5**
(``x0 - 0.5, y0 - 0.5``; ``w, h`` unchanged). The file's own box is kept in ``meta["bbox_coco"]``, and predictions
written back to a COCO results file need no keypoint shift. HRNet and MMPose also use COCO keypoints unshifted.

Joint layout. The joint count ``K`` comes from the person category's ``keypoints`` names (or from the first annotation's
length / 3). If the names equal a layout of :mod:`posecourse.skeletons` (COCO's 17 -> ``"coco17"``) that name is the
sample's skeleton; otherwise (CrowdPose's 14 joints: shoulders ... ankles, ``head``, ``neck``) the skeleton is ``"raw"``
and ``meta["joint_names"]`` lists the file's names. ``"raw"`` is not a registered layout: convert or name it before
using layout-aware code (flips, PCKh)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from ..params import as_int
from ..skeletons import SKELETONS
from ._io import (_short, check_flags, check_index, check_joints, field, file_field, frame_bounds, load_image,
                  make_sample, numeric, read_json)

__all__ = ["CocoKeypoints", "COCO_BOX_OFFSET", "COCO_PAD"]

COCO_BOX_OFFSET = -0.5  # COCO box corners (pixel (0,0) = [0,1]^2) -> course frame (pixel centres at integers)
COCO_PAD = 0.5  # labelled keypoints may lie up to half a pixel beyond the image's extent [-0.5, W - 0.5]


def _layout(names) -> tuple[str, tuple[str, ...] | None]:
    """``(skeleton, joint_names)``: a registered layout with these joint names and None, else ``"raw"`` and them."""
    names = None if names is None else tuple(names)
    return next(((s.name, None) for s in SKELETONS.values() if names == s.joints), ("raw", names))


def _is_id(v) -> bool:
    return isinstance(v, (int, str)) and not isinstance(v, bool)


def _positions(recs: list, what: str, name: str, why: str = "") -> dict:
    """``{id: position}`` of ``recs``; each ``'id'`` an int or a str, and unique, else ``ValueError``."""
    pos = {}
    for i, rec in enumerate(recs):
        rec_id = field(rec, "id", f"{name}: {what} {i}")
        if not _is_id(rec_id):
            raise ValueError(f"{name}: {what} {i}: 'id' is {_short(rec_id)}, expected an integer or a string")
        if rec_id in pos:
            raise ValueError(f"{name}: {what} {i}: duplicate 'id' {rec_id!r} (also {what} {pos[rec_id]}){why}")
        pos[rec_id] = i
    return pos


def _records(data: dict, key: str, name: str) -> list:
    recs = field(data, key, name)
    if not isinstance(recs, list):
        raise ValueError(f"{name}: {key!r} is {type(recs).__name__}, expected a list of objects")
    for i, r in enumerate(recs):
        if not isinstance(r, dict):
            raise ValueError(f"{name}: {key[:-1].replace('categorie', 'category')} {i}: expected an object, "
                             f"got {type(r).__name__} {_short(r)}")
    return recs


def _joint_names(cats: list, name: str):
    for c_i, c in enumerate(cats):
        names = c.get("keypoints")
        if names:
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise ValueError(f"{name}: category {c_i}: 'keypoints' must be a list of joint names, got {_short(names)}")
            return names
    return None


def _size(im: dict, key: str, where: str):
    v = im.get(key)
    if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v <= 0):
        raise ValueError(f"{where}: {key!r} is {_short(v)}, expected a positive integer (pixels) or absent")
    return v


class CocoKeypoints(Dataset):
    """COCO keypoint annotations as a Dataset of sample dicts (see :mod:`posecourse.data`): ``ann_file`` the annotation
    JSON (``images``, ``annotations``, ``categories``), ``img_dir`` the folder of the images named by
    ``images[i].file_name``; ``skip_crowd`` drops ``iscrowd = 1`` annotations (regions of many people, no joints),
    ``min_keypoints`` people with fewer labelled joints (``1`` drops people with none); ``per_person``: one sample per
    kept annotation (``P = 1``) instead of one per image; ``skip_empty``: in per-image mode, drop images left with no
    people.

    A sample holds ``keypoints (P, K, 2)`` (as stored, see the module note), ``visibility (P, K)`` (the file's v in
    {0, 1, 2}), ``boxes (P, 4)`` (file box shifted by -0.5). ``meta``: ``source`` ("coco"), ``index``, ``file_name``,
    ``image_id``, ``ann_ids``, ``areas``, ``iscrowd``, ``num_keypoints``, ``bbox_coco`` (P, 4) and, for an unregistered
    layout, ``joint_names``. What it checks (labelled joints within :data:`COCO_PAD` of the image, unique ids, ...) is
    listed in docs/loaders.md."""

    source = "coco"
    _image_fields: tuple[str, ...] = ()  # extra per-image fields kept in ``self.images`` (subclasses)

    def __init__(self, ann_file, img_dir, *, skip_crowd: bool = True, min_keypoints: int = 0,
                 per_person: bool = False, skip_empty: bool = False):
        self.ann_file, self.img_dir = Path(ann_file), Path(img_dir)
        self.per_person = per_person
        min_keypoints = as_int("min_keypoints", min_keypoints, 0, exact=True)
        name = self.ann_file.name
        data = read_json(self.ann_file)
        if not isinstance(data, dict):
            raise ValueError(f"{name}: top level is {type(data).__name__}, expected an object with "
                             "'images', 'annotations', 'categories'")
        images = _records(data, "images", name)
        anns = _records(data, "annotations", name)
        cats = _records(data, "categories", name) if "categories" in data else None
        names = _joint_names(cats or [], name)
        cat_ids = {c.get("id") for c in cats or [] if _is_id(c.get("id"))}
        if names is not None:
            K = len(names)
        elif anns:
            first = field(anns[0], "keypoints", f"{name}: annotation 0")
            if not isinstance(first, list) or not first or len(first) % 3:
                raise ValueError(f"{name}: annotation 0: 'keypoints' must be a list of (x, y, v) triples "
                                 "(no category names the joints)")
            K = len(first) // 3
        else:
            K = 17
        self.num_joints = K
        self.skeleton, self.joint_names = _layout(names)

        pos = _positions(images, "image", name, ": its annotations would be attached to the wrong image")
        self.images = []
        for i, im in enumerate(images):
            where = f"{name}: image {i}"
            self.images.append({"id": im["id"], "file_name": file_field(im, "file_name", where),
                                "height": _size(im, "height", where), "width": _size(im, "width", where),
                                **{k: im.get(k) for k in self._image_fields}})

        # cheap per-annotation checks in the loop; conversion and value checks vectorized below
        ids = list(_positions(anns, "annotation", name))
        rows = []  # (keypoints, bbox, position of its image, area, iscrowd) per annotation
        for a_i, ann in enumerate(anns):
            where = f"{name}: annotation {a_i}"
            image_id = field(ann, "image_id", where)
            if not _is_id(image_id) or image_id not in pos:
                raise ValueError(f"{where}: 'image_id' {_short(image_id)} is not in 'images'")
            if cats is not None and "category_id" in ann and not (_is_id(c := ann["category_id"]) and c in cat_ids):
                raise ValueError(f"{where}: 'category_id' {_short(c)} is not the 'id' of a category in 'categories' "
                                 f"(ids: {sorted(cat_ids, key=repr)}); COCO's OKS AP would leave the person out")
            is_crowd = ann.get("iscrowd", 0)
            if is_crowd not in (0, 1) or not isinstance(is_crowd, int):
                raise ValueError(f"{where}: 'iscrowd' is {_short(is_crowd)}, expected 0 or 1")
            raw_kp = ann.get("keypoints", [0] * 3 * K) if is_crowd else field(ann, "keypoints", where)
            if not isinstance(raw_kp, list) or len(raw_kp) != 3 * K:
                n = len(raw_kp) if isinstance(raw_kp, list) else type(raw_kp).__name__
                raise ValueError(f"{where}: 'keypoints' has {n} values, expected {3 * K} ({K} joints x (x, y, v))")
            box = field(ann, "bbox", where)
            if not isinstance(box, list) or len(box) != 4:
                raise ValueError(f"{where}: 'bbox' must be a list of 4 numbers (x, y, w, h), got {_short(box)}")
            rows.append((raw_kp, box, pos[image_id], ann.get("area", 0.0), int(is_crowd)))
        kps, boxes, owner, areas, crowd = (list(col) for col in zip(*rows)) if rows else ([] for _ in range(5))
        record = lambda n: f"{name}: annotation {n}"
        kp = self._numbers(kps, (len(kps), K, 3), record, "keypoints")
        box = self._numbers(boxes, (len(boxes), 4), record, "bbox")
        area = self._numbers(areas, (len(areas),), record, "area")
        check_flags(kp[..., 2], (0, 1, 2), record, "keypoints", names)
        owner = np.asarray(owner, dtype=np.int64)
        hw = np.array([[r["height"] or np.inf, r["width"] or np.inf] for r in self.images], np.float64).reshape(-1, 2)
        lo, hi = frame_bounds(hw[owner, 0], hw[owner, 1], 0.0, COCO_PAD)  # unknown size: checked when loaded
        check_joints(kp[..., :2], kp[..., 2] > 0, record, "keypoints", names, lo, hi)
        for key, vals, bad, want in (
                ("bbox", box, ~np.isfinite(box).all(axis=1) | (box[:, 2:] < 0).any(axis=1), "finite, with w, h >= 0"),
                ("area", area, ~(np.isfinite(area) & (area >= 0)), "finite and >= 0")):
            if bad.any():
                n = int(np.flatnonzero(bad)[0])
                raise ValueError(f"{record(n)}: {key!r} is {_short(vals[n].tolist())}, expected {want}")
        self._kp, self._box = kp, box  # (N, K, 3), (N, 4)
        self._ids, self._area = ids, area
        self._crowd = np.asarray(crowd, dtype=np.int64)
        self._nlab = (kp[..., 2] > 0).sum(axis=1)
        keep = ~(skip_crowd & (self._crowd == 1)) & (self._nlab >= min_keypoints)
        # items: (position in self.images, annotation indices of the people in the sample)
        if per_person:
            self._items = [(int(owner[j]), np.array([j])) for j in np.flatnonzero(keep)]
        else:
            kept = np.flatnonzero(keep)
            order = kept[np.argsort(owner[kept], kind="stable")]
            counts = np.bincount(owner[kept], minlength=len(self.images))
            self._items = list(enumerate(np.split(order, np.cumsum(counts)[:-1])))[:len(self.images)]  # 0 images: 0
            if skip_empty:
                self._items = [it for it in self._items if len(it[1])]

    @staticmethod
    def _numbers(rows: list, shape: tuple, record, key: str) -> np.ndarray:
        """``rows`` (one list per annotation, or one number each) as a float64 array of ``shape``; the first bad
        row named otherwise (not numbers, too few / many, or nested: ``[12]`` is no area)."""
        size, ndim = int(np.prod(shape[1:])), min(len(shape) - 1, 1)  # a row: a flat list, or one number
        try:
            arr = numeric(rows, "", key)
            if arr.shape == (len(rows),) + (size,) * ndim or not rows:
                return arr.reshape(shape)
        except ValueError:
            pass
        for n, row in enumerate(rows):  # error path only: a row differs (rows that all read make the array)
            if (arr := numeric(row, record(n), key)).size != size or arr.ndim != ndim:
                want = "one number" if ndim == 0 else f"a flat list of {size} numbers"
                raise ValueError(f"{record(n)}: {key!r} is {_short(row)}, expected {want}")

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> dict:
        index = check_index(index, len(self))
        pos, idx = self._items[index]
        img_rec = self.images[pos]
        hw = (img_rec["height"], img_rec["width"]) if img_rec["height"] and img_rec["width"] else None
        where = f"{self.ann_file.name}: image {pos} (id {img_rec['id']!r})"
        image = load_image(self.img_dir / img_rec["file_name"], hw, where=where)
        kp = self._kp[idx]  # (P, K, 3)
        lo, hi = frame_bounds(image.shape[1], image.shape[2], 0.0, COCO_PAD)
        check_joints(kp[..., :2], kp[..., 2] > 0, lambda p: f"{self.ann_file.name}: annotation {int(idx[p])}",
                     "keypoints", self.joint_names, lo, hi)
        bbox = self._box[idx]  # (P, 4)
        boxes = bbox + np.array([COCO_BOX_OFFSET, COCO_BOX_OFFSET, 0.0, 0.0])
        meta = {"source": self.source, "index": int(index), "file_name": img_rec["file_name"],
                "image_id": img_rec["id"], "ann_ids": [self._ids[j] for j in idx], "areas": self._area[idx],
                "iscrowd": self._crowd[idx], "num_keypoints": self._nlab[idx], "bbox_coco": bbox.copy()}
        if self.joint_names is not None:
            meta["joint_names"] = self.joint_names
        return make_sample(image, kp[..., :2], kp[..., 2], boxes, self.skeleton, meta, where=where, margin=None)
