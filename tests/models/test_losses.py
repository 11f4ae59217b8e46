"""Losses: known values, the documented reduction (mean over valid elements, sum over stages)."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from posecourse.models.losses import coordinate_loss, heatmap_loss, masked_mse, openpose_loss


def test_heatmap_loss_known_value_unweighted():
    out = torch.zeros(1, 2, 2, 2)
    tgt = torch.zeros(1, 2, 2, 2)
    tgt[0, 0, 0, 0] = 2.0  # one squared error of 4 over 8 elements
    assert heatmap_loss(out, tgt).item() == pytest.approx(0.5)


def test_heatmap_loss_per_channel_weight_is_mean_over_valid_channels():
    out = torch.zeros(1, 2, 2, 2)
    tgt = torch.ones(1, 2, 2, 2)
    tgt[0, 1] = 3.0  # channel 1 errors are 9, masked out
    w = torch.tensor([[1.0, 0.0]])
    assert heatmap_loss(out, tgt, w).item() == pytest.approx(1.0)
    assert heatmap_loss(out, tgt).item() == pytest.approx(5.0)


def test_heatmap_loss_per_pixel_weight():
    out = torch.zeros(1, 1, 2, 2)
    tgt = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    w = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    assert heatmap_loss(out, tgt, w).item() == pytest.approx((1 + 16) / 2)


def test_heatmap_loss_sums_over_stages():
    tgt = torch.ones(2, 3, 4, 4)
    outs = [torch.zeros(2, 3, 4, 4), torch.full((2, 3, 4, 4), 0.5), tgt.clone()]
    assert heatmap_loss(outs, tgt).item() == pytest.approx(1.0 + 0.25 + 0.0)


def test_heatmap_loss_all_masked_is_zero_and_differentiable():
    out = torch.rand(1, 2, 3, 3, requires_grad=True)
    loss = heatmap_loss([out], torch.rand(1, 2, 3, 3), torch.zeros(1, 2))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.count_nonzero(out.grad) == 0


@settings(deadline=None, max_examples=30)
@given(seed=st.integers(0, 2**16), stages=st.integers(1, 4))
def test_binary_mask_equals_mean_over_selected_elements(seed, stages):
    g = torch.Generator().manual_seed(seed)
    tgt = torch.rand(2, 3, 5, 5, generator=g)
    outs = [torch.rand(2, 3, 5, 5, generator=g) for _ in range(stages)]
    mask = (torch.rand(2, 3, 5, 5, generator=g) > 0.5).float()
    mask[0, 0, 0, 0] = 1.0
    expected = sum(((o - tgt) ** 2)[mask.bool()].mean() for o in outs)
    torch.testing.assert_close(heatmap_loss(outs, tgt, mask), expected)


def test_heatmap_loss_bad_shapes():
    with pytest.raises(ValueError, match="target"):
        heatmap_loss(torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 8, 8))
    with pytest.raises(ValueError, match="weight"):
        masked_mse(torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 4, 4), torch.ones(3, 5))
    with pytest.raises(ValueError, match="outputs"):
        heatmap_loss([], torch.zeros(1))


def test_openpose_loss_known_value():
    paf_t, hm_t = torch.zeros(1, 4, 2, 2), torch.zeros(1, 3, 2, 2)
    stage = {"paf": torch.ones(1, 4, 2, 2), "heatmaps": torch.full((1, 3, 2, 2), 2.0)}
    assert openpose_loss([stage, stage], paf_t, hm_t).item() == pytest.approx(2 * (1.0 + 4.0))
    # masking the people-free region: only the left column counts for the heatmaps
    w = torch.zeros(1, 1, 2, 2)
    w[..., 0] = 1.0
    stage2 = {"paf": torch.ones(1, 4, 2, 2), "heatmaps": torch.zeros(1, 3, 2, 2)}
    stage2["heatmaps"][..., 1] = 10.0
    assert openpose_loss([stage2], paf_t, hm_t, None, w).item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="outputs"):
        openpose_loss([torch.zeros(1)], paf_t, hm_t)


def test_coordinate_loss_known_value_and_visibility():
    pred = torch.zeros(1, 3, 2)
    tgt = torch.tensor([[[3.0, 4.0], [1.0, 0.0], [float("nan"), 0.0]]])
    vis = torch.tensor([[2.0, 1.0, 0.0]])
    assert coordinate_loss(pred, tgt, vis).item() == pytest.approx((25 + 1) / 2)
    assert coordinate_loss(pred, tgt, torch.tensor([[0.0, 2.0, 2.0]])).item() == pytest.approx(1.0)  # NaN target skipped
    assert coordinate_loss(pred, tgt).item() == pytest.approx(13.0)
    assert coordinate_loss(pred, tgt, torch.zeros(1, 3)).item() == 0.0
    with pytest.raises(ValueError, match="visibility"):
        coordinate_loss(pred, tgt, torch.ones(3))


def test_coordinate_loss_gradient_is_finite_with_nan_targets():
    pred = torch.zeros(1, 2, 2, requires_grad=True)
    tgt = torch.tensor([[[1.0, 1.0], [math.nan, math.nan]]])
    coordinate_loss(pred, tgt).backward()
    assert torch.isfinite(pred.grad).all()
    torch.testing.assert_close(pred.grad[0, 0], torch.tensor([-2.0, -2.0]))
