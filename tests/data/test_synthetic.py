"""The synthetic pose world: determinism, sample format, visibility, the left/right cue, boxes, batching."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader

from posecourse.data import collate
from posecourse.data.synthetic import LEFT_COLOR, RIGHT_COLOR, SyntheticPoseDataset
from posecourse.skeletons import convert_keypoints, get_skeleton


def _equal(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in ("image", "keypoints", "visibility", "boxes"))


def test_same_seed_and_index_give_identical_samples_in_any_order():
    a = SyntheticPoseDataset(50, seed=7)
    b = SyntheticPoseDataset(50, seed=7)
    first = a[13]
    _ = [b[i] for i in (40, 2, 13, 5)]
    assert _equal(first, b[13]) and _equal(first, a[13])
    assert not torch.equal(first["image"], SyntheticPoseDataset(50, seed=8)[13]["image"])
    assert not torch.equal(first["keypoints"], a[14]["keypoints"])


@pytest.mark.parametrize("skeleton,people,size", [("mpii16", 1, 64), ("mpii16", 1, 100), ("coco17", (1, 4), 128),
                                                  ("coco17", 2, 256), ("mpii16", 1, (96, 64))])
def test_sample_format(skeleton, people, size):
    ds = SyntheticPoseDataset(8, image_size=size, num_people=people, skeleton=skeleton, seed=1)
    H, W = (size, size) if isinstance(size, int) else size
    K = get_skeleton(skeleton).num_joints
    counts = set()
    for i in range(4):
        s = ds[i]
        P = s["keypoints"].shape[0]
        counts.add(P)
        assert s["image"].shape == (3, H, W) and s["image"].dtype == torch.float32
        assert 0 <= float(s["image"].min()) and float(s["image"].max()) <= 1
        assert s["keypoints"].shape == (P, K, 2) and s["keypoints"].dtype == torch.float32
        assert s["visibility"].shape == (P, K) and set(s["visibility"].unique().tolist()) <= {0.0, 1.0, 2.0}
        assert s["boxes"].shape == (P, 4) and (s["boxes"][:, 2:] > 0).all()
        assert s["skeleton"] == skeleton and s["meta"]["source"] == "synthetic" and s["meta"]["index"] == i
        assert torch.isfinite(s["keypoints"]).all()
        assert float(s["image"].std()) > 0.05  # not a blank image
    lo, hi = (people, people) if isinstance(people, int) else people
    assert all(lo <= c <= hi for c in counts)


@settings(deadline=None, max_examples=25)
@given(seed=st.integers(0, 2**31), index=st.integers(0, 10**6), multi=st.booleans())
def test_visibility_and_boxes_invariants(seed, index, multi):
    """vis 0 exactly for joints outside the frame; boxes hold every joint (visible or not)."""
    ds = SyntheticPoseDataset(10**6 + 1, image_size=64, num_people=(1, 4) if multi else 1,
                              skeleton="coco17" if multi else "mpii16", seed=seed, scale_range=(0.5, 1.3))
    s = ds[index]
    x, y = s["keypoints"][..., 0], s["keypoints"][..., 1]
    inside = (x >= -0.5) & (x < 63.5) & (y >= -0.5) & (y < 63.5)
    assert torch.equal(s["visibility"] > 0, inside)
    b = s["boxes"][:, None]
    assert ((s["keypoints"] >= b[..., :2]) & (s["keypoints"] <= b[..., :2] + b[..., 2:])).all()


def test_joints_pushed_out_of_frame_get_visibility_zero_and_occluders_give_one():
    big = SyntheticPoseDataset(40, image_size=64, scale_range=(1.6, 2.0), seed=3, occlusion=0.0)
    vis = torch.cat([big[i]["visibility"] for i in range(40)])
    assert (vis == 0).float().mean() > 0.2  # figures twice the frame: many joints leave it
    occ = SyntheticPoseDataset(40, image_size=64, seed=3, occlusion=1.0, back_prob=0.0)
    vis = torch.cat([occ[i]["visibility"] for i in range(40)])
    assert (vis == 1).any() and (vis == 2).float().mean() > 0.5


def test_left_right_colour_cue_is_present():
    """Pixels on the left forearm are warm (R > B), on the right forearm cool (B > R)."""
    ds = SyntheticPoseDataset(60, image_size=96, seed=0, occlusion=0.0, distractors=0)
    sk = get_skeleton("mpii16")
    warm, cool = [], []
    for i in range(len(ds)):
        s = ds[i]
        for side, out in (("left", warm), ("right", cool)):
            e, w = sk.index(f"{side}_elbow"), sk.index(f"{side}_wrist")
            if s["visibility"][0, e] == 2 and s["visibility"][0, w] == 2:
                x, y = ((s["keypoints"][0, e] + s["keypoints"][0, w]) / 2).round().long().tolist()
                out.append(s["image"][:, y, x])
    warm, cool = torch.stack(warm), torch.stack(cool)
    assert len(warm) > 20 and len(cool) > 20
    rb = lambda c: (c[:, 0] - c[:, 2]).median()
    assert rb(warm) > 0.2 and rb(cool) < -0.2, (rb(warm), rb(cool))
    assert LEFT_COLOR[0] > LEFT_COLOR[2] and RIGHT_COLOR[2] > RIGHT_COLOR[0]


def test_coco17_face_points_sit_on_the_head_and_convert_to_coco18():
    ds = SyntheticPoseDataset(20, image_size=128, num_people=(1, 4), skeleton="coco17", seed=2)
    sk = get_skeleton("coco17")
    face = [sk.index(n) for n in ("nose", "left_eye", "right_eye", "left_ear", "right_ear")]
    for i in range(20):
        s = ds[i]
        kp = s["keypoints"]
        spread = (kp[:, face].amax(1) - kp[:, face].amin(1)).norm(dim=-1)
        height = s["boxes"][:, 2:].amax(-1)
        assert (spread < 0.25 * height).all()  # the five face points cluster on one head
        k18, v18 = convert_keypoints(kp.numpy(), s["visibility"].numpy(), "coco17", "coco18")
        assert k18.shape == (kp.shape[0], 18, 2) and np.isfinite(k18[v18 > 0]).all()


def test_dataloader_with_collate_and_workers_match_single_process():
    ds = SyntheticPoseDataset(8, image_size=64, num_people=(1, 3), skeleton="coco17", seed=4)
    one = next(iter(DataLoader(ds, batch_size=8, collate_fn=collate)))
    two = torch.cat([b["image"] for b in DataLoader(ds, batch_size=4, collate_fn=collate, num_workers=2)])
    assert one["image"].shape == (8, 3, 64, 64) and one["keypoints"].shape[1:] == (int(one["num_people"].max()), 17, 2)
    assert torch.equal(one["image"], two)
    padded = torch.arange(one["keypoints"].shape[1])[None] >= one["num_people"][:, None]  # (B, P_max)
    assert (one["visibility"][padded] == 0).all() and (one["visibility"][~padded].sum(-1) > 0).all()


def test_bad_arguments_raise_value_error():
    for kw, word in (({"image_size": 8}, "image_size"), ({"num_people": 0}, "num_people"),
                     ({"skeleton": "lsp14"}, "skeleton"), ({"clutter": 2.0}, "clutter")):
        with pytest.raises(ValueError, match=word):
            SyntheticPoseDataset(4, **kw)
    with pytest.raises(IndexError):
        SyntheticPoseDataset(4)[4]


def test_overlapping_capsules_leave_no_background_holes():
    """A later capsule's soft edge over an earlier capsule blends with it, not with the background."""
    from posecourse.data.synthetic import _draw_capsules

    img, owner = np.zeros((3, 40, 40), np.float32), np.full((40, 40), -1, np.int16)
    caps = [(10 + 20j, 30 + 20j, 3.0, (1.0, 0.0, 0.0)), (20 + 5j, 21 + 35j, 2.3, (0.0, 1.0, 0.0))]
    _draw_capsules(img, owner, caps, [0, 1])
    ys, xs = np.mgrid[0:40, 0:40]
    inside_first = np.abs(ys - 20) <= 2  # well inside capsule 0 (radius 3) along its length
    inside_first &= (xs >= 10) & (xs <= 30)
    assert (img[:2].sum(0)[inside_first] > 0.6).all()
    assert (owner[inside_first] >= 0).all()


def test_single_person_without_occluders_is_fully_visible_in_frame():
    ds = SyntheticPoseDataset(30, image_size=64, occlusion=0.0, seed=9)
    for i in range(30):
        s = ds[i]
        x, y = s["keypoints"][0].unbind(-1)
        inside = (x >= -0.5) & (x < 63.5) & (y >= -0.5) & (y < 63.5)
        assert torch.equal(s["visibility"][0], torch.where(inside, 2.0, 0.0))


# ----------------------------------------------------------------------------- issue 16: parameters
@pytest.mark.parametrize("kw,name", [
    ({"length": True}, "length"), ({"length": 4.0}, "length"), ({"length": -1}, "length"),
    ({"image_size": 64.0}, "image_size"), ({"image_size": "64"}, "image_size"), ({"image_size": (64, 64, 3)}, "image_size"),
    ({"image_size": (64, 2000)}, "image_size"),
    ({"num_people": "2"}, "num_people"), ({"num_people": True}, "num_people"), ({"num_people": (1, 2, 3)}, "num_people"),
    ({"num_people": (3, 1)}, "num_people"), ({"num_people": 2.0}, "num_people"), ({"num_people": 10**6}, "num_people"),
    ({"scale_range": (0.5,)}, "scale_range"), ({"scale_range": (float("nan"), 1)}, "scale_range"),
    ({"scale_range": (0.5, float("inf"))}, "scale_range"), ({"scale_range": (0, 1)}, "scale_range"),
    ({"scale_range": "big"}, "scale_range"), ({"scale_range": (0.9, 0.5)}, "scale_range"),
    ({"rotation_deg": float("nan")}, "rotation_deg"), ({"rotation_deg": float("inf")}, "rotation_deg"),
    ({"rotation_deg": "25"}, "rotation_deg"), ({"pose_range": "0.5"}, "pose_range"),
    ({"pose_range": float("nan")}, "pose_range"), ({"back_prob": None}, "back_prob"),
    ({"occlusion": 1.5}, "occlusion"), ({"clutter": None}, "clutter"),
    ({"seed": -1}, "seed"), ({"seed": 1.5}, "seed"), ({"seed": "abc"}, "seed"),
    ({"bank_size": 0}, "bank_size"), ({"bank_size": 2.5}, "bank_size"),
    ({"bank_size": 1024, "image_size": 1024}, "bank_size"),
    ({"distractors": float("inf")}, "distractors"), ({"distractors": float("nan")}, "distractors"),
    ({"skeleton": 5}, "skeleton"), ({"skeleton": ["coco17"]}, "skeleton"),
])
def test_bad_parameters_raise_value_error_naming_them(kw, name):
    """Today several of these failed later with TypeError / IndexError, or produced NaN joints silently."""
    with pytest.raises(ValueError, match=f"^{name}: "):
        SyntheticPoseDataset(4, **kw) if "length" not in kw else SyntheticPoseDataset(**kw)


@settings(deadline=None, max_examples=40)
@given(st.fixed_dictionaries({}, optional={
    "image_size": st.one_of(st.integers(16, 96), st.sampled_from([64.0, "64", (64, 48), [48, 64], None])),
    "num_people": st.one_of(st.integers(-1, 3), st.sampled_from([(1, 2), [2, 1], "1", 1.0, True])),
    "scale_range": st.one_of(st.tuples(st.floats(-1, 2), st.floats(-1, 2)), st.sampled_from([0.5, (0.5,), None])),
    "rotation_deg": st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(["5", None])),
    "pose_range": st.one_of(st.floats(-0.5, 1.5), st.sampled_from([float("nan"), "1"])),
    "distractors": st.one_of(st.floats(-1, 5), st.sampled_from([float("inf"), None])),
    "seed": st.one_of(st.integers(-2, 2**40), st.sampled_from([0.5, "0"])),
    "bank_size": st.one_of(st.integers(-1, 3), st.sampled_from([1.0, None])),
}))
def test_any_parameters_give_a_sound_dataset_or_a_named_value_error(kw):
    try:
        ds = SyntheticPoseDataset(2, **kw)
    except ValueError as e:
        assert str(e).split(":")[0] in kw, e  # the message starts with the offending parameter's name
        return
    s = ds[1]
    assert torch.isfinite(s["keypoints"]).all() and torch.isfinite(s["boxes"]).all()
    assert set(s["visibility"].unique().tolist()) <= {0.0, 1.0, 2.0}
    with pytest.raises(TypeError, match="index must be an integer"):
        ds[0.5]
