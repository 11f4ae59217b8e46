"""coco_keypoint_eval vs pycocotools (the oracle, used only here) on real and generated data."""
from __future__ import annotations

import contextlib
import copy
import io
import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from posecourse.metrics import coco_keypoint_eval
from posecourse.metrics.coco_eval import STAT_NAMES

pycocotools = pytest.importorskip("pycocotools")
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402

# CrowdPose OKS constants (crowdposetools/cocoeval.py of the CrowdPose API, 14 joints).
CROWDPOSE_SIGMAS = np.array([.79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89, .79, .79]) / 10.0


def reference(gt, dt, sigmas=None):
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = copy.deepcopy(gt)
        coco.createIndex()
        res = coco.loadRes(copy.deepcopy(dt))
        ev = COCOeval(coco, res, "keypoints")
        if sigmas is not None:
            ev.params.kpt_oks_sigmas = np.asarray(sigmas)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


def assert_same(gt, dt, sigmas=None):
    ours = coco_keypoint_eval(gt, dt, sigmas=sigmas)
    assert tuple(ours) == STAT_NAMES
    np.testing.assert_allclose(np.array(list(ours.values())), reference(gt, dt, sigmas), rtol=0, atol=1e-9)
    return ours


def noisy_results(gt, rng, copies=3, with_bbox=False):
    k = len(gt["annotations"][0]["keypoints"]) // 3
    dt = []
    for a in gt["annotations"]:
        for rep in range(copies):
            kp = np.array(a["keypoints"], float).reshape(-1, 3)
            kp[:, :2] += rng.normal(0, 2 + 8 * rep, (k, 2))
            kp[:, 2] = 1
            d = dict(image_id=a["image_id"], category_id=a["category_id"], keypoints=kp.ravel().tolist(),
                     score=float(rng.random()))
            if with_bbox:
                d["bbox"] = [float(v) for v in np.abs(rng.normal(50, 30, 4))]
            dt.append(d)
    return dt


@pytest.mark.parametrize("with_bbox", [False, True])
def test_parity_real_coco(shared_data, with_bbox):
    gt = json.loads((shared_data / "coco" / "test_coco.json").read_text())
    out = assert_same(gt, noisy_results(gt, np.random.default_rng(0), with_bbox=with_bbox))
    assert 0 < out["AP"] < 1


def test_json_paths_and_perfect_results(shared_data, tmp_path):
    path = shared_data / "coco" / "test_coco.json"
    gt = json.loads(path.read_text())
    dt = [dict(image_id=a["image_id"], category_id=1, keypoints=a["keypoints"], score=1.0)
          for a in gt["annotations"] if a["num_keypoints"] > 0 and not a["iscrowd"]]
    (tmp_path / "dt.json").write_text(json.dumps(dt))
    out = coco_keypoint_eval(str(path), str(tmp_path / "dt.json"))
    assert out["AP"] == pytest.approx(1.0) and out["AR"] == pytest.approx(1.0)
    np.testing.assert_allclose(list(out.values()), reference(gt, dt), atol=1e-9, rtol=0)


def test_parity_crowdpose(shared_data):
    """CrowdPose has 14 joints and no ``area`` field: pycocotools needs both supplied."""
    gt = json.loads((shared_data / "crowdpose" / "test_crowdpose.json").read_text())
    for a in gt["annotations"]:
        a["area"] = a["bbox"][2] * a["bbox"][3]
    assert_same(gt, noisy_results(gt, np.random.default_rng(1)), sigmas=CROWDPOSE_SIGMAS)


AREAS = [100.0, 1024.0, 2000.0, 9216.0, 20000.0, 90000.0]


def synthetic(seed, n_img, max_people, max_dets, p_crowd, p_zero_kp, tie_scores, bbox, zero_id, two_cats,
              clustered=False):
    rng = np.random.default_rng(seed)
    cats = [1, 2] if two_cats else [1]
    gt = {"images": [{"id": i + 10} for i in range(n_img)],
          "categories": [{"id": c, "name": "person"} for c in cats], "annotations": []}
    dt = []
    aid = 0 if zero_id else 1
    for img in gt["images"]:
        people = []
        for _ in range(rng.integers(0, max_people + 1)):
            spread = (200, 210) if clustered else (50, 500)
            cx, cy, s = rng.uniform(*spread), rng.uniform(*spread), rng.uniform(5, 150)
            kp = np.c_[cx + rng.normal(0, s / 3, 17), cy + rng.normal(0, s / 2, 17), rng.integers(0, 3, 17)]
            if rng.random() < p_zero_kp:
                kp[:, 2] = 0
            area = float(rng.choice(AREAS)) if rng.random() < 0.5 else float(s * s * rng.uniform(0.5, 2))
            cat = int(rng.choice(cats))
            gt["annotations"].append(dict(
                id=aid, image_id=img["id"], category_id=cat, keypoints=kp.ravel().tolist(),
                num_keypoints=int((kp[:, 2] > 0).sum()), area=area, bbox=[cx - s, cy - s, 2 * s, 2 * s],
                iscrowd=int(rng.random() < p_crowd)))
            people.append((kp, s, cat))
            aid += 1
        for _ in range(rng.integers(0, max_dets + 1)):
            if people and rng.random() < 0.8:
                kp, s, cat = people[rng.integers(len(people))]
                kp = kp.copy()
                kp[:, :2] += rng.normal(0, s * rng.uniform(0.01, 0.3), (17, 2))
            else:
                kp, cat = np.c_[rng.uniform(0, 600, (17, 2)), np.ones(17)], int(rng.choice(cats))
            score = float(rng.integers(0, 3)) / 2 if tie_scores else float(rng.random())
            d = dict(image_id=img["id"], category_id=cat, keypoints=kp.ravel().tolist(), score=score)
            if bbox:
                d["bbox"] = [0.0, 0.0, *(float(v) for v in rng.choice([5.0, 32.0, 40.0, 96.0, 200.0], 2))]
            dt.append(d)
    return gt, dt


@settings(deadline=None, max_examples=60)
@given(seed=st.integers(0, 2**31), n_img=st.integers(1, 4), max_people=st.integers(0, 6),
       max_dets=st.sampled_from([0, 3, 25]), p_crowd=st.sampled_from([0.0, 0.3]),
       p_zero_kp=st.sampled_from([0.0, 0.3]), tie_scores=st.booleans(), bbox=st.booleans(),
       zero_id=st.booleans(), two_cats=st.booleans(), clustered=st.booleans())
def test_parity_generated(seed, n_img, max_people, max_dets, p_crowd, p_zero_kp, tie_scores, bbox, zero_id, two_cats,
                          clustered):
    gt, dt = synthetic(seed, n_img, max_people, max_dets, p_crowd, p_zero_kp, tie_scores, bbox, zero_id, two_cats,
                       clustered)
    if not dt:  # pycocotools cannot load an empty result list; ours gives zeros / -1
        ours = coco_keypoint_eval(gt, dt)
        assert all(v in (0.0, -1.0) for v in ours.values())
        return
    assert_same(gt, dt)


def test_more_than_20_detections_per_image_and_ties():
    gt, dt = synthetic(3, 2, 6, 0, 0.0, 0.0, False, False, False, False)
    a = gt["annotations"][0]
    dt = [dict(image_id=a["image_id"], category_id=1, keypoints=a["keypoints"], score=0.5) for _ in range(30)]
    assert len(dt) > 20
    assert_same(gt, dt)


def test_bad_inputs():
    gt, dt = synthetic(5, 2, 3, 3, 0.0, 0.0, False, False, False, False)
    with pytest.raises(ValueError, match="image ids"):
        coco_keypoint_eval(gt, dt + [dict(dt[0], image_id=999)])
    bad = copy.deepcopy(dt)
    bad[0]["keypoints"][0] = float("nan")
    with pytest.raises(ValueError, match="dt keypoints"):
        coco_keypoint_eval(gt, bad)
    with pytest.raises(ValueError, match="dt keypoints"):
        coco_keypoint_eval(gt, [dict(dt[0], keypoints=dt[0]["keypoints"][:-3])])
    with pytest.raises(ValueError, match="gt"):
        coco_keypoint_eval({"images": []}, dt)
    with pytest.raises(ValueError, match="sigmas"):
        coco_keypoint_eval(gt, dt, sigmas=[0.0] * 17)
    empty_gt = dict(gt, annotations=[])
    assert set(coco_keypoint_eval(empty_gt, dt).values()) == {-1.0}


def test_gt_ignore_field_has_no_effect_and_nan_at_unlabelled_gt_joints():
    gt, dt = synthetic(11, 3, 5, 8, 0.2, 0.2, False, False, False, False)
    base = assert_same(gt, dt)
    flagged = copy.deepcopy(gt)
    for a in flagged["annotations"]:
        a["ignore"] = 1  # pycocotools overwrites this flag with iscrowd
        kp = np.array(a["keypoints"]).reshape(-1, 3)
        kp[kp[:, 2] == 0, :2] = np.nan  # never read by the evaluation
        a["keypoints"] = kp.ravel().tolist()
    assert assert_same(flagged, dt) == base


CORRUPT_VALUES = [None, "x", float("nan"), float("inf"), [], [1.0, 2.0], {"a": 1}, -5, 10**6]


@settings(deadline=None, max_examples=80)
@given(seed=st.integers(0, 2**31), target=st.sampled_from(["gt_ann", "dt", "image", "category"]),
       field=st.sampled_from(["id", "image_id", "category_id", "keypoints", "score", "area", "bbox", "iscrowd",
                              "num_keypoints"]),
       action=st.sampled_from(["delete", "set"]), value=st.sampled_from(CORRUPT_VALUES))
def test_fuzz_corrupted_inputs_value_error_or_valid_stats(seed, target, field, action, value):
    gt, dt = synthetic(seed, 2, 3, 4, 0.2, 0.2, False, False, False, False)
    pools = {"gt_ann": gt["annotations"], "dt": dt, "image": gt["images"], "category": gt["categories"]}
    pool = pools[target]
    if pool:
        entry = pool[seed % len(pool)]
        if action == "delete":
            entry.pop(field, None)
        else:
            entry[field] = value
    try:
        out = coco_keypoint_eval(gt, dt)
    except ValueError:
        return
    vals = np.array(list(out.values()))
    assert np.isfinite(vals).all() and ((vals == -1) | ((vals >= 0) & (vals <= 1))).all()


def test_oks_bit_identical_to_computeOks():
    """Matching compares OKS with thresholds, so ours must equal pycocotools' to the last bit."""
    from posecourse.metrics.coco_eval import COCO_SIGMAS, _oks_pairs

    gt, dt = synthetic(7, 3, 6, 25, 0.2, 0.3, True, False, False, False)
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = copy.deepcopy(gt)
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(copy.deepcopy(dt)), "keypoints")
        ev.evaluate()
    checked = 0
    for img in gt["images"]:
        g = [a for a in gt["annotations"] if a["image_id"] == img["id"]]
        d = [x for x in dt if x["image_id"] == img["id"]]
        d = [d[i] for i in np.argsort([-x["score"] for x in d], kind="mergesort")][:20]
        if not g or not d:
            continue
        gk = np.array([a["keypoints"] for a in g], float).reshape(len(g), 17, 3)
        dk = np.array([x["keypoints"] for x in d], float).reshape(len(d), 17, 3)
        i, j = np.meshgrid(np.arange(len(d)), np.arange(len(g)), indexing="ij")
        i, j = i.ravel(), j.ravel()
        ours = _oks_pairs(dk[i, :, :2], gk[j, :, :2], gk[j, :, 2] > 0, np.array([a["area"] for a in g])[j],
                          np.array([a["bbox"] for a in g], float)[j], COCO_SIGMAS).reshape(len(d), len(g))
        np.testing.assert_array_equal(ours, ev.ious[img["id"], 1])
        checked += 1
    assert checked > 0


def test_duplicate_image_ids_match_pycocotools():
    gt, dt = synthetic(21, 4, 4, 6, 0.1, 0.1, False, False, False, False)
    gt["images"] = gt["images"] + gt["images"][:2] + [dict(gt["images"][0], file_name="other.jpg")]
    assert_same(gt, dt)


def test_duplicate_annotation_ids_match_pycocotools():
    gt, dt = synthetic(22, 4, 5, 10, 0.0, 0.0, False, False, False, False)
    anns = gt["annotations"]
    assert len(anns) >= 8 and len({a["image_id"] for a in anns}) >= 3
    ref_before = coco_keypoint_eval(gt, dt)
    anns[1]["id"] = anns[0]["id"]                              # same image or neighbouring one
    anns[-1]["id"] = anns[2]["id"]                             # across images: the last one wins
    out = assert_same(gt, dt)
    assert out != ref_before                                   # the substitution changes the result
    # the winner lies on an image that is not evaluated: every copy drops out
    gt2 = copy.deepcopy(gt)
    gt2["annotations"].append(dict(gt2["annotations"][3], image_id=10 ** 6))
    assert_same(gt2, dt)


@settings(deadline=None, max_examples=40)
@given(seed=st.integers(0, 2**31), n_dup=st.integers(1, 6), two_cats=st.booleans(), p_crowd=st.sampled_from([0.0, 0.3]))
def test_parity_random_duplicate_annotation_ids(seed, n_dup, two_cats, p_crowd):
    gt, dt = synthetic(seed, 4, 5, 8, p_crowd, 0.2, False, False, False, two_cats)
    anns = gt["annotations"]
    if len(anns) < 2 or not dt:
        return
    rng = np.random.default_rng(seed)
    for _ in range(n_dup):
        i, j = rng.integers(len(anns), size=2)
        anns[i]["id"] = anns[j]["id"]
    assert_same(gt, dt)


def test_matching_in_blocks_of_images_is_unchanged(monkeypatch):
    """The evaluation matches a block of whole images at a time (for linear cost); tiny blocks must
    give pycocotools' numbers too (groups are never split across blocks)."""
    import posecourse.metrics.coco_eval as ce

    gt, dt = synthetic(31, 12, 5, 25, 0.2, 0.2, True, False, False, True)
    full = assert_same(gt, dt)
    for block in (1, 5, 17):
        monkeypatch.setattr(ce, "_BLOCK", block)
        assert assert_same(gt, dt) == full


@pytest.mark.parametrize("value", ["0", "1", "", None, 2, 0.5, [0]])
def test_iscrowd_must_be_0_or_1(value):
    """Issue 24: a string ``"0"`` was read as a crowd region (as pycocotools reads any non-empty string);
    anything but 0/1 is refused naming the annotation."""
    gt, dt = synthetic(3, 2, 3, 4, 0.0, 0.2, False, False, False, False)
    gt["annotations"][1]["iscrowd"] = value
    with pytest.raises(ValueError, match=f"annotation id {gt['annotations'][1]['id']!r}: 'iscrowd'"):
        coco_keypoint_eval(gt, dt)
    gt["annotations"][1]["iscrowd"] = 0
    gt["annotations"][1]["num_keypoints"] = "3"
    with pytest.raises(ValueError, match="'num_keypoints' is '3'"):
        coco_keypoint_eval(gt, dt)
