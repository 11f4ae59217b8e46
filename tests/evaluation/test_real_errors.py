"""A held-out COCO file that COCO's OKS AP cannot score is refused when the command's data opens (before any
training), naming the file and the annotation; the scoring itself names the file; an annotation of a category the
file does not list (OKS AP left it out: AP -1 with no error) is refused by the loader."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

import posecourse.data
from posecourse.data import collate
from posecourse.data.coco import CocoKeypoints
from posecourse.data.recipe import Collate
from posecourse.data.topdown import TopDown, WholeImages, open_source
from posecourse.evaluation import PCK
from posecourse.evaluation.real import evaluate_crops, evaluate_images
from posecourse.lectures import get_lecture
from posecourse.skeletons import get_skeleton
from posecourse.train.run import RealSource

from test_real import _Identity, _Oracle

#: (what is removed, where: annotation 2's field or category 0's id, the record the message must name)
MISSING = [("area", ("annotations", 2), "annotation 2"), ("num_keypoints", ("annotations", 2), "annotation 2"),
           ("category_id", ("annotations", 2), "annotation 2"), ("id", ("categories", 0), "")]


@pytest.fixture(scope="module")
def coco_doc(shared_data):
    return json.loads((shared_data / "coco" / "test_coco.json").read_text())


def _without(doc, key, where, path):
    doc = json.loads(json.dumps(doc))
    del doc[where[0]][where[1]][key]
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("key,where,record", MISSING, ids=[m[0] for m in MISSING])
@pytest.mark.parametrize("how", ["eval_ann", "training file as held-out", "bottom-up"])
def test_a_held_out_file_oks_ap_cannot_score_is_refused_before_training(tmp_path, shared_data, coco_doc, key, where,
                                                                        record, how):
    """Was: the file opened, the run trained, then the final score failed with "gt: annotation lacks a field or
    has a bad value (KeyError('area'))" naming no file."""
    coco, bad = shared_data / "coco", _without(coco_doc, key, where, tmp_path / "held.json")
    with pytest.raises(ValueError) as e:
        if how == "eval_ann":
            RealSource("coco", coco, get_lecture("03"), 64, img_dir=coco, ann=coco / "test_coco.json", eval_ann=bad)
        else:
            RealSource("coco", tmp_path, get_lecture("04" if how == "bottom-up" else "03"), 64, ann=bad, img_dir=coco)
    assert "held.json" in str(e.value) and record in str(e.value), e.value
    assert key == "id" or repr(key) in str(e.value), e.value


def test_scoring_errors_name_the_file(tmp_path, shared_data, coco_doc, monkeypatch):
    """Crops (oks_ap_gt_boxes) and whole photos (bottom-up AP) of a file the loader accepts without ``area``: the
    scorer's error names the file and the annotation."""
    coco, bad = shared_data / "coco", _without(coco_doc, "area", ("annotations", 2), tmp_path / "noarea.json")
    crops = TopDown(CocoKeypoints(bad, coco, per_person=True, min_keypoints=1), (64, 48))
    oracle = _Oracle(collate, people=False)
    monkeypatch.setattr(posecourse.data, "collate", oracle.collate)  # evaluate_crops collates through it
    lecture = SimpleNamespace(codec=oracle, metric=PCK(0.2, "coco17"), model="oracle", name="oracle")
    with pytest.raises(ValueError, match=r"noarea.json: .*annotation 2 \(id \d+\).*'area'"):
        evaluate_crops(_Identity(), lecture, crops, get_skeleton("coco17"))
    photos = WholeImages(open_source("coco", coco, bad, per_image=True), 96)
    oracle = _Oracle(Collate("coco18"), people=True)
    with pytest.raises(ValueError, match=r"noarea.json: .*annotation 2 \(id \d+\).*'area'"):
        evaluate_images(_Identity(), SimpleNamespace(codec=oracle, skeleton="coco18"), photos, oracle.collate)


@pytest.mark.parametrize("category_id", [2, "1", [1]])
def test_an_annotation_of_an_unlisted_category_is_refused(tmp_path, shared_data, coco_doc, category_id):
    """Was: loaded, and OKS AP (which scores the listed categories' people) gave -1 with no error."""
    doc = json.loads(json.dumps(coco_doc))
    doc["annotations"][3]["category_id"] = category_id
    (tmp_path / "ann.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"ann.json: annotation 3: 'category_id' .* is not the 'id' of a category"):
        CocoKeypoints(tmp_path / "ann.json", shared_data / "coco")
