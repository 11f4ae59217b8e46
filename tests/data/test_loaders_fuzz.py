"""Property tests of the loaders against hostile annotation files (issue 16).

Random and mutated annotation files are fed to every loader: the real samples of ``shared_data``
(COCO, CrowdPose, MPII JSON) mutated in memory and written to a temporary folder (never into the
repository), and files generated from scratch (the COCO and MPII JSON layouts, MPII's release
``.mat``, LSP's and FLIC's ``.mat``). Every outcome must be either

* a dataset whose every sample loads and is sound -- finite keypoints, visibility in {0, 1, 2},
  unlabelled joints at (0, 0), and every labelled joint exactly where the file put it (so no
  ``NaN`` / ``null`` / ``Infinity`` turned into a labelled joint at (0, 0)); or
* a ``ValueError`` (``FileNotFoundError`` for a missing file) whose message names the file,

never a ``KeyError``, ``IndexError``, ``TypeError`` or ``AttributeError`` from deep inside.
"""
from __future__ import annotations

import copy
import json
import math
import re

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from scipy.io import savemat

from posecourse.data.coco import CocoKeypoints
from posecourse.data.crowdpose import CrowdPoseKeypoints
from posecourse.data.flic import FlicExamples
from posecourse.data.lsp import LspJoints
from posecourse.data.mpii import MpiiJson, MpiiMat

SETTINGS = settings(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow])
CLEAR = (ValueError, FileNotFoundError)

#: values an unfriendly file may hold anywhere: non-finite and huge numbers, wrong types, empty things
NASTY = [None, math.nan, math.inf, -math.inf, 1e308, -1e9, 10**400, -1, 0, 1, 2, 3, 0.5, True, "", "7", "x",
         [], [1], [1, 2, 3, 4], {}, {"a": 1}]
nasty = st.sampled_from(NASTY).map(copy.deepcopy)  # a fresh copy: a later mutation must not edit NASTY itself


# ----------------------------------------------------------------------------- helpers
def _img(path, w=32, h=24):
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)


def _structs(records: list[dict]) -> np.ndarray:
    """A MATLAB 1xN struct array (numpy record array with object fields) for savemat."""
    keys = sorted({k for r in records for k in r})
    arr = np.zeros((1, len(records)), dtype=[(k, object) for k in keys])
    for i, r in enumerate(records):
        for k in keys:
            arr[0, i][k] = r.get(k, np.zeros((0, 0)))
    return arr


def _load_all(make, file_name: str):
    """Build the dataset and load every sample; ``None`` after a clear error naming ``file_name``."""
    try:
        ds = make()
        samples = [ds[i] for i in range(len(ds))]
    except CLEAR as e:
        assert file_name in str(e), f"error does not name {file_name}: {type(e).__name__}: {e}"
        return None
    for s in samples:
        kp, vis = s["keypoints"], s["visibility"]
        assert kp.shape[:-1] == vis.shape and kp.shape[-1] == 2 and s["boxes"].shape == (kp.shape[0], 4)
        assert torch.isfinite(kp).all() and torch.isfinite(s["boxes"]).all()
        assert set(vis.unique().tolist()) <= {0.0, 1.0, 2.0}
        assert (kp[vis == 0] == 0).all()
        assert s["image"].shape[0] == 3 and torch.isfinite(s["image"]).all()
    return ds, samples


def _paths(tree, skip=("segmentation", "info", "licenses"), prefix=()):
    """Every path (tuple of keys / indices) into a JSON tree, containers included, not below ``skip``."""
    out = [prefix] if prefix else []
    if isinstance(tree, dict):
        for k, v in tree.items():
            if k not in skip:
                out += _paths(v, skip, prefix + (k,))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            out += _paths(v, skip, prefix + (i,))
    return out


def _get(tree, path):
    for k in path:
        tree = tree[k]
    return tree


@st.composite
def mutated(draw, source):
    """1-3 mutations of the JSON tree ``source``: set a node to a nasty value or to another node's
    value (duplicate ids, wrong references), delete it, or duplicate a list element."""
    tree = copy.deepcopy(source)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(tree)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _get(tree, path[:-1]), path[-1]
        op = draw(st.sampled_from(["set", "set", "copy", "delete", "duplicate"]))
        if op == "set":
            parent[key] = draw(nasty)
        elif op == "copy":
            parent[key] = copy.deepcopy(_get(tree, draw(st.sampled_from(paths))))
        elif op == "delete":
            del parent[key]
        elif isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]))
    return tree


def _write_json(path, tree):
    path.write_text(json.dumps(tree))  # NaN / Infinity tokens as Python writes (and reads) them
    return path


def _check_coco(ds, samples, tree):
    """Each loaded person is the file's annotation of that id, on the image of its image_id."""
    by_id = {a["id"]: a for a in tree["annotations"]}
    images = {im["id"]: im for im in tree["images"]}
    for s in samples:
        assert s["meta"]["file_name"] == images[s["meta"]["image_id"]]["file_name"]
        for p, ann_id in enumerate(s["meta"]["ann_ids"]):
            a = by_id[ann_id]
            assert a["image_id"] == s["meta"]["image_id"]
            raw = np.asarray(a.get("keypoints", [0] * 3 * ds.num_joints), dtype=np.float64).reshape(-1, 3)
            lab = raw[:, 2] > 0
            np.testing.assert_array_equal(s["visibility"][p].numpy(), raw[:, 2])
            assert np.isfinite(raw[lab, :2]).all()
            np.testing.assert_array_equal(s["keypoints"][p].numpy()[lab], raw[lab, :2].astype(np.float32))


def _check_mpii_json(samples, tree):
    for s, a in zip(samples, tree):
        lab = np.asarray(a["joints_vis"], dtype=np.float64) > 0
        raw = np.asarray(a["joints"], dtype=np.float64)
        assert np.isfinite(raw[lab]).all()
        np.testing.assert_allclose(s["keypoints"][0].numpy()[lab], (raw[lab] - 1).astype(np.float32))
        np.testing.assert_array_equal(s["visibility"][0].numpy(), np.where(lab, 2, 0))


def _real(shared_data, rel):
    tree = json.loads((shared_data / rel).read_text())
    if isinstance(tree, dict):
        for a in tree.get("annotations", []):
            a.pop("segmentation", None)  # ignored by the loaders; keeps the files small
    return tree


# ----------------------------------------------------------------------------- mutated real samples
@pytest.fixture(scope="module")
def out_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@SETTINGS
@given(data=st.data())
def test_mutated_coco_loads_soundly_or_fails_clearly(shared_data, out_dir, data):
    tree = data.draw(mutated(_real(shared_data, "coco/test_coco.json")))
    path = _write_json(out_dir / "coco_mut.json", tree)
    got = _load_all(lambda: CocoKeypoints(path, shared_data / "coco", skip_crowd=False), path.name)
    if got is not None:
        _check_coco(*got, tree)


@SETTINGS
@given(data=st.data())
def test_mutated_crowdpose_loads_soundly_or_fails_clearly(shared_data, out_dir, data):
    tree = data.draw(mutated(_real(shared_data, "crowdpose/test_crowdpose.json")))
    path = _write_json(out_dir / "crowdpose_mut.json", tree)
    got = _load_all(lambda: CrowdPoseKeypoints(path, shared_data / "crowdpose", skip_crowd=False), path.name)
    if got is not None:
        _check_coco(*got, tree)
        for s in got[1]:
            ci = s["meta"]["crowd_index"]
            assert math.isnan(ci) or 0 <= ci <= 1


@SETTINGS
@given(data=st.data())
def test_mutated_mpii_json_loads_soundly_or_fails_clearly(shared_data, out_dir, data):
    tree = data.draw(mutated(_real(shared_data, "mpii/test_mpii.json")))
    path = _write_json(out_dir / "mpii_mut.json", tree)
    got = _load_all(lambda: MpiiJson(path, shared_data / "mpii"), path.name)
    if got is not None:
        _check_mpii_json(got[1], tree)


_NUMBER = re.compile(r"(?<![\w.\"])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.\"])")


@SETTINGS
@given(data=st.data(), which=st.sampled_from(["coco/test_coco.json", "mpii/test_mpii.json"]))
def test_text_level_damage_loads_soundly_or_fails_clearly(shared_data, out_dir, data, which):
    """Number tokens replaced by NaN / Infinity / null / text, or the file cut short."""
    text = json.dumps(_real(shared_data, which))
    if data.draw(st.booleans()):
        text = text[:data.draw(st.integers(0, len(text) - 1))]
    else:
        spans = [m.span() for m in _NUMBER.finditer(text)]
        for a, b in sorted(data.draw(st.lists(st.sampled_from(spans), min_size=1, max_size=4, unique=True)),
                           reverse=True):
            text = text[:a] + data.draw(st.sampled_from(["NaN", "Infinity", "-Infinity", "null", '"1"', "1e999",
                                                         "-1e999", "[]", "true", "-0.0"])) + text[b:]
    path = out_dir / ("text_" + which.split("/")[1])
    path.write_text(text)
    folder = shared_data / which.split("/")[0]
    if which.startswith("coco"):
        got = _load_all(lambda: CocoKeypoints(path, folder, skip_crowd=False), path.name)
        if got is not None:
            _check_coco(*got, json.loads(text))
    else:
        got = _load_all(lambda: MpiiJson(path, folder), path.name)
        if got is not None:
            _check_mpii_json(got[1], json.loads(text))


# ----------------------------------------------------------------------------- generated from scratch
@pytest.fixture(scope="module")
def img_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("imgs")
    _img(d / "x.jpg")
    _img(d / "y.png", 16, 16)
    for n in (1, 2, 3):
        _img(d / f"im{n:04d}.jpg")
        _img(d / f"im{n:05d}.jpg")
    (d / "broken.jpg").write_bytes((d / "x.jpg").read_bytes()[:200])  # a truncated JPEG
    return d


coord = st.one_of(st.integers(-3, 40), st.floats(-3, 40), nasty)
flag = st.one_of(st.sampled_from([0, 1, 2]), nasty)


@st.composite
def coco_documents(draw, K=3):
    images = [{"id": draw(st.one_of(st.integers(1, 3), nasty)),
               "file_name": draw(st.sampled_from(["x.jpg", "y.png", "gone.jpg", "broken.jpg", 5, None])),
               "height": draw(st.sampled_from([24, 16, None, 0, -3, 24.0, "24"])),
               "width": draw(st.sampled_from([32, 16, None, 0, 32.5, "32"]))}
              for _ in range(draw(st.integers(0, 3)))]
    anns = []
    for i in range(draw(st.integers(0, 4))):
        kp = [v for _ in range(K) for v in (draw(coord), draw(coord), draw(flag))]
        ann = {"id": draw(st.one_of(st.just(i), nasty)), "image_id": draw(st.one_of(st.integers(1, 3), nasty)),
               "iscrowd": draw(st.sampled_from([0, 0, 1, True, 2, None, "0"])),
               "keypoints": draw(st.one_of(st.just(kp), st.just(kp[:-1]), nasty)),
               "bbox": draw(st.one_of(st.lists(coord, min_size=4, max_size=4), nasty)),
               "area": draw(st.one_of(st.floats(0, 100), nasty))}
        for key in draw(st.sets(st.sampled_from(sorted(ann)), max_size=2)):
            del ann[key]
        anns.append(ann)
    cats = draw(st.one_of(st.just([{"id": 1, "keypoints": [f"j{k}" for k in range(K)]}]), st.just([]),
                          st.lists(nasty, max_size=2)))
    return {"images": images, "annotations": anns, "categories": cats}


@SETTINGS
@given(doc=coco_documents())
def test_generated_coco_loads_soundly_or_fails_clearly(img_dir, out_dir, doc):
    path = _write_json(out_dir / "coco_gen.json", doc)
    got = _load_all(lambda: CocoKeypoints(path, img_dir, skip_crowd=False), path.name)
    if got is not None:
        _check_coco(*got, doc)


@SETTINGS
@given(entries=st.lists(st.fixed_dictionaries({
    "image": st.sampled_from(["x.jpg", "gone.jpg", "broken.jpg", 3]),
    "joints": st.one_of(st.lists(st.lists(coord, min_size=2, max_size=2), min_size=16, max_size=16), nasty),
    "joints_vis": st.one_of(st.lists(st.one_of(st.sampled_from([0, 1]), nasty), min_size=16, max_size=16), nasty),
    "center": st.one_of(st.lists(coord, min_size=2, max_size=2), nasty),
    "scale": st.one_of(st.floats(0.01, 5), nasty)}), max_size=3))
def test_generated_mpii_json_loads_soundly_or_fails_clearly(img_dir, out_dir, entries):
    path = _write_json(out_dir / "mpii_gen.json", entries)
    got = _load_all(lambda: MpiiJson(path, img_dir), path.name)
    if got is not None:
        _check_mpii_json(got[1], entries)


mat_value = st.one_of(st.floats(-3, 40), st.sampled_from([math.nan, math.inf, -math.inf, 1e300]))


@SETTINGS
@given(extended=st.booleans(), n=st.integers(1, 3), data=st.data())
def test_generated_lsp_loads_soundly_or_fails_clearly(img_dir, out_dir, extended, n, data):
    xy = np.array(data.draw(st.lists(mat_value, min_size=28 * n, max_size=28 * n))).reshape(n, 14, 2)
    flags = np.array(data.draw(st.lists(st.sampled_from([0, 1, 1, 2, -1, 0.5, math.nan]), min_size=14 * n,
                                        max_size=14 * n)), dtype=float).reshape(n, 14, 1)
    arr = np.concatenate([xy, flags], -1)  # (N, 14, 3)
    joints = arr.transpose(1, 2, 0) if extended else arr.transpose(2, 1, 0)
    savemat(out_dir / "joints.mat", {"joints": joints})
    got = _load_all(lambda: LspJoints(out_dir / "joints.mat", img_dir), "joints.mat")
    if got is not None:
        for s, a in zip(got[1], arr):
            lab = s["visibility"][0].numpy() > 0
            assert (~np.isin(a[:, 2], (0, 1))).sum() == 0 and np.isfinite(a[lab, :2]).all()
            np.testing.assert_allclose(s["keypoints"][0].numpy()[lab], a[lab, :2] - 1, rtol=1e-6)
            assert lab.all() if not extended else (lab == (a[:, 2] == 1)).all()


@SETTINGS
@given(data=st.data())
def test_generated_flic_loads_soundly_or_fails_clearly(img_dir, out_dir, data):
    recs = []
    for _ in range(data.draw(st.integers(1, 2))):
        coords = np.full((2, 29), np.nan)
        for k in data.draw(st.sets(st.integers(0, 28), max_size=12)):
            coords[:, k] = data.draw(st.lists(mat_value, min_size=2, max_size=2))
        rec = {"coords": coords, "filepath": data.draw(st.sampled_from(["x.jpg", "gone.jpg", "broken.jpg"])),
               "torsobox": np.array(data.draw(st.lists(mat_value, min_size=4, max_size=4))),
               "imgdims": np.array([24.0, 32.0, 3.0]), "istrain": 1.0, "istest": 0.0}
        recs.append(rec)
    savemat(out_dir / "examples.mat", {"examples": _structs(recs)})
    got = _load_all(lambda: FlicExamples(out_dir / "examples.mat", img_dir), "examples.mat")
    if got is not None:
        for s, rec in zip(got[1], recs):
            c = rec["coords"]
            assert not (np.isnan(c).any(0) & ~np.isnan(c).all(0)).any() and not np.isinf(c).any()
            assert int(s["visibility"][0].gt(0).sum()) == int(np.isfinite(c[:, [0, 1, 2, 3, 4, 5, 6, 9]]).all(0).sum())


point_id = st.one_of(st.integers(0, 15), st.sampled_from([16, -1, 2.5, math.nan, "a"]))
is_visible = st.sampled_from([0, 1, "0", "1", np.zeros((0, 0)), 7, math.nan, "yes"])


@SETTINGS
@given(data=st.data())
def test_generated_mpii_mat_loads_soundly_or_fails_clearly(img_dir, out_dir, data):
    rects = []
    for _ in range(data.draw(st.integers(1, 2))):
        pts = [{"id": data.draw(point_id), "x": data.draw(st.one_of(mat_value, st.just(np.zeros((0, 0))))),
                "y": data.draw(mat_value), "is_visible": data.draw(is_visible)}
               for _ in range(data.draw(st.integers(0, 4)))]
        head = data.draw(st.lists(mat_value, min_size=4, max_size=4))
        rects.append({"x1": head[0], "y1": head[1], "x2": head[2], "y2": head[3],
                      "objpos": {"x": data.draw(mat_value), "y": 5.0}, "scale": data.draw(st.one_of(mat_value, st.just(-1.0))),
                      "annopoints": {"point": _structs(pts)} if pts else np.zeros((0, 0))})
    name = data.draw(st.sampled_from(["x.jpg", "x.jpg", "gone.jpg", "broken.jpg", 5.0, np.zeros((0, 0))]))
    annorect = data.draw(st.sampled_from(["structs", "structs", "number", "empty"]))
    annorect = {"structs": _structs(rects), "number": 3.0, "empty": np.zeros((0, 0))}[annorect]
    annolist = _structs([{"image": {"name": name}, "annorect": annorect}])
    img_train = np.array([[data.draw(st.sampled_from([1, 0, 2, math.nan]))]])
    single = np.empty((1, 1), dtype=object)
    single[0, 0] = np.array([[data.draw(st.sampled_from([1, 2, 5]))]])
    path = out_dir / "release.mat"
    savemat(path, {"RELEASE": {"annolist": annolist, "img_train": img_train, "single_person": single}})
    got = _load_all(lambda: MpiiMat(path, img_dir, subset="all", single_person=data.draw(st.booleans())),
                    "release.mat")
    if got is not None:
        for s in got[1]:
            assert np.isfinite(s["meta"]["head_box"]).all()
