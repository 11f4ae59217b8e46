"""Single-person keypoint accuracy: PCK, PCKh, PDJ, PCP, PCK curves and their AUC.

All functions take ``pred`` and ``gt`` of shape ``(N, K, 2)`` and ``visible`` ``(N, K)``
(nonzero = the GT joint is annotated), as NumPy arrays or torch tensors (any device; the
arithmetic is done in float64 NumPy on the CPU and results are NumPy/float).

Conventions, fixed once for the whole module:

* A joint is correct when ``distance <= threshold`` (``<=``, as MPII's evaluation code
  ``less_than_threshold = err <= threshold`` does; PCP's "within" also read as ``<=``).
* Invisible GT joints count nowhere (neither numerator nor denominator). A NaN/inf *prediction* is a miss (e.g. a joint
  a decoder did not find); NaN/inf GT at a visible joint is a ``ValueError``.
* ``per_joint[k]`` is ``correct / count`` over visible instances of joint ``k`` (0.0 where
  ``count[k] == 0``; check ``count``); ``mean`` is the count-weighted mean over the joints
  in ``mean_joints`` (= total correct / total visible), as MPII's ``jnt_ratio`` weighting.
* Normalizers given as arrays must be positive and finite. Normalizers computed from the
  GT (``"torso"``, ``"head"``, ``"bbox"``) skip samples where they are undefined (a
  reference joint invisible, or size 0); if no sample is left it is a ``ValueError``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..skeletons import Skeleton, get_skeleton

__all__ = ["JointAccuracy", "PCPResult", "PCKCurve", "pck", "pckh", "pdj", "pcp", "pck_curve", "auc",
           "normalizer", "MPII_HEAD_SCALE"]

# MPII evaluation (util_get_head_size.m, SC_BIAS): head size = 0.6 x head-box diagonal.
MPII_HEAD_SCALE = 0.6


@dataclass(frozen=True)
class JointAccuracy:
    """Fraction of correct joints. ``per_joint (K,)``, ``count (K,)`` visible joints used,
    ``mean`` over ``mean_joints`` (indices), at ``threshold`` (relative to the normalizer)."""

    per_joint: np.ndarray
    count: np.ndarray
    mean: float
    mean_joints: tuple[int, ...]
    threshold: float


@dataclass(frozen=True)
class PCPResult:
    """Percentage of Correct Parts. ``per_part (P,)`` for ``parts`` (names), ``count (P,)``
    limbs scored (both ends visible, length > 0), ``mean`` = total correct / total scored."""

    per_part: np.ndarray
    count: np.ndarray
    parts: tuple[str, ...]
    mean: float
    variant: str


@dataclass(frozen=True)
class PCKCurve:
    """PCK at each threshold: ``thresholds (T,)``, ``per_joint (T, K)``, ``mean (T,)``."""

    thresholds: np.ndarray
    per_joint: np.ndarray
    mean: np.ndarray


def _np(x, name):  # float64 NumPy from an array, a list or a torch tensor (any device)
    if hasattr(x, "detach"):
        x = x.detach().to("cpu").double().numpy()
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name}: not numeric ({e})") from None


def _inputs(pred, gt, visible):
    pred, gt, vis = _np(pred, "pred"), _np(gt, "gt"), _np(visible, "visible")
    if gt.ndim != 3 or gt.shape[-1] != 2:
        raise ValueError(f"gt: expected shape (N, K, 2), got {gt.shape}")
    if pred.shape != gt.shape:
        raise ValueError(f"pred: expected shape {gt.shape} like gt, got {pred.shape}")
    if vis.shape != gt.shape[:2]:
        raise ValueError(f"visible: expected shape {gt.shape[:2]}, got {vis.shape}")
    if gt.shape[0] == 0:
        raise ValueError("gt: empty (N = 0)")
    vis = np.nan_to_num(vis) > 0
    if not np.isfinite(gt[vis]).all():
        raise ValueError("gt: NaN or inf at a visible joint")
    return pred, gt, vis


def _distance(pred, gt):
    with np.errstate(over="ignore", invalid="ignore"):
        d = np.linalg.norm(pred - gt, axis=-1)
    return np.where(np.isfinite(d), d, np.inf)  # a NaN/inf prediction never counts as correct


def _skeleton_for(skeleton, K, name):
    if skeleton is None:
        raise ValueError(f"skeleton: needed to compute the {name!r} normalizer")
    sk = get_skeleton(skeleton)
    if sk.num_joints != K:
        raise ValueError(f"skeleton: {sk.name} has {sk.num_joints} joints but the inputs have K={K}")
    return sk


def normalizer(norm, gt, visible, skeleton: str | Skeleton | None = None):
    """``(size (N,), valid (N,) bool)``: each sample's normalizer and whether it is defined, for ``gt (N, K, 2)`` and
    ``visible (N, K)``. ``norm``: sizes ``(N,)`` or a scalar; ``"torso"`` (left shoulder - right hip, DeepPose's torso
    diameter) or ``"head"`` (upper neck - head top), both of ``skeleton``; or ``"bbox"`` (the longer side of the tight
    box around the visible GT joints)."""
    gt, vis = np.asarray(gt, float), np.asarray(visible) > 0
    N, K = gt.shape[:2]
    if isinstance(norm, str):
        if norm in ("torso", "head"):
            sk = _skeleton_for(skeleton, K, norm)
            pair = sk.torso if norm == "torso" else sk.head
            if pair is None:
                raise ValueError(f"norm: skeleton {sk.name} defines no {norm} segment")
            i, j = pair
            with np.errstate(over="ignore", invalid="ignore"):
                size = np.linalg.norm(gt[:, i] - gt[:, j], axis=-1)
            valid = vis[:, i] & vis[:, j]
        elif norm == "bbox":
            lo = np.where(vis[..., None], gt, np.inf).min(1)
            hi = np.where(vis[..., None], gt, -np.inf).max(1)
            with np.errstate(over="ignore", invalid="ignore"):
                size = (hi - lo).max(-1)
            valid = vis.any(1)
        else:
            raise ValueError(f"norm: expected 'torso', 'head', 'bbox' or sizes, got {norm!r}")
        size = np.where(valid, size, 0.0)
        valid &= np.isfinite(size) & (size > 0)
        if not valid.any():
            raise ValueError(f"norm: the {norm!r} size is undefined (joints invisible or size 0) for every sample")
        return np.where(valid, size, 1.0), valid
    size = _np(norm, "norm")
    if size.ndim > 1 or (size.ndim == 1 and size.shape[0] != N):
        raise ValueError(f"norm: expected a scalar or shape ({N},), got {size.shape}")
    size = np.broadcast_to(size, (N,))
    if not (np.isfinite(size).all() and (size > 0).all()):
        raise ValueError("norm: sizes must be positive and finite")
    return size, np.ones(N, bool)


def _accuracy(correct, vis, mean_joints, threshold):
    """correct, vis: (..., N, K) -> counts along N."""
    count = vis.sum(-2)
    hits = (correct & vis).sum(-2)
    per_joint = np.where(count > 0, hits / np.maximum(count, 1), 0.0)
    idx = list(mean_joints)
    tot = count[..., idx].sum(-1)
    mean = np.where(tot > 0, hits[..., idx].sum(-1) / np.maximum(tot, 1), 0.0)
    return per_joint, count, mean


def _check_alpha(alpha) -> None:
    if isinstance(alpha, (bool, np.bool_)) or not isinstance(alpha, (int, float, np.integer, np.floating)) \
            or not np.isfinite(alpha) or alpha < 0:
        raise ValueError(f"alpha: expected a finite number >= 0, got {alpha!r} ({type(alpha).__name__})")


def _mean_joints(joints, K):
    if joints is None:
        return tuple(range(K))
    idx = tuple(int(j) for j in joints)
    if not idx or any(j < 0 or j >= K for j in idx):
        raise ValueError(f"joints: expected indices in [0, {K}), got {joints!r}")
    return idx


def pck(pred, gt, visible, norm="bbox", alpha: float = 0.2, *, skeleton=None, joints=None) -> JointAccuracy:
    """Percentage of Correct Keypoints: ``||pred - gt|| <= alpha * norm``.

    Args:
        pred, gt: ``(N, K, 2)``; visible: ``(N, K)``.
        norm: per-sample sizes ``(N,)`` / scalar, or ``"torso"``, ``"head"``, ``"bbox"`` (see
            :func:`normalizer`; samples where it is undefined are skipped).
        alpha: threshold as a fraction of ``norm``.
        skeleton: layout name/object for ``"torso"``/``"head"``.
        joints: indices entering ``mean`` (default all).
    """
    pred, gt, vis = _inputs(pred, gt, visible)
    _check_alpha(alpha)
    size, valid = normalizer(norm, gt, vis, skeleton)
    vis = vis & valid[:, None]
    if not vis.any():
        raise ValueError("visible: no visible joint to score")
    with np.errstate(over="ignore", invalid="ignore"):
        correct = _distance(pred, gt) <= alpha * size[:, None]
    per_joint, count, mean = _accuracy(correct, vis, _mean_joints(joints, gt.shape[1]), alpha)
    return JointAccuracy(per_joint, count, float(mean), _mean_joints(joints, gt.shape[1]), float(alpha))


def pdj(pred, gt, visible, alpha: float = 0.2, *, skeleton=None, torso=None, joints=None) -> JointAccuracy:
    """Percentage of Detected Joints (DeepPose): ``||pred - gt|| <= alpha * torso``.

    ``alpha`` is DeepPose's "fraction of the torso diameter"; the torso diameter is the GT
    left shoulder - right hip distance of ``skeleton`` (``skeleton.torso``), or ``torso (N,)``.
    """
    return pck(pred, gt, visible, "torso" if torso is None else torso, alpha, skeleton=skeleton, joints=joints)


def pckh(pred, gt, visible, head_boxes=None, alpha: float = 0.5, *, head_size=None, skeleton="mpii16",
         joints="mpii") -> JointAccuracy:
    """PCKh: ``||pred - gt|| <= alpha * head_size`` (PCKh@0.5 by default).

    Head size, in order of preference: ``head_size (N,)`` if given; else MPII's
    ``0.6 * ||(x2 - x1, y2 - y1)||`` from ``head_boxes (N, 4)`` as ``(x1, y1, x2, y2)``; else
    (fallback, *not* MPII's definition) the GT upper-neck - head-top distance of ``skeleton``.

    ``joints="mpii"`` (default) averages as the MPII benchmark's mean does: over all joints
    except pelvis and thorax (MPII's summary reports head, shoulder, elbow, wrist, hip, knee,
    ankle; HRNet's ``mpii.py`` masks joints 6:8 out of the mean); other layouts: all joints.
    """
    pred, gt, vis = _inputs(pred, gt, visible)
    K = gt.shape[1]
    if joints == "mpii":
        names = get_skeleton(skeleton).joints if skeleton is not None else ()
        joints = [k for k in range(K) if len(names) != K or names[k] not in ("pelvis", "thorax")]
    if head_size is None and head_boxes is not None:
        hb = _np(head_boxes, "head_boxes")
        if hb.shape != (gt.shape[0], 4):
            raise ValueError(f"head_boxes: expected shape ({gt.shape[0]}, 4), got {hb.shape}")
        head_size = MPII_HEAD_SCALE * np.linalg.norm(hb[:, 2:] - hb[:, :2], axis=-1)
        if not (np.isfinite(head_size).all() and (head_size > 0).all()):
            raise ValueError("head_boxes: every box needs a positive, finite size")
    norm = "head" if head_size is None else head_size
    return pck(pred, gt, vis, norm, alpha, skeleton=skeleton, joints=joints)


def pck_curve(pred, gt, visible, norm="bbox", thresholds=None, *, skeleton=None, joints=None) -> PCKCurve:
    """PCK at many thresholds at once (default ``0, 0.01, ..., 0.5``); see :func:`pck`."""
    pred, gt, vis = _inputs(pred, gt, visible)
    thr = np.linspace(0, 0.5, 51) if thresholds is None else _np(thresholds, "thresholds").reshape(-1)
    if thr.size == 0 or not np.isfinite(thr).all() or (thr < 0).any():
        raise ValueError("thresholds: expected finite values >= 0")
    size, valid = normalizer(norm, gt, vis, skeleton)
    vis = vis & valid[:, None]
    if not vis.any():
        raise ValueError("visible: no visible joint to score")
    with np.errstate(over="ignore", invalid="ignore"):
        rel = _distance(pred, gt) / size[:, None]  # (N, K) distance in units of the normalizer
    correct = rel[None] <= thr[:, None, None]  # (T, N, K)
    per_joint, _, mean = _accuracy(correct, vis[None], _mean_joints(joints, gt.shape[1]), thr)
    return PCKCurve(thr, per_joint, mean)


def auc(thresholds, values) -> float:
    """Area under a PCK curve (trapezoids), normalized by the threshold range -> ``[0, 1]``."""
    x, y = _np(thresholds, "thresholds").reshape(-1), _np(values, "values").reshape(-1)
    if x.shape != y.shape or x.size < 2:
        raise ValueError(f"values: expected as many values as thresholds (>= 2), got {y.size} and {x.size}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()) or (np.diff(x) <= 0).any():
        raise ValueError("thresholds: expected finite, strictly increasing values (and finite values)")
    return float(np.trapezoid(y, x) / (x[-1] - x[0]))


def pcp(pred, gt, visible, alpha: float = 0.5, *, skeleton, variant: str = "strict") -> PCPResult:
    """Percentage of Correct Parts over ``skeleton.pcp_parts``.

    ``variant="strict"``: a limb is correct if *both* endpoint errors are ``<= alpha * L``
    (``L`` = GT limb length). ``variant="averaged"`` (the loose variant): the *mean* of the
    two endpoint errors is ``<= alpha * L``. Limbs with an invisible endpoint or ``L = 0``
    are not scored.
    """
    pred, gt, vis = _inputs(pred, gt, visible)
    if variant not in ("strict", "averaged"):
        raise ValueError(f"variant: expected 'strict' or 'averaged', got {variant!r}")
    _check_alpha(alpha)
    sk = _skeleton_for(skeleton, gt.shape[1], "pcp")
    if not sk.pcp_parts:
        raise ValueError(f"skeleton: {sk.name} defines no PCP parts")
    names = tuple(sk.pcp_parts)
    a, b = np.array([sk.pcp_parts[n] for n in names]).T  # (P,) endpoint indices
    with np.errstate(over="ignore", invalid="ignore"):
        length = np.linalg.norm(gt[:, a] - gt[:, b], axis=-1)  # (N, P)
    scored = vis[:, a] & vis[:, b] & (length > 0)
    if not scored.any():
        raise ValueError("visible: no limb has both endpoints visible")
    d = _distance(pred, gt)
    ea, eb = d[:, a], d[:, b]
    lim = alpha * length
    with np.errstate(over="ignore", invalid="ignore"):
        correct = (np.maximum(ea, eb) <= lim) if variant == "strict" else ((ea + eb) / 2 <= lim)
    per_part, count, mean = _accuracy(correct, scored, range(len(names)), alpha)
    return PCPResult(per_part, count, names, float(mean), variant)
