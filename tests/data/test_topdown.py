"""Top-down person crops on the real samples (COCO, MPII, CrowdPose from ``shared_data``): the labels
survive crop + augmentation + heatmap encode/decode + the inverse map, flips swap left/right the way
the image does, and a tiny model overfits eight real crops."""
from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from posecourse import metrics
from posecourse.data import collate
from posecourse.data.synthetic import SyntheticPoseDataset
from posecourse.data.topdown import TopDown, WholeImages, batch_to_original, open_source, skeleton_of, to_original
from posecourse.data.transforms import RandomFlip, layout
from posecourse.skeletons import get_skeleton
from posecourse.targets import heatmap

FORMATS = ("coco", "mpii", "crowdpose")
FEW = settings(deadline=None, max_examples=6)


@pytest.fixture(scope="module")
def sources(shared_data):
    return {fmt: open_source(fmt, shared_data / fmt) for fmt in FORMATS}


def _labelled_back(src, crop) -> tuple[torch.Tensor, torch.Tensor]:
    """Original keypoints ``(K, 2)`` of a crop's person and the mask of joints still labelled in the crop,
    in the original joint order."""
    orig = src[crop["meta"]["source_index"]]
    keep = torch.zeros(crop["visibility"].shape[1], dtype=torch.bool)
    keep[crop["meta"]["source_joints"]] = crop["visibility"][0] > 0
    return orig["keypoints"][0], keep & (orig["visibility"][0] > 0)


# --------------------------------------------------------------------------- the sample contract
def test_crop_is_a_course_sample(sources):
    synthetic = SyntheticPoseDataset(1, image_size=64)[0]
    for fmt, src in sources.items():
        td = TopDown(src, (64, 48), augment=True, seed=3)
        s = td[0]
        assert set(s) == set(synthetic), fmt
        K = layout(s["skeleton"], s["meta"].get("joint_names")).num_joints
        assert K == {"coco": 17, "mpii": 16, "crowdpose": 14}[fmt]
        assert s["image"].shape == (3, 64, 48) and s["image"].dtype == torch.float32
        assert s["keypoints"].shape == (1, K, 2) and s["visibility"].shape == (1, K) and s["boxes"].shape == (1, 4)
        assert {"affine", "source_joints", "crop_box", "flipped", "source_index", "person", "original_keypoints",
                "original_visibility"} <= set(s["meta"])
        batch = collate([td[i] for i in range(min(4, len(td)))])
        assert batch["image"].shape[0] == min(4, len(td)) and batch["keypoints"].shape[1] == 1


def test_counts_one_crop_per_labelled_person(shared_data, sources):
    ann = json.loads((shared_data / "coco" / "test_coco.json").read_text())
    people = [a for a in ann["annotations"] if not a.get("iscrowd") and a["num_keypoints"] > 0]
    assert len(TopDown(sources["coco"])) == len(people) == 12
    assert len(TopDown(sources["mpii"])) == 5


def test_evaluation_crop_is_deterministic_and_unflipped(sources):
    td = TopDown(sources["coco"], (64, 48))
    a, b = td[2], td[2]
    assert torch.equal(a["image"], b["image"]) and not a["meta"]["flipped"]
    assert torch.equal(a["meta"]["source_joints"], torch.arange(17))


def test_augmentation_is_seeded_and_changes_per_epoch(sources):
    td = TopDown(sources["mpii"], (64, 64), augment=True, seed=5)
    first = td[1]
    assert torch.equal(first["meta"]["affine"], td[1]["meta"]["affine"])
    td.set_epoch(1)
    assert not torch.equal(first["meta"]["affine"], td[1]["meta"]["affine"])


# --------------------------------------------------------------------------- labels survive the round trip
@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
@FEW
@given(seed=st.integers(0, 10_000))
def test_labels_map_back_exactly(sources, fmt, seed):
    """Crop + random scale/rotation/flip, then the inverse affine and the un-swap: the labels land on the
    annotation (float32 round-off only)."""
    src = sources[fmt]
    td = TopDown(src, (64, 48), augment=True, seed=seed)
    crops = [td[i] for i in range(len(td))]
    back = batch_to_original(collate(crops)["keypoints"][:, 0], collate(crops))
    n = 0
    for crop, b in zip(crops, back):
        gt, keep = _labelled_back(src, crop)
        assert torch.allclose(b[keep], gt[keep], atol=2e-3), fmt
        n += int(keep.sum())
    assert n > 0


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
@FEW
@given(seed=st.integers(0, 10_000))
def test_heatmap_encode_augment_decode_within_half_pixel(sources, fmt, seed):
    """encode -> augment -> decode: Gaussian targets of the augmented crop (stride 4, sigma 2), decoded
    with DARK's Taylor step and taken back to the photo, land within 0.5 px of the annotation for every
    joint whose peak lies inside the heatmap (a peak on the map's edge has no neighbours to refine with)."""
    src = sources[fmt]
    td = TopDown(src, (256, 192), augment=True, seed=seed)
    crops = [td[i] for i in range(len(td))]
    batch = collate(crops)
    hm, weight = heatmap.encode(batch["keypoints"], batch["visibility"], (64, 48), stride=4.0, sigma=2.0)
    coords, _ = heatmap.decode(hm, stride=4.0, method="dark", dark_kernel=0)
    back = batch_to_original(coords, batch)
    mu = heatmap.to_heatmap(batch["keypoints"][:, 0], 4.0)  # DARK refines peaks 2 px or more from the edge
    interior = (mu >= 2).all(-1) & (mu[..., 0] <= 48 - 3) & (mu[..., 1] <= 64 - 3)
    checked = labelled = 0
    for i, crop in enumerate(crops):
        gt, keep = _labelled_back(src, crop)
        inner = torch.zeros_like(keep)
        inner[crop["meta"]["source_joints"]] = interior[i]
        ok = keep & inner
        err = (back[i][ok] - gt[ok]).norm(dim=-1)
        assert (err <= 0.5).all(), f"{fmt} crop {i}: errors {err.max():.3f} px"
        checked += int(ok.sum())
        labelled += int(keep.sum())
    assert checked >= 0.8 * labelled > 0


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["coco", "crowdpose"])
@FEW
@given(seed=st.integers(0, 10_000))
def test_whole_photos_carry_every_person(shared_data, fmt, seed):
    """Bottom-up samples: every labelled person of the photo, augmented and flipped, maps back exactly."""
    photos = WholeImages(open_source(fmt, shared_data / fmt, per_image=True), 96, augment=True, seed=seed)
    n = 0
    for i in range(len(photos)):
        s = photos[i]
        P, K = s["keypoints"].shape[:2]
        back = to_original(s["keypoints"], s["meta"]["affine"].expand(P, 2, 3),
                           s["meta"]["source_joints"].expand(P, K))
        keep = torch.zeros(P, K, dtype=torch.bool)
        keep[:, s["meta"]["source_joints"]] = s["visibility"] > 0
        keep &= s["meta"]["original_visibility"] > 0
        assert torch.allclose(back[keep], s["meta"]["original_keypoints"][keep], atol=2e-3)
        n += int(keep.sum())
    assert len(photos) == {"coco": 4, "crowdpose": 2}[fmt] and n > 0


def _voronoi(sample) -> torch.Tensor:
    """Paint each pixel with the id of its nearest labelled joint: channel 0 = (id + 1) / (K + 1)."""
    _, H, W = sample["image"].shape
    kp, vis = sample["keypoints"][0], sample["visibility"][0] > 0
    ys, xs = torch.meshgrid(torch.arange(H, dtype=torch.float32), torch.arange(W, dtype=torch.float32), indexing="ij")
    d = (xs[None] - kp[:, 0, None, None]) ** 2 + (ys[None] - kp[:, 1, None, None]) ** 2
    d[~vis] = float("inf")
    img = torch.zeros(3, H, W)
    img[0] = (d.argmin(0) + 1).float() / (kp.shape[0] + 1)
    return img


class _Painted(torch.utils.data.Dataset):
    def __init__(self, src):
        self.src, self.skeleton, self.cache = src, skeleton_of(src), {}
        self.joint_names = getattr(src, "joint_names", None)

    def __len__(self):
        return len(self.src)

    def __getitem__(self, i):
        if i not in self.cache:
            s = self.src[i]
            self.cache[i] = {**s, "image": _voronoi(s)}
        return self.cache[i]


@pytest.fixture(scope="module")
def painted(sources):
    return {fmt: _Painted(sources[fmt]) for fmt in FORMATS}


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
@FEW
@given(seed=st.integers(0, 10_000))
def test_image_and_labels_move_together(painted, fmt, seed):
    """On a photo painted with each joint's id around it, the crop's label k sits on the paint of original
    joint ``source_joints[k]``: the pixels, the coordinates and the flip's swap agree."""
    src = painted[fmt]
    td = TopDown(src, (128, 96), augment=True, seed=seed)
    K = layout(src.skeleton, getattr(src.src, "joint_names", None)).num_joints
    checked = 0
    for i in range(len(td)):
        crop = td[i]
        orig = src.src[crop["meta"]["source_index"]]
        scale = float(crop["meta"]["crop_box"][3]) / 128 * 1.4  # original px per crop px, worst case
        kp0, vis0 = orig["keypoints"][0], orig["visibility"][0] > 0
        gap = torch.cdist(kp0, kp0) + torch.diag(torch.full((K,), float("inf")))
        gap[:, ~vis0] = float("inf")
        for k in torch.nonzero(crop["visibility"][0] > 0).flatten().tolist():
            j = int(crop["meta"]["source_joints"][k])
            margin = 2 * scale + 1  # the rounding to a crop pixel and the bilinear footprint, in original px
            _, H, W = orig["image"].shape
            x0, y0 = kp0[j].tolist()
            if gap[j].min() < 2 * margin or not (margin <= x0 <= W - 1 - margin and margin <= y0 <= H - 1 - margin):
                continue  # another joint too close for the paint to be unambiguous, or the photo's edge
            x, y = crop["keypoints"][0, k].round().long().tolist()
            assert crop["image"][0, y, x] == pytest.approx((j + 1) / (K + 1), abs=0.25 / (K + 1))
            checked += 1
    assert checked > 0


def test_flip_keeps_the_persons_own_sides(sources):
    """A person facing the camera has their left shoulder on the image's right. A mirrored crop shows a
    (mirrored) person still facing the camera, so with the label swap the left shoulder stays to the right
    of the right shoulder; without the swap the order would reverse."""
    src = sources["coco"]
    sk = get_skeleton("coco17")
    L, R = sk.index("left_shoulder"), sk.index("right_shoulder")
    flipped = TopDown(src, (64, 48), augment=True, rot_deg=0.0, scale_range=(1.0, 1.0), flip_p=1.0)
    plain = TopDown(src, (64, 48))
    n = 0
    for i in range(len(plain)):
        a, b = plain[i], flipped[i]
        if not ((a["visibility"][0, [L, R]] > 0).all() and (b["visibility"][0, [L, R]] > 0).all()):
            continue
        da = a["keypoints"][0, L, 0] - a["keypoints"][0, R, 0]
        db = b["keypoints"][0, L, 0] - b["keypoints"][0, R, 0]
        assert b["meta"]["flipped"] and torch.sign(da) == torch.sign(db) != 0
        n += 1
    assert n >= 5


def test_double_flip_restores_joint_order(sources):
    s = TopDown(sources["coco"], (64, 48))[0]
    once = RandomFlip(p=1.0)(s)
    twice = RandomFlip(p=1.0)(once)
    assert torch.equal(once["meta"]["source_joints"], torch.as_tensor(get_skeleton("coco17").flip_index))
    assert torch.equal(twice["meta"]["source_joints"], torch.arange(17))
    assert torch.allclose(twice["keypoints"], s["keypoints"]) and torch.equal(twice["image"], s["image"])


# --------------------------------------------------------------------------- a model learns from the crops
@pytest.mark.slow
def test_tiny_model_overfits_eight_real_crops(sources):
    """hourglass_tiny on 8 COCO person crops (64 x 64), 120 full-batch steps: PCK@0.2 (torso) >= 0.9 on
    them, scored in the photo's pixels after the inverse map (about 20 s on one CPU thread)."""
    from posecourse.models import losses
    from posecourse.models import create_model
    from posecourse.train import train

    torch.set_num_threads(1)
    src = sources["coco"]
    sk = get_skeleton("coco17")
    with_torso = [i for i in range(len(src)) if (src[i]["visibility"][0, list(sk.torso)] > 0).all()]
    batch = collate([TopDown(src, (64, 64))[i] for i in with_torso[:8]])
    assert batch["image"].shape[0] == 8
    torch.manual_seed(0)
    model = create_model("hourglass_tiny", num_joints=17)

    def loss_fn(outputs, b):
        target, weight = heatmap.encode(b["keypoints"], b["visibility"], (16, 16), stride=4.0, sigma=1.5)
        return losses.heatmap_loss(outputs, target, weight)

    history = train(model, [batch] * 120, loss_fn, epochs=1, lr=5e-3, device="cpu", progress=False, seed=0)
    model.eval()
    with torch.no_grad():
        coords, _ = heatmap.decode(model(batch["image"])[-1], stride=4.0, method="dark")
    pred = batch_to_original(coords, batch)
    gt = torch.stack([src[m["source_index"]]["keypoints"][0] for m in batch["meta"]])
    vis = torch.stack([src[m["source_index"]]["visibility"][0] for m in batch["meta"]]) > 0
    result = metrics.pck(pred, gt, vis, norm="torso", alpha=0.2, skeleton="coco17")
    assert history.losses[-1] < 0.1 * history.losses[0]
    assert result.mean >= 0.9, f"PCK@0.2 {result.mean:.3f}"


# --------------------------------------------------------------------------- bad input
def test_clear_errors(tmp_path, sources):
    with pytest.raises(ValueError, match="input_size"):
        TopDown(sources["mpii"], (0, 10))
    with pytest.raises(ValueError, match="flip_p"):
        TopDown(sources["mpii"], 64, flip_p=1.5)
    with pytest.raises(ValueError, match="people_per_sample"):
        TopDown(sources["mpii"], 64, people_per_sample=[1])
    with pytest.raises(IndexError):
        TopDown(sources["mpii"], 64)[99]
    with pytest.raises(ValueError, match="unknown format"):
        open_source("h36m", tmp_path)
    with pytest.raises(FileNotFoundError, match="not a folder"):
        open_source("coco", tmp_path / "missing")
    (tmp_path / "a.json").write_text("{}")
    (tmp_path / "b.json").write_text("{}")
    with pytest.raises(ValueError, match="expected one keypoint JSON.*a.json, b.json"):
        open_source("coco", tmp_path)
    with pytest.raises(ValueError, match="coords"):
        to_original(torch.zeros(2, 3, 2), torch.zeros(3, 2, 3))


@pytest.mark.parametrize("images", ["val2017", "images/val2017", "images"])
def test_open_source_finds_the_coco_layout(shared_data, tmp_path, images):
    """``annotations/person_keypoints_val2017.json`` with the photos in one of the usual folders (links to the
    shared samples), and the per-image reading for bottom-up samples."""
    (tmp_path / "annotations").mkdir()
    ann = tmp_path / "annotations" / "person_keypoints_val2017.json"
    ann.write_text((shared_data / "coco" / "test_coco.json").read_text())
    (tmp_path / images).mkdir(parents=True)
    for jpg in (shared_data / "coco").glob("*.jpg"):
        (tmp_path / images / jpg.name).symlink_to(jpg)
    src = open_source("coco", tmp_path)
    assert src.img_dir == tmp_path / images and len(src) == 12
    assert len(open_source("coco", tmp_path, per_image=True)) == 4
    with pytest.raises(ValueError, match="one person per sample"):
        open_source("mpii", shared_data / "mpii", per_image=True)


def test_zero_size_box_is_named(sources):
    class NoBox(torch.utils.data.Dataset):
        skeleton = "mpii16"

        def __len__(self):
            return 1

        def __getitem__(self, i):
            s = sources["mpii"][0]
            return {**s, "boxes": torch.zeros(1, 4)}

    with pytest.raises(ValueError, match="005808361.jpg|004645041.jpg|no usable box"):
        TopDown(NoBox(), 64)[0]
