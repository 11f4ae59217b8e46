"""Training as a function: :func:`posecourse.train.run.run` on a :class:`~posecourse.train.run.RunConfig`, its two data
sources, and the config's checks (every bad field value is a ValueError naming the field)."""
from __future__ import annotations

import json
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from posecourse.train.command import _option
from posecourse.lectures import get_lecture
from posecourse.train.run import RealSource, RunConfig, RunResult, SyntheticSource, run
from posecourse.train.checkpoint import History

TINY = dict(steps=2, batch_size=2, val_size=2, progress=False)


def test_a_synthetic_run_returns_its_model_history_and_metrics_and_writes_nothing_without_out(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run(RunConfig("01_deeppose", **TINY))
    assert isinstance(result, RunResult) and result.file is None and not any(tmp_path.iterdir())
    assert isinstance(result.history, History) and result.history.steps == 2 and not result.model.training
    info = result.info
    assert info["steps"] == 2 and len(info["loss_curve"]) == 2 and info["config"]["lecture"] == "01_deeppose"
    assert info["eval"]["metric"] == "PDJ@0.2" and 0 <= info["eval"]["value"] <= 1
    assert info["eval_on"] == "held-out synthetic images (seed 10007, 2 images)"
    assert info["samples"]["duplicates_first_epoch"] == 0 and info["samples"]["seen_first_epoch"] == 4


def test_a_run_with_out_writes_what_it_returns(tmp_path):
    result = run(RunConfig("01", out=tmp_path, **TINY))
    assert result.file == tmp_path / "metrics.json"
    assert json.loads(result.file.read_text()) == json.loads(json.dumps(result.info))
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["run"]["lecture"] == "01_deeppose" and state["step"] == 2
    for k, v in result.model.state_dict().items():  # the checkpoint holds the model handed back
        torch.testing.assert_close(state["model"][k], v.cpu())
    ev = run(RunConfig("01", weights=tmp_path / "checkpoint.pt", out=tmp_path, val_size=2, progress=False))
    assert ev.history is None and ev.file == tmp_path / "eval_metrics.json" and ev.info["steps"] == 0
    assert ev.info["eval"] == result.info["eval"]  # the same weights on the same held-out images


def test_synthetic_source_owns_its_sets_and_layout():
    lec = get_lecture("04_openpose")
    src = SyntheticSource(lec, (64, 64), seed=1, length=6, n_val=3)
    assert len(src.train_set) == 6 and src.held_out["image"].shape[0] == 3
    assert src.skeleton.name == "coco18" and src.held_out["skeleton"] == "coco18"  # drawn COCO-17, converted
    assert src.lecture.data.image_size == 64 and src.describe().endswith("3 images)")
    assert src.for_model(None) == (src.skeleton, src.collate)
    with pytest.raises(ValueError, match="^model_skeleton: the data.s layout .coco18. stays"):
        src.for_model("mpii16")
    with pytest.raises(ValueError, match="^input_size: 64 x 48: the synthetic generator draws square images"):
        SyntheticSource(lec, (64, 48))


def test_real_source_on_the_shared_samples(shared_data):
    lec = get_lecture("05_hrnet")
    src = RealSource("coco", shared_data / "coco", lec, (64, 48), seed=0)
    assert len(src.train_set) == len(src.held_out) == 12 and src.skeleton.name == "coco17"
    assert tuple(src.held_out[0]["image"].shape) == (3, 64, 48)
    assert src.describe().startswith("the training annotations, un-augmented (12 samples")
    skel, convert = src.for_model("mpii16")
    batch = convert([src.held_out[i] for i in range(2)])
    assert skel.num_joints == 16 and batch["skeleton"] == "mpii16" and batch["keypoints"].shape[-2] == 16
    with pytest.raises(ValueError, match="^lecture: 04_openpose: bottom-up"):
        RealSource("mpii", shared_data / "mpii", get_lecture("04_openpose"), (96, 96))


def test_a_real_run_trains_on_the_crops(shared_data):
    result = run(RunConfig("05_hrnet", data="mpii", data_root=shared_data / "mpii", steps=1, batch_size=2,
                           progress=False))
    info = result.info
    assert info["data"] == "mpii" and info["steps"] == 1 and info["samples"]["dataset_size"] == 5
    assert info["eval"]["crops"] == 5 and 0 <= info["eval"]["value"] <= 1 and result.file is None


def test_the_command_names_the_option_a_field_error_came_from():
    assert _option("batch_size: 3 is the global batch") == "--batch-size: 3 is the global batch"
    assert _option("out: /x exists") == "--out: /x exists"
    assert _option("ann.json: not a COCO file") == "ann.json: not a COCO file"  # not a field: unchanged


# ---------------------------------------------------------------------------- RunConfig's checks
BAD = {
    "lecture": [None, "", 3],
    "data": ["COCO", "imagenet", None],
    "data_root": ["", 3, "  "],
    "steps": [-1, 2.5, "many", True],
    "batch_size": [0, -2, 1.5, "x"],
    "lr": [0, -1e-3, math.inf, math.nan, 2.0, "x", True],
    "lr_drops": [[0], [1, -3], ["x"], [None]],
    "preset": ["Paper", "big"],
    "input_size": [0, [64, 48, 32], [64, 0], "x", []],
    "model_skeleton": ["mpii", 16],
    "resume": ["maybe", 2],
    "flip_test": ["yes please", None],
    "input_norm": ["ImageNet", None],
    "input_mean": [[0.5, 0.5], [0.5, math.nan, 0.5], "x"],
    "input_std": [[1, 1, 0], [1, -1, 1], [1, 1]],
    "device": ["gpu", 3, "cuda:x"],
    "amp": ["bf32", True],
    "seed": [-1, 2**32, 0.5],
    "workers": [-1, "two"],
    "val_size": [0, -5],
    "progress": ["sometimes"],
}


@settings(deadline=None, max_examples=80)
@given(st.sampled_from(sorted(BAD)).flatmap(lambda f: st.tuples(st.just(f), st.sampled_from(BAD[f]))))
def test_a_bad_field_value_is_an_error_naming_the_field(case):
    field, value = case
    kw = {"lecture": "01", field: value}
    if field == "data_root":
        kw["data"] = "coco"
    with pytest.raises(ValueError) as e:
        RunConfig(**kw)
    assert str(e.value).startswith(f"{field}: "), str(e.value)


@settings(deadline=None, max_examples=40)
@given(steps=st.one_of(st.none(), st.integers(0, 10**6), st.integers(0, 99).map(str)),
       size=st.one_of(st.none(), st.integers(1, 512), st.lists(st.integers(1, 512), min_size=1, max_size=2)),
       drops=st.lists(st.integers(1, 10**6), max_size=3), seed=st.integers(0, 2**32 - 1))
def test_good_values_are_normalised(steps, size, drops, seed):
    cfg = RunConfig("01", steps=steps, input_size=size, lr_drops=drops, seed=seed)
    assert cfg.steps == (None if steps is None else int(steps)) and cfg.lr_drops == tuple(drops)
    assert cfg.input_size is None or (len(cfg.input_size) == 2 and all(v >= 1 for v in cfg.input_size))
    if isinstance(size, int):
        assert cfg.input_size == (size, size)


@pytest.mark.parametrize("kw, field", [
    (dict(data="mpii"), "data_root"),
    (dict(weights="w.pt", resume=True, out="o"), "weights"),
    (dict(weights="w.pt", init="i.pt"), "weights"),
    (dict(init="i.pt", resume=True, out="o"), "init"),
    (dict(resume=True), "resume"),
])
def test_settings_that_contradict_each_other_are_refused(kw, field):
    with pytest.raises(ValueError, match=f"^{field}: "):
        RunConfig("01", **kw)


def test_run_checks_out_before_any_work(tmp_path):
    (tmp_path / "metrics.json").write_text("{}")
    with pytest.raises(ValueError, match="^out: .*holds another run's results"):
        run(RunConfig("01", out=tmp_path, **TINY))
    with pytest.raises(ValueError, match="^flip_test: 01_deeppose's codec"):
        run(RunConfig("01", flip_test=True, **TINY))
    with pytest.raises(ValueError, match="^cfg: expected a RunConfig"):
        run({"lecture": "01"})
