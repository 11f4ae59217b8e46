"""Codec objects: decode(encode(labels)) gives the labels back, with the parameters they share."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from posecourse.targets.codecs import Codec, HeatmapCodec, PAFCodec, Poses, RegressionCodec
from posecourse.lectures import LECTURES
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
    xy, scores = codec.decode(enc["target"]).single()
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
        xy, scores = codec.decode(codec.encode(batch)["target"]).single()
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
    poses = codec.decode([{"heatmaps": enc["heatmap_target"], "paf": enc["paf_target"]}])
    found = poses.people(0)
    assert len(found) == 2
    for person in found:
        d = [(torch.as_tensor(person[:, :2], dtype=torch.float32) - p).norm(dim=-1) for p in people[0]]
        best = min(d, key=lambda x: x.mean())
        assert (person[:, 2] > 0).all() and best.max() < 1.0


def test_dark_kernel_follows_sigma():
    """DARK's blur size is derived from the codec's sigma (MMPose's configs: 11 at sigma 2, 17 at sigma 3), and
    the codec's decode uses it: the same maps decoded through the function with that kernel give the same points."""
    from posecourse.targets.codecs import HeatmapCodec, dark_kernel_for
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
    assert torch.equal(codec.decode(maps).single()[0], want) and not torch.equal(want, other)


def test_every_lecture_codec_is_a_codec_and_decodes_to_poses():
    """The one interface: each lecture's codec implements the base, and decode returns Poses for every family
    (one person per image top-down; the most people of any image, NaN-padded with score 0, bottom-up)."""
    for lec in LECTURES.values():
        codec = lec.codec
        assert isinstance(codec, Codec)
        with torch.no_grad():
            out = lec.build_model().eval()(torch.rand(2, 3, lec.data.image_size, lec.data.image_size))
        poses = codec.decode(out)
        assert isinstance(poses, Poses) and poses.keypoints.dim() == 4 and poses.keypoints.shape[0] == 2
        assert poses.scores.shape == poses.keypoints.shape[:-1]
        assert [len(p) for p in codec.decode_stages(out)] == [2] * len(codec.decode_stages(out))
        if codec.bottom_up:
            assert all(p.shape[1:] == (get_skeleton(codec.skeleton).num_joints, 3) for p in map(poses.people, range(2)))
        else:
            coords, scores = poses.single()
            assert coords.shape == (2, get_skeleton(lec.skeleton).num_joints, 2) and scores.shape == coords.shape[:2]
            assert poses.keypoints.shape[1] == 1 and len(poses.people(0)) == 1


def test_poses_padding_and_views():
    people = [np.array([[[1.0, 2.0, 0.5], [np.nan, np.nan, 0.0]]]), np.zeros((0, 2, 3))]
    poses = Poses.from_people(people, 2)
    assert poses.keypoints.shape == (2, 1, 2, 2) and poses.scores[1].eq(0).all() and poses.keypoints[1].isnan().all()
    np.testing.assert_array_equal(poses.people(0), people[0])
    assert poses.people(1).shape == (0, 2, 3)
    with pytest.raises(ValueError, match="Poses.single: expected one person per image"):
        Poses.from_people([people[0].repeat(2, 0)], 2).single()


@pytest.mark.parametrize("codec", [RegressionCodec(64), PAFCodec(96, 24)])
def test_decode_flip_without_maps_names_the_codec(codec):
    assert not codec.flip_test
    with pytest.raises(NotImplementedError, match=type(codec).__name__):
        codec.decode_flip(None, None, [0])


@settings(deadline=None, max_examples=30)
@given(st.integers(0, 2 ** 31 - 1), st.sampled_from(["argmax", "quarter", "dark"]))
def test_decode_flip_of_a_mirror_symmetric_output_equals_decode(seed, method):
    """A model whose output on the mirror image is exactly the mirror of its output (channels swapped left/right):
    the flip test averages two equal maps, so it decodes to the same poses as decode alone."""
    sk = get_skeleton("mpii16")
    codec = HeatmapCodec(64, 16, num_joints=sk.num_joints, sigma=1.5, method=method)
    g = torch.Generator().manual_seed(seed)
    maps = torch.rand(2, sk.num_joints, 16, 16, generator=g)
    mirrored = maps.flip(-1)[:, sk.flip_index]
    got, want = codec.decode_flip([maps], [mirrored], sk.flip_index, method=method), codec.decode(maps)
    torch.testing.assert_close(got.keypoints, want.keypoints)
    torch.testing.assert_close(got.scores, want.scores)
