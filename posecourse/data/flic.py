"""FLIC (Frames Labeled In Cinema) ``examples.mat``.

Layout (FLIC release): a struct array ``examples`` with, per frame, ``coords`` (2 x 29: x, y of 29 part slots, NaN
where not labelled), ``filepath`` (image file name), ``imgdims``, ``torsobox`` (x1, y1, x2, y2), ``istrain``,
``istest`` (and ``moviename``, ``currframe``, ...). Only 11 of the 29 slots are annotated (FLIC's ``lookupPart``
names, 1-based slot in brackets): lsho (1), lelb (2), lwri (3), rsho (4), relb (5), rwri (6), lhip (7), rhip (10),
leye (13), reye (14), nose (17).

Output layout. FLIC has no layout in :mod:`posecourse.skeletons`, so keypoints come in ``MPII16`` order: the 8 body
slots go to MPII's shoulders, elbows, wrists and hips (:data:`FLIC_TO_MPII`); the other MPII joints get visibility
0 (nothing is derived). The face slots (eyes, nose) have no MPII counterpart: they go to ``meta["face"]``
``(3, 2)`` with names in ``meta["face_names"]`` (NaN if unlabelled). FLIC labels have no occlusion flag: a labelled
(finite) joint gets visibility 2. Names are taken as the person's own left/right.

Coordinates are MATLAB 1-based; we return 0-based (``- 1``), the torso box too (``meta["torso_box"]`` as
``(x0, y0, w, h)``). The sample box is the tight box around the labelled body joints.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from ..params import one_of
from ..skeletons import MPII16
from ._io import (MATLAB_OFFSET, as_list, check_index, field, file_field, finite, keypoint_boxes, load_image, make_sample,
                  read_mat, to_array)

__all__ = ["FlicExamples", "FLIC_TO_MPII", "FLIC_FACE"]

NUM_SLOTS = 29
# 0-based FLIC slot -> MPII16 joint name
FLIC_TO_MPII = {0: "left_shoulder", 1: "left_elbow", 2: "left_wrist",
                3: "right_shoulder", 4: "right_elbow", 5: "right_wrist",
                6: "left_hip", 9: "right_hip"}
FLIC_FACE = {12: "left_eye", 13: "right_eye", 16: "nose"}

_SRC = np.array(list(FLIC_TO_MPII))
_DST = np.array([MPII16.index(n) for n in FLIC_TO_MPII.values()])
_FACE = np.array(list(FLIC_FACE))


class FlicExamples(Dataset):
    """FLIC ``examples.mat`` (``mat_file``; images in ``img_dir``, the ``images/`` folder) as single-person samples
    (``P = 1``) in the ``MPII16`` layout; ``split``: ``"all"``, ``"train"`` (``istrain``) or ``"test"`` (``istest``).
    ``meta``: ``source`` ("flic"), ``index``, ``file_name``, ``example_index`` (0-based), ``torso_box``, ``face``,
    ``face_names``, ``imgdims``, ``coords_raw`` (2, 29) as stored."""

    skeleton = MPII16.name  #: the layout of every sample (an empty file has none to ask)

    def __init__(self, mat_file, img_dir, *, split: str = "all"):
        one_of("split", split, ("all", "train", "test"))
        self.mat_file, self.img_dir = Path(mat_file), Path(img_dir)
        name = self.mat_file.name
        examples = as_list(field(read_mat(self.mat_file), "examples", name))
        coords, torso, files, dims, keep = [], [], [], [], []
        for i, ex in enumerate(examples):
            where = f"{name}: examples({i + 1})"
            xy = to_array(field(ex, "coords", where), (2, NUM_SLOTS), where, "coords")
            half = np.isnan(xy).any(0) & ~np.isnan(xy).all(0) | np.isinf(xy).any(0)  # NaN pair = unlabelled
            if half.any():
                k = int(np.flatnonzero(half)[0])
                raise ValueError(f"{where}: 'coords' slot {k + 1}: (x, y) = {xy[:, k].tolist()}; a slot is either "
                                 "two finite numbers (labelled) or two NaN (unlabelled)")
            coords.append(xy)
            torso.append(finite(to_array(field(ex, "torsobox", where), (4,), where, "torsobox"), where, "torsobox"))
            files.append(file_field(ex, "filepath", where))
            raw_dims = getattr(ex, "imgdims", None)
            dims.append(np.zeros(0) if raw_dims is None else to_array(np.ravel(raw_dims), (-1,), where, "imgdims"))
            key = "is" + split  # istrain / istest: its first value
            keep.append(split == "all" or to_array(np.ravel(field(ex, key, where)), (-1,), where, key)[:1].sum() > 0)
        n = len(coords)
        raw = np.reshape(coords, (-1, 2, NUM_SLOTS))  # (N, 2, 29)
        pts = raw.transpose(0, 2, 1) + MATLAB_OFFSET  # (N, 29, 2) 0-based
        labelled = np.isfinite(pts).all(-1)  # (N, 29)
        kp = np.zeros((n, MPII16.num_joints, 2))
        vis = np.zeros((n, MPII16.num_joints))
        kp[:, _DST] = pts[:, _SRC]
        vis[:, _DST] = np.where(labelled[:, _SRC], 2.0, 0.0)
        tb = np.reshape(torso, (-1, 4)) + MATLAB_OFFSET
        self._idx = np.flatnonzero(keep)
        self.keypoints, self.visibility, self.boxes = kp, vis, keypoint_boxes(kp, vis)
        self.torso_box = np.concatenate([tb[:, :2], tb[:, 2:] - tb[:, :2]], axis=1)
        self.face = pts[:, _FACE]  # (N, 3, 2), NaN if unlabelled
        self.raw, self.files, self.dims = raw, files, dims

    def __len__(self) -> int:
        return len(self._idx)

    def __getitem__(self, index: int) -> dict:
        index = check_index(index, len(self))
        i = int(self._idx[index])
        where = f"{self.mat_file.name}: examples({i + 1})"
        image = load_image(self.img_dir / self.files[i], where=where)
        meta = {"source": "flic", "index": int(index), "file_name": self.files[i], "example_index": i,
                "torso_box": self.torso_box[i].copy(), "face": self.face[i].copy(),
                "face_names": tuple(FLIC_FACE.values()), "imgdims": self.dims[i], "coords_raw": self.raw[i].copy()}
        return make_sample(image, self.keypoints[i][None], self.visibility[i][None], self.boxes[i][None],
                           self.skeleton, meta, where=where, names=MPII16.joints)
