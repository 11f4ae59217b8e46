"""CrowdPose keypoint annotations (``crowdpose_{train,val,test,trainval}.json``).

Format: COCO's (``images``, ``annotations``, ``categories``; ``keypoints`` as x, y, v triples with v in {0, 1, 2},
``bbox`` as x, y, w, h, ``iscrowd``; no ``area``) with the 14 joints of :data:`CROWDPOSE14`: left/right shoulder, elbow,
wrist, hip, knee, ankle, then ``head`` (top of the head) and ``neck``. Each image carries ``crowdIndex``, the paper's
measure of crowding (Li et al., "CrowdPose", CVPR 2019, Sec. 3): per person, the other people's joints inside its box
over its own joint count, averaged over the image's people; in [0, 1]. The benchmark splits the test set by it into easy
(0-0.1), medium (0.1-0.8) and hard (0.8-1) (:data:`CROWD_LEVELS`; a value on a boundary goes to the lower group)."""
from __future__ import annotations

import math

from ..params import one_of
from ._io import _short
from .coco import CocoKeypoints

__all__ = ["CrowdPoseKeypoints", "CROWDPOSE14", "CROWD_LEVELS"]

CROWDPOSE14 = ("left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
               "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "head", "neck")
#: crowd-index groups of the CrowdPose benchmark: (low, high], the first one [0, 0.1]
CROWD_LEVELS = {"easy": (0.0, 0.1), "medium": (0.1, 0.8), "hard": (0.8, 1.0)}


class CrowdPoseKeypoints(CocoKeypoints):
    """CrowdPose annotations as :class:`CocoKeypoints` samples (its pixel convention, box shift and checks)
    with ``meta["source"] = "crowdpose"``, ``meta["crowd_index"]`` (the image's ``crowdIndex``, NaN where
    absent), ``skeleton = "raw"`` and ``meta["joint_names"] = CROWDPOSE14`` (not a registered layout). ``ann_file``,
    ``img_dir``: the annotation JSON and the image folder; ``crowd_level``: keep only the images of one crowd-index
    group, ``"easy"``, ``"medium"`` or ``"hard"`` (:data:`CROWD_LEVELS`; ``None`` keeps all); ``**kwargs``:
    :class:`CocoKeypoints`'s filters (``skip_crowd``, ``min_keypoints``, ``per_person``, ``skip_empty``)."""

    source = "crowdpose"
    _image_fields = ("crowdIndex",)

    def __init__(self, ann_file, img_dir, *, crowd_level: str | None = None, **kwargs):
        one_of("crowd_level", crowd_level, (*CROWD_LEVELS, None))
        super().__init__(ann_file, img_dir, **kwargs)
        name = self.ann_file.name
        if self.num_joints != len(CROWDPOSE14) or self.joint_names not in (None, CROWDPOSE14):
            got = self.joint_names if self.joint_names is not None else f"{self.num_joints} joints"
            raise ValueError(f"{name}: categories: CrowdPose has the 14 joints {CROWDPOSE14}, the file names {got}")
        self.joint_names = CROWDPOSE14
        self.crowd_index = []  # per image, NaN where the record has none
        for i, rec in enumerate(self.images):
            ci = rec.pop("crowdIndex")
            if ci is not None and (isinstance(ci, bool) or not isinstance(ci, (int, float)) or not 0 <= ci <= 1):
                raise ValueError(f"{name}: image {i}: 'crowdIndex' is {_short(ci)}, expected a number in [0, 1]")
            self.crowd_index.append(math.nan if ci is None else float(ci))
        if crowd_level is not None:
            low, high = CROWD_LEVELS[crowd_level]
            missing = [i for i, ci in enumerate(self.crowd_index) if math.isnan(ci)]
            if missing:
                raise ValueError(f"{name}: image {missing[0]}: no 'crowdIndex', needed by crowd_level={crowd_level!r}")
            inside = lambda ci: (low < ci <= high) or (low == 0.0 and ci == 0.0)
            self._items = [it for it in self._items if inside(self.crowd_index[it[0]])]

    def __getitem__(self, index: int) -> dict:
        sample = super().__getitem__(index)
        pos = self._items[sample["meta"]["index"]][0]
        sample["meta"]["crowd_index"] = self.crowd_index[pos]
        return sample
