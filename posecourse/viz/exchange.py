"""HRNet's exchange unit on one image, term by term (lecture 5's viewer).

An exchange unit (Sun et al. 2019, Sec. 3; :func:`posecourse.models.hrnet.exchange_unit`) fuses the
parallel branches into ``Y_k = sum_i a(X_i, k)`` and passes ``ReLU(Y_k)`` on. :func:`exchange_terms`
records, with forward hooks on the running model, the ``X_i`` and every term ``a(X_i, k)`` *as the model's
fuse layers computed it*, and says how far ``ReLU(sum)`` is from the module's own output (float rounding).
:func:`exchange_figure` draws them, :func:`hrnet_viewer` is the widget. Indices are 0-based in code
(``k = 0``: the highest resolution), 1-based in figures like the paper (``Y_1``).
"""
from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np
import torch

from .architecture_blocks import forward_hooked
from .explorer import Explorer, dropdown, slider
from .plots import image_hwc, to_numpy

__all__ = ["exchange_terms", "exchange_figure", "hrnet_viewer", "CHANNEL_RULES"]

CHANNEL_RULES = {"max_var": "the channel of Y_k whose map varies most over the image (largest spatial variance)",
                 "mean": "the mean over all channels of Y_k"}


def _units(model) -> list:
    if not hasattr(model, "exchange_units"):
        raise ValueError(f"model: {type(model).__name__} has no exchange_units(); expected an HRNet")
    units = list(model.exchange_units())
    if not units:
        raise ValueError("model: has no exchange units")
    return units


def _describe_op(i: int, k: int) -> str:
    if i == k:
        return "identity (i = k)"
    if i > k:
        return f"1x1 conv + BN,\nnearest up x{2 ** (i - k)}"
    return f"{k - i} strided 3x3\nconv{'s' if k - i > 1 else ''} (/{2 ** (k - i)})"


def exchange_terms(model, image: torch.Tensor, unit: int = 0, k: int = 0, channel="max_var") -> dict:
    """The terms ``a(X_i, k)`` of output ``Y_k`` (``k`` 0-based, 0 = highest resolution; HRNet's last unit
    outputs ``k = 0`` only) of exchange unit ``unit`` (index into ``model.exchange_units()``, negative from the end)
    of an HRNet run in eval mode (its mode is restored) on ``image (3, H, W)``, as the model is fed. ``channel``
    of the 2-D ``maps``: an ``int``, ``"max_var"`` or ``"mean"`` (:data:`CHANNEL_RULES`); both are linear, so the
    terms' maps still add up to the map of ``Y_k``. Returns a dict, on the CPU:
        ``inputs``: the ``X_i`` the unit fuses, list of ``(C_i, h_i, w_i)`` (``h_i = h_0 / 2**i``);
        ``terms``: ``a(X_i, k)``, list of ``(C_k, h_k, w_k)``, one per branch ``i``, as the model computed them;
        ``fused``: ``Y_k = sum_i terms[i]`` ``(C_k, h_k, w_k)``, before the ReLU;
        ``output``: the module's own ``k``-th output ``(C_k, h_k, w_k)`` (= ``ReLU(Y_k)``);
        ``max_error``: ``max |ReLU(fused) - output|``;
        ``ops``: what each ``a(., k)`` does (text); ``channel`` (int, or None for the mean) and ``channel_rule`` (text);
        ``maps``: ``{"inputs": [(h_i, w_i)] mean of X_i over its channels, "terms": [(h_k, w_k)], "fused", "output"}``;
        ``image`` ``(3, H, W)``, ``unit``, ``k``, ``num_units``, ``num_outputs`` (of this unit).
    """
    if not isinstance(image, torch.Tensor) or image.dim() != 3 or image.shape[0] != 3:
        raise ValueError(f"image: expected a (3, H, W) tensor, got {getattr(image, 'shape', type(image))}")
    units = _units(model)
    if not -len(units) <= unit < len(units):
        raise ValueError(f"unit: {unit} not in [-{len(units)}, {len(units)})")
    unit = unit % len(units)
    mod = units[unit]
    n_in, n_out = len(mod.branches), len(mod.fuse_layers)
    if not 0 <= k < n_out:
        raise ValueError(f"k: {k} not in [0, {n_out}) — exchange unit {unit} outputs {n_out} resolution(s)")
    xs, terms, outputs = {}, {}, []  # X_i and a(X_i, k) by branch i, the unit's outputs
    grab = lambda store, key: (lambda _m, _i, out: store.__setitem__(key, out[0].detach().float().cpu()))
    hooks = [(b, grab(xs, i)) for i, b in enumerate(mod.branches)]
    hooks += [(a, grab(terms, i)) for i, a in enumerate(mod.fuse_layers[k]) if a is not None]
    hooks.append((mod, lambda _m, _i, out: outputs.extend(y[0].detach().float().cpu() for y in out)))
    param = next(model.parameters())
    forward_hooked(model, image[None].to(param.device, param.dtype), hooks)
    term_list = [xs[i] if a is None else terms[i] for i, a in enumerate(mod.fuse_layers[k])]  # identity: X_k itself
    fused = sum(term_list)  # same order as the model's forward
    output = outputs[k]
    C = fused.shape[0]
    if channel == "mean":
        chan, rule = None, CHANNEL_RULES["mean"]
    elif channel == "max_var":
        chan = int(fused.flatten(1).var(1).argmax())
        rule = CHANNEL_RULES["max_var"] + f": channel {chan} of {C}"
    elif isinstance(channel, (int, np.integer)) and not isinstance(channel, bool):
        if not 0 <= channel < C:
            raise ValueError(f"channel: {channel} not in [0, {C}) (Y_{k + 1} has {C} channels)")
        chan, rule = int(channel), f"channel {channel} of {C} (chosen by hand)"
    else:
        raise ValueError(f"channel: expected an int, 'max_var' or 'mean', got {channel!r}")
    pick = (lambda t: t.mean(0)) if chan is None else (lambda t: t[chan])
    return {"image": torch.as_tensor(image).detach().float().cpu(), "unit": unit, "k": k,
            "num_units": len(units), "num_outputs": n_out,
            "inputs": [xs[i] for i in range(n_in)], "terms": term_list, "fused": fused, "output": output,
            "max_error": float((torch.relu(fused) - output).abs().max()),
            "ops": [_describe_op(i, k) for i in range(n_in)], "channel": chan, "channel_rule": rule,
            "maps": {"inputs": [xs[i].mean(0) for i in range(n_in)],
                     "terms": [pick(t) for t in term_list], "fused": pick(fused), "output": pick(output)}}


def exchange_figure(data: dict):
    """Top row: the input image and each ``X_i`` at its own resolution (channel mean). Bottom row: each
    ``a(X_i, k)`` at resolution ``k``, then their sum ``Y_k`` and ``ReLU(Y_k)``, on one colour scale
    (red positive, blue negative), so that each branch's share of ``Y_k`` can be compared."""
    m, k, s = data["maps"], data["k"], len(data["terms"])
    fig, axes = plt.subplots(2, s + 3, figsize=(1.8 * (s + 3), 4.9), squeeze=False)
    fig.subplots_adjust(left=0.02, right=0.98, top=0.84, bottom=0.13, wspace=0.35, hspace=0.55)
    for ax in axes.ravel():
        ax.set_axis_off()
    axes[0][0].imshow(image_hwc(data["image"]), interpolation="nearest")
    axes[0][0].set_title(f"input image\n{tuple(data['image'].shape[-2:])}", fontsize=7)
    for i, x in enumerate(m["inputs"]):
        axes[0][i + 1].imshow(to_numpy(x), cmap="viridis", interpolation="nearest")
        C, h, w = data["inputs"][i].shape
        axes[0][i + 1].set_title(f"X_{i + 1}: {h}x{w}\nmean of {C} channels", fontsize=7)
    vmax = max(float(torch.stack([*m["terms"], m["fused"]]).abs().max()), 1e-6)
    C, h, w = data["fused"].shape
    panels = [(t, f"a(X_{i + 1}, {k + 1}):\n{data['ops'][i]}") for i, t in enumerate(m["terms"])]
    panels += [(m["fused"], f"Y_{k + 1} = sum\n{h}x{w}, before ReLU"), (m["output"], f"ReLU(Y_{k + 1})\nthe module's output")]
    for j, (t, title) in enumerate(panels):
        ax = axes[1][j + 1]
        ax.imshow(to_numpy(t), cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
        ax.set_title(title, fontsize=7)
        if j < s:
            ax.text(1.17, 0.5, "=" if j == s - 1 else "+", transform=ax.transAxes, fontsize=13, ha="center", va="center")
    axes[1][0].text(0.0, 0.5, f"Y_{k + 1} =\n  " + "\n+ ".join(f"a(X_{i + 1}, {k + 1})" for i in range(s)),
                    fontsize=8, va="center", transform=axes[1][0].transAxes)
    fig.suptitle(f"exchange unit {data['unit'] + 1} of {data['num_units']}, output resolution k = {k + 1} "
                 f"({h}x{w}, {C} channels)", fontsize=9)
    fig.text(0.02, 0.02, "\n".join(textwrap.wrap(
        f"Bottom row shows {data['channel_rule']}; one colour scale (red +, blue -). "
        f"Check: |ReLU(sum of the terms) - model's output| <= {data['max_error']:.1e}.", int(26 * (s + 3)))), fontsize=7)
    return fig


_NOTE = ("Each exchange unit fuses the parallel branches: <i>Y<sub>k</sub> = &Sigma;<sub>i</sub> a(X<sub>i</sub>, k)</i>. "
         "Top: the input and each branch's response <i>X<sub>i</sub></i> (mean over its channels). Bottom: each branch "
         "brought to resolution <i>k</i> by the model's own layers (lower resolutions upsampled, higher ones strided), "
         "their sum <i>Y<sub>k</sub></i> and the ReLU the module applies to it. A single channel is one of the "
         "network's learned features: by default the one whose map varies most over the image (or pick the channel "
         "mean or a channel by number); the terms add up to the sum in every channel.")


def hrnet_viewer(model, image: torch.Tensor, title: str = "HRNet's exchange unit: Y_k as the sum of its terms"):
    """Widget: pick an exchange unit, an output resolution ``k`` and the channel shown; see the image,
    the ``X_i``, the terms ``a(X_i, k)``, their sum ``Y_k`` and ``ReLU(Y_k)`` (:func:`exchange_figure`)."""
    units = _units(model)
    shapes = exchange_terms(model, image, 0, 0)["inputs"]
    n_out = max(len(u.fuse_layers) for u in units)
    h = shapes[0].shape[-2]
    ks = [(f"Y_{k + 1} ({h // 2 ** k}x{h // 2 ** k})", k) for k in range(n_out)]
    n_chan = min(8, shapes[0].shape[0])  # X_1 is the narrowest branch: these channels exist at every k
    channels = [("largest variance", "max_var"), ("channel mean", "mean")] + [(f"channel {c}", c) for c in range(n_chan)]
    controls = {"unit": slider("unit", 0, len(units) - 1, 0), "k": dropdown("output k", ks),
                "channel": dropdown("channel", channels)}

    def render(unit, k, channel):
        k = min(k, len(units[unit].fuse_layers) - 1)  # the last unit fuses into Y_1 only
        return exchange_figure(exchange_terms(model, image, unit, k, channel))

    return Explorer(render, controls, title, _NOTE)
