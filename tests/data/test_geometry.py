"""Geometry: N(y; b), affine crops and warps, flips (pixel-centre convention), and the sample affines and flip."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import example, assume, given, settings
from hypothesis import strategies as st

from posecourse.data.transforms import RandomFlip, apply_affine
from posecourse.geometry import (box_center_size, compose, crop_affine, denormalize, expand_boxes, flip_images,
                                 flip_keypoints, flip_matrix, inside_image, invert_affine, normalize, random_affine,
                                 warp_boxes, warp_images, warp_points)
from posecourse.skeletons import get_skeleton

FAST = settings(deadline=None, max_examples=40)
coord = st.floats(-500, 500, allow_nan=False, width=32)
side = st.floats(1, 400, allow_nan=False, width=32)
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


# --------------------------------------------------------------------------- N(y; b)
def test_box_center_size_and_normalize_known_values():
    c, s = box_center_size(torch.tensor([10.0, 20.0, 40.0, 60.0]))
    assert c.tolist() == [30.0, 50.0] and s.tolist() == [40.0, 60.0]
    pts = torch.tensor([[[10.0, 20.0], [50.0, 80.0], [30.0, 50.0]]])
    n = normalize(pts, torch.tensor([[10.0, 20.0, 40.0, 60.0]]))
    assert torch.allclose(n, torch.tensor([[[-0.5, -0.5], [0.5, 0.5], [0.0, 0.0]]]))


@FAST
@given(st.lists(st.tuples(coord, coord), min_size=1, max_size=6), coord, coord, side, side)
def test_denormalize_inverts_normalize(points, x0, y0, w, h):
    p = torch.tensor([points], dtype=torch.float64)
    b = torch.tensor([[x0, y0, w, h]], dtype=torch.float64)
    assert torch.allclose(denormalize(normalize(p, b), b), p, atol=1e-6)


def test_normalize_rejects_bad_input():
    with pytest.raises(ValueError, match="boxes"):
        normalize(torch.zeros(1, 3, 2), torch.tensor([[0.0, 0.0, 0.0, 5.0]]))
    with pytest.raises(ValueError, match="points"):
        normalize(torch.zeros(1, 3, 3), torch.tensor([[0.0, 0.0, 4.0, 5.0]]))


# --------------------------------------------------------------------------- crops and warps
def test_crop_affine_agrees_with_normalize():
    boxes = torch.tensor([[10.0, 20.0, 40.0, 30.0], [-5.0, 3.0, 17.0, 9.0]])
    pts = torch.rand(2, 5, 2) * 60
    q = warp_points(pts, crop_affine(boxes, (48, 64)))  # (H, W) = (48, 64)
    expected = (normalize(pts, boxes) + 0.5) * torch.tensor([64.0, 48.0]) - 0.5
    assert torch.allclose(q, expected, atol=1e-4)


@pytest.mark.parametrize("device", DEVICES)
def test_pixel_aligned_crop_equals_slicing(device):
    img = torch.rand(2, 3, 30, 40, device=device)
    # pixel (row 5, col 7) covers [6.5, 7.5] x [4.5, 5.5]: the box of pixels 7..18 x 5..14 starts at (6.5, 4.5)
    boxes = torch.tensor([[6.5, 4.5, 12.0, 10.0], [0.5, 9.5, 12.0, 10.0]], device=device)
    out = warp_images(img, crop_affine(boxes, (10, 12)), (10, 12))
    assert out.device == img.device
    assert torch.allclose(out[0], img[0, :, 5:15, 7:19], atol=1e-5)
    assert torch.allclose(out[1], img[1, :, 10:20, 1:13], atol=1e-5)


def test_identity_warp_and_inverse_compose():
    img = torch.rand(1, 3, 16, 20)
    assert torch.allclose(warp_images(img, torch.eye(2, 3)[None], (16, 20)), img, atol=1e-6)
    M = random_affine(4, 32, (0.5, 2.0), 180, 0.2, generator=torch.Generator().manual_seed(0))
    eye = compose(M, invert_affine(M))
    assert torch.allclose(eye, torch.eye(2, 3).expand(4, 2, 3), atol=1e-5)


def test_random_affine_is_seeded_and_turns_about_the_centre():
    g = lambda: torch.Generator().manual_seed(3)
    A, B = random_affine(5, (40, 60), rot_deg=90, generator=g()), random_affine(5, (40, 60), rot_deg=90, generator=g())
    assert torch.equal(A, B)
    centre = torch.tensor([[29.5, 19.5]]).expand(5, 1, 2)
    assert torch.allclose(warp_points(centre, A), centre, atol=1e-4)
    scale = torch.linalg.det(A[:, :, :2]).sqrt()
    assert ((scale >= 0.75 - 1e-5) & (scale <= 1.25 + 1e-5)).all()


def _blob(size, x, y, sigma=1.2):
    ys, xs = torch.meshgrid(torch.arange(size, dtype=torch.float64), torch.arange(size, dtype=torch.float64), indexing="ij")
    return torch.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2))[None, None]


@settings(deadline=None, max_examples=60)
@given(scale=st.floats(0.7, 1.5), theta=st.floats(-math.pi, math.pi), aniso=st.floats(0.7, 1.4),
       shear=st.floats(-0.4, 0.4), mirror=st.booleans(), x=st.floats(10, 37), y=st.floats(10, 37),
       qx=st.floats(12, 36), qy=st.floats(12, 36))
@example(scale=1.5, theta=1.625, aniso=0.75, shear=-0.25, mirror=False, x=10.0, y=10.5, qx=12.125, qy=12.25)
def test_blob_lands_on_warped_point_under_any_affine(scale, theta, aniso, shear, mirror, x, y, qx, qy):
    """Draw a Gaussian blob at p, warp the image by an arbitrary affine M (rotation, scale, anisotropy, shear,
    reflection, translation): its centroid and peak are at M p."""
    R = torch.tensor([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]], dtype=torch.float64)
    L = R @ torch.tensor([[scale * aniso, shear], [0.0, scale / aniso]], dtype=torch.float64)
    if mirror:
        L = L @ torch.diag(torch.tensor([-1.0, 1.0], dtype=torch.float64))
    p, q = torch.tensor([x, y], dtype=torch.float64), torch.tensor([qx, qy], dtype=torch.float64)
    M = torch.cat([L, (q - L @ p)[:, None]], 1)[None]
    assert torch.allclose(warp_points(p[None], M)[0], q)
    S = 48
    out = warp_images(_blob(S, x, y), M, S)[0, 0]
    ys, xs = torch.meshgrid(torch.arange(S, dtype=torch.float64), torch.arange(S, dtype=torch.float64), indexing="ij")
    m = out.sum()
    centroid = torch.stack([(out * xs).sum() / m, (out * ys).sum() / m])
    assert torch.allclose(centroid, q, atol=0.35), (centroid, q)
    # the brightest pixel: the warped blob is an ellipse centred at q, and under anisotropy and shear a pixel
    # along its long axis can outshine the pixel nearest q (seen: 1.125 px away at aniso 0.75, shear -0.25);
    # the centroid above is the sub-pixel check
    peak = divmod(int(out.argmax()), S)
    assert abs(peak[1] - q[0]) <= 1.5 and abs(peak[0] - q[1]) <= 1.5


def test_warp_boxes_encloses_warped_points_and_expand_boxes():
    boxes = torch.tensor([[10.0, 5.0, 20.0, 40.0]])
    M = random_affine(1, 64, rot_deg=60, generator=torch.Generator().manual_seed(1))
    pts = torch.tensor([[[10.0, 5.0], [30.0, 45.0], [20.0, 25.0], [30.0, 5.0]]])
    q, wb = warp_points(pts, M), warp_boxes(boxes, M)
    assert (q >= wb[:, None, :2] - 1e-4).all() and (q <= wb[:, None, :2] + wb[:, None, 2:] + 1e-4).all()
    e = expand_boxes(boxes, 1.5, aspect=1.0)
    assert torch.allclose(e, torch.tensor([[-10.0, -5.0, 60.0, 60.0]]))  # height 60, widened to 60, same centre


# --------------------------------------------------------------------------- flips
@pytest.mark.parametrize("skeleton", ["mpii16", "coco17", "coco18", "lsp14"])
def test_flip_swaps_left_and_right_and_mirrors_x(skeleton):
    skel = get_skeleton(skeleton)
    K, W = skel.num_joints, 50
    kp = torch.rand(2, K, 2) * 49
    vis = torch.randint(0, 3, (2, K)).float()
    fkp, fvis = flip_keypoints(kp, vis, W, skel)
    for left, right in skel.flip_pairs:
        assert torch.allclose(fkp[:, left, 0], W - 1 - kp[:, right, 0]) and torch.equal(fkp[:, left, 1], kp[:, right, 1])
        assert torch.equal(fvis[:, right], vis[:, left])


@FAST
@given(st.integers(2, 40), st.integers(2, 40), st.sampled_from(["mpii16", "coco17", "lsp14"]), st.integers(0, 2**31))
def test_flip_twice_is_identity(H, W, skeleton, seed):
    g = torch.Generator().manual_seed(seed)
    img = torch.rand(3, H, W, generator=g)
    K = get_skeleton(skeleton).num_joints
    kp, vis = torch.rand(1, K, 2, generator=g) * W, torch.randint(0, 3, (1, K), generator=g).float()
    assert torch.equal(flip_images(flip_images(img)), img)
    k2, v2 = flip_keypoints(*flip_keypoints(kp, vis, W, skeleton), W, skeleton)
    assert torch.allclose(k2, kp, atol=1e-5) and torch.equal(v2, vis)


@pytest.mark.parametrize("device", DEVICES)
def test_flipped_pixel_lands_on_flipped_keypoint(device):
    img = torch.zeros(1, 1, 9, 13, device=device)
    img[0, 0, 4, 2] = 1  # pixel at x=2, y=4
    out = flip_images(img)
    row, col = divmod(int(out.flatten().argmax()), 13)
    x_flip = warp_points(torch.tensor([[2.0, 4.0]], device=device), flip_matrix(13, device=device))[0]
    assert (col, row) == (12 - 2, 4) and x_flip.tolist() == [10.0, 4.0]
    assert torch.allclose(warp_images(img, flip_matrix(13, 1, device=device), (9, 13)), out, atol=1e-5)


def test_inside_image_uses_pixel_edges():
    p = torch.tensor([[-0.5, 0.0], [-0.51, 0.0], [9.49, 4.0], [9.5, 4.0]])
    assert inside_image(p, (5, 10)).tolist() == [True, False, True, False]


# --------------------------------------------------------------------------- sample transforms
def _sample(H=40, W=60):
    kp = torch.tensor([[[10.0, 12.0], [30.0, 20.0], [50.0, 30.0]] + [[20.0, 20.0]] * 13])
    vis = torch.full((1, 16), 2.0)
    img = torch.zeros(3, H, W)
    for x, y in kp[0, :3].long().tolist():
        img[:, y, x] = 1
    return {"image": img, "keypoints": kp, "visibility": vis, "boxes": torch.tensor([[8.0, 10.0, 44.0, 22.0]]),
            "skeleton": "mpii16", "meta": {"source": "test", "index": 0}}


def _resize(sample, out_size):
    """The whole image at ``out_size``: its edges map onto the new edges."""
    H, W = sample["image"].shape[-2:]
    return apply_affine(sample, crop_affine(torch.tensor([-0.5, -0.5, W, H]), out_size), out_size)


def test_resize_maps_keypoints_with_pixel_centres():
    out = _resize(_sample(), (80, 120))
    assert out["image"].shape == (3, 80, 120)
    assert torch.allclose(out["keypoints"], (_sample()["keypoints"] + 0.5) * 2 - 0.5)


def test_crop_to_box_then_back_with_meta_affine():
    s = _sample()
    out = apply_affine(s, crop_affine(expand_boxes(s["boxes"][0], 1.2, aspect=1.0), (32, 32)), (32, 32))
    assert out["image"].shape == (3, 32, 32)
    back = warp_points(out["keypoints"], invert_affine(out["meta"]["affine"])[None])
    assert torch.allclose(back, s["keypoints"], atol=1e-4)
    # the crop box holds the person box: its normalized joints stay in the padded square
    assert (out["keypoints"] >= -0.5).all() and (out["keypoints"] <= 31.5).all()


def test_affines_drop_visibility_outside_and_chain():
    s = _sample()
    shift = torch.tensor([[1.0, 0.0, -45.0], [0.0, 1.0, 0.0]])  # moves x=10 and 30 out of the left edge
    out = apply_affine(s, shift, (40, 60))
    assert out["visibility"][0, :3].tolist() == [0.0, 0.0, 2.0]
    # a blob drawn at keypoint 2 follows it through a random affine and a resize
    ys, xs = torch.meshgrid(torch.arange(40.0), torch.arange(60.0), indexing="ij")
    blob = torch.exp(-((xs - 50) ** 2 + (ys - 30) ** 2) / 8)  # (40, 60), peak at keypoint 2 = (50, 30)
    M = random_affine(1, (40, 60), rot_deg=45, translate=0.1, generator=torch.Generator().manual_seed(4))[0]  # inside
    o = _resize(apply_affine({**s, "image": blob.expand(3, 40, 60).clone()}, M, (40, 60)), (32, 32))
    assert torch.allclose(o["meta"]["affine"], compose(crop_affine(torch.tensor([-0.5, -0.5, 60, 40]), (32, 32)), M))
    q = o["keypoints"][0, 2]
    ys, xs = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    img = o["image"][0]
    centroid = torch.stack([(img * xs).sum(), (img * ys).sum()]) / img.sum()
    assert torch.allclose(centroid, q, atol=0.5), (centroid, q)


def test_random_flip_swaps_labels_and_refuses_synthetic():
    s = _sample()
    out = RandomFlip(p=1.0)(s)
    skel = get_skeleton("mpii16")
    assert torch.equal(out["image"], s["image"].flip(-1))
    r, l = skel.index("right_ankle"), skel.index("left_ankle")
    assert torch.allclose(out["keypoints"][0, l], torch.tensor([59 - 10.0, 12.0]))
    assert out["keypoints"][0, r].tolist() == [59 - 20.0, 20.0]
    assert torch.allclose(out["boxes"], torch.tensor([[59 - 52.0, 10.0, 44.0, 22.0]]))
    with pytest.raises(ValueError, match="synthetic"):
        RandomFlip(p=1.0)({**s, "meta": {"source": "synthetic", "index": 0}})


def test_crop_real_coco_sample(shared_data):
    """A real COCO annotation goes through the same transform as a synthetic sample."""
    import matplotlib.image as mpimg

    ann = json.loads((shared_data / "coco" / "test_coco.json").read_text())
    a = next(x for x in ann["annotations"] if x.get("num_keypoints", 0) >= 5)
    info = next(im for im in ann["images"] if im["id"] == a["image_id"])
    img = torch.from_numpy(np.asarray(mpimg.imread(shared_data / "coco" / info["file_name"]), dtype=np.float32))
    img = img.permute(2, 0, 1)[:3] / (255.0 if img.max() > 1 else 1.0)
    k = torch.tensor(a["keypoints"], dtype=torch.float32).view(1, 17, 3)
    s = {"image": img, "keypoints": k[..., :2], "visibility": k[..., 2], "boxes": torch.tensor([a["bbox"]]),
         "skeleton": "coco17", "meta": {"source": "coco", "index": 0}}
    box = expand_boxes(s["boxes"][0], 1.25, aspect=48 / 64)
    out = apply_affine(s, crop_affine(box, (64, 48)), (64, 48))
    assert out["image"].shape == (3, 64, 48)
    lab = s["visibility"][0] > 0
    assert (out["visibility"][0][lab] > 0).all()  # labelled joints lie in the box, so inside the padded crop
    expected = (normalize(s["keypoints"], box[None]) + 0.5) * torch.tensor([48.0, 64.0]) - 0.5
    assert torch.allclose(out["keypoints"][0][lab], expected[0][lab], atol=1e-3)
    assert math.isclose(float(box[2] / box[3]), 48 / 64, rel_tol=1e-5)
