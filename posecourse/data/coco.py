"""COCO keypoint annotations (``person_keypoints_*.json``) and COCO-style files (CrowdPose).

Pixel convention. COCO boxes and polygons are continuous coordinates in which pixel ``(0, 0)``
covers ``[0, 1]^2``; its keypoints are integer pixel indices (the annotation tool clicks a
pixel), i.e. they already sit on pixel centres. We follow the reading of Detectron2's COCO
loader (keypoints are "pixel indices"): in the course's frame, where pixel centres are at
integer coordinates, **keypoints are used as stored** and **boxes are shifted by -0.5**
(``x0 - 0.5, y0 - 0.5``; ``w, h`` unchanged). The file's own box is kept in
``meta["bbox_coco"]``, and predictions written back to a COCO results file need no keypoint
shift. HRNet and MMPose also use COCO keypoints unshifted.

Joint layout. The joint count ``K`` comes from the person category's ``keypoints`` names (or
from the first annotation's length / 3). If the names equal a layout of
:mod:`posecourse.skeletons` (COCO's 17 -> ``"coco17"``) that name is the sample's skeleton;
otherwise (CrowdPose's 14 joints: shoulders ... ankles, ``head``, ``neck``) the skeleton is
``"raw"`` and ``meta["joint_names"]`` lists the file's names. ``"raw"`` is not a registered
layout: convert or name it before using layout-aware code (flips, PCKh).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from ..skeletons import SKELETONS
from ._io import check_index, field, load_image, make_sample, read_json, to_array

__all__ = ["CocoKeypoints", "COCO_BOX_OFFSET"]

COCO_BOX_OFFSET = -0.5  # COCO box corners (pixel (0,0) = [0,1]^2) -> course frame (pixel centres at integers)


def _layout(names) -> tuple[str, tuple[str, ...] | None]:
    if names is not None:
        for skel in SKELETONS.values():
            if tuple(names) == skel.joints:
                return skel.name, None
        return "raw", tuple(names)
    return "raw", None


class CocoKeypoints(Dataset):
    """COCO keypoint annotations as a Dataset of sample dicts (see :mod:`posecourse.data`).

    Args:
        ann_file: the annotation JSON (``images``, ``annotations``, ``categories``).
        img_dir: folder holding the images named by ``images[i].file_name``.
        skip_crowd: drop ``iscrowd = 1`` annotations (regions of many people, no joints).
        min_keypoints: drop people with fewer labelled joints (``1`` drops people with none).
        per_person: one sample per kept annotation (``P = 1``) instead of one per image.
        skip_empty: in per-image mode, drop images left with no people.

    A sample holds ``keypoints (P, K, 2)`` (as stored, see the module note), ``visibility (P, K)``
    (the file's v in {0, 1, 2}), ``boxes (P, 4)`` (file box shifted by -0.5). ``meta``: ``source``
    ("coco"), ``index``, ``file_name``, ``image_id``, ``ann_ids``, ``areas``, ``iscrowd``,
    ``num_keypoints``, ``bbox_coco`` (P, 4) and, for an unregistered layout, ``joint_names``.
    """

    def __init__(self, ann_file, img_dir, *, skip_crowd: bool = True, min_keypoints: int = 0,
                 per_person: bool = False, skip_empty: bool = False):
        self.ann_file, self.img_dir = Path(ann_file), Path(img_dir)
        self.per_person = per_person
        name = self.ann_file.name
        data = read_json(self.ann_file)
        if not isinstance(data, dict):
            raise ValueError(f"{name}: top level is {type(data).__name__}, expected an object with "
                             "'images', 'annotations', 'categories'")
        images = field(data, "images", name)
        anns = field(data, "annotations", name)
        cats = data.get("categories") or []
        kp_cats = [c for c in cats if isinstance(c, dict) and c.get("keypoints")]
        names = kp_cats[0]["keypoints"] if kp_cats else None
        if names is not None:
            K = len(names)
        elif anns:
            K = len(field(anns[0], "keypoints", f"{name}: annotation 0")) // 3
        else:
            K = 17
        self.num_joints = K
        self.skeleton, self.joint_names = _layout(names)

        self.images = []
        pos = {}
        for i, im in enumerate(images):
            where = f"{name}: image {i}"
            rec = {k: field(im, k, where) for k in ("id", "file_name")}
            rec["height"], rec["width"] = im.get("height"), im.get("width")
            pos[rec["id"]] = len(self.images)
            self.images.append(rec)

        # cheap per-annotation checks in the loop; conversion and value checks vectorized below
        kps, boxes, owner, ids, areas, crowd = [], [], [], [], [], []
        for a_i, ann in enumerate(anns):
            where = f"{name}: annotation {a_i}"
            image_id = field(ann, "image_id", where)
            if image_id not in pos:
                raise ValueError(f"{where}: 'image_id' {image_id!r} is not in 'images'")
            is_crowd = int(ann.get("iscrowd", 0))
            raw_kp = ann.get("keypoints", [0] * 3 * K) if is_crowd else field(ann, "keypoints", where)
            if not isinstance(raw_kp, list) or len(raw_kp) != 3 * K:
                n = len(raw_kp) if isinstance(raw_kp, list) else type(raw_kp).__name__
                raise ValueError(f"{where}: 'keypoints' has {n} values, expected {3 * K} ({K} joints x (x, y, v))")
            box = field(ann, "bbox", where)
            if not isinstance(box, list) or len(box) != 4:
                raise ValueError(f"{where}: 'bbox' must be a list of 4 numbers (x, y, w, h), got {box!r}")
            kps.append(raw_kp)
            boxes.append(box)
            owner.append(pos[image_id])
            ids.append(ann.get("id"))
            areas.append(ann.get("area", 0.0))
            crowd.append(is_crowd)
        try:
            kp = np.asarray(kps, dtype=np.float64).reshape(len(kps), K, 3)
            box = np.asarray(boxes, dtype=np.float64).reshape(len(boxes), 4)
        except (TypeError, ValueError):
            for a_i, (k_, b_) in enumerate(zip(kps, boxes)):  # error path only: find the culprit
                to_array(k_, (3 * K,), f"{name}: annotation {a_i}", "keypoints")
                to_array(b_, (4,), f"{name}: annotation {a_i}", "bbox")
            raise
        bad = ~np.isin(kp[..., 2], (0, 1, 2)).all(axis=1)
        if bad.any():
            raise ValueError(f"{name}: annotation {int(np.flatnonzero(bad)[0])}: 'keypoints' visibility "
                             "flags must be 0, 1 or 2")
        self._kp, self._box = kp, box  # (N, K, 3), (N, 4)
        self._ids, self._area = ids, np.asarray(areas, dtype=np.float64)
        self._crowd = np.asarray(crowd, dtype=np.int64)
        self._nlab = (kp[..., 2] > 0).sum(axis=1)
        owner = np.asarray(owner, dtype=np.int64)
        keep = ~(skip_crowd & (self._crowd == 1)) & (self._nlab >= min_keypoints)
        # items: (position in self.images, annotation indices of the people in the sample)
        if per_person:
            self._items = [(int(owner[j]), np.array([j])) for j in np.flatnonzero(keep)]
        else:
            kept = np.flatnonzero(keep)
            order = kept[np.argsort(owner[kept], kind="stable")]
            counts = np.bincount(owner[kept], minlength=len(self.images))
            self._items = list(enumerate(np.split(order, np.cumsum(counts)[:-1])))
            if skip_empty:
                self._items = [it for it in self._items if len(it[1])]

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> dict:
        index = check_index(index, len(self))
        pos, idx = self._items[index]
        img_rec = self.images[pos]
        hw = (img_rec["height"], img_rec["width"]) if img_rec["height"] and img_rec["width"] else None
        image = load_image(self.img_dir / img_rec["file_name"], hw, where=f"{self.ann_file.name}: image id {img_rec['id']}")
        kp = self._kp[idx]  # (P, K, 3)
        bbox = self._box[idx]  # (P, 4)
        boxes = bbox + np.array([COCO_BOX_OFFSET, COCO_BOX_OFFSET, 0.0, 0.0])
        meta = {
            "source": "coco", "index": int(index), "file_name": img_rec["file_name"], "image_id": img_rec["id"],
            "ann_ids": [self._ids[j] for j in idx], "areas": self._area[idx], "iscrowd": self._crowd[idx],
            "num_keypoints": self._nlab[idx], "bbox_coco": bbox.copy(),
        }
        if self.joint_names is not None:
            meta["joint_names"] = self.joint_names
        return make_sample(image, kp[..., :2], kp[..., 2], boxes, self.skeleton, meta)
