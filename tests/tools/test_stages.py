"""posecourse_tools.stages: lecture 4's per-stage measurements and the JSON the lecture reads."""
import json

import pytest
import torch

from posecourse import evaluation as E
from posecourse.lectures import get_lecture
from posecourse.train import fit as F
from posecourse_tools import stages

LEC = get_lecture(stages.LECTURE)


@pytest.fixture(scope="module")
def val():
    v = F.make_data(LEC, seed=0).val
    n = len(v["image"])
    return {k: x[:12] if not isinstance(x, str) and len(x) == n else x for k, x in v.items()}


def test_stage_rows_on_exact_and_broken_outputs(val, monkeypatch):
    """Stage 1 = the codec's exact targets, stage 2 = the same part maps with zero fields: stage 1 has no error and
    the best AP; stage 2's error is all in its fields, and swapping in stage 1's fields gives stage 1's AP back."""
    t = LEC.codec.encode({k: val[k] for k in ("keypoints", "visibility")})
    exact = {"heatmaps": t["heatmap_target"], "paf": t["paf_target"]}
    broken = {"heatmaps": t["heatmap_target"], "paf": torch.zeros_like(t["paf_target"])}
    monkeypatch.setattr(E, "predict", lambda model, images: [exact, broken])
    s1, s2 = stages.stage_rows(None, LEC, val)
    assert (s1["stage"], s2["stage"]) == (1, 2)
    assert s1["heatmap_mse"] == s1["paf_mse"] == s2["heatmap_mse"] == 0.0
    assert s2["paf_mse"] == pytest.approx(float(t["paf_target"].pow(2).mean()))
    assert s1["AP"] > 0.7 and s2["AP"] < s1["AP"]   # the parser is not perfect on exact maps of crowded images
    assert s2["AP_with_stage1_fields"] == s1["AP"]                  # S^2 (= S^1) with L^1
    assert s2["AP_with_stage1_maps"] == s2["AP"]                    # S^1 (= S^2) with L^2
    assert s1["AP_with_stage1_fields"] == s1["AP_with_stage1_maps"] == s1["AP"]
    for grid, values in (("AP_by_paf_threshold", stages.PAF_THRESHOLDS), ("AP_by_threshold", stages.PEAK_THRESHOLDS)):
        assert list(s1[grid]) == [f"{v:g}" for v in values]
    assert s1["AP_by_paf_threshold"]["0.05"] == s1["AP_by_threshold"]["0.1"] == s1["AP"]   # the parser's defaults


def test_train_run_row(tmp_path):
    torch.set_num_threads(1)
    row = stages.train_run(0, steps=2, paf_factor=2.0)
    assert (row["source"], row["seed"], row["steps"], row["paf_factor"], row["model_kw"]) == ("run", 0, 2, 2.0, {})
    assert len(row["stages"]) == 2
    for s in row["stages"]:
        assert 0.0 <= s["AP"] <= 1.0 and s["heatmap_mse"] > 0 and s["paf_mse"] > 0


@pytest.mark.parametrize("kw, name", [({"paf_factor": 0}, "paf_factor"), ({"paf_factor": True}, "paf_factor"),
                                      ({"model_kw": [1]}, "model_kw")])
def test_train_run_refuses_bad_settings(kw, name):
    with pytest.raises(ValueError, match=name):
        stages.train_run(0, steps=1, **kw)


def test_update_replaces_the_run_with_the_same_settings(tmp_path):
    base = {"source": "run", "seed": 0, "steps": 10, "model_kw": {}, "paf_factor": 1.0, "threads": 1}
    path = tmp_path / "st.json"
    stages.update(path, [{**base, "v": 1}, {**base, "seed": 1, "v": 1}])
    runs = stages.update(path, [{**base, "v": 2}])
    assert json.loads(path.read_text())["runs"] == runs
    assert sorted((r["seed"], r["v"]) for r in runs) == [(0, 2), (1, 1)]


def test_cli_refuses_bad_seeds(tmp_path):
    with pytest.raises(SystemExit):
        stages.main(["--seeds", "0,x", "--out", str(tmp_path / "x.json")])


def _stored(runs, source="run", model_kw=None, paf_factor=1.0):
    return [r for r in runs if r["source"] == source and r["model_kw"] == (model_kw or {}) and r["paf_factor"] == paf_factor]


def test_stored_runs_back_lecture_4s_statements():
    """Lecture 4's "What the runs show", read against ``lectures/04_openpose_stages.json``: a re-run that changes
    one of these statements fails here, so the text is changed with it."""
    runs = json.loads(stages.DEFAULT_OUT.read_text())["runs"]
    pair = lambda r: (r["stages"][0], r["stages"][-1])
    record = _stored(runs)
    assert len({r["seed"] for r in record}) >= 5 and {r["steps"] for r in record} == {LEC.steps}
    for a, b in map(pair, record):                     # every seed: below in AP, its fields worse, L^2 alone costs AP
        assert b["AP"] < a["AP"] and b["paf_mse"] > a["paf_mse"] and b["AP_with_stage1_maps"] < a["AP"]
    n = len(record)
    assert sum(b["heatmap_mse"] < a["heatmap_mse"] for a, b in map(pair, record)) > n / 2   # maps better: most seeds
    assert 0 < sum(b["AP_with_stage1_fields"] < a["AP"] for a, b in map(pair, record)) < n  # S^2 alone: some seeds
    best = [max(b["AP_by_paf_threshold"].values()) < max(a["AP_by_paf_threshold"].values()) for a, b in map(pair, record)]
    assert n / 2 < sum(best) < n                       # at the best threshold: below on most seeds, not all
    heavier, k7 = _stored(runs, paf_factor=2.0), _stored(runs, model_kw={"stage_t": [2, 7, 24]})
    assert len(heavier) >= 3 and len(k7) >= 2
    assert all(b["AP"] < a["AP"] for a, b in map(pair, heavier + k7))
    seed1 = sorted((r for r in record + _stored(runs, "shipped snapshot") + _stored(runs, "shipped checkpoint")
                    if r["seed"] == 1), key=lambda r: r["steps"])
    gaps = [b["AP"] - a["AP"] for a, b in map(pair, seed1)]
    assert len(gaps) == 3 and gaps[0] < gaps[1] < gaps[2] < 0   # the gap shrinks with training, still below
