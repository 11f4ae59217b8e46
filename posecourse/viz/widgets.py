"""The lectures' interactive explorers: thin ipywidgets shells over pure functions.

Every explorer is three functions: a **pure function** computing what is shown (arrays; the tests call
it without a browser: :func:`receptive_fields_per_stage`, :func:`belief_maps_per_stage`,
:func:`paf_limb_explorer_data`, :func:`exchange_terms` in :mod:`.exchange`, :func:`cascade_view`), a
**figure function** drawing it (returns the ``Figure``) and a **widget**, an :class:`~.explorer.Explorer`
wiring sliders and dropdowns to the figure function.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..geometry import denormalize
from ..models.deeppose import crop_sub_images
from ..models.receptive_field import effective_rf, theoretical_rf
from ..skeletons import get_skeleton
from ..targets import paf as P
from ..targets.heatmap import to_image
from ..targets.regression import image_box
from .architecture_blocks import forward_hooked
from .exchange import exchange_figure, exchange_terms, hrnet_viewer
from .explorer import Explorer, dropdown, figure_png, slider
from .plots import PIXELS, draw_paf, draw_pose, image_hwc, show_heatmaps, to_numpy

__all__ = ["Explorer", "figure_png", "receptive_fields_per_stage", "rf_figure", "rf_explorer",
           "belief_maps_per_stage", "belief_figure", "belief_stepper", "paf_limb_explorer_data", "paf_figure",
           "paf_explorer", "exchange_terms", "exchange_figure", "hrnet_viewer",
           "cascade_view", "cascade_figure", "cascade_explorer"]


# --------------------------------------------------------------------------- receptive fields (CPM)
def receptive_fields_per_stage(model: torch.nn.Module, image: torch.Tensor, location: tuple[int, int],
                               stages=None) -> list[dict]:
    """Theoretical and effective receptive field of belief-map ``location (y, x)`` at each of ``stages`` (default:
    all) of ``model`` (returning per-stage outputs ``(1, C, h, w)``: CPM, Hourglass) on ``image (3, H, W)``: one dict
    per stage, ``stage``, ``theoretical`` and ``effective`` (:class:`RFResult`, maps ``(H, W)``)."""
    if image.dim() != 3:
        raise ValueError(f"image: expected (3, H, W), got {tuple(image.shape)}")
    image = image.to(next(model.parameters()).device)
    stages = range(len(forward_hooked(model, image[None]))) if stages is None else stages
    return [{"stage": t, "theoretical": theoretical_rf(model, tuple(image.shape[-2:]), location, select=lambda o, t=t: o[t]),
             "effective": effective_rf(model, image, location, select=lambda o, t=t: o[t])} for t in stages]


def rf_figure(rfs: list[dict], image: torch.Tensor, location: tuple[int, int], stride: float):
    """Row per stage: theoretical RF outline on the image | effective RF heat map."""
    n = len(rfs)
    fig, axes = plt.subplots(1, n, figsize=(2.6 * n, 2.8), squeeze=False)
    im = image_hwc(image)
    cy, cx = to_image(np.asarray(location, float), stride)
    for ax, r in zip(axes[0], rfs):
        ax.imshow(im.mean(-1), cmap="gray", **PIXELS)
        ax.imshow(to_numpy(r["effective"].map), cmap="magma", alpha=0.65, **PIXELS)
        ax.contour(to_numpy(r["theoretical"].map) > 0, levels=[0.5], colors="cyan", linewidths=1)
        ax.plot([cx], [cy], "c+", ms=10)
        th, ef = r["theoretical"].size, r["effective"].size
        ax.set_title(f"stage {r['stage'] + 1}\ntheor. {th[0]}x{th[1]}  eff. {ef[0]}x{ef[1]}", fontsize=8)
        ax.set_axis_off()
    fig.tight_layout()
    return fig


def rf_explorer(model, image: torch.Tensor, stride: int, title: str = "Receptive field per stage"):
    """Widget: pick an output location; see every stage's theoretical (cyan) and effective RF."""
    h, w = forward_hooked(model, image[None].to(next(model.parameters()).device))[0].shape[-2:]
    controls = {"y": slider("row y", 0, h - 1, h // 2), "x": slider("col x", 0, w - 1, w // 2)}

    def render(y, x):
        return rf_figure(receptive_fields_per_stage(model, image, (y, x)), image, (y, x), stride)

    return Explorer(render, controls, title)


# --------------------------------------------------------------------------- belief maps per stage
def belief_maps_per_stage(outputs, joint: int, index: int = 0) -> np.ndarray:
    """One joint's belief map at every stage/stack: ``(T, h, w)`` for image ``index`` of the batch.

    ``outputs`` is a model output list of ``(B, C, h, w)`` tensors (CPM stages, hourglass stacks).
    """
    if not isinstance(outputs, (list, tuple)) or not outputs:
        raise ValueError("outputs: expected a non-empty list of (B, C, h, w) tensors")
    C = outputs[0].shape[1]
    if not 0 <= joint < C:
        raise ValueError(f"joint: {joint} is not a channel index in [0, {C})")
    return np.stack([to_numpy(o[index, joint]) for o in outputs])


def belief_figure(outputs, image, joint: int, skeleton, stride: float, index: int = 0, pred=None):
    """Row of belief maps of ``joint`` (one per stage), overlaid on the image, each with its peak."""
    maps = belief_maps_per_stage(outputs, joint, index)
    T, sk = len(maps), get_skeleton(skeleton)
    fig, axes = plt.subplots(1, T + (pred is not None), figsize=(2.3 * (T + (pred is not None)), 2.6), squeeze=False)
    show_heatmaps(maps, image=image, axes=axes[0][:T], vmax=max(float(maps.max()), 1e-6))
    for t, ax in enumerate(axes[0][:T]):
        peak = np.unravel_index(np.argmax(maps[t]), maps[t].shape)[::-1]  # (x, y)
        ax.plot(*to_image(np.asarray(peak, float)[:, None], stride), "c+", ms=9)
        ax.set_title(f"stage {t + 1}: max {maps[t].max():.2f}", fontsize=8)
    if pred is not None:
        draw_pose(axes[0][-1], pred, sk, image=image)
        axes[0][-1].set_title("final pose", fontsize=8)
    name = sk.joints[joint] if joint < sk.num_joints else "background"
    fig.suptitle(f"belief maps of {name}", fontsize=9)
    fig.tight_layout()
    return fig


def _joint_and_image(sk, images, extra=()) -> dict:
    """The controls of a per-joint, per-image explorer: a joint (default the right wrist; ``extra``
    ``(label, channel)`` entries after the joints) and an image of ``images``."""
    names = [(n, i) for i, n in enumerate(sk.joints)] + list(extra)
    return {"joint": dropdown("joint", names, sk.index("right_wrist") if "right_wrist" in sk.joints else 0),
            "index": slider("image", 0, len(images) - 1, 0)}


def belief_stepper(outputs, images, skeleton, stride: float, title: str = "Belief maps per stage"):
    """Widget: pick an image and a joint; see its belief map at every stage/stack."""
    sk, C = get_skeleton(skeleton), outputs[0].shape[1]
    controls = _joint_and_image(sk, images, [("background", C - 1)] if C > sk.num_joints else [])

    def render(joint, index):
        return belief_figure(outputs, images[index], joint, sk, stride, index)

    return Explorer(render, controls, title)


# --------------------------------------------------------------------------- PAF explorer (OpenPose)
def paf_limb_explorer_data(heatmaps, pafs, skeleton, limb: int, *, threshold: float = 0.1,
                           num_samples: int = 10, method: str = "greedy") -> dict:
    """Everything the PAF explorer shows for limb ``c`` of one image's ``heatmaps (K or K+1, h, w)`` and ``pafs
    (2L, h, w)`` (channels ``2c, 2c+1`` = x, y of limb ``c``): ``field (2, h, w)``, ``a (Na, 2)`` / ``b (Nb, 2)``
    candidate peaks of the limb's two joints (x, y in heatmap px), ``E (Na, Nb)`` line integrals, ``matches``
    list of ``(i, j, E)``."""
    sk = get_skeleton(skeleton)
    hm, pf = torch.as_tensor(to_numpy(heatmaps)), torch.as_tensor(to_numpy(pafs))
    if pf.dim() != 3 or pf.shape[0] != 2 * len(sk.limbs):
        raise ValueError(f"pafs: expected (2L={2 * len(sk.limbs)}, h, w) for {sk.name}, got {tuple(pf.shape)}")
    if not 0 <= limb < len(sk.limbs):
        raise ValueError(f"limb: {limb} not in [0, {len(sk.limbs)})")
    j1, j2 = sk.limbs[limb]
    peaks = P.find_peaks(hm[: sk.num_joints], threshold=threshold)
    a, b = (to_numpy(peaks[j])[:, :2].reshape(-1, 2) for j in (j1, j2))
    field = pf[2 * limb: 2 * limb + 2]
    if len(a) and len(b):
        ia, ib = np.meshgrid(np.arange(len(a)), np.arange(len(b)), indexing="ij")  # every candidate pair
        E = to_numpy(P.line_integral(field, torch.as_tensor(a[ia.ravel()], dtype=torch.float32),
                                     torch.as_tensor(b[ib.ravel()], dtype=torch.float32),
                                     num_samples=num_samples)).reshape(len(a), len(b))
        allowed = np.where(E > 0, E, -np.inf)  # a connection needs a positive score
        matches = [(int(i), int(j), float(E[i, j])) for i, j in P.match_limb(allowed, method=method)]
    else:
        E, matches = np.zeros((len(a), len(b))), []
    return {"field": to_numpy(field), "a": a, "b": b, "E": np.asarray(E), "matches": matches,
            "joints": (sk.joints[j1], sk.joints[j2])}


def paf_figure(data: dict, image, stride: float, pick: tuple[int, int] | None = None):
    """Left: the limb's vector field and its matching; right: the ``E`` matrix of candidate pairs."""
    # small: a stored notebook holds this picture twice (the output and the widget's state)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(5.8, 2.8), gridspec_kw={"width_ratios": [1.3, 1]})
    draw_paf(ax, data["field"], image=image, stride=stride, step=1)
    a, b = to_image(np.asarray(data["a"]), stride), to_image(np.asarray(data["b"]), stride)
    ax.plot(a[:, 0], a[:, 1], "o", color="#e4572e", ms=6, mec="k", label=data["joints"][0])
    ax.plot(b[:, 0], b[:, 1], "s", color="#f2c14e", ms=6, mec="k", label=data["joints"][1])
    for i, j, e in data["matches"]:
        ax.plot([a[i, 0], b[j, 0]], [a[i, 1], b[j, 1]], "-", color="lime", lw=2)
    if pick is not None and len(a) > pick[0] and len(b) > pick[1]:
        i, j = pick
        ax.plot([a[i, 0], b[j, 0]], [a[i, 1], b[j, 1]], "--", color="white", lw=1.5)
        ax.set_title(f"E(a{i}, b{j}) = {data['E'][i, j]:.2f}", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    E = data["E"]
    if E.size:
        vmax = max(1.0, float(np.abs(E).max()))
        ax2.imshow(E, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        for (i, j), e in np.ndenumerate(E):
            ax2.text(j, i, f"{e:.2f}", ha="center", va="center", fontsize=7)
        for i, j, _ in data["matches"]:
            ax2.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="lime", lw=2))
    ax2.set_xlabel(f"candidate {data['joints'][1]} b_j")
    ax2.set_ylabel(f"candidate {data['joints'][0]} a_i")
    ax2.set_title("line integrals E (matched: green)", fontsize=9)
    fig.tight_layout()
    return fig


def paf_explorer(heatmaps, pafs, image, skeleton, stride: float, title: str = "Part Affinity Field explorer"):
    """Widget: pick a limb and two candidate joints; see the field, ``E`` and the matching."""
    sk = get_skeleton(skeleton)
    limbs = [(f"{c}: {sk.joints[a]} -> {sk.joints[b]}", c) for c, (a, b) in enumerate(sk.limbs)]
    controls = {"limb": dropdown("limb", limbs), "i": slider("cand. a", 0, 7, 0), "j": slider("cand. b", 0, 7, 0)}

    def render(limb, i, j):
        return paf_figure(paf_limb_explorer_data(heatmaps, pafs, sk, limb), image, stride, (i, j))

    return Explorer(render, controls, title)


# --------------------------------------------------------------------------- DeepPose cascade
def cascade_view(cascade, image: torch.Tensor) -> dict:
    """What DeepPose's cascade does on one image ``(3, H, W)``.

    Returns ``stages``: list of ``(K, 2)`` pixel joints (stage 1, 2, ...), ``boxes``: ``(S-1, K, 4)``
    sub-boxes ``b_i^(s-1)`` as pixel ``(x0, y0, w, h)``, and ``crops``: ``(S-1, K, 3, h, w)`` the
    sub-images the later stages saw. ``cascade`` is a :class:`~posecourse.models.deeppose.DeepPoseCascade`
    predicting joints normalized by the whole image.
    """
    if image.dim() != 3:
        raise ValueError(f"image: expected (3, H, W), got {tuple(image.shape)}")
    x = image[None].to(next(cascade.parameters()).device)
    with torch.no_grad():
        preds, boxes = cascade.forward_stages(x)
        crops = [crop_sub_images(x, b, cascade.crop_size).cpu() for b in boxes]
    stages = [denormalize(p.cpu(), image_box(image.shape[-2:]))[0] for p in preds]
    K = stages[0].shape[0]
    return {"stages": stages, "boxes": torch.stack([b[0].cpu() for b in boxes]) if boxes else torch.zeros(0, K, 4),
            "crops": torch.stack([c.view(K, *c.shape[1:]) for c in crops]) if crops else torch.zeros(0)}


def cascade_figure(view: dict, image, joint: int, skeleton, truth=None):
    """Left: stage-1 pose (dashed) and the refined pose, with joint ``joint``'s sub-box; right: that sub-image."""
    sk = get_skeleton(skeleton)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(6.4, 3.3))
    if truth is not None:
        draw_pose(ax, truth, sk, image=image, color="white", linestyle=":", linewidth=1, markersize=2)
    draw_pose(ax, view["stages"][0], sk, image=None if truth is not None else image, color="#999999",
              linestyle="--", linewidth=1, markersize=2)
    draw_pose(ax, view["stages"][-1], sk)
    if len(view["boxes"]):
        x0, y0, w, h = view["boxes"][0, joint].tolist()
        ax.add_patch(plt.Rectangle((x0, y0), w, h, fill=False, ec="yellow", lw=1.5))
        ax2.imshow(image_hwc(view["crops"][0, joint]), **PIXELS)
        ax2.set_title(f"sub-image b_i of {sk.joints[joint]}", fontsize=8)
    ax2.set_axis_off()
    d = (view["stages"][-1][joint] - view["stages"][0][joint]).norm().item()
    ax.set_title(f"stage 1 (grey) -> stage {len(view['stages'])}: {sk.joints[joint]} moved {d:.1f} px", fontsize=8)
    fig.tight_layout()
    return fig


def cascade_explorer(cascade, images, skeleton, truth=None, title: str = "DeepPose cascade"):
    """Widget: pick an image and a joint; see its sub-box, the sub-image and the refinement."""
    sk = get_skeleton(skeleton)
    controls = _joint_and_image(sk, images)

    def render(joint, index):
        t = None if truth is None else truth[index]
        return cascade_figure(cascade_view(cascade, images[index]), images[index], joint, sk, t)

    return Explorer(render, controls, title)
