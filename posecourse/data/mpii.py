"""MPII Human Pose: the HRNet/MMPose JSON flavour and the official release ``.mat``.

Coordinates. MPII was annotated in MATLAB: pixel indices start at 1. The HRNet reference code subtracts 1 from
``joints`` when loading ("MPII uses matlab format, index is based 1") and adds it back when writing predictions;
MMPose does the same. We return **0-based** coordinates (pixel centres at integers, as everywhere in the course):
``joints - 1``, ``center - 1``, head box corners ``- 1``. Add 1 to go back to MPII's evaluation frame.

Box. MPII gives a person ``center`` (``objpos``) and ``scale`` = person height / 200 px. The
sample's box is the square of side ``200 * scale`` centred on the 0-based centre. HRNet's
training-time adjustments (``center_y += 15 * scale``, ``scale *= 1.25``) are crop heuristics,
not annotation, and are not applied; ``meta["center"]`` and ``meta["scale"]`` keep the values.

Visibility. JSON ``joints_vis`` says whether a joint is labelled, not whether it is seen:
labelled -> 2, unlabelled -> 0. The ``.mat`` ``is_visible`` flag: 1 -> 2, 0 -> 1 (labelled,
occluded), absent/empty -> 2. Joint order is MPII's ``id`` 0..15 = ``skeletons.MPII16``.

Release layout (``mpii_human_pose_v1_u12_1.mat``, documented on the MPII site): ``RELEASE`` with
``annolist(i).image.name``; ``annolist(i).annorect(r)`` with head box ``x1, y1, x2, y2``, ``objpos.x/.y``, ``scale`` and
``annopoints.point(j)`` (``id``, ``x``, ``y``, ``is_visible``); ``img_train(i)`` (1 = train); ``single_person{i}``
(1-based rect indices)."""
from __future__ import annotations

from itertools import groupby
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from ..params import one_of
from ..skeletons import MPII16
from ._io import (MATLAB_OFFSET, _short, as_list, check_flags, check_index, check_joints, field, file_field, finite,
                  keypoint_boxes, load_image, make_sample, read_json, read_mat, to_array)

__all__ = ["MpiiJson", "MpiiMat", "MPII_PIXELS_PER_SCALE", "HEAD_SIZE_FACTOR", "mpii_box"]

K = MPII16.num_joints
MPII_PIXELS_PER_SCALE = 200.0  # scale = person height / 200 px
HEAD_SIZE_FACTOR = 0.6  # PCKh head size = 0.6 * head-box diagonal (MPII evaluation code, SC_BIAS)


def mpii_box(center, scale) -> np.ndarray:
    """Square boxes ``(..., 4)`` ``(x0, y0, w, h)`` of side ``200 * scale`` around ``center (..., 2)``."""
    c = np.asarray(center, dtype=np.float64)
    side = MPII_PIXELS_PER_SCALE * np.asarray(scale, dtype=np.float64)[..., None]
    return np.concatenate([c - side / 2, side, side], axis=-1)


class MpiiJson(Dataset):
    """The HRNet/MMPose MPII JSON (a list of ``{image, joints (16x2), joints_vis (16), center, scale}``), one
    sample per entry (``P = 1``). ``meta``: ``source`` ("mpii"), ``index``, ``file_name``, ``center``
    (0-based), ``scale``, ``center_raw`` (as stored, 1-based)."""

    skeleton = MPII16.name  #: the layout of every sample (an empty file has none to ask)

    def __init__(self, ann_file, img_dir):
        self.ann_file, self.img_dir = Path(ann_file), Path(img_dir)
        name = self.ann_file.name
        data = read_json(self.ann_file)
        if not isinstance(data, list):
            raise ValueError(f"{name}: top level is {type(data).__name__}, expected a list of annotations")
        joints, vis, centers, scales, files = [], [], [], [], []
        for i, a in enumerate(data):
            where = f"{name}: annotation {i}"
            if not isinstance(a, dict):
                raise ValueError(f"{where}: expected an object, got {type(a).__name__}")
            joints.append(to_array(field(a, "joints", where), (K, 2), where, "joints"))
            vis.append(to_array(field(a, "joints_vis", where), (K,), where, "joints_vis"))
            centers.append(finite(to_array(field(a, "center", where), (2,), where, "center"), where, "center"))
            scales.append(float(finite(to_array(field(a, "scale", where), (), where, "scale"), where, "scale", True)))
            files.append(file_field(a, "image", where))
        self.files = files
        joints, vis = np.reshape(joints, (-1, K, 2)), np.reshape(vis, (-1, K))  # (N, K, 2) 1-based, (N, K)
        record = lambda n: f"{name}: annotation {n}"
        check_flags(vis, (0, 1), record, "joints_vis", MPII16.joints)
        check_joints(joints, vis > 0, record, "joints", MPII16.joints)
        self.joints = joints + MATLAB_OFFSET  # (N, K, 2) 0-based
        self.visibility = np.where(vis > 0, 2.0, 0.0)
        self.center_raw = np.reshape(centers, (-1, 2))
        self.center = self.center_raw + MATLAB_OFFSET
        self.scale = np.asarray(scales, dtype=np.float64)
        self.boxes = mpii_box(self.center, self.scale)  # (N, 4)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict:
        index = check_index(index, len(self))
        where = f"{self.ann_file.name}: annotation {index}"
        image = load_image(self.img_dir / self.files[index], where=where)
        meta = {"source": "mpii", "index": int(index), "file_name": self.files[index],
                "center": self.center[index].copy(), "scale": float(self.scale[index]),
                "center_raw": self.center_raw[index].copy()}
        return make_sample(image, self.joints[index][None], self.visibility[index][None],
                           self.boxes[index][None], self.skeleton, meta, where=where, names=MPII16.joints)


def _nums(obj, keys, where: str) -> np.ndarray:
    """The MATLAB scalar fields ``keys`` of ``obj`` as floats; an empty ``[]`` (unset in a struct array) -> NaN."""
    out = []
    for key in keys:
        arr = np.ravel(field(obj, key, where))
        if arr.size and arr.dtype.kind not in "biuf":
            raise ValueError(f"{where}: {key!r} is {_short(field(obj, key, where))}, expected a number")
        out.append(float(arr[0]) if arr.size else np.nan)
    return np.array(out)


def _is_visible(p, where: str) -> float:
    """The point's ``is_visible``: 1 -> 2 (visible), 0 -> 1 (occluded), absent / empty -> 2; text '0' / '1'
    (as in parts of the release) is read as the digit; anything else is a ``ValueError``."""
    flag = getattr(p, "is_visible", None)
    flag = np.ravel([] if flag is None else flag)
    v = flag[0] if flag.size else 1  # absent / empty: visible
    v = int(v) if isinstance(v, str) and v.strip() in ("0", "1") else v
    if isinstance(v, (int, float, np.integer, np.floating, np.bool_)) and v in (0, 1):
        return 2.0 if v == 1 else 1.0
    raise ValueError(f"{where}: 'is_visible' is {_short(flag.tolist())}, expected 0, 1 or empty")


class MpiiMat(Dataset):
    """The official MPII release ``.mat`` (``RELEASE`` struct; see the module note): ``mat_file``
    ``mpii_human_pose_v1_u12_1.mat`` (or a file with its layout), ``img_dir`` the ``images/`` folder; ``subset``:
    ``"train"`` (``img_train == 1``), ``"test"`` or ``"all"``; ``per_person``: one sample per annotated person instead
    of one per image; ``single_person``: keep only the rects listed in ``single_person{i}`` (the single-person
    benchmark).

    People are the rects with ``annopoints`` (test images have none, so they yield ``P = 0`` unless skipped: images with
    no kept person are dropped). ``meta``: ``source`` ("mpii"), ``index``, ``file_name``, ``image_index`` (0-based into
    ``annolist``), ``rect_index`` (0-based), ``head_box (P, 4)`` as 0-based ``(x0, y0, w, h)`` from ``x1, y1, x2, y2``,
    ``head_size (P,)`` = 0.6 x head-box diagonal (PCKh's normalizer), ``center (P, 2)`` 0-based, ``scale (P,)``,
    ``is_train``."""

    skeleton = MPII16.name  #: the layout of every sample (an empty file has none to ask)

    def __init__(self, mat_file, img_dir, *, subset: str = "train", per_person: bool = False,
                 single_person: bool = False):
        one_of("subset", subset, ("train", "test", "all"))
        self.mat_file, self.img_dir = Path(mat_file), Path(img_dir)
        name = self.mat_file.name
        mat = read_mat(self.mat_file)
        release = field(mat, "RELEASE", name)
        annolist = as_list(field(release, "annolist", f"{name}: RELEASE"))
        img_train = to_array(np.ravel(field(release, "img_train", f"{name}: RELEASE")), (-1,), f"{name}: RELEASE",
                             "img_train")
        if img_train.shape[0] != len(annolist):
            raise ValueError(f"{name}: RELEASE.img_train has {img_train.shape[0]} entries, "
                             f"annolist has {len(annolist)}")
        check_flags(img_train[None], (0, 1), lambda n: f"{name}: RELEASE", "img_train", what="values",
                    item="entry (0-based)")
        singles = as_list(field(release, "single_person", f"{name}: RELEASE")) if single_person else None
        if single_person and len(singles) != len(annolist):
            raise ValueError(f"{name}: RELEASE.single_person has {len(singles)} entries, annolist has {len(annolist)}")

        people = []  # one dict per kept person
        for i, anno in enumerate(annolist):
            if subset != "all" and (img_train[i] == 1) != (subset == "train"):
                continue
            where = f"{name}: annolist({i + 1})"
            file_name = file_field(field(anno, "image", where), "name", f"{where}.image")
            rects = as_list(getattr(anno, "annorect", None))
            kept = range(len(rects))  # 0-based rect indices
            if single_person:
                listed = to_array(np.ravel(singles[i]), (-1,), f"{name}: RELEASE", f"single_person({i + 1})")
                if not np.isin(listed, np.arange(1, len(rects) + 1)).all():
                    raise ValueError(f"{name}: RELEASE.single_person({i + 1}) lists rects {listed.tolist()}, "
                                     f"{where} has rects 1..{len(rects)}")
                kept = sorted({int(r) - 1 for r in listed})
            for r in kept:
                rect = rects[r]
                ap = getattr(rect, "annopoints", None)
                points = as_list(getattr(ap, "point", None)) if ap is not None and not isinstance(ap, np.ndarray) else []
                if not points:
                    continue
                people.append(self._person(rect, points, f"{where}.annorect({r + 1})", i, r, file_name, img_train[i]))

        self.people = people
        # items: the people (indices into self.people) of each sample; an image's people are consecutive
        image_of = (lambda p: p) if per_person else (lambda p: people[p]["image_index"])
        self._items = [list(ps) for _, ps in groupby(range(len(people)), key=image_of)]

    @staticmethod
    def _person(rect, points, where, i, r, file_name, is_train) -> dict:
        kp, vis = np.zeros((K, 2)), np.zeros(K)
        for j, p in enumerate(points):
            pw = f"{where}.annopoints.point({j + 1})"
            jid = _nums(p, ("id",), pw)[0]
            if not np.isfinite(jid) or jid != int(jid):
                raise ValueError(f"{pw}: 'id' must be an integer joint index, got {jid}")
            jid = int(jid)
            if not 0 <= jid < K:
                raise ValueError(f"{pw}: 'id' {jid} outside 0..{K - 1}")
            if vis[jid] > 0:
                raise ValueError(f"{pw}: duplicate joint 'id' {jid} ({MPII16.joints[jid]}) in this person")
            kp[jid] = finite(_nums(p, "xy", pw), f"{pw} (joint {jid}, {MPII16.joints[jid]})", "x, y")
            vis[jid] = _is_visible(p, pw)
        head = finite(_nums(rect, ("x1", "y1", "x2", "y2"), where), where, "x1, y1, x2, y2 (head box)") + MATLAB_OFFSET
        objpos, scale = getattr(rect, "objpos", None), getattr(rect, "scale", None)
        if objpos is not None and not isinstance(objpos, np.ndarray) and np.size(scale) == 1:
            center = finite(_nums(objpos, "xy", f"{where}.objpos"), f"{where}.objpos", "x, y") + MATLAB_OFFSET
            scale = float(finite(_nums(rect, ("scale",), where)[0], where, "scale", positive=True))
        else:
            center, scale = np.full(2, np.nan), float("nan")
        return {"keypoints": kp + MATLAB_OFFSET * (vis > 0)[:, None], "visibility": vis,
                "head_box": np.r_[head[:2], head[2:] - head[:2]], "center": center, "scale": scale,
                "image_index": i, "rect_index": r, "file_name": file_name, "is_train": bool(is_train == 1)}

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> dict:
        index = check_index(index, len(self))
        ps = [self.people[p] for p in self._items[index]]
        first = ps[0]
        where = f"{self.mat_file.name}: annolist({first['image_index'] + 1})"
        image = load_image(self.img_dir / first["file_name"], where=where)
        kp, vis, center, scale, head_box = (np.stack([p[k] for p in ps]) for k in (
            "keypoints", "visibility", "center", "scale", "head_box"))  # (P, K, 2), (P, K), (P, 2), (P,), (P, 4)
        boxes = np.where(np.isfinite(scale)[:, None], mpii_box(np.nan_to_num(center), np.nan_to_num(scale)),
                         keypoint_boxes(kp, vis))
        meta = {"source": "mpii", "index": int(index), "file_name": first["file_name"],
                "image_index": first["image_index"], "rect_index": [p["rect_index"] for p in ps],
                "head_box": head_box, "head_size": HEAD_SIZE_FACTOR * np.hypot(head_box[:, 2], head_box[:, 3]),
                "center": center, "scale": scale, "is_train": first["is_train"]}
        return make_sample(image, kp, vis, boxes, self.skeleton, meta, where=where, names=MPII16.joints)
