"""The command's scoring on real photos: a prediction equal to the (augmented, converted) labels scores
perfectly after the way back to the photo, so any loss in the metric is the model's, not the plumbing's."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from posecourse.targets.codecs import Poses
from posecourse.data.recipe import Collate
from posecourse.data import collate
from posecourse.data.topdown import TopDown, WholeImages, open_source
from posecourse.evaluation import PCK, PDJ, PCKh
from posecourse.evaluation.real import _metric, evaluate_crops, evaluate_images, gather_run
from posecourse.skeletons import get_skeleton


class _Identity(torch.nn.Module):
    """Stands in for a model: its output is ignored by the oracle codec below."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return x


class _Oracle:
    """A codec whose decode returns the labels of the batch last collated (by :meth:`collate`)."""

    def __init__(self, collate_fn, people: bool):
        self.collate_fn, self.people, self.batch = collate_fn, people, None

    def collate(self, samples):
        self.batch = self.collate_fn(samples)
        return self.batch

    def decode(self, outputs):
        kp, vis = self.batch["keypoints"], self.batch["visibility"]
        if not self.people:
            return Poses.one_each(kp[:, 0], (vis[:, 0] > 0).float())
        return Poses(torch.nan_to_num(kp), (vis > 0).float())  # an image's unlabelled rows: no joint found


def test_perfect_crops_score_perfectly(shared_data, monkeypatch):
    """Person crops: the crop labels as predictions, taken back to the photo, give PCK 1 and OKS AP 1."""
    import posecourse.data

    src = open_source("coco", shared_data / "coco")
    crops = TopDown(src, (64, 48))
    oracle = _Oracle(collate, people=False)
    monkeypatch.setattr(posecourse.data, "collate", oracle.collate)  # evaluate_crops collates through it
    lecture = SimpleNamespace(codec=oracle, metric=PCK(0.2, "coco17"), model="oracle", name="oracle")
    res = evaluate_crops(_Identity(), lecture, crops, get_skeleton("coco17"))
    assert res["value"] == pytest.approx(1.0) and res["crops"] == 12
    assert res["oks_ap_gt_boxes"]["AP"] == pytest.approx(1.0)


def test_perfect_people_score_perfectly(shared_data):
    """Whole photos, COCO-17 -> COCO-18 for the model and back: the labels as detections give AP 1."""
    src = open_source("coco", shared_data / "coco", per_image=True)
    photos = WholeImages(src, 96)
    oracle = _Oracle(Collate("coco18"), people=True)
    lecture = SimpleNamespace(codec=oracle, skeleton="coco18")
    res = evaluate_images(_Identity(), lecture, photos, oracle.collate)
    assert res["images"] == 4 and res["people_found"] == 12
    assert res["value"] == pytest.approx(1.0)


def test_gather_run_one_process():
    history = SimpleNamespace(losses=[3.0, 2.0])
    seen = SimpleNamespace(seen=[4, 1, 1])
    r = gather_run(history, seen, 10, 1)
    assert r["loss_curve"] == [3.0, 2.0] and r["final_loss"] == 2.0
    assert r["samples"] == {"dataset_size": 10, "seen_first_epoch": 3, "unique_first_epoch": 2,
                            "duplicates_first_epoch": 1, "per_process": [3]}
    assert gather_run(None, seen, 10, 1) == {"loss_curve": [], "samples": None}
    assert np.isfinite(r["final_loss"])


class _Spoiled(_Oracle):
    """The oracle with joints 5-8 replaced by ``value`` (NaN, or a point far off)."""

    def __init__(self, collate_fn, value):
        super().__init__(collate_fn, people=False)
        self.value = value

    def decode(self, outputs):
        kp, s = super().decode(outputs)
        kp = kp.clone()
        kp[..., 5:9, :] = self.value
        return Poses(kp, s)


def test_nan_predictions_are_misses_not_unannotated(shared_data, monkeypatch):
    """Issue 24: NaN predictions used to drop their joints from the count, so a model scored higher with NaNs
    than with far-off points. Both are misses now: the same score, below the perfect one."""
    import posecourse.data

    src = open_source("coco", shared_data / "coco")
    crops = TopDown(src, (64, 48))
    values = {}
    for name, v in (("nan", float("nan")), ("far", -1e4), ("inf", float("inf"))):
        oracle = _Spoiled(collate, v)
        monkeypatch.setattr(posecourse.data, "collate", oracle.collate)
        lecture = SimpleNamespace(codec=oracle, metric=PCK(0.2, "coco17"), model="oracle", name="oracle")
        values[name] = evaluate_crops(_Identity(), lecture, crops, get_skeleton("coco17"))
    assert values["nan"]["value"] == values["far"]["value"] == values["inf"]["value"] < 1.0
    assert values["nan"]["per_joint"][5:9] == [0.0] * 4
    ap = {k: v["oks_ap_gt_boxes"]["AP"] for k, v in values.items()}
    assert ap["nan"] == ap["inf"] < 1.0 and abs(ap["nan"] - ap["far"]) < 0.02  # OKS: scored as far-off points


def test_the_metric_follows_the_data_layout():
    """Asked of the metric (for_layout): PCKh keeps its definition where the layout has a head segment, else it is
    PCK@0.2 of the torso; a layout not registered (CrowdPose) gets None (the caller's joint-extent PCK)."""
    lec = SimpleNamespace(metric=PCKh(0.5))
    assert _metric(lec, get_skeleton("mpii16")) == PCKh(0.5, "mpii16")
    assert _metric(lec, get_skeleton("coco17")) == PCK(0.2, "coco17")
    assert _metric(SimpleNamespace(metric=PDJ(0.2)), get_skeleton("lsp14")) == PDJ(0.2, "lsp14")
    assert _metric(lec, SimpleNamespace(name="crowdpose14", head=None)) is None
