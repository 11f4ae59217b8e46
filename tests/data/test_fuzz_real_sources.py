"""Every real format the training command reads, mutated one field at a time, through the command's data
(:class:`posecourse.train.run.RealSource`, no training): each file opens with non-empty training and held-out
sets whose first items read, or the ``ValueError`` / ``FileNotFoundError`` names the annotation file (and, for an
error met while reading an item, the record). A sweep of the class of
``tests/training/test_fuzz_command.py::test_every_mutated_coco_file_opens_or_is_named`` (a COCO file whose
categories are ``[]`` loaded, then the flip's check failed without naming it) for MPII (HRNet JSON and the release
``.mat``), LSP, FLIC, CrowdPose, COCO's held-out file (``eval_ann``), COCO without ``img_dir`` and the bottom-up
lecture (whole photos). Deterministic: every mutation of a small list."""
from __future__ import annotations

import copy
import json
import math
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from posecourse.data.transforms import layout
from posecourse.lectures import get_lecture
from posecourse.train.run import RealSource

VALUES = [None, "0", [], {}, [1, 2], math.nan, -1, "x"]
MAT_VALUES = [v for v in VALUES if v is not None]  # MATLAB has no null (savemat cannot write None)
#: how each format names a record in its messages ("annotation 3", "annolist(2)", "image 1", "examples(1)")
RECORD = re.compile(r"\b(annotation|image|annolist|examples)\s*\(?\d")


# ----------------------------------------------------------------------------- helpers
def _set(tree, path: tuple, value):
    """A deep copy of ``tree`` with the node at ``path`` (keys / indices; ``()``: the root) set to ``value``."""
    if not path:
        return copy.deepcopy(value)
    tree = copy.deepcopy(tree)
    node = tree
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = copy.deepcopy(value)
    return tree


def _sweep(tree, paths, values=VALUES, extra=()):
    """``(label, mutated tree)``: ``tree`` unchanged (it opens), every ``path`` x ``value``, the ``extra`` pairs."""
    return [("unchanged", tree)] + [(f"{'/'.join(map(str, p)) or 'root'}={v!r}", _set(tree, p, v))
                                    for p in paths for v in values] + list(extra)


def _img(path, w=48, h=40):
    Image.fromarray(np.full((h, w, 3), 128, np.uint8)).save(path)


def _to_mat(x):
    """A tree of dicts / lists as savemat input: a list of dicts -> a 1xN struct array, other lists -> arrays."""
    if isinstance(x, dict):
        return {k: _to_mat(v) for k, v in x.items()}
    if isinstance(x, list) and x and all(isinstance(r, dict) for r in x):
        keys = sorted({k for r in x for k in r})
        arr = np.zeros((1, len(x)), dtype=[(k, object) for k in keys])
        for i, r in enumerate(x):
            for k in keys:
                arr[0, i][k] = _to_mat(r.get(k, np.zeros((0, 0))))
        return arr
    if isinstance(x, list):
        return np.array(x, dtype=float) if x else np.zeros((0, 0))
    return x


def _check(label, open_source, file_name: str, problems: list) -> str | None:
    """Open (``open_source()`` -> RealSource), read the first training and held-out items and batch each with the
    source's collate (their joints must be the source's layout, which the model learns and the metric reads):
    ``"opened"``, ``"refused"`` after a clear error, else ``None`` with the problem (``label``: ...) appended."""
    stage = "open"
    try:
        src = open_source()
        if not (len(src.train_set) and len(src.held_out)):
            problems.append(f"{label}: opened with {len(src.train_set)} training / {len(src.held_out)} held-out items")
            return None
        stage = "item"
        for name, item in (("training", src.train_set[0]), ("held-out", src.held_out[0])):
            batch = src.collate([item])  # as the command batches it
            got = layout(item["skeleton"], item["meta"].get("joint_names")) if not src.held_out.whole else \
                layout(batch["skeleton"])
            if got.joints != src.skeleton.joints:  # the model and the metric read src.skeleton's joints
                problems.append(f"{label}: opened, but a {name} sample's joints {got.joints} are not the "
                                f"source's {src.skeleton.joints}")
                return None
        return "opened"
    except (ValueError, FileNotFoundError) as e:
        msg = str(e)
        if file_name not in msg:
            problems.append(f"{label}: {stage}: {type(e).__name__} does not name {file_name}: {msg}")
        elif stage == "item" and not RECORD.search(msg.split(file_name, 1)[1]):
            problems.append(f"{label}: {stage}: {type(e).__name__} names no record: {msg}")
        else:
            return "refused"
    except Exception as e:  # noqa: BLE001 - a raw error is what the sweep looks for
        problems.append(f"{label}: {stage}: raw {type(e).__name__}: {e}")
    return None


def _run(cases, write, open_source, file_name: str):
    """Every case: ``write(tree)`` into a fresh folder, then :func:`_check`; fails listing every problem, and if
    the unchanged file did not open (the fixture is broken) or no case was refused (the sweep would test nothing)."""
    problems, outcomes = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for n, (label, tree) in enumerate(cases):
            root = Path(tmp) / str(n)
            root.mkdir()
            if not write(root, tree):  # the mutation cannot be written (e.g. savemat refuses it)
                continue
            outcomes[label] = _check(label, lambda: open_source(root), file_name, problems)
    assert not problems, f"{len(problems)} of {len(cases)} mutations:\n" + "\n".join(problems)
    assert outcomes["unchanged"] == "opened", "the unchanged file does not open: the fixture is broken"
    assert "refused" in outcomes.values(), "no mutation was refused: the sweep tests nothing"


def _write_json(name: str):
    def write(root: Path, tree) -> bool:
        (root / name).write_text(json.dumps(tree))
        return True
    return write


def _write_mat(name: str):
    def write(root: Path, tree) -> bool:
        for n in ("a.jpg", "b.jpg", "im0001.jpg", "im0002.jpg", "im00001.jpg", "im00002.jpg"):
            _img(root / n)
        try:
            savemat(root / name, _to_mat(tree))
        except (TypeError, ValueError):
            return False
        return True
    return write


# ----------------------------------------------------------------------------- COCO-style (real samples)
def _coco_cases(doc: dict, extra_image_fields=()):
    joints = doc["categories"][0]["keypoints"]
    paths = [(), ("images",), ("annotations",), ("categories",)]
    paths += [("images", 0, k) for k in ("id", "file_name", "height", "width", *extra_image_fields)]
    paths += [("annotations", 0, k) for k in ("image_id", "id", "iscrowd", "bbox", "keypoints", "area")]
    paths += [("categories", 0, "keypoints")]
    extra = [("joint names emptied", _set(doc, ("categories", 0, "keypoints"), [])),
             ("joint names unknown", _set(doc, ("categories", 0, "keypoints"), [f"j{k}" for k in range(len(joints))])),
             ("joint names reversed", _set(doc, ("categories", 0, "keypoints"), joints[::-1])),
             ("box of no size", _set(doc, ("annotations", 0, "bbox"), [10, 10, 0, 0])),
             ("no labelled joint", _set(doc, ("annotations",), [
                 {**a, "keypoints": [0] * len(a["keypoints"])} for a in doc["annotations"]]))]
    return _sweep(doc, paths, extra=extra)


@pytest.fixture(scope="module")
def coco_doc(shared_data):
    return json.loads((shared_data / "coco" / "test_coco.json").read_text())


@pytest.mark.parametrize("mutated", ["held_out", "training"])
def test_every_mutated_coco_file_opens_or_is_named_with_a_held_out_file(shared_data, coco_doc, mutated):
    """``eval_ann``: one of the training file and the held-out file is mutated, the other is the real one (a
    training file left with no person opened, its empty training set failing later)."""
    lec, coco, real = get_lecture("03"), shared_data / "coco", shared_data / "coco" / "test_coco.json"
    _run(_coco_cases(coco_doc), _write_json("ann.json"),
         lambda root: RealSource("coco", coco, lec, 64, img_dir=coco, ann=real if mutated == "held_out" else
                                 root / "ann.json", eval_ann=root / "ann.json" if mutated == "held_out" else real),
         "ann.json")


def test_every_mutated_coco_file_opens_or_is_named_for_bottom_up(shared_data, coco_doc):
    """Lecture 04 (OpenPose): whole photos with everyone (``per_image``, :class:`WholeImages`)."""
    lec, coco = get_lecture("04"), shared_data / "coco"
    _run(_coco_cases(coco_doc), _write_json("ann.json"),
         lambda root: RealSource("coco", root, lec, 96, img_dir=coco), "ann.json")


def test_every_mutated_coco_file_opens_or_is_named_without_img_dir(shared_data, coco_doc):
    """No ``img_dir``: the images are found beside the file (here linked into ``images/``)."""
    lec, coco = get_lecture("03"), shared_data / "coco"

    def write(root: Path, tree) -> bool:
        (root / "images").mkdir()
        for p in coco.glob("*.jpg"):
            (root / "images" / p.name).symlink_to(p)
        (root / "ann.json").write_text(json.dumps(tree))
        return True

    _run(_coco_cases(coco_doc), write, lambda root: RealSource("coco", root, lec, 64), "ann.json")


def test_every_mutated_crowdpose_file_opens_or_is_named(shared_data):
    doc = json.loads((shared_data / "crowdpose" / "test_crowdpose.json").read_text())
    lec, img = get_lecture("03"), shared_data / "crowdpose"
    _run(_coco_cases(doc, ("crowdIndex",)), _write_json("ann.json"),
         lambda root: RealSource("crowdpose", root, lec, 64, img_dir=img), "ann.json")


# ----------------------------------------------------------------------------- MPII
def test_every_mutated_mpii_json_opens_or_is_named(shared_data):
    doc = json.loads((shared_data / "mpii" / "test_mpii.json").read_text())
    lec, img = get_lecture("03"), shared_data / "mpii"
    paths = [()] + [(0, k) for k in ("image", "joints", "joints_vis", "center", "scale")]
    extra = [("no labelled joint", [{**a, "joints_vis": [0] * 16} for a in doc]),
             ("tiny scale", _set(doc, (0, "scale"), 1e-30)),
             ("joint 0 far away", _set(doc, (0, "joints", 0), [1e7, 1e7]))]
    _run(_sweep(doc, paths, extra=extra), _write_json("ann.json"),
         lambda root: RealSource("mpii", root, lec, 64, img_dir=img), "ann.json")


def _point(jid, x, y, vis=1):
    return {"id": jid, "x": float(x), "y": float(y), "is_visible": vis}


MPII_RELEASE = {"RELEASE": {
    "annolist": [{"image": {"name": "a.jpg"}, "annorect": [{
        "x1": 11.0, "y1": 5.0, "x2": 17.0, "y2": 13.0, "objpos": {"x": 20.0, "y": 18.0}, "scale": 0.15,
        "annopoints": {"point": [_point(0, 15, 30), _point(9, 20, 6, 0), _point(13, 25, 14)]}}]},
        {"image": {"name": "b.jpg"}, "annorect": [{
            "x1": 11.0, "y1": 5.0, "x2": 17.0, "y2": 13.0, "objpos": {"x": 20.0, "y": 18.0}, "scale": 0.15,
            "annopoints": {"point": [_point(2, 18, 28), _point(7, 21, 12)]}}]}],
    "img_train": [1, 1], "single_person": [1, 1]}}


def test_every_mutated_mpii_release_opens_or_is_named():
    lec, t = get_lecture("03"), ("RELEASE",)
    rect, point = t + ("annolist", 0, "annorect", 0), t + ("annolist", 0, "annorect", 0, "annopoints", "point", 0)
    paths = [t, t + ("annolist",), t + ("img_train",), t + ("annolist", 0, "image"), t + ("annolist", 0, "annorect"),
             t + ("annolist", 0, "image", "name")]
    paths += [rect + (k,) for k in ("x1", "objpos", "scale", "annopoints")] + [rect + ("objpos", "x")]
    paths += [point + (k,) for k in ("id", "x", "is_visible")]
    no_box = _set(MPII_RELEASE, rect + ("annopoints", "point"), [_point(0, 15, 30)])
    no_box = _set(no_box, rect + ("scale",), [])  # no objpos / scale: the box is the joints' (one point)
    extra = [("no person", _set(MPII_RELEASE, t + ("img_train",), [0, 0])),
             ("one joint, no scale", no_box)]
    _run(_sweep(MPII_RELEASE, paths, MAT_VALUES, extra), _write_mat("release.mat"),
         lambda root: RealSource("mpii", root, lec, 64, ann=root / "release.mat"), "release.mat")


# ----------------------------------------------------------------------------- LSP, FLIC
def _lsp_joints(extended=False):
    rng = np.random.default_rng(0)
    arr = np.concatenate([rng.uniform(3, 30, (2, 14, 2)), np.zeros((2, 14, 1))], -1)  # (N, 14, 3): x, y, flag
    if extended:
        arr[..., 2] = 1
    return (arr.transpose(1, 2, 0) if extended else arr.transpose(2, 1, 0)).tolist()  # 14x3xN or 3x14xN


@pytest.mark.parametrize("extended", [False, True], ids=["lsp", "lsp-extended"])
def test_every_mutated_lsp_file_opens_or_is_named(extended):
    lec, doc = get_lecture("03"), {"joints": _lsp_joints(extended)}
    first = np.array(doc["joints"])

    def image0(change):
        j = first.copy()
        change(j[..., 0])  # the first image's 3x14 (or 14x3) block
        return {"joints": j.tolist()}

    extra = [("no image", {"joints": np.zeros(first.shape[:2] + (0,))}),
             ("image 1 all at one point", image0(lambda b: b.__setitem__((slice(None, 2), slice(None)) if not extended
                                                                          else (slice(None), slice(None, 2)), 5.0))),
             ("image 1 x nan", image0(lambda b: b.__setitem__((0, 0) if not extended else (0, 0), math.nan))),
             ("image 1 flag -1", image0(lambda b: b.__setitem__((2, 0) if not extended else (0, 2), -1))),
             ("image 1 flag 1", image0(lambda b: b.__setitem__((2, 0) if not extended else (0, 2), 1))),
             ("image 1 far", image0(lambda b: b.__setitem__((0, 0), 1e7)))]
    if extended:
        extra.append(("no labelled joint", {"joints": np.concatenate([first[:, :2], 0 * first[:, 2:]], 1)}))
    _run(_sweep(doc, [("joints",)], MAT_VALUES, extra), _write_mat("joints.mat"),
         lambda root: RealSource("lsp", root, lec, 64), "joints.mat")


def _flic_example(i):
    coords = np.full((2, 29), np.nan)
    coords[:, [0, 1, 2, 3, 4, 5, 6, 9, 12, 13, 16]] = np.arange(22, dtype=float).reshape(2, 11) + 3 + i
    return {"coords": coords, "filepath": "ab"[i] + ".jpg", "imgdims": [40.0, 48.0, 3.0],
            "torsobox": [2.0, 3.0, 12.0, 20.0], "istrain": 1.0, "istest": 0.0}


def test_every_mutated_flic_file_opens_or_is_named():
    lec, doc = get_lecture("03"), {"examples": [_flic_example(0), _flic_example(1)]}
    paths = [("examples",)] + [("examples", 0, k) for k in ("coords", "filepath", "imgdims", "torsobox")]
    one = np.full((2, 29), np.nan)
    one[:, 0] = 5.0
    extra = [("example 1 one joint", _set(doc, ("examples", 0, "coords"), one)),
             ("no labelled joint", _set(doc, ("examples",), [{**e, "coords": np.full((2, 29), np.nan)}
                                                             for e in doc["examples"]]))]
    _run(_sweep(doc, paths, MAT_VALUES, extra), _write_mat("examples.mat"),
         lambda root: RealSource("flic", root, lec, 64), "examples.mat")
