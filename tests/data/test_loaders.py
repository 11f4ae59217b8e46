"""Real-format loaders: COCO (and CrowdPose), MPII (JSON and release .mat), LSP, FLIC.

Real samples come from ``shared_data``; the MATLAB layouts are written here with
``scipy.io.savemat`` in the documented layouts and read back.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from scipy.io import savemat

from posecourse.data import collate
from posecourse.data._io import keypoint_boxes
from posecourse.data.coco import CocoKeypoints
from posecourse.data.flic import FlicExamples
from posecourse.data.lsp import LspJoints
from posecourse.data.mpii import MpiiJson, MpiiMat
from posecourse.skeletons import MPII16


def _img(path, w=32, h=24):
    Image.fromarray(np.full((h, w, 3), 128, np.uint8)).save(path)


def _structs(records: list[dict]) -> np.ndarray:
    """A MATLAB 1xN struct array (numpy record array with object fields) for savemat."""
    keys = list(records[0])
    arr = np.zeros((1, len(records)), dtype=[(k, object) for k in keys])
    for i, r in enumerate(records):
        for k in keys:
            arr[0, i][k] = r[k]
    return arr


# ----------------------------------------------------------------------------- COCO (real)
def test_coco_counts_and_known_person(shared_data):
    ann = shared_data / "coco" / "test_coco.json"
    raw = json.loads(ann.read_text())
    ds = CocoKeypoints(ann, shared_data / "coco")
    assert len(ds) == len(raw["images"]) == 4
    people = [ds[i]["keypoints"].shape[0] for i in range(len(ds))]
    assert sum(people) == len(raw["annotations"]) == 14
    s = ds[0]
    a = raw["annotations"][0]
    assert s["meta"]["image_id"] == a["image_id"] and s["meta"]["ann_ids"] == [a["id"]]
    kp = np.asarray(a["keypoints"], dtype=np.float32).reshape(17, 3)
    np.testing.assert_array_equal(s["keypoints"][0].numpy(), kp[:, :2])  # keypoints as stored
    np.testing.assert_array_equal(s["visibility"][0].numpy(), kp[:, 2])
    np.testing.assert_allclose(s["boxes"][0].numpy(), np.array(a["bbox"]) - [0.5, 0.5, 0, 0], rtol=1e-6)
    assert s["skeleton"] == "coco17" and s["meta"]["source"] == "coco"
    for i, im in enumerate(raw["images"]):  # images load at the annotated size
        assert tuple(ds[i]["image"].shape) == (3, im["height"], im["width"])
    assert s["image"].dtype == torch.float32 and 0 <= s["image"].min() and s["image"].max() <= 1


def test_coco_filters_and_per_person(shared_data):
    ann = shared_data / "coco" / "test_coco.json"
    raw = json.loads(ann.read_text())
    n_empty = sum(a["num_keypoints"] == 0 for a in raw["annotations"])
    assert n_empty > 0
    assert len(CocoKeypoints(ann, shared_data / "coco", per_person=True)) == 14
    pp = CocoKeypoints(ann, shared_data / "coco", per_person=True, min_keypoints=1)
    assert len(pp) == 14 - n_empty
    assert all(pp[i]["visibility"].gt(0).any() for i in range(len(pp)))
    batch = collate([pp[0], pp[0]])
    assert batch["keypoints"].shape == (2, 1, 17, 2)


def test_crowdpose_raw_layout(shared_data):
    ann = shared_data / "crowdpose" / "test_crowdpose.json"
    raw = json.loads(ann.read_text())
    ds = CocoKeypoints(ann, shared_data / "crowdpose")
    assert len(ds) == 2 and ds.num_joints == 14
    assert sum(ds[i]["keypoints"].shape[0] for i in range(2)) == len(raw["annotations"]) == 5
    s = ds[[im["id"] for im in raw["images"]].index(raw["annotations"][0]["image_id"])]
    assert s["skeleton"] == "raw" and s["meta"]["joint_names"] == tuple(raw["categories"][0]["keypoints"])
    j = s["meta"]["ann_ids"].index(raw["annotations"][0]["id"])
    kp = np.asarray(raw["annotations"][0]["keypoints"], dtype=np.float32).reshape(14, 3)
    np.testing.assert_array_equal(s["keypoints"][j].numpy(), kp[:, :2])
    np.testing.assert_array_equal(s["visibility"][j].numpy(), kp[:, 2])


# ----------------------------------------------------------------------------- MPII JSON (real)
def test_mpii_json_known_person(shared_data):
    ann = shared_data / "mpii" / "test_mpii.json"
    raw = json.loads(ann.read_text())
    ds = MpiiJson(ann, shared_data / "mpii")
    assert len(ds) == len(raw) == 5
    for i in (0, 2):  # 2 has unlabelled joints
        s, a = ds[i], raw[i]
        vis = np.asarray(a["joints_vis"]) > 0
        np.testing.assert_allclose(s["keypoints"][0].numpy()[vis], (np.asarray(a["joints"]) - 1)[vis], rtol=1e-6)
        np.testing.assert_array_equal(s["visibility"][0].numpy(), np.where(vis, 2, 0))
        side = 200 * a["scale"]
        np.testing.assert_allclose(s["boxes"][0].numpy(), [a["center"][0] - 1 - side / 2, a["center"][1] - 1 - side / 2,
                                                           side, side], rtol=1e-5)
        assert s["skeleton"] == "mpii16" and s["meta"]["file_name"] == a["image"]
        w, h = Image.open(shared_data / "mpii" / a["image"]).size
        assert tuple(s["image"].shape) == (3, h, w)


# ----------------------------------------------------------------------------- MPII release .mat
def _point(jid, x, y, vis):
    return {"id": jid, "x": float(x), "y": float(y), "is_visible": vis}


def _rect(points, head=(11.0, 5.0, 17.0, 13.0), objpos=(16.0, 12.0), scale=0.1):
    return {"x1": head[0], "y1": head[1], "x2": head[2], "y2": head[3],
            "objpos": {"x": objpos[0], "y": objpos[1]}, "scale": scale,
            "annopoints": {"point": _structs(points)} if points else np.zeros((0, 0))}


def _write_mpii(tmp_path, point_id=0):
    for n in ("a.jpg", "b.jpg", "c.jpg"):
        _img(tmp_path / n)
    p_a1 = [_point(point_id, 5, 6, 1), _point(9, 8, 3, 0), _point(15, 20, 10, np.zeros((0, 0)))]
    p_a2 = [_point(2, 7, 7, 1)]
    annolist = _structs([
        {"image": {"name": "a.jpg"}, "annorect": _structs([_rect(p_a1), _rect(p_a2, scale=0.05)])},
        {"image": {"name": "b.jpg"}, "annorect": _structs([_rect(None)])},  # test image: no annopoints
        {"image": {"name": "c.jpg"}, "annorect": _structs([_rect([_point(6, 3, 4, 1)])])},
    ])
    single = np.empty((3, 1), dtype=object)
    single[0, 0], single[1, 0], single[2, 0] = np.array([[2]]), np.array([[1]]), np.zeros((0, 0))
    path = tmp_path / "mpii_human_pose_v1_u12_1.mat"
    savemat(path, {"RELEASE": {"annolist": annolist, "img_train": np.array([[1, 0, 1]]), "single_person": single}})
    return path


def test_mpii_mat_roundtrip(tmp_path):
    path = _write_mpii(tmp_path)
    ds = MpiiMat(path, tmp_path)
    assert len(ds) == 2  # train images a and c
    s = ds[0]
    assert s["keypoints"].shape == (2, 16, 2) and s["skeleton"] == "mpii16"
    np.testing.assert_allclose(s["keypoints"][0, [0, 9, 15]].numpy(), [[4, 5], [7, 2], [19, 9]])
    np.testing.assert_array_equal(s["visibility"][0, [0, 9, 15]].numpy(), [2, 1, 2])  # visible, occluded, empty flag
    assert s["visibility"][0].gt(0).sum() == 3 and s["visibility"][1].gt(0).sum() == 1
    np.testing.assert_allclose(s["meta"]["head_box"][0], [10, 4, 6, 8])
    np.testing.assert_allclose(s["meta"]["head_size"][0], 0.6 * 10)
    np.testing.assert_allclose(s["boxes"][0].numpy(), [15 - 10, 11 - 10, 20, 20])  # 200 * 0.1 around objpos - 1
    assert s["meta"]["file_name"] == "a.jpg" and tuple(s["image"].shape) == (3, 24, 32)
    assert len(MpiiMat(path, tmp_path, per_person=True)) == 3
    assert len(MpiiMat(path, tmp_path, subset="test")) == 0  # the test image has no joints
    single = MpiiMat(path, tmp_path, subset="all", single_person=True)
    assert len(single) == 1 and single[0]["meta"]["rect_index"] == [1]


# ----------------------------------------------------------------------------- LSP
def test_lsp_original_and_extended(tmp_path):
    rng = np.random.default_rng(0)
    xy = rng.uniform(1, 20, size=(2, 14, 3))
    flag = np.zeros((14, 3))
    flag[4, 1] = 1
    savemat(tmp_path / "joints.mat", {"joints": np.concatenate([xy, flag[None]], 0)})  # 3 x 14 x N
    for n in (1, 2, 3):
        _img(tmp_path / f"im{n:04d}.jpg")
    ds = LspJoints(tmp_path / "joints.mat", tmp_path)
    assert len(ds) == 3 and ds[1]["meta"]["file_name"] == "im0002.jpg" and ds[1]["skeleton"] == "lsp14"
    np.testing.assert_allclose(ds[1]["keypoints"][0].numpy(), xy[:, :, 1].T - 1, rtol=1e-6)
    vis = ds[1]["visibility"][0].numpy()
    assert vis[4] == 1 and (np.delete(vis, 4) == 2).all()  # LSP: flag 1 = occluded
    kp = ds[1]["keypoints"][0].numpy()
    np.testing.assert_allclose(ds[1]["boxes"][0].numpy(), [*kp.min(0), *(kp.max(0) - kp.min(0))], rtol=1e-5)
    assert len(LspJoints(tmp_path / "joints.mat", tmp_path, split="train")) == 3

    ext = tmp_path / "ext"
    ext.mkdir()
    joints = np.concatenate([xy.transpose(1, 0, 2), 1 - flag[:, None]], 1)  # 14 x 3 x N, flag 1 = visible
    savemat(ext / "joints.mat", {"joints": joints})
    _img(ext / "im00002.jpg")
    e = LspJoints(ext / "joints.mat", ext)
    s = e[1]
    assert s["meta"]["file_name"] == "im00002.jpg"
    assert s["visibility"][0, 4] == 0 and s["keypoints"][0, 4].abs().sum() == 0  # unlabelled -> 0, no NaN
    np.testing.assert_allclose(s["keypoints"][0, 0].numpy(), xy[:, 0, 1] - 1, rtol=1e-6)


# ----------------------------------------------------------------------------- FLIC
def _write_flic(tmp_path, coords_shape=(2, 29), drop=None):
    recs = []
    for i in range(2):
        coords = np.full(coords_shape, np.nan)
        coords[:2, [0, 1, 2, 3, 4, 5, 6, 9, 12, 13, 16]] = np.arange(22, dtype=float).reshape(2, 11) + 10 * i + 1
        coords[:, 5] = np.nan if i == 1 else coords[:, 5]
        rec = {"coords": coords, "filepath": f"f{i}.jpg", "imgdims": np.array([24.0, 32.0, 3.0]),
               "torsobox": np.array([2.0, 3.0, 12.0, 20.0]), "istrain": float(i == 0), "istest": float(i == 1)}
        if drop:
            rec.pop(drop)
        recs.append(rec)
        _img(tmp_path / f"f{i}.jpg")
    savemat(tmp_path / "examples.mat", {"examples": _structs(recs)})
    return tmp_path / "examples.mat"


def test_flic_mapping(tmp_path):
    ds = FlicExamples(_write_flic(tmp_path), tmp_path)
    assert len(ds) == 2
    s = ds[0]
    assert s["skeleton"] == "mpii16" and s["keypoints"].shape == (1, 16, 2)
    coords = np.arange(22, dtype=float).reshape(2, 11) + 1
    np.testing.assert_allclose(s["keypoints"][0, MPII16.index("left_shoulder")].numpy(), coords[:, 0] - 1)
    np.testing.assert_allclose(s["keypoints"][0, MPII16.index("right_hip")].numpy(), coords[:, 7] - 1)
    labelled = {MPII16.joints[k] for k in np.flatnonzero(s["visibility"][0].numpy())}
    assert labelled == {"left_shoulder", "left_elbow", "left_wrist", "right_shoulder", "right_elbow",
                        "right_wrist", "left_hip", "right_hip"}
    np.testing.assert_allclose(s["meta"]["face"][2], coords[:, 10] - 1)  # nose
    np.testing.assert_allclose(s["meta"]["torso_box"], [1, 2, 10, 17])
    t = FlicExamples(tmp_path / "examples.mat", tmp_path, split="test")
    assert len(t) == 1 and t[0]["visibility"][0, MPII16.index("right_wrist")] == 0


# ----------------------------------------------------------------------------- malformed input
def _coco_json(tmp_path, mutate=None):
    _img(tmp_path / "x.jpg")
    data = {"images": [{"id": 1, "file_name": "x.jpg", "height": 24, "width": 32}],
            "categories": [{"id": 1, "name": "person", "keypoints": [f"j{k}" for k in range(3)]}],
            "annotations": [{"id": 7, "image_id": 1, "bbox": [1, 2, 3, 4], "iscrowd": 0, "area": 12,
                             "keypoints": [1, 2, 2, 3, 4, 1, 0, 0, 0]}]}
    if mutate:
        mutate(data)
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(data))
    return path


def test_coco_malformed(tmp_path):
    ok = CocoKeypoints(_coco_json(tmp_path), tmp_path)[0]
    assert ok["skeleton"] == "raw" and ok["keypoints"].shape == (1, 3, 2)
    path = tmp_path / "ann.json"
    path.write_text(path.read_text()[:40])
    with pytest.raises(ValueError, match="ann.json: invalid JSON"):
        CocoKeypoints(path, tmp_path)
    with pytest.raises(ValueError, match=r"ann.json: annotation 0: 'keypoints' has 6 values, expected 9"):
        CocoKeypoints(_coco_json(tmp_path, lambda d: d["annotations"][0].update(keypoints=[1] * 6)), tmp_path)
    with pytest.raises(ValueError, match=r"ann.json: annotation 0: missing field 'bbox'"):
        CocoKeypoints(_coco_json(tmp_path, lambda d: d["annotations"][0].pop("bbox")), tmp_path)
    with pytest.raises(ValueError, match=r"ann.json: annotation 0: 'image_id' 5"):
        CocoKeypoints(_coco_json(tmp_path, lambda d: d["annotations"][0].update(image_id=5)), tmp_path)
    with pytest.raises(ValueError, match=r"ann.json: annotation 0: 'keypoints' is not numeric"):
        CocoKeypoints(_coco_json(tmp_path, lambda d: d["annotations"][0].update(keypoints=["a"] * 9)), tmp_path)
    with pytest.raises(ValueError, match=r"ann.json: annotation 0: 'keypoints' visibility flags"):
        CocoKeypoints(_coco_json(tmp_path, lambda d: d["annotations"][0].update(keypoints=[1, 2, 3] * 3)), tmp_path)
    with pytest.raises(ValueError, match=r"ann.json: missing field 'images'"):
        CocoKeypoints(_coco_json(tmp_path, lambda d: d.pop("images")), tmp_path)
    with pytest.raises(ValueError, match="annotation says 33x24"):
        CocoKeypoints(_coco_json(tmp_path, lambda d: d["images"][0].update(width=33)), tmp_path)[0]
    ds = CocoKeypoints(_coco_json(tmp_path, lambda d: d["images"][0].update(file_name="gone.jpg")), tmp_path)
    with pytest.raises(FileNotFoundError, match="gone.jpg"):
        ds[0]


def test_mpii_malformed(tmp_path):
    entry = {"image": "a.jpg", "joints": [[1.0, 2.0]] * 16, "joints_vis": [1] * 16, "center": [5.0, 5.0], "scale": 0.1}
    bad = [entry] * 3 + [dict(entry, joints=[[1.0, 2.0]] * 15)]
    (tmp_path / "test_mpii.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match=r"test_mpii.json: annotation 3: 'joints' has shape 15x2, expected 16x2"):
        MpiiJson(tmp_path / "test_mpii.json", tmp_path)
    (tmp_path / "test_mpii.json").write_text(json.dumps([{k: v for k, v in entry.items() if k != "scale"}]))
    with pytest.raises(ValueError, match=r"annotation 0: missing field 'scale'"):
        MpiiJson(tmp_path / "test_mpii.json", tmp_path)
    (tmp_path / "test_mpii.json").write_text(json.dumps([entry]))
    with pytest.raises(FileNotFoundError, match="a.jpg"):
        MpiiJson(tmp_path / "test_mpii.json", tmp_path)[0]
    path = _write_mpii(tmp_path, point_id=20)
    with pytest.raises(ValueError, match=r"annolist\(1\)\.annorect\(1\)\.annopoints\.point\(1\): 'id' 20"):
        MpiiMat(path, tmp_path)
    savemat(tmp_path / "other.mat", {"annolist": np.zeros(3)})
    with pytest.raises(ValueError, match="other.mat: missing field 'RELEASE'"):
        MpiiMat(tmp_path / "other.mat", tmp_path)
    (tmp_path / "junk.mat").write_bytes(b"not a mat file at all" * 10)
    with pytest.raises(ValueError, match="junk.mat"):
        MpiiMat(tmp_path / "junk.mat", tmp_path)


def test_lsp_flic_malformed(tmp_path):
    savemat(tmp_path / "joints.mat", {"joints": np.zeros((3, 13, 4))})
    with pytest.raises(ValueError, match=r"joints.mat: 'joints' has shape 3x13x4"):
        LspJoints(tmp_path / "joints.mat", tmp_path)
    savemat(tmp_path / "joints.mat", {"points": np.zeros((3, 14, 4))})
    with pytest.raises(ValueError, match="joints.mat: missing field 'joints'"):
        LspJoints(tmp_path / "joints.mat", tmp_path)
    savemat(tmp_path / "joints.mat", {"joints": np.zeros((3, 14, 4))})
    with pytest.raises(FileNotFoundError, match="im0001.jpg"):
        LspJoints(tmp_path / "joints.mat", tmp_path)[0]
    with pytest.raises(ValueError, match=r"examples\(1\): 'coords' has shape 3x29"):
        FlicExamples(_write_flic(tmp_path, coords_shape=(3, 29)), tmp_path)
    with pytest.raises(ValueError, match=r"examples\(1\): missing field 'filepath'"):
        FlicExamples(_write_flic(tmp_path, drop="filepath"), tmp_path)


# ----------------------------------------------------------------------------- properties
@settings(deadline=None, max_examples=40)
@given(st.integers(1, 4), st.integers(1, 6), st.integers(0, 2**31 - 1))
def test_keypoint_boxes_contain_labelled_joints(P, K, seed):
    rng = np.random.default_rng(seed)
    kp = rng.uniform(-50, 50, size=(P, K, 2))
    vis = rng.integers(0, 3, size=(P, K)).astype(float)
    boxes = keypoint_boxes(kp, vis)
    for p in range(P):  # check against the definition, person by person
        lab = kp[p][vis[p] > 0]
        if len(lab):
            np.testing.assert_allclose(boxes[p, :2], lab.min(0))
            np.testing.assert_allclose(boxes[p, :2] + boxes[p, 2:], lab.max(0))
        else:
            assert (boxes[p] == 0).all()


@settings(deadline=None, max_examples=15)
@given(st.lists(st.lists(st.tuples(st.integers(0, 31), st.integers(0, 23), st.sampled_from([0, 1, 2])),
                         min_size=17, max_size=17), min_size=0, max_size=3))
def test_coco_roundtrip_property(tmp_path_factory, people):
    tmp = tmp_path_factory.mktemp("coco")
    _img(tmp / "x.jpg")
    anns = [{"id": i, "image_id": 1, "bbox": [0, 0, 5, 5], "iscrowd": 0,
             "keypoints": [v for t in person for v in t]} for i, person in enumerate(people)]
    (tmp / "a.json").write_text(json.dumps({"images": [{"id": 1, "file_name": "x.jpg"}], "annotations": anns,
                                            "categories": [{"id": 1, "keypoints": [f"k{i}" for i in range(17)]}]}))
    s = CocoKeypoints(tmp / "a.json", tmp)[0]
    arr = np.asarray(people, dtype=np.float32).reshape(len(people), 17, 3)
    assert s["keypoints"].shape == (len(people), 17, 2)
    np.testing.assert_array_equal(s["visibility"].numpy(), arr[..., 2])
    np.testing.assert_array_equal(s["keypoints"].numpy(), np.where(arr[..., 2:] > 0, arr[..., :2], 0))


# ----------------------------------------------------------------------------- issue 16: bad values
@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "null"])
def test_coco_labelled_joint_with_non_finite_coordinate_raises(tmp_path, token):
    """Today NaN / null / Infinity became a labelled joint at (0, 0): the file, record, field and joint are named."""
    path = _coco_json(tmp_path)
    path.write_text(path.read_text().replace('"keypoints": [1, 2, 2, 3, 4, 1', f'"keypoints": [1, 2, 2, {token}, 4, 1'))
    with pytest.raises(ValueError, match=r"ann.json: annotation 0: 'keypoints' joint 1 \(j1\) is labelled but its x"):
        CocoKeypoints(path, tmp_path)


def test_coco_unlabelled_joint_may_hold_null(tmp_path):
    """v = 0 means 'not labelled' in COCO: its coordinates, null included, are ignored and come out as 0."""
    path = _coco_json(tmp_path, lambda d: d["annotations"][0].update(keypoints=[1, 2, 2, None, None, 0, 5, 6, 1]))
    s = CocoKeypoints(path, tmp_path)[0]
    np.testing.assert_array_equal(s["visibility"][0].numpy(), [2, 0, 1])
    np.testing.assert_array_equal(s["keypoints"][0].numpy(), [[1, 2], [0, 0], [5, 6]])


@pytest.mark.parametrize("x,y", [(1e9, 3), (-7, 3), (3, 24.6), (32.6, 3)])
def test_coco_labelled_joint_outside_the_image_raises(tmp_path, x, y):
    path = _coco_json(tmp_path, lambda d: d["annotations"][0].update(keypoints=[1, 2, 2, x, y, 2, 0, 0, 0]))
    with pytest.raises(ValueError, match=r"annotation 0: 'keypoints' joint 1 \(j1\) is labelled but .* outside"):
        CocoKeypoints(path, tmp_path)
    # without the image size in the file the check happens when the image is loaded
    path = _coco_json(tmp_path, lambda d: (d["annotations"][0].update(keypoints=[1, 2, 2, x, y, 2, 0, 0, 0]),
                                           d["images"][0].pop("height"), d["images"][0].pop("width")))
    with pytest.raises(ValueError, match=r"annotation 0: 'keypoints' joint 1 \(j1\) is labelled but .* outside"):
        CocoKeypoints(path, tmp_path)[0]
    ok = CocoKeypoints(_coco_json(tmp_path, lambda d: d["annotations"][0].update(
        keypoints=[0, 0, 2, 31, 23, 2, 31.5, 23.5, 1])), tmp_path)[0]  # the image's extent, half a pixel of slack
    assert ok["visibility"][0].tolist() == [2, 2, 1]


def test_coco_duplicate_image_id_raises(tmp_path):
    """Today the second image record took the id and its annotations landed on the wrong image."""
    _img(tmp_path / "y.jpg")
    path = _coco_json(tmp_path, lambda d: d["images"].append({"id": 1, "file_name": "y.jpg", "height": 24, "width": 32}))
    with pytest.raises(ValueError, match=r"ann.json: image 1: duplicate 'id' 1 \(also image 0\)"):
        CocoKeypoints(path, tmp_path)


def test_coco_duplicate_annotation_id_raises(tmp_path):
    path = _coco_json(tmp_path, lambda d: d["annotations"].append(dict(d["annotations"][0])))
    with pytest.raises(ValueError, match=r"ann.json: annotation 1: duplicate 'id' 7 \(also annotation 0\)"):
        CocoKeypoints(path, tmp_path)


@pytest.mark.parametrize("mutate,message", [
    (lambda d: d["images"][0].update(id=[1]), r"image 0: 'id' is \[1\]"),
    (lambda d: d["annotations"][0].update(image_id={"a": 1}), r"annotation 0: 'image_id' \{'a': 1\} is not in 'images'"),
    (lambda d: d["images"][0].update(height="24"), r"image 0: 'height' is '24'"),
    (lambda d: d["images"][0].update(file_name=None), r"image 0: 'file_name' is None"),
    (lambda d: d["annotations"][0].update(iscrowd="yes"), r"annotation 0: 'iscrowd' is 'yes', expected 0 or 1"),
    (lambda d: d["annotations"][0].update(bbox=[1, float("nan"), 3, 4]), r"annotation 0: 'bbox' is \[1.0, nan"),
    (lambda d: d["annotations"][0].update(bbox=[1, 2, -3, 4]), r"annotation 0: 'bbox' is \[1.0, 2.0, -3.0"),
    (lambda d: d["annotations"][0].update(area=float("inf")), r"annotation 0: 'area' is inf"),
    (lambda d: d["annotations"][0].update(area=[12]), r"annotation 0: 'area' is \[12\], expected one number"),
    (lambda d: d["annotations"][0].update(keypoints=[1, 2, 2, "3", 4, 1, 0, 0, 0]), r"annotation 0: 'keypoints' is not numeric"),
    (lambda d: d["annotations"][0].update(keypoints=[1, 2, None, 3, 4, 1, 0, 0, 0]),
     r"annotation 0: 'keypoints' visibility flags must be 0, 1, 2; joint 0 \(j0\) has nan"),
    (lambda d: d["annotations"][0].pop("id"), r"annotation 0: missing field 'id'"),
    (lambda d: d.update(annotations={"a": 1}), r"ann.json: 'annotations' is dict, expected a list"),
    (lambda d: d["annotations"].append(5), r"ann.json: annotation 1: expected an object, got int 5"),
    (lambda d: d.update(categories=[{"id": 1, "keypoints": [1, 2, 3]}]), r"category 0: 'keypoints' must be a list of joint names"),
])
def test_coco_bad_fields_name_file_record_and_field(tmp_path, mutate, message):
    with pytest.raises(ValueError, match="ann.json: .*" + message if not message.startswith("ann.json") else message):
        CocoKeypoints(_coco_json(tmp_path, mutate), tmp_path)


def _truncated_jpeg(path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(path, quality=90)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def test_truncated_or_corrupt_image_fails_with_its_name(tmp_path):
    """Today PIL's 'image file is truncated' came without the file's name."""
    path = _coco_json(tmp_path, lambda d: d["images"][0].update(file_name="cut.jpg", height=48, width=64))
    _truncated_jpeg(tmp_path / "cut.jpg")
    with pytest.raises(ValueError, match=r"ann.json: image 0 \(id 1\): image .*cut.jpg is not a readable image"):
        CocoKeypoints(path, tmp_path)[0]
    (tmp_path / "cut.jpg").write_bytes(b"\x89PNG not really")
    with pytest.raises(ValueError, match=r"cut.jpg is not a readable image"):
        CocoKeypoints(path, tmp_path)[0]
    entry = {"image": "cut.jpg", "joints": [[5.0, 6.0]] * 16, "joints_vis": [1] * 16, "center": [5.0, 5.0], "scale": 0.1}
    _truncated_jpeg(tmp_path / "cut.jpg")
    (tmp_path / "m.json").write_text(json.dumps([entry]))
    with pytest.raises(ValueError, match=r"m.json: annotation 0: image .*cut.jpg is not a readable image"):
        MpiiJson(tmp_path / "m.json", tmp_path)[0]


_ENTRY = {"image": "a.jpg", "joints": [[5.0, 6.0]] * 16, "joints_vis": [1] * 16, "center": [5.0, 5.0], "scale": 0.1}


@pytest.mark.parametrize("change,message", [
    ({"joints": [[5.0, 6.0]] * 3 + [[float("nan"), 6.0]] + [[5.0, 6.0]] * 12},
     r"annotation 0: 'joints' joint 3 \(left_hip\) is labelled but its x = nan is not a finite number"),
    ({"joints": [[5.0, None]] + [[5.0, 6.0]] * 15}, r"annotation 0: 'joints' joint 0 \(right_ankle\) is labelled but its y = nan"),
    ({"joints": [[5.0, 6.0]] * 15 + [[float("inf"), 6.0]]}, r"'joints' joint 15 \(left_wrist\) is labelled but its x = inf"),
    ({"joints_vis": [1] * 15 + [2]}, r"annotation 0: 'joints_vis' visibility flags must be 0, 1; joint 15 \(left_wrist\) has 2"),
    ({"joints_vis": [1] * 15 + [None]}, r"'joints_vis' visibility flags must be 0, 1; joint 15 \(left_wrist\) has nan"),
    ({"scale": 0}, r"annotation 0: 'scale' is 0.0, expected finite and > 0"),
    ({"scale": float("nan")}, r"annotation 0: 'scale' is nan"),
    ({"center": [float("inf"), 1.0]}, r"annotation 0: 'center' is \[inf, 1.0\], expected finite"),
    ({"joints": [["5", 6.0]] * 16}, r"annotation 0: 'joints' is not numeric"),
    ({"image": ""}, r"annotation 0: 'image' is '', expected a file name"),
])
def test_mpii_json_bad_values_raise(tmp_path, change, message):
    (tmp_path / "m.json").write_text(json.dumps([dict(_ENTRY, **change)]))
    with pytest.raises(ValueError, match="m.json: .*" + message if "m.json" not in message else message):
        MpiiJson(tmp_path / "m.json", tmp_path)


def test_mpii_json_unlabelled_joint_may_hold_anything_numeric_and_far_joints_raise(tmp_path):
    _img(tmp_path / "a.jpg")
    joints = [[5.0, 6.0]] * 16
    joints[2] = [None, float("nan")]
    (tmp_path / "m.json").write_text(json.dumps([dict(_ENTRY, joints=joints, joints_vis=[1, 1, 0] + [1] * 13)]))
    s = MpiiJson(tmp_path / "m.json", tmp_path)[0]
    assert s["visibility"][0, 2] == 0 and s["keypoints"][0, 2].tolist() == [0, 0]
    joints[2] = [1e7, 6.0]  # labelled, far beyond the 32 x 24 image (more than one image size out)
    (tmp_path / "m.json").write_text(json.dumps([dict(_ENTRY, joints=joints)]))
    with pytest.raises(ValueError, match=r"m.json: annotation 0: 'keypoints' joint 2 \(right_hip\) is labelled but .* outside"):
        MpiiJson(tmp_path / "m.json", tmp_path)[0]


def _mpii_rect_mat(tmp_path, points, **rect):
    _img(tmp_path / "a.jpg")
    r = _rect(points)
    r.update(rect)
    path = tmp_path / "rel.mat"
    savemat(path, {"RELEASE": {"annolist": _structs([{"image": {"name": "a.jpg"}, "annorect": _structs([r])}]),
                               "img_train": np.array([[1]]), "single_person": np.zeros((1, 1), dtype=object)}})
    return path


@pytest.mark.parametrize("points,rect,message", [
    ([_point(0, 5, 6, 1) | {"x": np.zeros((0, 0))}], {}, r"point\(1\) \(joint 0, right_ankle\): 'x, y' is \[nan, 6.0\]"),
    ([_point(0, 5, 6, 1), _point(3, float("inf"), 6, 1)], {}, r"point\(2\) \(joint 3, left_hip\): 'x, y' is \[inf, 6.0\]"),
    ([_point(4, 5, 6, 1), _point(4, 7, 8, 1)], {}, r"point\(2\): duplicate joint 'id' 4 \(left_knee\)"),
    ([_point(0, 5, 6, 7)], {}, r"point\(1\): 'is_visible' is \[7\], expected 0, 1 or empty"),
    ([_point(0, 5, 6, 1)], {"x1": float("nan")}, r"annorect\(1\): 'x1, y1, x2, y2 \(head box\)' is \[nan"),
    ([_point(0, 5, 6, 1)], {"scale": 0.0}, r"annorect\(1\): 'scale' is 0.0, expected finite and > 0"),
    ([_point(0, 5, 6, 1)], {"objpos": {"x": float("nan"), "y": 3.0}}, r"annorect\(1\).objpos: 'x, y' is \[nan, 3.0\]"),
])
def test_mpii_mat_bad_values_raise(tmp_path, points, rect, message):
    with pytest.raises(ValueError, match=r"rel.mat: annolist\(1\).*" + message):
        MpiiMat(_mpii_rect_mat(tmp_path, points, **rect), tmp_path)


def test_mpii_mat_text_visibility_flags_and_bad_release_fields(tmp_path):
    s = MpiiMat(_mpii_rect_mat(tmp_path, [_point(0, 5, 6, "1"), _point(1, 7, 8, "0")]), tmp_path)[0]
    assert s["visibility"][0, :3].tolist() == [2, 1, 0]  # text '1' / '0' as in parts of the release
    path = _write_mpii(tmp_path)
    rel = {"annolist": _structs([{"image": {"name": "a.jpg"}, "annorect": _structs([_rect([_point(0, 5, 6, 1)])])}])}
    savemat(path, {"RELEASE": dict(rel, img_train=np.array([[float("nan")]]), single_person=np.zeros((1, 1), object))})
    with pytest.raises(ValueError, match=r"RELEASE: 'img_train' values must be 0, 1; entry \(0-based\) 0 has nan"):
        MpiiMat(path, tmp_path)
    single = np.empty((1, 1), dtype=object)
    single[0, 0] = np.array([[3]])
    savemat(path, {"RELEASE": dict(rel, img_train=np.array([[1]]), single_person=single)})
    with pytest.raises(ValueError, match=r"single_person\(1\) lists rects \[3.0\], .*annolist\(1\) has rects 1..1"):
        MpiiMat(path, tmp_path, single_person=True)


def test_lsp_bad_values_raise_and_unlabelled_may_be_nan(tmp_path):
    xy = np.full((2, 14, 2), 5.0)
    flag = np.zeros((14, 2))
    joints = np.concatenate([xy, flag[None]], 0)  # 3 x 14 x 2, LSP: every joint labelled
    joints[0, 4, 1] = np.nan
    savemat(tmp_path / "joints.mat", {"joints": joints})
    with pytest.raises(ValueError, match=r"joints.mat: image 2: 'joints' joint 4 \(left_knee\) is labelled but its x = nan"):
        LspJoints(tmp_path / "joints.mat", tmp_path)
    joints[0, 4, 1], joints[2, 6, 0] = 5.0, 2.0
    savemat(tmp_path / "joints.mat", {"joints": joints})
    with pytest.raises(ValueError, match=r"image 1: 'joints' visibility flags must be 0, 1; joint 6 \(right_wrist\) has 2"):
        LspJoints(tmp_path / "joints.mat", tmp_path)
    joints[2, 6, 0], joints[1, 0, 0] = 0.0, 1e8
    savemat(tmp_path / "joints.mat", {"joints": joints})
    _img(tmp_path / "im0001.jpg")
    with pytest.raises(ValueError, match=r"joints.mat: image 1: 'keypoints' joint 0 \(right_ankle\) is labelled but .* outside"):
        LspJoints(tmp_path / "joints.mat", tmp_path)[0]
    ext = np.concatenate([np.full((14, 2, 1), 5.0), np.ones((14, 1, 1))], 1)  # 14 x 3 x 1, flag 1 = labelled
    ext[3, :, 0] = [np.nan, np.inf, 0.0]  # extended: flag 0 = unlabelled, coordinates ignored
    savemat(tmp_path / "joints.mat", {"joints": ext})
    _img(tmp_path / "im00001.jpg")
    s = LspJoints(tmp_path / "joints.mat", tmp_path)[0]
    assert s["visibility"][0, 3] == 0 and s["keypoints"][0, 3].tolist() == [0, 0]


def test_flic_bad_values_raise(tmp_path):
    def write(edit):
        path = _write_flic(tmp_path)
        from scipy.io import loadmat
        ex = loadmat(path)["examples"]
        edit(ex[0, 0])
        savemat(path, {"examples": ex})
        return path
    with pytest.raises(ValueError, match=r"examples.mat: examples\(1\): 'coords' slot 3: \(x, y\) = \[inf"):
        FlicExamples(write(lambda e: e["coords"].__setitem__((0, 2), np.inf)), tmp_path)
    with pytest.raises(ValueError, match=r"examples\(1\): 'coords' slot 2: \(x, y\) = \[2.0, nan\]"):
        FlicExamples(write(lambda e: e["coords"].__setitem__((1, 1), np.nan)), tmp_path)
    with pytest.raises(ValueError, match=r"examples\(1\): 'torsobox' is \[nan"):
        FlicExamples(write(lambda e: e["torsobox"].__setitem__((0, 0), np.nan)), tmp_path)
    with pytest.raises(ValueError, match=r"examples.mat: examples\(1\): 'keypoints' joint 13 \(left_shoulder\) is labelled but"):
        FlicExamples(write(lambda e: e["coords"].__setitem__((0, 0), -1e6)), tmp_path)[0]


# ----------------------------------------------------------------------------- CrowdPose
def test_crowdpose_loader_real_sample(shared_data):
    from posecourse.data.crowdpose import CROWDPOSE14, CrowdPoseKeypoints

    ann = shared_data / "crowdpose" / "test_crowdpose.json"
    raw = json.loads(ann.read_text())
    ds = CrowdPoseKeypoints(ann, shared_data / "crowdpose")
    assert len(ds) == 2 and ds.num_joints == 14 and tuple(raw["categories"][0]["keypoints"]) == CROWDPOSE14
    for i, im in enumerate(raw["images"]):
        s = ds[i]
        assert s["meta"]["source"] == "crowdpose" and s["meta"]["image_id"] == im["id"]
        assert s["meta"]["crowd_index"] == im["crowdIndex"] and s["meta"]["joint_names"] == CROWDPOSE14
        assert s["keypoints"].shape == (sum(a["image_id"] == im["id"] for a in raw["annotations"]), 14, 2)
    levels = {lv: len(CrowdPoseKeypoints(ann, shared_data / "crowdpose", crowd_level=lv)) for lv in ("easy", "medium", "hard")}
    assert levels == {"easy": 0, "medium": 2, "hard": 0}  # crowdIndex 0.33 and 0.39
    with pytest.raises(ValueError, match="crowd_level"):
        CrowdPoseKeypoints(ann, shared_data / "crowdpose", crowd_level="crowded")
    with pytest.raises(ValueError, match=r"test_coco.json: categories: CrowdPose has the 14 joints"):
        CrowdPoseKeypoints(shared_data / "coco" / "test_coco.json", shared_data / "coco")


def test_crowdpose_bad_crowd_index_and_level_boundaries(tmp_path):
    from posecourse.data.crowdpose import CROWDPOSE14, CrowdPoseKeypoints

    def write(*indices):
        _img(tmp_path / "x.jpg")
        images = [{"id": i, "file_name": "x.jpg", "height": 24, "width": 32, "crowdIndex": ci} for i, ci in enumerate(indices)]
        anns = [{"id": 10 + i, "image_id": i, "bbox": [1, 2, 3, 4], "iscrowd": 0, "keypoints": [5, 6, 2] * 14}
                for i in range(len(indices))]
        (tmp_path / "cp.json").write_text(json.dumps({"images": images, "annotations": anns,
                                                      "categories": [{"id": 1, "keypoints": list(CROWDPOSE14)}]}))
        return tmp_path / "cp.json"
    ds = CrowdPoseKeypoints(write(0.0, 0.1, 0.5, 0.8, 1.0), tmp_path)
    assert [s["meta"]["crowd_index"] for s in ds] == [0.0, 0.1, 0.5, 0.8, 1.0]
    got = {lv: [ds.crowd_index[p] for p, _ in CrowdPoseKeypoints(tmp_path / "cp.json", tmp_path, crowd_level=lv)._items]
           for lv in ("easy", "medium", "hard")}
    assert got == {"easy": [0.0, 0.1], "medium": [0.5, 0.8], "hard": [1.0]}
    for bad in (float("nan"), 1.5, -0.1, "0.3", True):
        with pytest.raises(ValueError, match=r"cp.json: image 1: 'crowdIndex' is"):
            CrowdPoseKeypoints(write(0.2, bad), tmp_path)
    ds = CrowdPoseKeypoints(write(0.2, None), tmp_path)
    assert np.isnan(ds[1]["meta"]["crowd_index"])
    with pytest.raises(ValueError, match=r"cp.json: image 1: no 'crowdIndex'"):
        CrowdPoseKeypoints(tmp_path / "cp.json", tmp_path, crowd_level="hard")


def test_loader_arguments_are_checked(tmp_path, shared_data):
    savemat(tmp_path / "joints.mat", {"joints": np.zeros((3, 14, 2))})
    for fmt in ("im.jpg", "{x}.jpg", "{1}.jpg", 5):
        with pytest.raises(ValueError, match="name_format"):
            LspJoints(tmp_path / "joints.mat", tmp_path, name_format=fmt)
    for bad in (-1, 1.5, "1"):
        with pytest.raises(ValueError, match="min_keypoints"):
            CocoKeypoints(shared_data / "coco" / "test_coco.json", shared_data / "coco", min_keypoints=bad)
