"""Gaussian belief-map codec: encode/decode round trips, conventions, weights, flip test."""
import math

import numpy as np

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


# ---- parity with the code the decoders name (oracles written from that code's formulas) ----------------
# HRNet lib/core/inference.py (get_max_preds, get_final_preds), MMPose mmpose/codecs/utils
# (get_heatmap_maximum, refine_keypoints, gaussian_blur, refine_keypoints_dark), DARK lib/core/inference.py.

def hrnet_max_preds(hm):
    """get_max_preds: first argmax, (0, 0) where the maximum is <= 0; (B, K, H, W) -> (B, K, 2), (B, K)."""
    B, K, H, W = hm.shape
    flat = hm.reshape(B, K, -1)
    idx, vals = flat.argmax(2), flat.max(2)
    preds = np.stack([idx % W, np.floor(idx / W)], axis=-1).astype(float)
    return preds * (vals > 0)[..., None], vals


def hrnet_quarter(hm, coords):
    """get_final_preds' POST_PROCESS: +-0.25 when 1 < px < W - 1 and 1 < py < H - 1."""
    coords = coords.copy()
    H, W = hm.shape[-2:]
    for n, k in np.ndindex(*coords.shape[:2]):
        m = hm[n, k]
        px, py = int(math.floor(coords[n, k, 0] + 0.5)), int(math.floor(coords[n, k, 1] + 0.5))
        if 1 < px < W - 1 and 1 < py < H - 1:
            coords[n, k] += np.sign([m[py, px + 1] - m[py, px - 1], m[py + 1, px] - m[py - 1, px]]) * 0.25
    return coords


def mmpose_maximum(hm):
    """get_heatmap_maximum: first argmax, (-1, -1) where the maximum is <= 0."""
    B, K, H, W = hm.shape
    flat = hm.reshape(B * K, -1)
    y, x = np.unravel_index(flat.argmax(1), (H, W))
    locs = np.stack([x, y], axis=-1).astype(float)
    vals = flat.max(1)
    locs[vals <= 0] = -1
    return locs.reshape(B, K, 2), vals.reshape(B, K)


def mmpose_refine(hm, kp):
    """refine_keypoints: dx when 1 < x < W - 1 and 0 < y < H; dy when 1 < y < H - 1 and 0 < x < W."""
    kp = kp.copy()
    H, W = hm.shape[-2:]
    for n, k in np.ndindex(*kp.shape[:2]):
        x, y = kp[n, k].astype(int)
        dx = hm[n, k, y, x + 1] - hm[n, k, y, x - 1] if (1 < x < W - 1 and 0 < y < H) else 0.0
        dy = hm[n, k, y + 1, x] - hm[n, k, y - 1, x] if (1 < y < H - 1 and 0 < x < W) else 0.0
        kp[n, k] += np.sign([dx, dy]) * 0.25
    return kp


def cv2_blur(img, ksize):
    """cv2.GaussianBlur(img, (k, k), 0) on DARK's zero-padded copy, cropped back: a direct 2-D sum.
    Kernel: OpenCV's fixed tables for k <= 7 (sigma 0), else sigma = 0.3 ((k - 1) / 2 - 1) + 0.8."""
    table = {3: [1 / 4, 2 / 4, 1 / 4], 5: [1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16],
             7: [1 / 32, 3.5 / 32, 7 / 32, 9 / 32, 7 / 32, 3.5 / 32, 1 / 32]}
    if ksize in table:
        k1 = np.array(table[ksize])
    else:
        s = 0.3 * ((ksize - 1) * 0.5 - 1) + 0.8
        k1 = np.exp(-(np.arange(ksize) - (ksize - 1) / 2) ** 2 / (2 * s * s))
        k1 /= k1.sum()
    b = ksize // 2
    H, W = img.shape
    pad = np.zeros((H + 2 * b, W + 2 * b))
    pad[b:b + H, b:b + W] = img
    out = np.zeros((H, W))
    for i in range(ksize):
        for j in range(ksize):
            out += k1[i] * k1[j] * pad[i:i + H, j:j + W]
    return out


def dark_decode(hm, coords, ksize):
    """DARK get_final_preds after get_max_preds: gaussian_blur (rescaled to the original max), log, taylor."""
    coords = coords.copy()
    H, W = hm.shape[-2:]
    for n, k in np.ndindex(*coords.shape[:2]):
        m = hm[n, k]
        if ksize:
            with np.errstate(divide="ignore", invalid="ignore"):
                m = cv2_blur(m, ksize)
                m = m * (hm[n, k].max() / m.max())
        L = np.log(np.maximum(m, 1e-10))
        px, py = int(coords[n, k, 0]), int(coords[n, k, 1])
        if 1 < px < W - 2 and 1 < py < H - 2:
            d = np.array([0.5 * (L[py, px + 1] - L[py, px - 1]), 0.5 * (L[py + 1, px] - L[py - 1, px])])
            dxx = 0.25 * (L[py, px + 2] - 2 * L[py, px] + L[py, px - 2])
            dyy = 0.25 * (L[py + 2, px] - 2 * L[py, px] + L[py - 2, px])
            dxy = 0.25 * (L[py + 1, px + 1] - L[py - 1, px + 1] - L[py + 1, px - 1] + L[py - 1, px - 1])
            hess = np.array([[dxx, dxy], [dxy, dyy]])
            if dxx * dyy - dxy ** 2 != 0:
                coords[n, k] += -np.linalg.inv(hess) @ d
    return coords


def random_maps(seed, kind, H, W):
    """(2, 3, H, W) float64 maps of one family: blobs (peaks anywhere, borders included), uniform noise,
    ties (few levels), flat, negative."""
    rng = np.random.default_rng(seed)
    if kind == "blobs":
        ys, xs = np.mgrid[:H, :W]
        cx = rng.choice([0, 1, 2, W - 3, W - 2, W - 1, rng.uniform(0, W - 1)], size=(2, 3))
        cy = rng.choice([0, 1, 2, H - 3, H - 2, H - 1, rng.uniform(0, H - 1)], size=(2, 3))
        s = rng.uniform(1.0, 3.0, (2, 3))
        g = np.exp(-((xs - cx[..., None, None]) ** 2 + (ys - cy[..., None, None]) ** 2) / (2 * s[..., None, None] ** 2))
        return g + rng.normal(0, 0.02, g.shape)
    if kind == "uniform":
        return rng.random((2, 3, H, W))
    if kind == "ties":
        return rng.integers(0, 3, (2, 3, H, W)) / 2.0
    if kind == "flat":
        return np.broadcast_to(rng.choice([0.0, 0.5, -0.25], size=(2, 3, 1, 1)), (2, 3, H, W)).copy()
    return rng.random((2, 3, H, W)) - 1.5                                     # negative


MAP_KINDS = st.sampled_from(["blobs", "uniform", "ties", "flat", "negative"])
SIZES = st.tuples(st.integers(3, 12), st.integers(3, 12))


def _ours(maps, **kw):
    return hmap.decode(torch.from_numpy(maps), **kw)


@settings(deadline=None, max_examples=60)
@given(seed=st.integers(0, 2 ** 31), kind=MAP_KINDS, size=SIZES)
def test_argmax_matches_hrnet_and_mmpose_except_documented_nonpositive_maps(seed, kind, size):
    maps = random_maps(seed, kind, *size)
    xy, scores = _ours(maps, method="argmax")
    hr, vals = hrnet_max_preds(maps)
    mm, _ = mmpose_maximum(maps)
    np.testing.assert_array_equal(scores.numpy(), vals)
    pos = vals > 0
    np.testing.assert_array_equal(xy.numpy()[pos], hr[pos])
    np.testing.assert_array_equal(xy.numpy()[pos], mm[pos])
    # documented difference: max <= 0 keeps its (first) argmax location; HRNet (0, 0), MMPose (-1, -1)
    flat = maps.reshape(2, 3, -1).argmax(-1)
    np.testing.assert_array_equal(xy.numpy()[~pos], np.stack([flat % size[1], flat // size[1]], -1)[~pos])
    assert (hr[~pos] == 0).all() and (mm[~pos] == -1).all()


@settings(deadline=None, max_examples=60)
@given(seed=st.integers(0, 2 ** 31), kind=MAP_KINDS, size=SIZES)
def test_quarter_rules_match_hrnet_and_mmpose(seed, kind, size):
    maps = random_maps(seed, kind, *size)
    raw = _ours(maps, method="argmax")[0].numpy()                          # unmasked argmax (see above)
    pos = maps.reshape(2, 3, -1).max(-1) > 0
    hr = _ours(maps, method="quarter", quarter_rule="hrnet")[0].numpy()
    np.testing.assert_array_equal(hr, hrnet_quarter(maps, raw))
    np.testing.assert_array_equal(hr[pos], hrnet_quarter(maps, hrnet_max_preds(maps)[0])[pos])
    mm = _ours(maps, method="quarter", quarter_rule="mmpose")[0].numpy()
    np.testing.assert_array_equal(mm, mmpose_refine(maps, raw))
    np.testing.assert_array_equal(mm[pos], mmpose_refine(maps, mmpose_maximum(maps)[0])[pos])


def test_mmpose_quarter_rule_keeps_x_of_a_row0_peak():
    m = torch.zeros(1, 1, 5, 5)
    m[0, 0, 0, 2], m[0, 0, 0, 3] = 1.0, 0.5                                 # peak at (x=2, y=0)
    assert hmap.decode(m, method="quarter", quarter_rule="mmpose")[0][0, 0].tolist() == [2.0, 0.0]
    assert hmap.decode(m.transpose(-1, -2), method="quarter", quarter_rule="mmpose")[0][0, 0].tolist() == [0.0, 2.0]
    assert hmap.decode(m, method="quarter")[0][0, 0].tolist() == [2.25, 0.0]   # the course rule does shift


@settings(deadline=None, max_examples=60)
@given(seed=st.integers(0, 2 ** 31), kind=MAP_KINDS, size=st.tuples(st.integers(3, 16), st.integers(3, 16)),
       ksize=st.sampled_from([0, 3, 5, 7, 9, 11]))
def test_dark_matches_darkpose_code(seed, kind, size, ksize):
    maps = random_maps(seed, kind, *size)
    ours = _ours(maps, method="dark", dark_kernel=ksize)[0].numpy()
    raw = _ours(maps, method="argmax")[0].numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        ref = dark_decode(maps, raw, ksize)
    zero = maps.reshape(2, 3, -1).max(-1) == 0                              # DARK divides 0 by 0 there
    if ksize:
        zero |= np.abs(maps).reshape(2, 3, -1).max(-1) == 0
    np.testing.assert_allclose(ours[~zero], ref[~zero], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(ours[zero], raw[zero])                    # documented: left unrefined


def test_dark_blur_kernels_are_opencvs():
    assert hmap.cv2_gaussian_kernel(5).tolist() == [0.0625, 0.25, 0.375, 0.25, 0.0625]
    assert hmap.cv2_gaussian_kernel(3).tolist() == [0.25, 0.5, 0.25]
    k11 = hmap.cv2_gaussian_kernel(11)
    s = 0.3 * 4 + 0.8                                                       # cv2's sigma for ksize 11
    assert k11.sum().item() == pytest.approx(1.0) and (k11[5] / k11[4]).item() == pytest.approx(math.exp(1 / (2 * s * s)))


def test_dark_step2_second_difference_and_border_skip():
    # a log-quadratic map that is not Gaussian-shaped in x: step-1 and step-2 differences disagree
    ys, xs = np.mgrid[:9, :9].astype(float)
    L = -0.5 * (xs - 4.3) ** 2 - 0.5 * (ys - 4.0) ** 2 + 0.3 * np.cos(np.pi * xs)
    m = np.exp(L)[None, None]
    ours = _ours(m, method="dark", dark_kernel=0)[0].numpy()[0, 0]
    ref = dark_decode(m, np.array([[[4.0, 4.0]]]), 0)[0, 0]
    np.testing.assert_allclose(ours, ref, atol=1e-9)
    border = np.zeros((1, 1, 9, 9))
    border[0, 0, 4, 1], border[0, 0, 4, 2] = 1.0, 0.6                       # argmax at x = 1: DARK skips
    assert _ours(border, method="dark")[0][0, 0].tolist() == [1.0, 4.0]
    with pytest.raises(ValueError, match="dark_kernel"):
        _ours(border, method="dark", dark_kernel=4)


def test_quantize_rounds_like_hrnet_int():
    # int(x / s + 0.5) truncates towards zero: x = -3 at stride 4 -> int(-0.25) = 0 (floor would give -1)
    hq, w = _one(-3.0, 10.0, stride=4.0, quantize=True)
    assert hq[0, 0, 3, 0] == pytest.approx(1.0) and w.tolist() == [[1.0]]
    hq, _ = _one(9.9, 10.0, stride=4.0, quantize=True)                      # int(2.975) = 2
    assert hq[0, 0, 3, 2] == pytest.approx(1.0)


def test_encoders_match_hrnet_and_cpm_gaussians_inside_their_windows():
    sigma, stride = 2.0, 4.0
    x, y = 37.0, 22.0
    hm, _ = _one(x, y, stride=stride, sigma=sigma, quantize=True)
    mx, my = int(x / stride + 0.5), int(y / stride + 0.5)
    ys, xs = np.mgrid[:H, :W]
    ref = np.exp(-((xs - mx) ** 2 + (ys - my) ** 2) / (2 * sigma ** 2))
    win = (np.abs(xs - mx) <= 3 * sigma) & (np.abs(ys - my) <= 3 * sigma)   # HRNet's 6 sigma + 1 window
    np.testing.assert_allclose(hm[0, 0].numpy()[win], ref[win], rtol=1e-6)
    out = hm[0, 0].numpy()[~win]                                            # documented: tails not cut
    assert out.max() > 0 and out.max() < math.exp(-4.5) + 1e-7
    # CPM putGaussianMaps: grid x = stride / 2 - 0.5 + g stride, exp(-d^2 / 2 sigma_img^2), zero below 0.01
    sigma_img = 7.0
    cpm, _ = _one(x, y, stride=stride, sigma=sigma_img / stride)
    gx, gy = stride / 2 - 0.5 + xs * stride, stride / 2 - 0.5 + ys * stride
    e = ((gx - x) ** 2 + (gy - y) ** 2) / 2.0 / sigma_img ** 2
    keep = e <= 4.6052
    np.testing.assert_allclose(cpm[0, 0].numpy()[keep], np.exp(-e[keep]), rtol=1e-5)
    assert (cpm[0, 0].numpy()[~keep] < 0.0101).all()                       # documented: not truncated


# ---- issue 24: the documented differences from the official code, and half precision ------------------

def test_nonpositive_map_difference_is_the_documented_one():
    """decode's docstring: a map with maximum <= 0 keeps its first argmax (HRNet: (0, 0), MMPose: (-1, -1))."""
    m = -torch.ones(1, 2, 6, 7, dtype=torch.float64)
    m[0, 0, 3, 4] = -0.5
    xy, s = hmap.decode(m, method="argmax")
    assert xy[0].tolist() == [[4.0, 3.0], [0.0, 0.0]] and (s <= 0).all()
    hr, _ = hrnet_max_preds(m.numpy())
    mm, _ = mmpose_maximum(m.numpy())
    assert hr[0].tolist() == [[0.0, 0.0], [0.0, 0.0]] and mm[0].tolist() == [[-1.0, -1.0], [-1.0, -1.0]]


def test_dark_near_singular_hessian_follows_darkpose_in_the_maps_precision():
    """decode's docstring: with a near-singular Hessian the Taylor step depends on the precision. Ours equals
    the DarkPose oracle in float64; the same map in float32 lands elsewhere (why MMPose's float32 blur can
    differ), while a well-conditioned peak agrees across precisions."""
    ys, xs = np.mgrid[:17, :17]
    ridge = (np.exp(-(ys - 8.0) ** 2 / 8) * (1 - 3e-7 * (xs - 8.3) ** 2))[None, None]   # flat along x
    for k in (0, 11):
        ours = _ours(ridge, method="dark", dark_kernel=k)[0].numpy()
        np.testing.assert_allclose(ours, dark_decode(ridge, _ours(ridge, method="argmax")[0].numpy(), k), atol=1e-6)
        f32 = hmap.decode(torch.from_numpy(ridge).float(), method="dark", dark_kernel=k)[0].numpy()
        assert np.abs(f32 - ours).max() > 0.02                                     # ill-conditioned
    peak = np.exp(-((xs - 8.3) ** 2 + (ys - 7.6) ** 2) / 8)[None, None]
    a = _ours(peak, method="dark", dark_kernel=11)[0].numpy()
    b = hmap.decode(torch.from_numpy(peak).float(), method="dark", dark_kernel=11)[0].numpy()
    np.testing.assert_allclose(a, b, atol=1e-3)


def _hrnet_weight(mu: int, sigma: float, size: int) -> int:
    """HRNet JointsDataset.generate_target's target_weight along one axis for an integer centre ``mu``."""
    tmp = sigma * 3
    ul, br = int(mu - tmp), int(mu + tmp + 1)
    return 0 if ul >= size or br < 0 else 1


@pytest.mark.parametrize("sigma", [1.0, 1.5, 2.0, 3.0])
def test_target_weight_differs_from_hrnet_only_just_left_of_or_above_the_map(sigma):
    """encode's docstring: HRNet keeps weight 1 for -2 - 3 sigma < mu <= -1 - 3 sigma (an empty window);
    everywhere else the weights agree, on both axes."""
    stride, differing = 4.0, 0
    for mu in range(-int(3 * sigma) - 5, max(H, W) + int(3 * sigma) + 5):
        x = mu * stride if mu >= 0 else (mu - 0.25) * stride    # int(x / s + 0.5) = mu (truncation below 0)
        q = int(x / stride + 0.5)
        for axis, size in ((0, W), (1, H)):
            p = [20.0, 20.0]
            p[axis] = x
            _, w = _one(*p, stride=stride, sigma=sigma, quantize=True)
            hr = _hrnet_weight(q, sigma, size)
            if -2 - 3 * sigma < q <= -1 - 3 * sigma:
                assert (w.item(), hr) == (0.0, 1)
                differing += 1
            else:
                assert w.item() == hr, (q, axis)
    assert differing == 2  # one centre per axis


@settings(deadline=None, max_examples=40)
@given(seed=st.integers(0, 2 ** 31), kind=MAP_KINDS, size=SIZES,
       method=st.sampled_from(["argmax", "quarter", "dark", "soft_argmax"]))
def test_half_precision_decodes_as_its_float32_copy(seed, kind, size, method):
    """Issue 24: float16 maps decoded to NaN (log(1e-10) underflows in fp16); they decode in float32 now."""
    maps = torch.from_numpy(random_maps(seed, kind, *size))
    for low in (torch.float16, torch.bfloat16):
        m = maps.to(low)
        xy, s = hmap.decode(m, stride=4.0, method=method, dark_kernel=3)
        want_xy, want_s = hmap.decode(m.float(), stride=4.0, method=method, dark_kernel=3)
        assert xy.dtype == torch.float32 and torch.equal(xy, want_xy) and torch.equal(s, want_s)
        assert torch.isfinite(xy).all()
