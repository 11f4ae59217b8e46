"""Codec objects: decode(encode(labels)) gives the labels back, with the parameters they share."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from posecourse.codecs import HeatmapCodec, PAFCodec, RegressionCodec
from posecourse.skeletons import get_skeleton

coords = st.floats(12.0, 52.0, allow_nan=False)


def _batch(points, size=64):
    kp = torch.tensor(points, dtype=torch.float32).view(1, 1, -1, 2)
    return {"keypoints": kp, "visibility": torch.full(kp.shape[:-1], 2.0), "image": torch.zeros(1, 3, size, size)}


@settings(deadline=None, max_examples=40)
@given(st.lists(st.tuples(coords, coords), min_size=1, max_size=6))
def test_regression_round_trip_is_exact(points):
    codec = RegressionCodec(input_size=64)
    batch = _batch(points)
    enc = codec.encode(batch)
    assert enc["target"].abs().max() <= 0.5  # inside the image box: N(y; b) in [-0.5, 0.5]
    xy, scores = codec.decode(enc["target"])
    torch.testing.assert_close(xy, batch["keypoints"][:, 0], atol=1e-4, rtol=0)
    assert scores.shape == xy.shape[:2]


@settings(deadline=None, max_examples=40)
@given(st.lists(st.tuples(coords, coords), min_size=1, max_size=6), st.sampled_from([1.5, 2.0]),
       st.sampled_from([(64, 16), (64, 32)]))
def test_heatmap_round_trip_is_sub_pixel(points, sigma, sizes):
    """DARK recovers a Gaussian's centre to a fraction of a heatmap pixel; the quarter offset is bounded
    by its quantisation (half a quarter step per axis plus the argmax tie), both in image px."""
    size, hm = sizes
    stride = size / hm
    batch = _batch(points, size)
    for method, tol in (("dark", 0.2 * stride), ("quarter", 0.5 * stride * np.sqrt(2) + 1e-4)):
        codec = HeatmapCodec(size, hm, num_joints=len(points), sigma=sigma, method=method)
        xy, scores = codec.decode(codec.encode(batch)["target"])
        err = (xy - batch["keypoints"][:, 0]).norm(dim=-1)
        assert err.max() < tol, (method, err.max())
        assert torch.allclose(scores, torch.ones_like(scores), atol=0.2)


def test_heatmap_codec_background_and_shape_errors():
    codec = HeatmapCodec(64, 16, num_joints=2, sigma=1.5, background=True)
    enc = codec.encode(_batch([(20.0, 20.0), (40.0, 30.0)]))
    assert enc["target"].shape == (1, 3, 16, 16) and enc["weight"].shape == (1, 3)
    torch.testing.assert_close(enc["target"][:, 2], 1 - enc["target"][:, :2].amax(1))  # background is channel K
    assert codec.stride == 4.0
    with pytest.raises(ValueError, match=r"the model's maps are \(8, 8\), the codec encodes \(16, 16\)"):
        codec.decode(torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match="uniform scaling"):
        HeatmapCodec((64, 48), (16, 16), num_joints=1)


def test_paf_codec_decodes_its_own_targets_into_the_people():
    """Perfect maps (the codec's own targets) assemble into the same people, each joint within a pixel."""
    sk = get_skeleton("coco18")
    codec = PAFCodec(input_size=96, heatmap_size=48, skeleton="coco18", sigma=1.0, limb_width=1.0)
    g = torch.Generator().manual_seed(0)
    base = torch.rand(1, sk.num_joints, 2, generator=g) * 24
    people = torch.stack([base[0] + torch.tensor([8.0, 10.0]), base[0] + torch.tensor([56.0, 50.0])])[None]
    batch = {"keypoints": people, "visibility": torch.full(people.shape[:-1], 2.0)}
    enc = codec.encode(batch)
    found = codec.decode([{"heatmaps": enc["heatmap_target"], "paf": enc["paf_target"]}])[0]
    assert len(found) == 2
    for person in found:
        d = [(torch.as_tensor(person[:, :2], dtype=torch.float32) - p).norm(dim=-1) for p in people[0]]
        best = min(d, key=lambda x: x.mean())
        assert (person[:, 2] > 0).all() and best.max() < 1.0


def test_dark_kernel_follows_sigma():
    """DARK's blur size is derived from the codec's sigma (MMPose's configs: 11 at sigma 2, 17 at sigma 3), and
    the codec's decode uses it: the same maps decoded through the function with that kernel give the same points."""
    from posecourse.codecs import HeatmapCodec, dark_kernel_for
    from posecourse.targets import heatmap

    assert [dark_kernel_for(s) for s in (1.5, 2, 3)] == [7, 11, 17]
    for bad in (0, -1.0, float("nan"), "2"):
        with pytest.raises(ValueError, match="sigma"):
            dark_kernel_for(bad)
    codec = HeatmapCodec(input_size=64, heatmap_size=16, num_joints=2, sigma=1.5, method="dark")
    assert codec.dark_kernel == 7
    g = torch.Generator().manual_seed(0)
    maps = torch.rand(3, 2, 16, 16, generator=g)
    want = heatmap.decode(maps, stride=codec.stride, method="dark", dark_kernel=7)[0]
    other = heatmap.decode(maps, stride=codec.stride, method="dark", dark_kernel=11)[0]
    assert torch.equal(codec.decode(maps)[0], want) and not torch.equal(want, other)
