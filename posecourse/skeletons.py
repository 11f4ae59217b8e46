"""Joint layouts of the datasets the course uses: MPII-16, LSP-14, COCO-17, OpenPose's COCO-18.

One definition each, used by every other module. Joint names follow one vocabulary
(``left_*`` / ``right_*`` from the person's own point of view) so that layouts can be
converted into each other by name (:func:`convert_keypoints`) and so that the
left/right flip pairs are derived rather than typed twice.

Sources: MPII joint order from the MPII Human Pose release (``joints`` 0..15);
LSP order from ``joints.mat`` of the LSP release; COCO-17 names, skeleton and OKS
sigmas from the COCO keypoint annotations / ``pycocotools/cocoeval.py``; COCO-18 order
and limb sequence from OpenPose (CMU, ``limbSeq`` of the COCO body model).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Skeleton", "MPII16", "LSP14", "COCO17", "COCO18", "SKELETONS", "get_skeleton", "convert_keypoints"]


@dataclass(frozen=True)
class Skeleton:
    """A joint layout.

    Attributes:
        name: registry name (``"mpii16"``, ``"lsp14"``, ``"coco17"``, ``"coco18"``).
        joints: joint names in dataset order; ``K = len(joints)``.
        limbs: pairs of joint indices drawn as bones (and, for COCO-18, the PAF limbs
            in OpenPose's channel order).
        pcp_parts: named limbs scored by PCP (``{"right_upper_arm": (i, j), ...}``).
        torso: ``(left_shoulder, right_hip)`` indices; their distance is DeepPose's torso
            diameter used by PDJ and torso-normalized PCK. ``None`` if undefined.
        head: ``(upper_neck, head_top)`` indices used for the head size of PCKh when no
            head box is given; ``None`` if the layout has no head segment.
        sigmas: COCO per-joint OKS constants ``sigma_i`` (``None`` if not a COCO layout).
    """

    name: str
    joints: tuple[str, ...]
    limbs: tuple[tuple[int, int], ...]
    pcp_parts: dict[str, tuple[int, int]] = field(default_factory=dict)
    torso: tuple[int, int] | None = None
    head: tuple[int, int] | None = None
    sigmas: tuple[float, ...] | None = None

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    @property
    def flip_pairs(self) -> tuple[tuple[int, int], ...]:
        """``(left, right)`` index pairs swapped by a horizontal flip (``left_x`` and ``right_x``)."""
        twins = [(i, "right_" + n.removeprefix("left_")) for i, n in enumerate(self.joints) if n.startswith("left_")]
        return tuple((i, self.joints.index(twin)) for i, twin in twins if twin in self.joints)

    @property
    def flip_index(self) -> np.ndarray:
        """Permutation ``perm`` with ``flipped_joint[k] = joint[perm[k]]``; ``(K,)`` int64."""
        perm = np.arange(self.num_joints)
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return perm

    def index(self, joint: str) -> int:
        """Index of a joint by name; ``KeyError`` naming the layout if absent."""
        try:
            return self.joints.index(joint)
        except ValueError:
            raise KeyError(f"skeleton {self.name!r} has no joint {joint!r}; joints: {self.joints}") from None

    def __repr__(self) -> str:  # short, for notebooks
        return f"Skeleton({self.name!r}, K={self.num_joints}, limbs={len(self.limbs)})"


def _idx(joints, *names):
    return tuple(joints.index(n) for n in names)


_MPII = ("right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
         "pelvis", "thorax", "upper_neck", "head_top",
         "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist")
MPII16 = Skeleton(
    "mpii16", _MPII,
    limbs=((0, 1), (1, 2), (2, 6), (6, 3), (3, 4), (4, 5),
           (6, 7), (7, 8), (8, 9),
           (10, 11), (11, 12), (12, 7), (7, 13), (13, 14), (14, 15)),
    pcp_parts={
        "right_lower_leg": (0, 1), "right_upper_leg": (1, 2), "left_upper_leg": (3, 4), "left_lower_leg": (4, 5),
        "right_forearm": (10, 11), "right_upper_arm": (11, 12), "left_upper_arm": (13, 14), "left_forearm": (14, 15),
        "torso": (6, 7), "head": (8, 9)},
    torso=_idx(_MPII, "left_shoulder", "right_hip"), head=_idx(_MPII, "upper_neck", "head_top"))

_LSP = ("right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
        "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
        "neck", "head_top")
LSP14 = Skeleton(
    "lsp14", _LSP,
    limbs=((0, 1), (1, 2), (2, 3), (3, 4), (4, 5),
           (6, 7), (7, 8), (8, 12), (12, 9), (9, 10), (10, 11),
           (2, 8), (3, 9), (12, 13)),
    pcp_parts={
        "right_lower_leg": (0, 1), "right_upper_leg": (1, 2), "left_upper_leg": (3, 4), "left_lower_leg": (4, 5),
        "right_forearm": (6, 7), "right_upper_arm": (7, 8), "left_upper_arm": (9, 10), "left_forearm": (10, 11),
        "head": (12, 13)},
    torso=_idx(_LSP, "left_shoulder", "right_hip"), head=_idx(_LSP, "neck", "head_top"))

_COCO = ("nose", "left_eye", "right_eye", "left_ear", "right_ear",
         "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
         "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")
# COCO's ``skeleton`` field (1-based in the annotation files), here 0-based.
_COCO_SKELETON_1BASED = ((16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7), (6, 8),
                         (7, 9), (8, 10), (9, 11), (2, 3), (1, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 7))
COCO17 = Skeleton(
    "coco17", _COCO, limbs=tuple((a - 1, b - 1) for a, b in _COCO_SKELETON_1BASED),
    pcp_parts={"left_upper_arm": (5, 7), "right_upper_arm": (6, 8), "left_forearm": (7, 9), "right_forearm": (8, 10),
               "left_upper_leg": (11, 13), "right_upper_leg": (12, 14), "left_lower_leg": (13, 15),
               "right_lower_leg": (14, 16)},
    torso=_idx(_COCO, "left_shoulder", "right_hip"), head=None,
    # pycocotools/cocoeval.py, Params.setKpParams: kpt_oks_sigmas
    sigmas=(0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072,
            0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089))

_COCO18 = ("nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
           "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
           "right_eye", "left_eye", "right_ear", "left_ear")
# OpenPose COCO body model ``limbSeq`` (1-based): 19 limbs -> 38 PAF channels, in this order.
_OPENPOSE_LIMBSEQ_1BASED = ((2, 3), (2, 6), (3, 4), (4, 5), (6, 7), (7, 8), (2, 9), (9, 10), (10, 11), (2, 12),
                            (12, 13), (13, 14), (2, 1), (1, 15), (15, 17), (1, 16), (16, 18), (3, 17), (6, 18))
COCO18 = Skeleton(
    "coco18", _COCO18, limbs=tuple((a - 1, b - 1) for a, b in _OPENPOSE_LIMBSEQ_1BASED),
    pcp_parts={
        "right_upper_arm": (2, 3), "right_forearm": (3, 4), "left_upper_arm": (5, 6), "left_forearm": (6, 7),
        "right_upper_leg": (8, 9), "right_lower_leg": (9, 10), "left_upper_leg": (11, 12), "left_lower_leg": (12, 13)},
    torso=_idx(_COCO18, "left_shoulder", "right_hip"), head=None)

SKELETONS: dict[str, Skeleton] = {s.name: s for s in (MPII16, LSP14, COCO17, COCO18)}


def get_skeleton(skeleton: str | Skeleton) -> Skeleton:
    """Look up a layout by name (``"mpii16"``, ``"lsp14"``, ``"coco17"``, ``"coco18"``)."""
    if isinstance(skeleton, Skeleton):
        return skeleton
    try:
        return SKELETONS[skeleton]
    except KeyError:
        raise ValueError(f"unknown skeleton {skeleton!r}; choose one of {sorted(SKELETONS)}") from None


# Joints some layouts derive from others: OpenPose's neck is the shoulders' midpoint.
_DERIVED = {"neck": ("left_shoulder", "right_shoulder"), "thorax": ("left_shoulder", "right_shoulder"),
            "pelvis": ("left_hip", "right_hip")}


def convert_keypoints(keypoints, visibility, src: str | Skeleton, dst: str | Skeleton):
    """Map ``keypoints (..., K_src, 2)`` and ``visibility (..., K_src)`` (0 = missing) from layout ``src`` to ``dst``
    by joint name: ``(keypoints (..., K_dst, 2), visibility (..., K_dst))``. A joint that ``dst`` has and ``src``
    lacks is derived when it is a midpoint of two present joints (``neck``, ``thorax``, ``pelvis``: visible only
    if both are), otherwise NaN with visibility 0."""
    src, dst = get_skeleton(src), get_skeleton(dst)
    kp = np.asarray(keypoints, dtype=np.float64)
    vis = np.asarray(visibility, dtype=np.float64)
    if kp.shape[-2:] != (src.num_joints, 2):
        raise ValueError(f"keypoints: expected shape (..., {src.num_joints}, 2) for {src.name}, got {kp.shape}")
    if vis.shape != kp.shape[:-1]:
        raise ValueError(f"visibility: expected shape {kp.shape[:-1]}, got {vis.shape}")
    out = np.full(kp.shape[:-2] + (dst.num_joints, 2), np.nan)
    out_vis = np.zeros(kp.shape[:-2] + (dst.num_joints,))
    for k, name in enumerate(dst.joints):
        if name in src.joints:
            i = src.joints.index(name)
            out[..., k, :] = kp[..., i, :]
            out_vis[..., k] = vis[..., i]
        elif name in _DERIVED and all(n in src.joints for n in _DERIVED[name]):
            a, b = (src.joints.index(n) for n in _DERIVED[name])
            out[..., k, :] = (kp[..., a, :] + kp[..., b, :]) / 2
            out_vis[..., k] = np.minimum(vis[..., a], vis[..., b])
    return out, out_vis
