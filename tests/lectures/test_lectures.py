"""The lecture records and what reads them: registry completeness, data, fitting, evaluation,
reports, shipped checkpoints and the checkpoint trainer."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from posecourse.lectures import report
from posecourse.targets.codecs import Poses
from posecourse.evaluation import OKSAP, coco_format, evaluate, evaluate_cascade, per_image_error, predict
from posecourse.train.fit import fit, fit_cascade, fit_raw_pixels, make_data
from posecourse.lectures import COMPARE_IMAGES, LECTURES, get_lecture
from posecourse.metrics import coco_keypoint_eval
from posecourse.lectures import shipped
from paths import ROOT



def small(name, **kw):
    lec = get_lecture(name)
    return lec.replace(batch_size=4, data=lec.data.__class__(**{**lec.data.__dict__, "n_val": 8}), **kw)


# ----------------------------------------------------------------------------- the registry
def test_registry_is_complete():
    """Every record has its notebook, exercise (solution and student version), checkpoint and minimum;
    every notebook in lectures/ has a record."""
    notebooks = {p.stem for p in (ROOT / "lectures").glob("*.ipynb")}
    assert notebooks == set(LECTURES), f"notebooks without a record: {notebooks - set(LECTURES)}"
    for name, lec in LECTURES.items():
        assert lec.name == name and (ROOT / lec.notebook).is_file()
        assert (ROOT / "solutions" / f"{lec.exercise}.ipynb").is_file(), lec.exercise
        assert (ROOT / "exercises" / f"{lec.exercise}.ipynb").is_file(), lec.exercise
        assert lec.exercise.endswith(name.split("_", 1)[1]) and lec.exercise[2:4] == name[:2]
        for images in (None, COMPARE_IMAGES):
            assert shipped.checkpoint_path(name, images).is_file(), lec.checkpoint(images)
        assert 0 < lec.minimum < 1 and lec.steps > 0 and lec.checkpoint_steps > lec.steps
        assert lec.metric.name and callable(lec.loss) and hasattr(lec.codec, "encode") and hasattr(lec.codec, "decode")


def test_every_lecture_ends_with_questions_its_exercise_and_answers():
    """The last markdown cells ask 3-5 numbered questions and link the record's exercise; the answers are
    in solutions/answers.md under the lecture's heading, as many as there are questions."""
    import re

    import nbformat

    guide = (ROOT / "solutions" / "answers.md").read_text()
    sections = re.split(r"\n### ", guide)
    for name, lec in LECTURES.items():
        cells = [c.source for c in nbformat.read(ROOT / lec.notebook, as_version=4).cells if c.cell_type == "markdown"]
        tail = "\n".join(cells[-3:])
        assert f"../exercises/{lec.exercise}.ipynb" in tail, f"{name}: no link to its exercise at the end"
        questions = re.findall(r"^(\d+)\. ", tail, flags=re.M)
        assert 3 <= len(questions) <= 5 and questions == [str(i + 1) for i in range(len(questions))], \
            f"{name}: expected 3-5 numbered questions at the end, found {questions}"
        answers = [s for s in sections if s.startswith(f"Lecture {int(name[:2])} ")]
        assert len(answers) == 1, f"{name}: no '### Lecture {int(name[:2])} ...' answers in solutions/answers.md"
        numbered = re.findall(r"^(\d+)\. ", answers[0], flags=re.M)
        assert numbered == questions, f"{name}: questions {questions} but answers {numbered}"


def test_get_lecture_by_prefix_and_errors():
    assert get_lecture("03").name == "03_hourglass" and get_lecture("05_hrnet") is LECTURES["05_hrnet"]
    with pytest.raises(ValueError, match="unknown 'nope'"):
        get_lecture("nope")
    with pytest.raises(ValueError, match="unknown '0'"):  # ambiguous prefix
        get_lecture("0")


def test_codec_matches_the_models_output():
    """Each codec encodes at the resolution its model predicts (one place for that fact)."""
    for lec in LECTURES.values():
        size = lec.data.image_size
        with torch.device("meta"):
            out = lec.build_model()(torch.zeros(1, 3, size, size))
        last = out[-1] if isinstance(out, list) else out
        last = last["heatmaps"] if isinstance(last, dict) else last
        if hasattr(lec.codec, "heatmap_size"):
            assert tuple(last.shape[-2:]) == lec.codec.heatmap_size, lec.name
        else:
            assert tuple(last.shape) == (1, lec.num_joints, 2)


# ----------------------------------------------------------------------------- data, fit, evaluate
def test_held_out_data_is_fixed_and_distinct_from_training():
    lec = small("05_hrnet")
    a, b = make_data(lec, seed=0), make_data(lec, seed=1)
    torch.testing.assert_close(a.val["image"], b.val["image"])  # same held-out set whatever the seed
    train_a = next(iter(a.train))["image"]
    assert train_a.shape[0] == 4 and not torch.equal(train_a, next(iter(b.train))["image"])
    assert not any(torch.equal(train_a[0], v) for v in a.val["image"])


@pytest.mark.parametrize("name", list(LECTURES))
def test_each_lecture_trains_and_evaluates(name):
    lec = small(name)
    data = make_data(lec, seed=0)
    model, history = fit(lec, data, 2, seed=0, progress=False)
    assert history.steps == 2 and all(np.isfinite(history.losses))
    res = evaluate(model, lec, data)
    assert res["metric"] == lec.metric.name and 0.0 <= res["value"] <= 1.0
    out = model(data.val["image"][:1])
    if isinstance(out, list) and len(out) > 1:
        assert len(res["per_stage"]) == len(out) and res["per_stage"][-1] == res["value"]


def test_same_seed_same_numbers_at_a_step_budget():
    """Budgets are steps: two runs of the same seed give identical losses and metrics."""
    lec = small("05_hrnet")
    runs = []
    for _ in range(2):
        data = make_data(lec, seed=3)
        model, h = fit(lec, data, 3, seed=3, progress=False)
        runs.append((h.losses, evaluate(model, lec, data)["value"]))
    assert runs[0] == runs[1]


def test_fit_rejects_a_time_budget_or_bad_steps():
    lec = small("03_hourglass")
    data = make_data(lec)
    for bad in (0, -1, 2.5, True, "10"):
        with pytest.raises(ValueError, match="steps"):
            fit(lec, data, bad, progress=False)


def test_deeppose_cascade_and_raw_pixel_pitfall():
    lec = small("01_deeppose")
    data = make_data(lec, seed=0)
    stage1, _ = fit(lec, data, 2, seed=0, progress=False)
    before = {k: v.clone() for k, v in stage1.state_dict().items()}
    cascade, h = fit_cascade(stage1, lec, data, 2, seed=0, progress=False)
    for k, v in stage1.state_dict().items():  # stage 1 stays frozen, BatchNorm statistics included
        assert torch.equal(v, before[k]), k
    res = evaluate_cascade(cascade, lec, data)
    assert len(res["per_stage"]) == 2 and h.steps == 2
    assert res["per_stage"][0] == evaluate(stage1, lec, data)["value"]  # stage 1 of the cascade is the regressor
    raw = fit_raw_pixels(lec, data, 2, seed=0)
    assert 0.0 <= raw["value"] <= 1.0


def test_coco_format_perfect_predictions_score_one():
    lec = small("04_openpose")
    data = make_data(lec, seed=0)
    people = []
    for i in range(len(data.val["image"])):
        n = int(data.val["num_people"][i])
        kp, vis = data.val["keypoints"][i, :n].numpy().copy(), data.val["visibility"][i, :n].numpy()
        kp[vis == 0] = np.nan
        people.append(np.concatenate([kp, np.where(vis > 0, 1.0, 0.0)[..., None]], -1))
    assert OKSAP()(Poses.from_people(people, 18), data.val)["value"] == pytest.approx(1.0)
    gt, dt = coco_format(data.val, Poses.from_people(people, 18), "coco18")
    assert coco_keypoint_eval(gt, dt)["AP"] == pytest.approx(1.0)
    shifted = [p + np.array([3.0, 3.0, 0.0]) for p in people]
    assert OKSAP()(Poses.from_people(shifted, 18), data.val)["value"] < 0.9


def test_predict_gathers_stages_in_batches():
    lec = small("02_cpm")
    model = lec.build_model().eval()
    images = torch.rand(5, 3, 64, 64)
    out = predict(model, images, batch_size=2)
    with torch.no_grad():
        ref = model(images)
    assert len(out) == len(ref) and all(torch.allclose(a, b, atol=1e-5) for a, b in zip(out, ref))


# ----------------------------------------------------------------------------- reports
def test_results_contract_and_tables(tmp_path):
    path = tmp_path / "sub" / "r.json"
    report.write_results(path, lecture="05_hrnet", metric="PCK@0.2", value=0.5, train_seconds=3, steps=7)
    assert json.loads(path.read_text()) == {"lecture": "05_hrnet", "metric": "PCK@0.2", "value": 0.5,
                                            "train_seconds": 3.0, "steps": 7}
    with pytest.raises(ValueError, match="value"):
        report.write_results(path, lecture="x", metric="m", value=float("nan"), train_seconds=1)
    text = report.format_table([{"model": "a", "params": 1234, "value": 0.5}, {"model": "bb", "params": 5, "value": 0.25}])
    assert "1,234" in text and "0.250" in text and text.count("\n") == 3
    batch = {"keypoints": torch.zeros(2, 1, 3, 2), "visibility": torch.tensor([[[2.0, 2.0, 0.0]], [[0.0, 0.0, 0.0]]])}
    assert per_image_error(torch.tensor([[[3.0, 4.0]] * 3, [[1.0, 1.0]] * 3]), batch).tolist() == [5.0, 0.0]


def test_live_vs_shipped_and_missing_checkpoints(tmp_path, monkeypatch):
    monkeypatch.setattr(shipped, "checkpoint_dir", lambda: tmp_path)
    lec = small("03_hourglass")
    assert shipped.shipped_checkpoint(lec, make_data(lec)) is None and shipped.load_trained("03_hourglass") is None
    assert "posecourse_tools.checkpoints" in report.live_vs_shipped(None, {}, None)
    assert report.comparison_table(["03_hourglass"])[0]["note"] == "no checkpoint 03_hourglass_32k.pt"

    class H:
        steps = 10
    text = report.live_vs_shipped(H, {"metric": "PCKh@0.5", "value": 0.5, "per_stage": [0.4, 0.5]},
                                  {"metric": "PCKh@0.5", "value": 0.9, "per_stage": [0.8, 0.9], "steps": 100, "images": 3200})
    assert text.splitlines() == [
        "live run (above)         10 steps,       320 images: PCKh@0.5 = 0.500  (per stage 0.400, 0.500)",
        "shipped checkpoint      100 steps,     3,200 images: PCKh@0.5 = 0.900  (per stage 0.800, 0.900)"]


# ----------------------------------------------------------------------------- checkpoints
def test_checkpoint_run_saves_snapshot_and_full_model_like_one_run(tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT))
    from posecourse_tools import checkpoints as trainer

    lec = small("05_hrnet")
    monkeypatch.setattr(shipped, "checkpoint_dir", lambda: tmp_path)
    full, snap = trainer.train_one("05_hrnet", steps=5, compare_images=8, seed=2, progress=False, lecture=lec,
                                   out=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["05_hrnet.pt", "05_hrnet_0k.pt"]
    assert (snap["steps"], snap["images"], full["steps"], full["images"]) == (2, 8, 5, 20)
    # snapshot on the way + the rest of the stream == one uninterrupted run of 5 steps
    one, _ = fit(lec, make_data(lec, seed=2), 5, seed=2, progress=False)
    for (k, a), b in zip(one.state_dict().items(), shipped.load_trained("05_hrnet").state_dict().values()):
        assert torch.equal(a, b), k
    early, _ = fit(lec, make_data(lec, seed=2), 2, seed=2, progress=False)
    for (k, a), b in zip(early.state_dict().items(), shipped.load_trained("05_hrnet", images=8).state_dict().values()):
        assert torch.equal(a, b), k
    loaded = shipped.load_trained("05_hrnet")
    assert shipped.checkpoint_meta("05_hrnet")["value"] == pytest.approx(evaluate(loaded, lec, make_data(lec))["value"])
    with pytest.raises(ValueError, match="longer than the comparison budget"):
        trainer.train_one("05_hrnet", steps=2, compare_images=8, progress=False, lecture=lec, out=tmp_path)


@pytest.mark.parametrize("name", list(LECTURES))
def test_shipped_checkpoints_are_trained_longer_and_their_numbers_hold(name):
    """What ships in posecourse/checkpoints/: the full run (checkpoint_steps) and its common-budget snapshot,
    each loading strictly, a few MB, and scoring on the held-out set what its metadata claims."""
    lec = get_lecture(name)
    full, snap = shipped.checkpoint_meta(name), shipped.checkpoint_meta(name, COMPARE_IMAGES)
    assert full["steps"] == lec.checkpoint_steps and full["images"] == full["steps"] * lec.batch_size
    assert snap["images"] == COMPARE_IMAGES and snap["steps"] < full["steps"] and snap["seed"] == full["seed"]
    for images in (None, COMPARE_IMAGES):
        assert shipped.checkpoint_path(name, images).stat().st_size < 4e6
    result = shipped.shipped_checkpoint(lec, make_data(lec))
    assert result["value"] == pytest.approx(full["value"], abs=0.01)
    assert result["value"] >= snap["value"] - 0.01  # training longer did not make it worse
    assert result["value"] >= lec.minimum  # the shipped model meets the live run's minimum


def test_settings_validate_papermill_strings():
    lec = get_lecture("03_hourglass")
    s = lec.settings(seed="3", train_steps=None, device="auto", smoke="False", results_path="None")
    assert (s.seed, s.steps, s.smoke, s.results_path) == (3, lec.steps, False, None)
    assert lec.settings(smoke="true").steps == lec.smoke_steps and lec.settings(train_steps="12").steps == 12
    for kw, name in (({"smoke": "maybe"}, "smoke"), ({"train_steps": "2.5"}, "train_steps"),
                     ({"train_steps": 0}, "train_steps"), ({"device": "gpu7"}, "device"), ({"seed": "x"}, "seed")):
        with pytest.raises(ValueError, match=name):
            lec.settings(**kw)
    assert get_lecture("01").settings().extra("cascade") == get_lecture("01").extra_steps["cascade"]


def test_use_shipped_setting_is_validated_and_means_the_checkpoints_steps():
    lec = get_lecture("02_cpm")
    run = lec.settings(use_shipped="True", smoke="true")
    assert run.use_shipped and run.smoke and run.steps == lec.checkpoint_steps and run.label == "shipped checkpoint"
    assert "use_shipped=True" in str(run) and f"{lec.checkpoint_steps:,} optimizer steps" in str(run)
    assert not lec.settings(use_shipped="no").use_shipped and lec.settings().label == "live run"
    with pytest.raises(ValueError, match="use_shipped"):
        lec.settings(use_shipped="maybe")
    with pytest.raises(ValueError, match="train_steps"):  # two parameters that contradict each other
        lec.settings(use_shipped=True, train_steps="12")


def test_train_or_load_gives_the_same_variables_both_ways(tmp_path, monkeypatch):
    """The slow-laptop mode: the shipped model and a history with its steps; live: fit's own run."""
    lec = get_lecture("03_hourglass")
    data = make_data(small("03_hourglass"))
    model, history = shipped.train_or_load(lec.settings(use_shipped=True), data)
    meta = shipped.checkpoint_meta(lec.name)
    assert not model.training and history.steps == meta["steps"] == lec.checkpoint_steps and history.losses == []
    for (k, a), b in zip(model.state_dict().items(), shipped.load_trained(lec.name).state_dict().values()):
        assert torch.equal(a, b), k
    assert "no training here" in report.training_line(history) and history.plot() is not None
    assert report.live_vs_shipped(history, {"metric": "m", "value": 0.5}, {"metric": "m", "value": 0.5, "steps": 10,
                                                                          "images": 320}).startswith("shipped (use_shipped)")
    tiny = small("03_hourglass")
    live, h = shipped.train_or_load(tiny.settings(train_steps=2), data, progress=False)
    assert h.steps == 2 and len(h.losses) == 2 and report.training_line(h).startswith("2 steps in")
    monkeypatch.setattr(shipped, "checkpoint_dir", lambda: tmp_path)
    with pytest.raises(FileNotFoundError, match="use_shipped.*posecourse_tools.checkpoints --only 03"):
        shipped.train_or_load(lec.settings(use_shipped=True), data)


def test_the_printed_recipe_is_what_fit_runs(monkeypatch):
    """run.plan() prints the record's optimizer, learning rate, batch size and steps; fit builds exactly that
    optimizer (train's default, given the record's lr) and draws batches of that size."""
    from posecourse.lectures import OPTIMIZER

    lec = small("01_deeppose", lr=3e-3)
    plan = lec.settings(train_steps=3).plan()
    assert f"Adam(lr={lec.lr:g}, betas=(0.9, 0.999)" in plan and f"batch      {lec.batch_size} images" in plan
    assert "3 optimizer steps = 12 images" in plan and lec.model in plan
    built = []

    class Spy(torch.optim.Adam):
        def __init__(self, params, **kw):
            built.append(kw)
            super().__init__(params, **kw)

    assert OPTIMIZER == "torch.optim.Adam"
    monkeypatch.setattr(torch.optim, "Adam", Spy)
    data = make_data(lec)
    _, h = fit(lec, data, 3, progress=False)
    assert built == [{"lr": lec.lr}] and h.lrs == [lec.lr] * 3
    assert next(iter(data.train))["image"].shape[0] == lec.batch_size


def test_show_source_renders_the_running_code():
    from posecourse.targets import paf
    from posecourse.viz.source import source_html, source_text

    text = source_text(paf.line_integral)
    assert text.startswith("def line_integral(") and "posecourse.targets.paf.line_integral" in source_html(paf.line_integral)
    part = source_text(paf.assemble, start="def assemble", stop='"""')
    assert part.splitlines()[0].startswith("def assemble") and '"""' not in part.splitlines()[-1]
    with pytest.raises(ValueError, match="start"):
        source_text(paf.assemble, start="no such line")


def test_source_listings_name_what_they_show_and_the_training_step_exists(monkeypatch):
    """show_source stores which object (and lines) it shows, so a test can recompute a stored listing; the
    training step's listing markers are still in the library's code."""
    from posecourse.models.cpm import CPM
    from posecourse.viz import source

    assert source.resolve(source.source_ref(CPM.forward)) is CPM.forward
    assert source.source_ref(CPM.forward) == "posecourse.models.cpm:CPM.forward"
    with pytest.raises(ValueError, match="ref"):
        source.resolve("no_colon")
    for ref, start, stop in source.TRAINING_STEP:
        text = source.source_text(source.resolve(ref), start, stop)
        assert text.strip()
    step = "\n".join(source.source_text(source.resolve(ref), start, stop) for ref, start, stop in source.TRAINING_STEP[1:])
    assert all(k in step for k in ("net(inputs)", "loss_fn(outputs, batch)", ".backward()", "step(optimizer)"))
    shown = []
    monkeypatch.setattr(source, "display", lambda obj, metadata=None: shown.append((repr(obj), metadata)))
    source.show_source(CPM.forward, start="beliefs = [")
    (text, meta), = shown
    assert text == source.source_text(CPM.forward, start="beliefs = [")
    assert meta == {source.SOURCE_KEY: {"object": "posecourse.models.cpm:CPM.forward", "start": "beliefs = [",
                                        "stop": None}}
