"""Peak finding in belief maps for bottom-up assembly (:func:`posecourse.targets.paf.assemble`), in NumPy on the
CPU: a row maximum finds the rows above the threshold, and only their pixels above it are tested as local maxima
(cost and the ``MAX_PEAKS`` bound: :func:`find_peaks`)."""
from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

__all__ = ["find_peaks", "MAX_PEAKS"]

MAX_PEAKS = 128      # peaks kept per joint (the highest); OpenPose's C++ keeps at most 127 people


def _numpy(x, name: str) -> np.ndarray:
    """A float NumPy view of a tensor/array (CPU; no copy when it already is one)."""
    if isinstance(x, torch.Tensor):
        x = x.detach()
        if x.is_complex():
            raise ValueError(f"{name}: expected real values, got dtype {x.dtype}")
        x = (x if x.dtype in (torch.float32, torch.float64) else x.float()).cpu().numpy()
    try:
        x = np.asarray(x)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name}: not an array ({e})") from None
    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise ValueError(f"{name}: expected a numeric array, got dtype {x.dtype}")
    # half precision is read in float32 (the sub-pixel log-parabola and the scores as float32 would give them)
    return np.ascontiguousarray(x if x.dtype in (np.float32, np.float64) else x.astype(np.float32))


def _local_maxima(m: np.ndarray, cand: np.ndarray, H: int, W: int, r: int) -> np.ndarray:
    """The flat indices among ``cand`` of the flattened ``(K * H * W,)`` maps ``m`` that are peaks (see
    :func:`find_peaks`); candidates are dropped as soon as one neighbour rules them out."""
    v = m[cand]
    p = cand % (H * W)
    y, x = p // W, p % W
    lower = np.zeros(len(cand), dtype=bool)
    offsets = sorted(((dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1) if dy or dx),
                     key=lambda o: (abs(o[0]) + abs(o[1]), o))     # nearest neighbours first: they prune most
    for dy, dx in offsets:
        inside = (y + dy >= 0) & (y + dy < H) & (x + dx >= 0) & (x + dx < W)
        nb = m[np.where(inside, cand + (dy * W + dx), cand)]
        earlier = dy < 0 or (dy == 0 and dx < 0)
        keep = ~(inside & ((nb >= v) if earlier else (nb > v)))
        lower = (lower | (inside & (nb < v)))[keep]
        cand, v, y, x = cand[keep], v[keep], y[keep], x[keep]
    return cand[lower]


def _plateaus(hm: np.ndarray, idx: np.ndarray, subpixel: bool) -> tuple[np.ndarray, dict]:
    """One peak per plateau: of the peaks of one joint that lie on one plateau (pixels of exactly their value,
    8-connected) only the first in raster order is kept. The window test alone keeps one pixel of a convex
    plateau but several of one that widens by more than a pixel per row (the flat top of a saturated
    Gaussian), which assembly turned into several people. Returns the kept indices (sorted) and, with
    ``subpixel``, ``{index: (x, y)}``: the centroid of each kept peak's plateau, its position (the first
    pixel of a flat top lies up to its radius from the centre)."""
    K, H, W = hm.shape
    if len(idx) == 0:
        return idx, {}

    m = hm.reshape(-1)
    p = idx % (H * W)
    y, x = p // W, p % W
    flat = np.zeros(len(idx), dtype=bool)
    for dy, dx in ((0, 1), (1, -1), (1, 0), (1, 1), (0, -1), (-1, 1), (-1, 0), (-1, -1)):
        inside = (y + dy >= 0) & (y + dy < H) & (x + dx >= 0) & (x + dx < W)
        flat |= inside & (m[np.where(inside, idx + dy * W + dx, idx)] == m[idx])
    if not flat.any():
        return idx, {}
    keep, where = np.ones(len(idx), dtype=bool), {}
    cand = np.flatnonzero(flat)
    v, k = m[idx[cand]], idx[cand] // (H * W)
    order = np.lexsort((idx[cand], v, k))
    cand, v, k = cand[order], v[order], k[order]
    new = np.r_[True, (k[1:] != k[:-1]) | (v[1:] != v[:-1])]
    for a, b in zip(np.flatnonzero(new), np.r_[np.flatnonzero(new)[1:], len(cand)]):
        labels, _ = ndimage.label(hm[k[a]] == v[a], structure=np.ones((3, 3), dtype=bool))
        members = cand[a:b]                                   # raster order within the group
        lab = labels.reshape(-1)[p[members]]
        _, first = np.unique(lab, return_index=True)
        keep[members] = False
        keep[members[first]] = True
        if subpixel:
            for i in members[first]:
                ys, xs = np.nonzero(labels == labels.reshape(-1)[p[i]])
                where[int(idx[i])] = (xs.mean(), ys.mean())
    return idx[keep], where


def _find_peaks(hm: np.ndarray, threshold, r, subpixel, max_peaks) -> tuple[np.ndarray, np.ndarray]:
    """:func:`find_peaks` on a ``(K, H, W)`` array: all peaks ``(N, 3)`` (by joint, raster order), counts ``(K,)``."""
    K, H, W = hm.shape
    m = hm.reshape(-1)
    if m.size == 0:
        return np.zeros((0, 3), m.dtype), np.zeros(K, np.int64)
    rows = hm.reshape(K * H, W)
    row_max = rows.max(1)                     # the one full pass; NaN propagates into it
    if np.isnan(row_max).any() or np.isposinf(row_max).any():
        raise ValueError("heatmaps: contain NaN/inf")
    live = np.flatnonzero(row_max > threshold)
    found = []
    for s in range(0, len(live), H):          # bounded memory: at most one map's worth of rows at a time
        r_s = live[s:s + H]
        i = np.flatnonzero(rows[r_s] > threshold)
        found.append(_local_maxima(m, r_s[i // W] * W + i % W, H, W, r))
    idx, centre = _plateaus(hm, np.sort(np.concatenate(found)) if found else np.zeros(0, np.int64), subpixel)
    k = idx // (H * W)
    counts = np.bincount(k, minlength=K)
    if len(idx) and counts.max() > max_peaks:
        order = np.argsort(-m[idx], kind="stable")                  # highest first, ties by raster order
        order = order[np.argsort(k[order], kind="stable")]          # ... within each joint
        rank = np.arange(len(order)) - np.searchsorted(k[order], k[order])
        idx = np.sort(idx[order[rank < max_peaks]])
        k = idx // (H * W)
        counts = np.bincount(k, minlength=K)
    score = m[idx]
    p = idx % (H * W)
    xy = np.stack([p % W, p // W], axis=-1).astype(m.dtype)
    if subpixel and len(idx):
        with np.errstate(divide="ignore", invalid="ignore"):
            c = np.log(np.maximum(score, 1e-10))
            for ax, (step, pos, n) in enumerate(((1, xy[:, 0], W), (W, xy[:, 1], H))):
                inner = (pos > 0) & (pos < n - 1)
                lm = np.log(np.maximum(m[np.where(inner, idx - step, idx)], 1e-10))
                lp = np.log(np.maximum(m[np.where(inner, idx + step, idx)], 1e-10))
                curv = lm - 2 * c + lp
                ok = inner & (curv < -1e-9)
                xy[:, ax] += np.clip(np.where(ok, 0.5 * (lm - lp) / np.where(ok, curv, -1), 0), -0.5, 0.5)
        for i in np.flatnonzero(np.isin(idx, list(centre))) if centre else ():
            xy[i] = centre[int(idx[i])]
    return np.concatenate([xy, score[:, None]], axis=-1), counts


def find_peaks(heatmaps, threshold: float = 0.1, nms_radius: int = 1, subpixel: bool = True,
               max_peaks: int = MAX_PEAKS) -> list[torch.Tensor]:
    """Local maxima of each ``(K, H, W)`` heatmap above ``threshold``.

    A pixel ``p`` with ``h(p) > threshold`` is a peak when, in its ``(2r+1)^2`` window (``r =
    nms_radius``), every earlier pixel (raster order) is lower, every later one is not higher, and at
    least one is lower; of the peaks on one plateau (equal values joined 8-connected, e.g. the flat top of
    a saturated map) only the first is kept, so a plateau gives one peak and a constant map none
    (with ``subpixel`` it is placed at the plateau's centroid). Only pixels
    above ``threshold`` are examined, so the cost is one pass over the maps plus work proportional to
    the pixels above it (bounded by ``K H W (2r+1)^2`` for any map, in slices of one map's size). At
    most ``max_peaks`` peaks per joint are kept, the highest (ties: raster order), so assembly stays
    bounded on random or saturated maps. ``subpixel`` refines each peak per axis by the vertex of a
    parabola through the log-values of the peak and its two neighbours (exact for a Gaussian). NaN or
    +inf in a map raise ``ValueError`` (-inf is just low). Runs in NumPy on the CPU.
    Returns ``K`` tensors ``(N_k, 3)`` of ``x, y, score`` in heatmap px, each in raster order.
    """
    hm = _numpy(heatmaps, "heatmaps")
    if hm.ndim != 3:
        raise ValueError(f"heatmaps: expected (K, H, W), got {tuple(hm.shape)}")
    r = int(nms_radius)
    if r < 1:
        raise ValueError(f"nms_radius: expected >= 1, got {nms_radius}")
    if not (isinstance(max_peaks, int) and max_peaks >= 1):
        raise ValueError(f"max_peaks: expected a positive int, got {max_peaks!r}")
    out, counts = _find_peaks(hm, threshold, r, subpixel, max_peaks)
    return list(torch.split(torch.from_numpy(out), counts.tolist()))
