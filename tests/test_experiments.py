"""The lecture recipes (posecourse.experiments): contracts, evaluation plumbing, a few training steps each."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from posecourse import experiments as X
from posecourse.metrics import coco_keypoint_eval


def small(lecture, **kw):
    return replace(X.RECIPES[lecture], n_val=8, batch_size=4, **kw)


def test_budget_and_results_contract(tmp_path):
    assert X.budget(120, smoke=False) == 120 and X.budget(120, smoke=True) == 4.0
    with pytest.raises(ValueError, match="train_seconds"):
        X.budget(0, smoke=False)
    path = tmp_path / "sub" / "r.json"
    X.write_results(path, lecture="05_hrnet", metric="PCK@0.2", value=0.5, train_seconds=3, steps=7)
    data = json.loads(path.read_text())
    assert data == {"lecture": "05_hrnet", "metric": "PCK@0.2", "value": 0.5, "train_seconds": 3.0, "steps": 7}
    with pytest.raises(ValueError, match="value"):
        X.write_results(path, lecture="x", metric="m", value=float("nan"), train_seconds=1)


def test_held_out_data_is_fixed_and_distinct_from_training():
    r = small("05_hrnet")
    a, b = X.make_data(r, seed=0), X.make_data(r, seed=1)
    torch.testing.assert_close(a.val["image"], b.val["image"])  # same held-out set whatever the seed
    train_a = next(iter(a.train))["image"]
    assert not torch.equal(train_a, next(iter(b.train))["image"])
    assert not any(torch.equal(train_a[0], v) for v in a.val["image"])


def test_coco_format_perfect_predictions_score_one():
    r = small("04_openpose")
    data = X.make_data(r, seed=0)
    K = 18
    people = []
    for i in range(len(data.val["image"])):
        n = int(data.val["num_people"][i])
        kp, vis = data.val["keypoints"][i, :n], data.val["visibility"][i, :n]
        xy = kp.numpy().copy()
        xy[vis.numpy() == 0] = np.nan
        people.append(np.concatenate([xy, np.where(vis.numpy() > 0, 1.0, 0.0)[..., None]], -1).reshape(n, K, 3))
    gt, dt = X.coco_format(data.val, people, "coco18")
    stats = coco_keypoint_eval(gt, dt)
    assert stats["AP"] == pytest.approx(1.0)
    # and shifted predictions score lower
    shifted = [p + np.array([3.0, 3.0, 0.0]) for p in people]
    assert coco_keypoint_eval(*X.coco_format(data.val, shifted, "coco18"))["AP"] < 0.9


def test_format_table_and_errors():
    text = X.format_table([{"model": "a", "params": 1234, "value": 0.5}, {"model": "bb", "params": 5, "value": 0.25}])
    assert "1,234" in text and "0.250" in text and text.count("\n") == 3
    batch = {"keypoints": torch.zeros(2, 1, 3, 2), "visibility": torch.tensor([[[2.0, 2.0, 0.0]], [[0.0, 0.0, 0.0]]])}
    err = X.per_image_error(torch.tensor([[[3.0, 4.0]] * 3, [[1.0, 1.0]] * 3]), batch)
    assert err.tolist() == [5.0, 0.0]


@pytest.mark.parametrize("lecture", list(X.RECIPES))
def test_each_recipe_trains_and_evaluates(lecture):
    r = small(lecture)
    data = X.make_data(r, seed=0)
    model, history = X.fit(r, data, steps=2, seed=0, progress=False)
    assert history.steps == 2 and all(np.isfinite(history.losses))
    res = X.evaluate(model, data, r)
    assert res["metric"] == r.metric_name and 0.0 <= res["value"] <= 1.0
    if r.kind == "heatmap" and len(res.get("per_stage", [])) > 1:
        assert len(res["per_stage"]) == len(model(data.val["image"][:1]))


def test_same_seed_same_numbers():
    r = small("05_hrnet")
    runs = []
    for _ in range(2):
        data = X.make_data(r, seed=3)
        model, h = X.fit(r, data, steps=3, seed=3, progress=False)
        runs.append((h.losses, X.evaluate(model, data, r)["value"]))
    assert runs[0] == runs[1]


def test_deeppose_cascade_and_raw_pixel_pitfall():
    r = small("01_deeppose")
    data = X.make_data(r, seed=0)
    stage1, _ = X.fit(r, data, steps=2, seed=0, progress=False)
    before = {k: v.clone() for k, v in stage1.state_dict().items()}
    cascade, h = X.fit_cascade(stage1, r, data, steps=2, seed=0, progress=False)
    for k, v in stage1.state_dict().items():  # stage 1 stays frozen, BatchNorm statistics included
        assert torch.equal(v, before[k]), k
    res = X.evaluate_cascade(cascade, data, r)
    assert len(res["per_stage"]) == 2 and h.steps == 2
    raw = X.fit_raw_pixels(r, data, steps=2, seed=0)
    assert 0.0 <= raw["value"] <= 1.0


def test_checkpoint_run_saves_snapshot_and_full_model_like_one_run(tmp_path, monkeypatch):
    from posecourse import checkpoints

    monkeypatch.setattr(X, "CHECKPOINTS", tmp_path)
    monkeypatch.setitem(X.RECIPES, "05_hrnet", small("05_hrnet"))  # batch 4, 8 held-out images
    full, snap = checkpoints.train_one("05_hrnet", steps=5, compare_images=8, seed=2, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["05_hrnet.pt", "05_hrnet_0k.pt"]
    assert (snap["steps"], snap["images"], full["steps"], full["images"]) == (2, 8, 5, 20)
    # snapshot on the way + the rest of the stream == one uninterrupted run of 5 steps
    r = X.RECIPES["05_hrnet"]
    one, _ = X.fit(r, X.make_data(r, seed=2), steps=5, seed=2, progress=False)
    shipped = X.load_trained("05_hrnet")
    for (k, a), b in zip(one.state_dict().items(), shipped.state_dict().values()):
        assert torch.equal(a, b), k
    early, _ = X.fit(r, X.make_data(r, seed=2), steps=2, seed=2, progress=False)
    for (k, a), b in zip(early.state_dict().items(), X.load_trained("05_hrnet", budget=8).state_dict().values()):
        assert torch.equal(a, b), k
    assert X.checkpoint_meta("05_hrnet")["value"] == pytest.approx(X.evaluate(shipped, X.make_data(r), r)["value"])
    with pytest.raises(ValueError, match="longer than the comparison budget"):
        checkpoints.train_one("05_hrnet", steps=2, compare_images=8, progress=False)


def test_live_vs_shipped_and_missing_checkpoints(tmp_path, monkeypatch):
    monkeypatch.setattr(X, "CHECKPOINTS", tmp_path)
    r = small("03_hourglass")
    data = X.make_data(r, seed=0)
    assert X.shipped_checkpoint(r, data) is None and X.load_trained("03_hourglass") is None
    assert "make checkpoints" in X.live_vs_shipped(None, {}, None)
    rows = X.comparison_table(["03_hourglass"])
    assert rows[0]["note"] == "no checkpoint 03_hourglass_32k.pt"
    with pytest.raises(ValueError, match="unknown 'nope'"):
        X.checkpoint_path("nope")

    class H:
        steps = 10
    text = X.live_vs_shipped(H, {"metric": "PCKh@0.5", "value": 0.5, "per_stage": [0.4, 0.5]},
                             {"metric": "PCKh@0.5", "value": 0.9, "per_stage": [0.8, 0.9], "steps": 100, "images": 3200})
    assert text.splitlines() == [
        "live run (above)         10 steps,       320 images: PCKh@0.5 = 0.500  (per stage 0.400, 0.500)",
        "shipped checkpoint      100 steps,     3,200 images: PCKh@0.5 = 0.900  (per stage 0.800, 0.900)"]


@pytest.mark.parametrize("lecture", list(X.RECIPES))
def test_shipped_checkpoints_are_trained_longer_and_their_numbers_hold(lecture):
    """What ships in checkpoints/: the full run (the STEPS table) and its common-budget snapshot, each
    loading strictly, a few MB, and scoring on the held-out set what its metadata claims."""
    from posecourse import checkpoints

    recipe = X.RECIPES[lecture]
    full, snap = X.checkpoint_meta(lecture), X.checkpoint_meta(lecture, X.COMPARE_IMAGES)
    assert full["steps"] == checkpoints.STEPS[lecture] and full["images"] == full["steps"] * recipe.batch_size
    assert snap["images"] == X.COMPARE_IMAGES and snap["steps"] < full["steps"] and snap["seed"] == full["seed"]
    for budget in (None, X.COMPARE_IMAGES):
        assert X.checkpoint_path(lecture, budget).stat().st_size < 4e6
    data = X.make_data(recipe)
    shipped = X.shipped_checkpoint(recipe, data)
    assert shipped["value"] == pytest.approx(full["value"], abs=0.01)
    assert shipped["value"] >= snap["value"] - 0.01  # training longer did not make it worse
