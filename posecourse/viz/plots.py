"""Static plots (matplotlib) of arrays or tensors (any device): skeleton overlays, belief-map grids, PAF fields."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..evaluation import per_image_error
from ..skeletons import get_skeleton
from ..targets.heatmap import to_image

__all__ = ["to_numpy", "image_hwc", "limb_colors", "draw_pose", "show_heatmaps", "draw_paf", "show_predictions"]

LEFT, RIGHT, CENTER = "#e4572e", "#2e86de", "#f2c14e"


def to_numpy(x) -> np.ndarray:
    """Tensor (any device, with or without grad) or array -> float numpy array."""
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x)


def image_hwc(image) -> np.ndarray:
    """``(3, H, W)`` or ``(H, W, 3)`` image in [0, 1] -> ``(H, W, 3)`` clipped array for imshow."""
    im = to_numpy(image)
    im = im.transpose(1, 2, 0) if im.ndim == 3 and im.shape[0] in (1, 3) and im.shape[-1] not in (1, 3) else im
    if im.ndim != 3 or im.shape[-1] not in (1, 3):
        raise ValueError(f"image: expected (3, H, W) or (H, W, 3), got {im.shape}")
    return np.clip(im, 0, 1)


def limb_colors(skeleton) -> list[str]:
    """One colour per limb: the person's left side warm, right side cool, the midline yellow."""
    sk = get_skeleton(skeleton)
    sides = [{side for side in ("left", "right") if side in sk.joints[a] + sk.joints[b]} for a, b in sk.limbs]
    return [LEFT if s == {"left"} else RIGHT if s == {"right"} else CENTER for s in sides]


# Images and maps are drawn pixel by pixel: the student sees the 64 x 64 pixels (or 16 x 16 heatmap cells)
# the network sees, not a smoothed version, and the stored figures compress to about half the bytes.
PIXELS = {"interpolation": "nearest"}


def draw_pose(ax, keypoints, skeleton, visibility=None, *, image=None, color=None, linewidth=2.0,
              markersize=4.0, linestyle="-", label=None):
    """Draw the poses ``keypoints (K, 2)`` or ``(P, K, 2)`` (pixels, NaN = missing) of ``skeleton`` into ``ax``,
    over ``image (3, H, W)`` if given. Joints of ``visibility (K,)`` / ``(P, K)`` 0 are not drawn, limbs only between
    drawn joints; ``color``: one colour for everything (e.g. ground truth vs prediction), else left/right colours."""
    sk = get_skeleton(skeleton)
    kp = to_numpy(keypoints).astype(float)
    if kp.ndim == 2:
        kp = kp[None]
    if kp.shape[-2:] != (sk.num_joints, 2):
        raise ValueError(f"keypoints: expected (..., {sk.num_joints}, 2) for {sk.name}, got {kp.shape}")
    vis = np.ones(kp.shape[:2]) if visibility is None else to_numpy(visibility).reshape(kp.shape[:2])
    if image is not None:
        ax.imshow(image_hwc(image), **PIXELS)
    colors = limb_colors(sk)
    for p in range(kp.shape[0]):
        ok = (vis[p] > 0) & np.isfinite(kp[p]).all(-1)
        for (a, b), c in zip(sk.limbs, colors):
            if ok[a] and ok[b]:
                ax.plot(kp[p, [a, b], 0], kp[p, [a, b], 1], color=color or c, lw=linewidth, ls=linestyle,
                        solid_capstyle="round")
        ax.plot(kp[p, ok, 0], kp[p, ok, 1], "o", color=color or "white", ms=markersize, mec="black", mew=0.5,
                label=label if p == 0 else None)
    ax.set_axis_off()
    return ax


def show_heatmaps(heatmaps, names=None, *, image=None, ncols=6, axes=None, vmax=None):
    """Grid of belief maps ``(C, H, W)``, optionally over the image (resized by imshow extent)."""
    hm = to_numpy(heatmaps)
    if hm.ndim != 3:
        raise ValueError(f"heatmaps: expected (C, H, W), got {hm.shape}")
    C = hm.shape[0]
    if axes is None:
        nrows = int(np.ceil(C / ncols))
        _, axes = plt.subplots(nrows, ncols, figsize=(1.6 * ncols, 1.7 * nrows), squeeze=False)
    axes = np.asarray(axes).ravel()
    extent = None
    if image is not None:
        im = image_hwc(image)
        extent = (-0.5, im.shape[1] - 0.5, im.shape[0] - 0.5, -0.5)
    for c, ax in enumerate(axes):
        ax.set_axis_off()
        if c >= C:
            continue
        if image is not None:
            ax.imshow(im.mean(-1), cmap="gray", extent=extent, **PIXELS)
        ax.imshow(hm[c], cmap="magma", alpha=0.7 if image is not None else 1.0, extent=extent, vmin=0,
                  vmax=vmax if vmax is not None else max(float(hm[c].max()), 1e-6), **PIXELS)
        if names is not None:
            ax.set_title(str(names[c])[:14], fontsize=7)
    return axes


def draw_paf(ax, paf_xy, *, step=2, image=None, stride=1.0, scale=None, color="cyan", min_norm=1e-3):
    """Quiver plot of one limb's field ``(2, H, W)`` (x and y components), in image pixels if ``stride`` given."""
    f = to_numpy(paf_xy)
    if f.ndim != 3 or f.shape[0] != 2:
        raise ValueError(f"paf_xy: expected (2, H, W), got {f.shape}")
    if image is not None:
        ax.imshow(image_hwc(image), **PIXELS)
    H, W = f.shape[1:]
    ys, xs = np.mgrid[0:H:step, 0:W:step]
    u, v = f[0, ys, xs], f[1, ys, xs]
    keep = np.hypot(u, v) > min_norm
    px, py = to_image(xs, stride), to_image(ys, stride)
    ax.quiver(px[keep], py[keep], u[keep], v[keep], color=color, angles="xy", scale_units="xy",
              scale=scale if scale is not None else 1.0 / (step * stride * 0.9), width=0.004)
    if image is None:
        ax.set_xlim(-0.5, W * stride - 0.5)
        ax.set_ylim(H * stride - 0.5, -0.5)
        ax.set_aspect("equal")
    return ax


def show_predictions(pred, batch: dict, skeleton, n: int = 6, errors=None):
    """Best ``n // 2`` and worst ``n - n // 2`` held-out images by mean joint error (person 0): prediction
    ``(N, K, 2)`` in the left/right colours, ground truth dashed white. ``errors``: per-image errors ``(N,)``
    (default :func:`posecourse.evaluation.per_image_error`). Returns the figure."""
    err = per_image_error(pred, batch) if errors is None else torch.as_tensor(errors)
    order = torch.argsort(err)
    pick = torch.cat([order[: n // 2], order.flip(0)[: n - n // 2]]).tolist()
    fig, axes = plt.subplots(1, n, figsize=(2.1 * n, 2.5))
    for rank, (ax, i) in enumerate(zip(np.atleast_1d(axes), pick)):
        draw_pose(ax, batch["keypoints"][i, 0], skeleton, batch["visibility"][i, 0], image=batch["image"][i],
                  color="white", linestyle="--", linewidth=1, markersize=2)
        draw_pose(ax, pred[i], skeleton, batch["visibility"][i, 0] > 0)
        ax.set_title(f"{'best' if rank < n // 2 else 'worst'}: {err[i]:.1f} px", fontsize=8)
    plt.show()
    return fig
