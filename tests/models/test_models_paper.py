"""Stacked Hourglass, OpenPose and HRNet: the paper configs match the official code's parameter
counts, output shapes and FLOPs (counted on the meta device, no memory or time spent), and the
small CPU siblings run, learn, and behave under bfloat16 autocast and channels_last."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn as nn
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from posecourse.models import create_model, list_models, model_card
from posecourse.models.hourglass import Hourglass
from posecourse.models.hrnet import exchange_unit

# the configs with official counts (on their cards) and the CPU siblings of their families
PAPER = sorted(n for n in list_models() if model_card(n).official_params is not None)
TINY = ("hourglass_tiny", "hrnet_tiny", "openpose_tiny")


def _meta(name, **kw):
    with torch.device("meta"):
        return create_model(name, **kw)


def _heads(out):
    """Flatten a model output to a list of tensors."""
    return [t for o in out for t in (o.values() if isinstance(o, dict) else [o])]


def _official(name, shared_reference) -> dict:
    """The official record of ``name``: keyed by the name, or by name and input size (``hrnet_w32_256x192``)."""
    refs = json.loads((shared_reference / "official_models.json").read_text())
    return refs.get(name) or refs["{}_{}x{}".format(name, *model_card(name).input_size)]


def test_the_paper_configs_of_three_families_have_official_counts():
    assert set(TINY) <= set(list_models())
    assert PAPER == ["hourglass_2", "hourglass_8", "hrnet_w32", "hrnet_w48", "openpose_vgg19"]


@pytest.mark.parametrize("name", PAPER)
def test_card_param_count_is_official_and_the_models(name, shared_reference):
    ref, card = _official(name, shared_reference), model_card(name)
    assert (card.official_params, card.source, card.input_size) == (ref["params"], ref["repo"], tuple(ref["input"][2:]))
    assert sum(p.numel() for p in _meta(name).parameters()) == card.official_params


@pytest.mark.parametrize("name", PAPER)
def test_paper_output_shapes_and_flops(name, shared_reference):
    """Every stage / stack outputs the official model's output shapes (its last stage's, or all stacks'; the
    number of stages is pinned by the official parameter count)."""
    ref = _official(name, shared_reference)
    with FlopCounterMode(display=False) as counter:
        out = _meta(name)(torch.empty(1, 3, *model_card(name).input_size, device="meta"))
    assert counter.get_total_flops() == pytest.approx(ref["flops"], rel=0.02)
    shapes = [list(t.shape) for t in _heads(out)]
    assert shapes == ref["outputs"] * (len(shapes) // len(ref["outputs"]))


def test_num_joints_and_limbs_change_the_heads():
    out = _meta("hrnet_w32", num_joints=16)(torch.empty(2, 3, 256, 192, device="meta"))
    assert out[0].shape == (2, 16, 64, 48)
    out = _meta("hourglass_2", num_joints=17)(torch.empty(1, 3, 256, 256, device="meta"))
    assert all(o.shape == (1, 17, 64, 64) for o in out)
    out = _meta("openpose_vgg19", num_joints=17, num_limbs=16)(torch.empty(1, 3, 368, 368, device="meta"))
    assert out[-1]["paf"].shape[1] == 32 and out[-1]["heatmaps"].shape[1] == 18


@pytest.mark.parametrize("name", PAPER + list(TINY))
def test_bad_images_raise(name):
    with pytest.raises(ValueError, match="images"):
        _meta(name)(torch.empty(1, 1, 64, 64, device="meta"))


def test_hourglass_needs_divisible_size():
    with pytest.raises(ValueError, match="divisible"):
        Hourglass(1, 8, depth=3)(torch.zeros(1, 16, 12, 12))


@settings(deadline=None, max_examples=15)
@given(n=st.integers(2, 4), i=st.integers(0, 3), k=st.integers(0, 3), c=st.integers(1, 4))
def test_exchange_unit_maps_branch_i_to_branch_k(n, i, k, c):
    """a(X_i, k): resolution H / 2**i -> H / 2**k and width widths[i] -> widths[k]."""
    i, k = i % n, k % n
    widths = [c * 2**b for b in range(n)]
    x = torch.randn(1, widths[i], 16 // 2**i, 16 // 2**i)
    a = exchange_unit(widths, i, k)
    y = x if a is None else a(x)
    assert y.shape == (1, widths[k], 16 // 2**k, 16 // 2**k)
    if i < k:  # downsampling: k - i strided convs
        assert sum(isinstance(m, nn.Conv2d) and m.stride == (2, 2) for m in a.modules()) == k - i


@pytest.mark.parametrize("name", TINY)
def test_tiny_shapes_and_size(name):
    torch.manual_seed(0)
    model = create_model(name)
    assert 2e4 < sum(p.numel() for p in model.parameters()) < 1e6
    s = model_card(name).input_size[0]
    out = model(torch.randn(2, 3, s, s))
    if name == "openpose_tiny":
        assert [(o["paf"].shape, o["heatmaps"].shape) for o in out] == [((2, 38, s // 4, s // 4), (2, 19, s // 4, s // 4))] * 2
    else:
        assert all(o.shape == (2, 16 if "hourglass" in name else 17, s // 4, s // 4) for o in out)


@pytest.mark.parametrize("name", TINY)
def test_tiny_learns_a_fixed_batch(name):
    """A few Adam steps on a fixed random batch with a fixed random target: the loss falls
    (summed over stages = intermediate supervision)."""
    torch.manual_seed(0)
    model = create_model(name)
    s = model_card(name).input_size[0]
    x = torch.randn(2, 3, s, s)
    with torch.no_grad():
        target = [torch.rand_like(t) for t in _heads(model(x))]
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(8):
        loss = sum(nn.functional.mse_loss(p, t) for p, t in zip(_heads(model(x)), target))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


@pytest.mark.parametrize("name", TINY)
def test_tiny_bf16_autocast_and_channels_last(name):
    torch.manual_seed(0)
    model = create_model(name).eval()
    s = model_card(name).input_size[0]
    x = torch.randn(2, 3, s, s)
    with torch.no_grad():
        ref = _heads(model(x))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = _heads(model(x))
        model_cl = model.to(memory_format=torch.channels_last)
        cl = _heads(model_cl(x.contiguous(memory_format=torch.channels_last)))
    for r, lo, c in zip(ref, low, cl):
        scale = r.abs().max().item() + 1e-6
        assert (lo.float() - r).abs().max().item() < 0.1 * scale
        torch.testing.assert_close(c, r, rtol=1e-4, atol=1e-4 * scale)
