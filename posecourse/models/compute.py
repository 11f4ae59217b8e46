"""Compute of a model: forward multiply-accumulates (MACs) per image, and the cost of a training budget.

Counted with :class:`torch.utils.flop_counter.FlopCounterMode` on the ``meta`` device (no memory, no
arithmetic). That counter reports FLOPs = 2 x MACs (one multiply and one add per MAC) for convolutions
and matrix products only; BatchNorm, ReLU, pooling and upsampling are not counted (they are a few per
cent of a conv net's arithmetic). Papers differ: HRNet's "7.1 GFLOPs" for W32 at 256 x 192 counts
multiply-adds (this counter gives about 7.6 G MACs, 15.3 G FLOPs for that model).

Training cost: one optimizer step on B images costs about 3 x B forward MACs (:data:`BACKWARD_FACTOR`)::

    fwd = forward_macs(create_model("hrnet_tiny", num_joints=16), 64)     # MACs per 64 x 64 image
    training_macs(fwd, images=32_000)                                     # ~ 3 * fwd * 32,000
"""
from __future__ import annotations

import copy

import torch
from torch.utils.flop_counter import FlopCounterMode

from ..geometry import as_size
from ..params import as_float, as_int

__all__ = ["forward_macs", "forward_flops", "training_macs", "BACKWARD_FACTOR"]

#: backward pass ~ this many forward passes (gradients w.r.t. activations + w.r.t. weights)
BACKWARD_FACTOR = 2.0


def forward_flops(model: torch.nn.Module, input_size) -> int:
    """FLOPs (= 2 x MACs) of one forward pass of ``model`` on one ``(1, 3, H, W)`` image.

    ``model`` may live on any device; it is copied to ``meta`` (no memory, nothing computed) for the count
    and left unchanged. ``input_size``: ``H`` (square) or ``(H, W)``.
    """
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    h, w = as_size(input_size, "input_size")
    meta = copy.deepcopy(model).to("meta").eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        meta(torch.zeros(1, 3, h, w, device="meta"))
    return int(counter.get_total_flops())


def forward_macs(model: torch.nn.Module, input_size) -> int:
    """Multiply-accumulates of one forward pass on one image: :func:`forward_flops` / 2."""
    return forward_flops(model, input_size) // 2


def training_macs(forward_macs_per_image: float, images: int, backward_factor: float = BACKWARD_FACTOR) -> float:
    """MACs of training on ``images`` images: ``(1 + backward_factor) x forward MACs x images``
    (= forward MACs per image x batch size x steps x 3 with the default backward of twice the forward)."""
    images = as_int("images", images, 0, exact=True)
    forward = as_float("forward_macs_per_image", forward_macs_per_image, 0, exact=True)
    return float((1.0 + backward_factor) * forward * images)
