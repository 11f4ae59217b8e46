"""Peak finding in belief maps for bottom-up assembly (:func:`posecourse.targets.paf.assemble`).

Runs in NumPy on the CPU: one pass over the maps (a row maximum) finds the rows above the
threshold; only their pixels above it are tested as local maxima, so the cost is one read of the
maps plus work proportional to the pixels above the threshold, and at most ``MAX_PEAKS`` peaks per
joint are returned whatever the maps hold.
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["find_peaks", "MAX_PEAKS"]

MAX_PEAKS = 128      # peaks kept per joint (the highest); OpenPose's C++ keeps at most 127 people


def _numpy(x, name: str) -> np.ndarray:
    """A float NumPy view of a tensor/array (CPU; no copy when it already is one)."""
    if isinstance(x, torch.Tensor):
        x = x.detach()
        x = (x if x.dtype in (torch.float16, torch.float32, torch.float64) else x.float()).cpu().numpy()
    try:
        x = np.asarray(x)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name}: not an array ({e})") from None
    return np.ascontiguousarray(x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float32))


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
    idx = np.concatenate(found) if found else np.zeros(0, np.int64)
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
    return np.concatenate([xy, score[:, None]], axis=-1), counts


def find_peaks(heatmaps, threshold: float = 0.1, nms_radius: int = 1, subpixel: bool = True,
               max_peaks: int = MAX_PEAKS) -> list[torch.Tensor]:
    """Local maxima of each ``(K, H, W)`` heatmap above ``threshold``.

    A pixel ``p`` with ``h(p) > threshold`` is a peak when, in its ``(2r+1)^2`` window (``r =
    nms_radius``), every earlier pixel (raster order) is lower, every later one is not higher, and at
    least one is lower: a plateau gives one peak (its first pixel) and a constant map none. Only pixels
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
