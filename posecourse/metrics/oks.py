"""Object Keypoint Similarity (COCO), batched.

``OKS = sum_i exp(-d_i^2 / (2 s^2 k_i^2)) [v_i > 0] / sum_i [v_i > 0]`` with ``k_i = 2 sigma_i`` and ``s^2`` the
object's area, exactly as pycocotools' ``computeOks`` (which adds ``np.spacing(1)`` to the area). ``coco_keypoint_eval``
uses its own pairwise version with pycocotools' box fallback for GT without labelled joints."""
from __future__ import annotations

import numpy as np

from ..skeletons import get_skeleton
from .pck import _np

__all__ = ["oks"]


def oks(pred, gt, visible, area, sigmas="coco17") -> np.ndarray:
    """OKS in ``[0, 1]`` between predictions and GT people, of the broadcast batch shape: ``pred``, ``gt``
    ``(..., K, 2)`` (broadcastable, e.g. ``pred[:, None]`` vs ``gt[None]`` for a ``(D, G)`` matrix), ``visible (..., K)``
    GT labels (nonzero = labelled), ``area (...)`` the GT area ``s^2`` (finite, >= 0), ``sigmas``: ``(K,)`` per-joint
    constants or a skeleton name with sigmas. A person with no labelled joint gets OKS 0 (documented choice;
    pycocotools measures to the box instead); a NaN/inf prediction contributes 0 for that joint."""
    pred, gt, vis, area = _np(pred, "pred"), _np(gt, "gt"), _np(visible, "visible"), _np(area, "area")
    sig = np.asarray(get_skeleton(sigmas).sigmas if isinstance(sigmas, str) else _np(sigmas, "sigmas"), float)
    if sig.ndim != 1 or not np.isfinite(sig).all() or (sig <= 0).any():
        raise ValueError("sigmas: expected positive finite per-joint constants (K,)")
    K = sig.shape[0]
    for name, x in (("pred", pred), ("gt", gt)):
        if x.ndim < 2 or x.shape[-2:] != (K, 2):
            raise ValueError(f"{name}: expected shape (..., {K}, 2), got {x.shape}")
    if vis.ndim < 1 or vis.shape[-1] != K:
        raise ValueError(f"visible: expected shape (..., {K}), got {vis.shape}")
    if not np.isfinite(area).all() or (area < 0).any():
        raise ValueError("area: expected finite values >= 0")
    try:
        batch = np.broadcast_shapes(pred.shape[:-2], gt.shape[:-2], vis.shape[:-1], area.shape)
    except ValueError:
        raise ValueError(f"pred/gt/visible/area: batch shapes {pred.shape[:-2]}, {gt.shape[:-2]}, "
                         f"{vis.shape[:-1]}, {area.shape} do not broadcast") from None
    lab = np.broadcast_to(np.nan_to_num(vis) > 0, batch + (K,))
    if not np.isfinite(np.broadcast_to(gt, batch + (K, 2))[lab]).all():
        raise ValueError("gt: NaN or inf at a labelled joint")
    with np.errstate(over="ignore", invalid="ignore"):
        d2 = ((pred - gt) ** 2).sum(-1)
        e = d2 / (2 * sig) ** 2 / (area[..., None] + np.spacing(1)) / 2
    terms = np.where(lab & np.isfinite(e), np.exp(-np.where(np.isfinite(e), e, 0)), 0.0)
    n = lab.sum(-1)
    return np.where(n > 0, terms.sum(-1) / np.maximum(n, 1), 0.0)
