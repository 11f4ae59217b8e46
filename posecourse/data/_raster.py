"""Rasterization for the synthetic pose world (:mod:`posecourse.data.synthetic`): shaded capsules drawn
with a vectorized distance-to-segment field, and the bank of cluttered background textures."""
from __future__ import annotations

import math

import numpy as np
import torch


def _draw_capsules(img: np.ndarray, owner: np.ndarray, caps: list, owner_id, min_radius: float = 0.8):
    """Draw shaded capsules (back to front) onto ``img (3, H, W)`` in place, inside their joint window.
    ``caps``: list of ``(a, b, radius, rgb)`` with complex endpoints; ``owner_id``: int or a list, one per
    capsule, written to ``owner (H, W)`` where a capsule is on top."""
    if not caps:
        return
    _, H, W = img.shape
    a, b = (np.array([cp[k] for cp in caps], dtype=np.complex128) for k in (0, 1))
    r = np.maximum(np.array([cp[2] for cp in caps], dtype=np.float64), min_radius)
    cols = np.array([cp[3] for cp in caps], dtype=np.float32)
    ext = r.max() + 1
    x0 = max(int(math.floor(min(a.real.min(), b.real.min()) - ext)), 0)
    x1 = min(int(math.ceil(max(a.real.max(), b.real.max()) + ext)) + 1, W)
    y0 = max(int(math.floor(min(a.imag.min(), b.imag.min()) - ext)), 0)
    y1 = min(int(math.ceil(max(a.imag.max(), b.imag.max()) + ext)) + 1, H)
    if x1 <= x0 or y1 <= y0:
        return
    f32 = np.float32
    ax, ay = a.real.astype(f32)[:, None, None], a.imag.astype(f32)[:, None, None]
    dx, dy = (b - a).real.astype(f32)[:, None, None], (b - a).imag.astype(f32)[:, None, None]
    px = np.arange(x0, x1, dtype=f32)[None, None, :] - ax               # (N, 1, w)
    py = np.arange(y0, y1, dtype=f32)[None, :, None] - ay               # (N, h, 1)
    # squared distance to the segment, in place on two (N, h, w) buffers
    t = np.add(px * dx, py * dy)                                        # projection onto the segment
    np.multiply(t, 1 / np.maximum(dx * dx + dy * dy, f32(1e-6)), out=t)
    np.clip(t, f32(0), f32(1), out=t)                                   # closest point's parameter
    d2 = np.multiply(t, dx)
    np.subtract(px, d2, out=d2)
    np.square(d2, out=d2)
    np.multiply(t, dy, out=t)
    np.subtract(py, t, out=t)
    np.square(t, out=t)
    np.add(d2, t, out=d2)                                               # (N, h, w)
    # front-most capsule touching each pixel (d < r + 0.5), and the front-most one fully under it (d < r)
    n = len(caps)
    rank = np.arange(1, n + 1, dtype=np.int8 if n < 127 else np.int32)[:, None, None]
    top = ((d2 < ((r + 0.5) ** 2).astype(f32)[:, None, None]) * rank).max(0)   # 1-based, 0 = none
    hard = (d2 < (r**2).astype(f32)[:, None, None]) & (rank < top)
    under = (hard * rank).max(0).astype(np.intp)
    front = np.maximum(top.astype(np.intp) - 1, 0)
    d_top = np.sqrt(np.take_along_axis(d2, front[None], 0)[0])
    r_top = r.astype(f32)[front]
    alpha = r_top - d_top + f32(0.5)
    np.clip(alpha, f32(0), f32(1), out=alpha)                           # 1-px soft edge
    shade = f32(1) - f32(0.4) * np.minimum(d_top / r_top, f32(1)) ** 2   # cylinder-like shading
    col = cols.T[:, front] * shade                                      # (3, h, w)
    win = img[:, y0:y1, x0:x1]
    behind = under > 0  # the soft edge blends with the capsule beneath, not with the background
    if behind.any():
        win = np.where(behind, cols.T[:, np.maximum(under - 1, 0)] * f32(0.8), win)
    img[:, y0:y1, x0:x1] = win + alpha * (col - win)
    ids = np.broadcast_to(np.asarray(owner_id), (n,))
    ow = owner[y0:y1, x0:x1]
    on_top, on_under = alpha >= 0.5, behind & (alpha < 0.5)
    ow[on_top] = ids[front[on_top]]
    ow[on_under] = ids[under[on_under] - 1]


def _texture_bank(rng: np.random.Generator, n: int, size: int, image_side: int, clutter: float = 0.7,
                  distractors: float = 2.0) -> np.ndarray:
    """``(n, 3, size, size)`` float32 background textures in [0, 1], muted so that the figures stand out.
    ``clutter`` scales the texture contrast (0 = flat); ``distractors`` is the mean number of limb-like
    capsules (sized for images of side ``image_side``) per image-sized area, drawn in full colour."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    bank = np.empty((n, 3, size, size), np.float32)
    for i in range(n):
        kind = i % 4
        base = rng.uniform(0.25, 0.65, 3).astype(np.float32)
        if kind == 0:    # smooth noise: bilinear upsampling of a coarse random grid, plus fine grain
            g = int(rng.integers(3, 9))
            coarse = torch.from_numpy(rng.random((1, 3, g, g)).astype(np.float32))
            smooth = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)[0].numpy()
            tex = base[:, None, None] + 0.5 * (smooth - 0.5) + 0.08 * rng.standard_normal((3, size, size)).astype(np.float32)
        elif kind == 1:  # stripes at a random angle and period
            th, period = rng.uniform(0, np.pi), rng.uniform(4, 16) * size / 64
            wave = np.sin(2 * np.pi * (xx * np.cos(th) + yy * np.sin(th)) / period)
            other = rng.uniform(0.25, 0.65, 3).astype(np.float32)
            tex = np.where(wave[None] > 0, base[:, None, None], other[:, None, None])
            tex = tex + 0.04 * rng.standard_normal((3, size, size)).astype(np.float32)
        elif kind == 2:  # random rectangles and discs
            tex = np.broadcast_to(base[:, None, None], (3, size, size)).copy()
            for _ in range(int(rng.integers(8, 20))):
                cx, cy, rr = rng.uniform(0, size), rng.uniform(0, size), rng.uniform(0.03, 0.15) * size
                mask = (np.abs(xx - cx) < rr) & (np.abs(yy - cy) < rr * rng.uniform(0.4, 1.5)) if rng.random() < 0.5 \
                    else (xx - cx) ** 2 + (yy - cy) ** 2 < rr ** 2
                tex[:, mask] = rng.uniform(0.15, 0.75, 3).astype(np.float32)[:, None]
        else:            # checker / grid of tiles with noise
            cell = rng.uniform(6, 20) * size / 64
            check = ((xx // cell + yy // cell) % 2)[None]
            tex = base[:, None, None] * (0.8 + 0.35 * check) + 0.06 * rng.standard_normal((3, size, size)).astype(np.float32)
        grey = tex.mean(0, keepdims=True)
        tex = np.clip(grey + 0.5 * (tex - grey), 0, 1)  # desaturate: the figures carry the colour
        mean = tex.mean()
        bank[i] = mean + clutter * (tex - mean)
        n_dis = int(rng.poisson(distractors * (size / image_side) ** 2))
        if n_dis:  # limb-like capsules that belong to nobody
            p = rng.random((n_dis, 5))
            a = p[:, 0] * size + 1j * p[:, 1] * size
            b = a + (0.1 + 0.2 * p[:, 3]) * image_side * np.exp(2j * np.pi * p[:, 2])
            rad = (0.02 + 0.02 * p[:, 4]) * image_side
            caps = list(zip(a, b, rad, rng.random((n_dis, 3))))
            _draw_capsules(bank[i], np.zeros((size, size), np.int16), caps, -3)
    return bank
