"""Receptive fields: theoretical (which input pixels *can* influence an output) and effective
(how much they *do*, measured by the input gradient; Luo et al., NeurIPS 2016).

Both are computed by back-propagating from one output location ``(y, x)`` of a chosen output
tensor to the input image:

- **theoretical**: on a *linearized* copy of the network (every convolution's weights set to 1,
  biases 0, normalization and activations replaced by identities, max pooling by average pooling)
  the gradient is positive exactly on the pixels that any path through the network connects to the
  output. Its support is the theoretical receptive field, whatever the architecture (branches,
  concatenations, CPM's stage inputs).
- **effective**: ``|d out[c, y, x] / d image|`` summed over channels, on the real network.

CPM (Wei et al. 2016, Sec. 3.2) relies on the first: every stage enlarges the region whose image
evidence and earlier beliefs a belief map can use.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn

__all__ = ["RFResult", "linearized", "input_gradient", "theoretical_rf", "effective_rf", "rf_extent"]

_ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.ReLU6, nn.ELU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.Dropout, nn.Dropout2d)
_NORMS = (nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d, nn.LayerNorm, nn.LocalResponseNorm)


@dataclass
class RFResult:
    """A receptive field of one output location.

    Attributes:
        map: ``(H, W)`` tensor over the input, non-negative (gradient magnitude; theoretical: > 0 inside).
        size: ``(height, width)`` in input pixels of the bounding box of ``map > threshold * map.max()``.
        center: the output location mapped to input pixels (``(y, x)`` of the map's centroid).
    """

    map: torch.Tensor
    size: tuple[int, int]
    center: tuple[float, float]


def linearized(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in which every path is linear and positive (see module docstring).

    Models must use module layers (``nn.ReLU``, ``nn.MaxPool2d``) rather than their functional
    forms for this to be exact; functional ReLUs are harmless (all activations are positive).
    """
    lin = copy.deepcopy(model).double().eval()  # float64: all-ones weights grow fast with depth

    def replace(parent: nn.Module):
        for name, child in parent.named_children():
            if isinstance(child, (_ACTIVATIONS + _NORMS)):
                setattr(parent, name, nn.Identity())
            elif isinstance(child, nn.MaxPool2d):
                setattr(parent, name, nn.AvgPool2d(child.kernel_size, child.stride, child.padding, ceil_mode=child.ceil_mode))
            else:
                replace(child)

    replace(lin)
    with torch.no_grad():
        for m in lin.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                m.weight.fill_(1.0)
                if m.bias is not None:
                    m.bias.zero_()
    return lin


def _default_select(out):
    """Last stage of a list output; the tensor itself otherwise; ``heatmaps`` of an OpenPose dict."""
    if isinstance(out, (list, tuple)):
        out = out[-1]
    if isinstance(out, dict):
        out = out["heatmaps"]
    return out


def input_gradient(model: nn.Module, image: torch.Tensor, location: tuple[int, int],
                   select: Callable = _default_select, channels=None) -> torch.Tensor:
    """``sum_c |d out[c, y, x] / d image|`` summed over colour channels.

    Args:
        model: maps ``(1, 3, H, W)`` to an output from which ``select`` picks a ``(1, C, h, w)`` tensor.
        image: ``(3, H, W)`` or ``(1, 3, H, W)``.
        location: ``(y, x)`` in output (``h, w``) coordinates.
        channels: output channels to back-propagate from (default: all).
    Returns:
        ``(H, W)`` non-negative tensor.
    """
    x = image.detach().clone()
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f"image: expected (3, H, W) or (1, 3, H, W), got {tuple(image.shape)}")
    x.requires_grad_(True)
    out = select(model(x))
    if out.dim() != 4:
        raise ValueError(f"select(model(image)) must be (1, C, h, w), got {tuple(out.shape)}")
    y0, x0 = location
    h, w = out.shape[-2:]
    if not (0 <= y0 < h and 0 <= x0 < w):
        raise ValueError(f"location: {location} is outside the output map of size {(h, w)}")
    sel = out[0, :, y0, x0] if channels is None else out[0, channels, y0, x0]
    grad, = torch.autograd.grad(sel.sum(), x)
    return grad[0].abs().sum(0)


def rf_extent(rf_map: torch.Tensor, threshold: float = 0.0) -> tuple[tuple[int, int], tuple[float, float]]:
    """Bounding-box size ``(h, w)`` of ``rf_map > threshold * max`` and the map's centroid ``(y, x)``."""
    m = rf_map.detach().float()
    if m.max() <= 0:
        return (0, 0), (float("nan"), float("nan"))
    mask = m > threshold * m.max()
    ys, xs = torch.nonzero(mask, as_tuple=True)
    size = (int(ys.max() - ys.min() + 1), int(xs.max() - xs.min() + 1))
    gy, gx = torch.meshgrid(torch.arange(m.shape[0], dtype=m.dtype), torch.arange(m.shape[1], dtype=m.dtype), indexing="ij")
    total = m.sum()
    return size, (float((gy * m).sum() / total), float((gx * m).sum() / total))


def theoretical_rf(model: nn.Module, input_size: tuple[int, int], location: tuple[int, int],
                   select: Callable = _default_select) -> RFResult:
    """Theoretical receptive field of output ``location`` for an input of ``input_size = (H, W)``.

    The input is large enough that borders do not clip the field only if ``input_size`` is; the
    returned ``size`` is clipped to the image.
    """
    lin = linearized(model)
    device = next(lin.parameters(), torch.empty(0)).device
    image = torch.ones(3, *input_size, device=device, dtype=torch.float64)
    g = input_gradient(lin, image, location, select)
    if not torch.isfinite(g).all():
        raise ValueError("theoretical_rf: the linearized network overflowed float64; the model is too deep for this method")
    g = (g > 0).float()  # only the support matters
    size, center = rf_extent(g, 0.0)
    return RFResult(g.cpu(), size, center)


def effective_rf(model: nn.Module, image: torch.Tensor, location: tuple[int, int],
                 select: Callable = _default_select, threshold: float = 0.05) -> RFResult:
    """Effective receptive field on a real ``image (3, H, W)``: the normalized input-gradient map;
    ``size`` counts pixels above ``threshold`` of its maximum."""
    was_training = model.training
    model.eval()
    try:
        g = input_gradient(model, image, location, select)
    finally:
        model.train(was_training)
    g = g / g.max().clamp_min(1e-12)
    size, center = rf_extent(g, threshold)
    return RFResult(g.cpu(), size, center)
