"""The domain-gap extra: its measuring functions (:mod:`posecourse.lectures.domain_gap`) and its notebook
(``lectures/extra/domain_gap.ipynb``) run in smoke mode on the real samples and without them."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from posecourse.lectures import domain_gap as G
from posecourse.lectures import shipped
from posecourse.lectures import get_lecture
from posecourse.skeletons import get_skeleton
from paths import ROOT

NOTEBOOK = ROOT / "lectures" / "extra" / "domain_gap.ipynb"
MPII = get_skeleton("mpii16")


def _person():
    """One MPII-16 person ``(16, 2)`` with a torso (left shoulder - right hip) of length 50 px."""
    gt = np.stack([np.arange(16) * 7.0, np.arange(16) * 3.0], -1)
    ls, rh = MPII.joints.index("left_shoulder"), MPII.joints.index("right_hip")
    gt[ls], gt[rh] = (100.0, 100.0), (130.0, 140.0)  # |(30, 40)| = 50
    return gt


def test_per_crop_pck_counts_each_persons_joints_within_alpha_torso():
    gt = np.stack([_person(), _person()])
    pred = gt.copy()
    pred[0, :4, 0] += 10.1        # person 0: 4 joints just outside 0.2 x 50 = 10 px
    pred[1, :2, 1] += 9.9         # person 1: 2 joints just inside
    vis = np.ones((2, 16), bool)
    vis[1, [1, 4]] = False        # person 1: the two knees unannotated: not counted
    out = G.per_crop_pck(pred, gt, vis, "mpii16")
    assert out[0] == pytest.approx(12 / 16) and out[1] == pytest.approx(1.0)
    # no visible torso -> NaN (the metric skips that person)
    vis[1, MPII.joints.index("right_hip")] = False
    assert np.isnan(G.per_crop_pck(pred, gt, vis, "mpii16")[1])
    with pytest.raises(ValueError, match="expected"):
        G.per_crop_pck(pred[:, :15], gt, vis, "mpii16")


def test_sides_check_tells_exchanged_sides_apart():
    gt = np.stack([_person()] * 3)
    vis = np.ones((3, 16), bool)
    right = G.sides_check(gt, gt, vis, "mpii16")
    assert right == {"as_labelled": 1.0, "sides_exchanged": pytest.approx(4 / 16)}  # the 4 midline joints stay put
    wrong = G.sides_check(gt[:, MPII.flip_index], gt, vis, "mpii16")
    assert wrong["as_labelled"] == pytest.approx(4 / 16) and wrong["sides_exchanged"] == 1.0


def test_colour_cue_on_the_shipped_model():
    """The held-out images as drawn: the shipped model knows its sides there; with red and blue exchanged its
    scores change (the channels were exchanged, nothing else)."""
    from posecourse.train.fit import make_data

    lec = get_lecture("05_hrnet")
    model = shipped.load_trained(lec.name, "cpu")
    out = G.colour_cue(model, lec, n=16)
    assert torch.equal(out["images"], make_data(lec, n_val=16).val["image"])
    drawn, swapped = out["drawn"], out["red_blue_exchanged"]
    assert drawn["as_labelled"] > drawn["sides_exchanged"]
    assert swapped != drawn and all(0.0 <= v <= 1.0 for v in swapped.values())


def test_open_crops_layouts(shared_data):
    lec = get_lecture("05_hrnet")
    coco = G.open_crops("coco", shared_data / "coco", lec)
    mpii = G.open_crops("mpii", shared_data / "mpii", lec)
    assert coco.skel.name == "coco17" and coco.model_skel.name == "mpii16" and len(coco.crops) == 12
    assert mpii.skel.name == "mpii16" and mpii.model_skel is None and len(mpii.crops) == 5
    assert tuple(mpii.crops[0]["image"].shape) == (3, 64, 64)


def test_finetune_returns_the_weights_it_trained(shared_data, tmp_path):
    """Two steps through the command: the model handed back is the one the command scored (same PCK in
    the photo's pixels) and differs from the shipped weights it started from."""
    lec = get_lecture("05_hrnet")
    real = G.open_crops("coco", shared_data / "coco", lec)
    start = shipped.load_trained(lec.name, "cpu")
    model, info = G.finetune(lec, real, 2, tmp_path / "run", init=shipped.checkpoint_path(lec.name), device="cpu",
                             batch_size=4)
    assert info["steps"] == 2 and info["global_batch"] == 4 and info["model_skeleton"] == "mpii16"
    res = G.score(model, lec, real)
    assert res["pck"] == pytest.approx(info["eval"]["value"], abs=1e-9)
    assert res["oks_ap"] == pytest.approx(max(info["eval"]["oks_ap_gt_boxes"]["AP"], 0.0))
    assert res["pred"].shape == (12, 17, 2) and res["per_crop"].shape == (12,)
    moved = [not torch.equal(a, b) for a, b in zip(model.state_dict().values(), start.state_dict().values())
             if a.is_floating_point()]
    assert any(moved)
    with pytest.raises(ValueError, match="steps"):
        G.finetune(lec, real, 0, tmp_path / "none")


def _run_notebook(tmp_path, **params):
    import papermill as pm

    res = tmp_path / "results.json"
    pm.execute_notebook(str(NOTEBOOK), str(tmp_path / "out.ipynb"), kernel_name="python3", progress_bar=False,
                        cwd=str(NOTEBOOK.parent), parameters={"smoke": True, "device": "cpu",
                                                               "results_path": str(res), **params})
    return json.loads(res.read_text()), (tmp_path / "out.ipynb").read_text()


@pytest.mark.slow
@pytest.mark.notebooks
def test_notebook_smoke_on_the_real_samples(shared_data, tmp_path):
    out, _ = _run_notebook(tmp_path, data_root=str(shared_data))
    assert out["data_found"] == ["coco", "mpii"] and 0 < out["finetune_steps"] <= 10
    for fmt, crops in (("mpii", 5), ("coco", 12)):
        d = out["datasets"][fmt]
        assert d["crops"] == crops
        pcks = [d["before"]["05_hrnet"]["pck"], d["before"]["03_hourglass"]["pck"], d["finetuned"]["pck"],
                d["scratch"]["pck"]]
        assert all(0.0 <= v <= 1.0 for v in pcks)
        # fitting the crops it is scored on: a fine-tune does not lose ground on them
        assert d["finetuned"]["pck"] >= d["before"]["05_hrnet"]["pck"]
        assert all(v > 0 for v in d["train_seconds"].values())
    assert set(out["cross"]) == {"mpii->coco", "coco->mpii"}  # each dataset's models on the other's people
    assert all(0.0 <= v <= 1.0 for d in out["cross"].values() for v in d.values())
    coco = out["datasets"]["coco"]
    assert all(0.0 <= coco[k]["oks_ap"] <= 1.0 for k in ("finetuned", "scratch"))
    assert out["datasets"]["mpii"]["finetuned"]["oks_ap"] is None  # OKS only for COCO files
    # on drawn people the shipped model knows its sides
    cue = out["colour_cue"]["05_hrnet"]["drawn"]
    assert cue["as_labelled"] > cue["sides_exchanged"]


@pytest.mark.slow
@pytest.mark.notebooks
def test_notebook_runs_to_the_end_without_the_data(tmp_path):
    missing = tmp_path / "no_such_folder"
    out, text = _run_notebook(tmp_path, data_root=str(missing))
    assert out["data_found"] == [] and out["datasets"] == {}
    assert set(out["colour_cue"]) == {"05_hrnet", "03_hourglass"}  # the synthetic part still ran
    assert "NOTE: no MPII samples at" in text and "NOTE: no COCO samples at" in text
