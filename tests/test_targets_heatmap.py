"""Gaussian belief-map codec: encode/decode round trips, conventions, weights, flip test."""
import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

from posecourse.skeletons import COCO17
from posecourse.targets import heatmap as hmap

H, W = 32, 40


def _one(x, y, stride=1.0, **kw):
    return hmap.encode(torch.tensor([[[x, y]]]), torch.ones(1, 1), (H, W), stride=stride, **kw)


def test_peak_value_and_sigma_conventions():
    hm, w = _one(10.0, 12.0)
    assert hm.shape == (1, 1, H, W) and w.tolist() == [[1.0]]
    assert hm[0, 0, 12, 10] == pytest.approx(1.0)
    assert hm[0, 0, 12, 12] == pytest.approx(math.exp(-4 / 8))      # hrnet: exp(-d^2 / 2 sigma^2), sigma 2
    hm_cpm, _ = _one(10.0, 12.0, convention="cpm")
    assert hm_cpm[0, 0, 12, 12] == pytest.approx(math.exp(-4 / 4))  # cpm: exp(-d^2 / sigma^2)


def test_centre_aligned_stride_and_quantize():
    # x = 9.5 at stride 4 -> x_hm = (9.5 + 0.5) / 4 - 0.5 = 2.0
    hm, _ = _one(9.5, 9.5, stride=4.0)
    assert hm[0, 0].argmax().item() == 2 * W + 2 and hm[0, 0, 2, 2] == pytest.approx(1.0)
    coords, scores = hmap.decode(hm, stride=4.0, method="dark", dark_kernel=0)
    assert torch.allclose(coords, torch.tensor([[[9.5, 9.5]]]), atol=1e-4)
    # HRNet's integer centre int(x / s + 0.5): 10.3 / 4 + 0.5 -> 3
    hq, _ = _one(10.3, 10.3, stride=4.0, quantize=True)
    assert hq[0, 0, 3, 3] == pytest.approx(1.0)


def test_multi_person_max_vs_mean_background_and_weights():
    kp = torch.tensor([[[[10.0, 10.0], [0.0, 0.0]], [[13.0, 10.0], [5.0, 5.0]]]])   # (1, P=2, K=2, 2)
    vis = torch.tensor([[[2.0, 0.0], [1.0, 0.0]]])                                   # joint 1 unlabelled
    hm, w = hmap.encode(kp, vis, (H, W), stride=1.0, background=True)
    assert hm.shape == (1, 3, H, W) and w.tolist() == [[1.0, 0.0, 1.0]]
    assert hm[0, 1].abs().max() == 0                                                 # no Gaussian for it
    assert hm[0, 0, 10, 10] == pytest.approx(1.0) and hm[0, 0, 10, 13] == pytest.approx(1.0)
    assert torch.allclose(hm[0, 2], 1 - hm[0, :2].amax(0))
    mean, _ = hmap.encode(kp, vis, (H, W), stride=1.0, combine="mean")
    assert mean[0, 0, 10, 10] < 0.9                                                  # the pitfall: peaks drop
    # a joint far off the map has weight 0
    _, w_off = _one(-50.0, 5.0)
    assert w_off.tolist() == [[0.0]]


@settings(deadline=None, max_examples=40)
@given(x=st.floats(6, W - 7), y=st.floats(6, H - 7), method=st.sampled_from(["quarter", "dark", "soft_argmax"]),
       convention=st.sampled_from(["hrnet", "cpm"]))
def test_encode_decode_round_trip(x, y, method, convention):
    hm, _ = _one(x, y, convention=convention)
    coords, scores = hmap.decode(hm, 1.0, method=method)
    err = (coords[0, 0] - torch.tensor([x, y])).abs().max().item()
    assert err <= (0.5 if method == "quarter" else 0.1)
    assert 0.7 < scores.item() <= 1.0


@settings(deadline=None, max_examples=20)
@given(x=st.floats(28, 140), y=st.floats(28, 100), stride=st.sampled_from([1.0, 2.0, 4.0]))
def test_round_trip_in_image_pixels_batched(x, y, stride):
    kp = torch.tensor([[[x, y], [x + 10, y + 5]]]).repeat(3, 1, 1)                  # (B=3, K=2, 2)
    hm, _ = hmap.encode(kp, torch.ones(3, 2), (int(128 / stride) + 8, int(160 / stride) + 8), stride=stride)
    coords, _ = hmap.decode(hm, stride, method="dark")
    assert (coords - kp).abs().max() <= 0.5 * stride


def test_quarter_boundary_rule():
    hm, _ = _one(1.3, 10.0)                                  # argmax at x = 1
    course, _ = hmap.decode(hm, method="quarter")
    hrnet, _ = hmap.decode(hm, method="quarter", quarter_rule="hrnet")
    mmpose, _ = hmap.decode(hm, method="quarter", quarter_rule="mmpose")
    assert course[0, 0, 0] == pytest.approx(1.25) and hrnet[0, 0, 0] == pytest.approx(1.0)
    assert mmpose[0, 0, 0] == pytest.approx(1.0)
    hm2, _ = _one(10.3, 1.3)                                 # argmax at y = 1: HRNet skips x too, MMPose not
    assert hmap.decode(hm2, method="quarter", quarter_rule="hrnet")[0][0, 0].tolist() == [10.0, 1.0]
    assert hmap.decode(hm2, method="quarter", quarter_rule="mmpose")[0][0, 0].tolist() == [10.25, 1.0]
    assert hmap.decode(hm2, method="quarter")[0][0, 0].tolist() == [10.25, 1.25]


def test_flip_test_is_exact_for_centre_aligned_targets():
    sk = COCO17
    g = torch.Generator().manual_seed(0)
    img_w, stride = 64, 4.0
    kp = torch.rand(2, sk.num_joints, 2, generator=g) * 40 + 10
    vis = torch.ones(2, sk.num_joints)
    hm, _ = hmap.encode(kp, vis, (16, 16), stride=stride)
    flipped = kp.clone()
    flipped[..., 0] = img_w - 1 - flipped[..., 0]
    flipped = flipped[:, torch.as_tensor(sk.flip_index)]
    hm_f, _ = hmap.encode(flipped, vis, (16, 16), stride=stride)
    avg = hmap.flip_test(hm, hm_f, sk.flip_index, shift=0)
    assert torch.allclose(avg, hm, atol=1e-6)
    shifted = hmap.flip_test(hm, hm_f, sk.flip_index, shift=1)
    assert not torch.allclose(shifted, hm, atol=1e-3)


def test_bad_input_raises_value_error_naming_argument():
    with pytest.raises(ValueError, match="keypoints"):
        hmap.encode(torch.tensor([[[float("nan"), 1.0]]]), torch.ones(1, 1), (8, 8))
    hmap.encode(torch.tensor([[[float("nan"), 1.0]]]), torch.zeros(1, 1), (8, 8))   # unlabelled NaN is fine
    with pytest.raises(ValueError, match="visibility"):
        hmap.encode(torch.zeros(1, 3, 2), torch.ones(1, 2), (8, 8))
    with pytest.raises(ValueError, match="heatmaps"):
        hmap.decode(torch.full((1, 1, 4, 4), float("nan")))
    with pytest.raises(ValueError, match="method"):
        hmap.decode(torch.zeros(1, 1, 4, 4), method="median")
    with pytest.raises(ValueError, match="sigma"):
        hmap.encode(torch.zeros(1, 1, 2), torch.ones(1, 1), (8, 8), sigma=0)
