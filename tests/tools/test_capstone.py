"""posecourse_tools.capstone: curve points (settings, compute, scores) and the JSON lecture 5 reads."""
import json

import pytest
import torch

from posecourse.models.compute import forward_macs
from posecourse.lectures import get_lecture
from posecourse_tools import capstone


@pytest.fixture(scope="module")
def val():
    v = capstone.heldout()
    return {k: v[k][:16] for k in ("image", "keypoints", "visibility")}


def test_train_point_settings_compute_and_scores(val):
    torch.set_num_threads(1)
    r = capstone.train_point("05_hrnet", 32, seed=3, batch_size=16, device="cpu", val=val)
    lec = get_lecture("05_hrnet")
    assert (r["lecture"], r["source"], r["images"], r["steps"], r["batch_size"], r["lr"], r["seed"]) == (
        "05_hrnet", "capstone run", 32, 2, 16, lec.lr, 3)
    fwd = forward_macs(lec.build_model(), 64)
    assert r["forward_macs_per_image"] == fwd and r["train_macs"] == 3 * fwd * 32
    assert set(r["scores"]) == {"own", "quarter", "dark"}
    for s in r["scores"].values():
        assert list(s) == [f"PCK@{t}" for t in capstone.THRESHOLDS]
        assert all(0.0 <= v <= 1.0 for v in s.values())
        assert s["PCK@0.2"] >= s["PCK@0.1"] >= s["PCK@0.05"]  # a looser threshold accepts more joints


def test_same_seed_same_point(val):
    torch.set_num_threads(1)
    a, b = (capstone.train_point("03_hourglass", 32, seed=0, device="cpu", val=val) for _ in range(2))
    assert a["scores"] == b["scores"]


@pytest.mark.parametrize("images", [0, 24, 40, 2.0])
def test_images_must_be_a_multiple_of_the_batch(images, val):
    with pytest.raises(ValueError, match="images"):
        capstone.train_point("03_hourglass", images, val=val)


def test_multi_person_lecture_is_refused(val):
    with pytest.raises(ValueError, match="04_openpose"):
        capstone.train_point("04_openpose", 16, val=val)


def test_update_replaces_runs_with_the_same_settings(tmp_path):
    base = {"lecture": "05_hrnet", "source": "capstone run", "images": 8000, "batch_size": 16, "lr": 5e-3, "seed": 1}
    other = {**base, "batch_size": 32}
    shipped = {**base, "source": "shipped snapshot", "images": 32000}
    path = tmp_path / "cap.json"
    capstone.update(path, [{**base, "v": 1}, {**other, "v": 1}], [shipped])
    doc = capstone.update(path, [{**base, "v": 2}], [shipped])
    assert json.loads(path.read_text()) == doc
    runs = [p for p in doc["points"] if p["source"] == "capstone run"]
    assert sorted((p["batch_size"], p["v"]) for p in runs) == [(16, 2), (32, 1)]
    assert [p["source"] for p in doc["points"]].count("shipped snapshot") == 1
    # shipped points of a lecture not recomputed this time are kept
    hg = {**shipped, "lecture": "03_hourglass"}
    capstone.update(path, [], [hg])
    doc = capstone.update(path, [], [{**shipped, "v": 3}])
    assert sorted((p["lecture"], p.get("v")) for p in doc["points"] if p["source"] == "shipped snapshot") == [
        ("03_hourglass", None), ("05_hrnet", 3)]


def test_model_kw_changes_the_config_and_is_part_of_the_key(val, tmp_path):
    torch.set_num_threads(1)
    kw = {"stages": [[1, 1, [8, 16]], [1, 1, [8, 16, 32]]]}
    r = capstone.train_point("05_hrnet", 16, device="cpu", val=val, model_kw=kw)
    small = get_lecture("05_hrnet").replace(model_kw=kw).build_model()
    assert r["model_kw"] == kw and r["forward_macs_per_image"] == forward_macs(small, 64)
    assert r["params"] == sum(p.numel() for p in small.parameters())
    plain = {**r, "model_kw": {}}
    doc = capstone.update(tmp_path / "c.json", [r, plain], [])
    assert len(doc["points"]) == 2
    with pytest.raises(ValueError, match="model_kw"):
        capstone.train_point("05_hrnet", 16, val=val, model_kw="stages")


def _stored_runs(lecture, stages=None):
    """PCK@0.2 (own decoder) by seed of the stored 8,000-image runs of one setting: the record's (``stages=None``,
    the record's learning rate and batch) or a config with branch widths ``stages``."""
    doc = json.loads(capstone.DEFAULT_OUT.read_text())
    rec = get_lecture(lecture)
    out = {}
    for p in doc["points"]:
        kw = p.get("model_kw") or {}
        widths = kw["stages"][-1][-1] if kw.get("stages") else None
        if (p["lecture"], p["source"], p["images"], p["lr"], p["batch_size"]) == (lecture, "capstone run", 8000, rec.lr,
                                                                                   rec.batch_size) and widths == stages:
            out[p["seed"]] = p["scores"]["own"]["PCK@0.2"]
    return out


def test_stored_seed_runs_back_lecture_5s_statements():
    """Lecture 5's section 8 states, over seeds 1-3 at 8,000 images: every hourglass seed above every seed of the small
    HRNet; at width 16, two branches above four on every seed; and doubling the two-branch width changing the mean far
    less than going from four branches to two. The stored runs must say so (a re-run that changes them fails here)."""
    hg, hr = _stored_runs("03_hourglass"), _stored_runs("05_hrnet")
    two16, two32 = _stored_runs("05_hrnet", [16, 32]), _stored_runs("05_hrnet", [32, 64])
    for runs in (hg, hr, two16):
        assert {1, 2, 3} <= set(runs), f"seeds 1-3 expected, stored: {sorted(runs)}"
    assert min(hg.values()) > max(hr.values())
    assert min(two16.values()) > max(hr.values())
    mean = lambda r: sum(r.values()) / len(r)
    assert abs(mean(two32) - mean(two16)) < 0.5 * (mean(two16) - mean(hr))


@pytest.mark.parametrize("kw, name", [({"batch_size": 0}, "batch_size"), ({"batch_size": 2.5}, "batch_size"),
                                      ({"lr": 0.0}, "lr")])
def test_train_point_reads_zero_as_zero(kw, name):
    """0 is a value (refused by name), never 'not given' (which would silently train at the record's value)."""
    with pytest.raises(ValueError, match=name):
        capstone.train_point("05_hrnet", 32, seed=0, device="cpu", val={}, **kw)


@pytest.mark.parametrize("name", ["01_deeppose", "02_cpm", "03_hourglass", "05_hrnet"])
@pytest.mark.parametrize("tmacs", [0.05, 0.5, 2.0])
def test_images_for_is_the_batch_multiple_nearest_the_compute(name, tmacs):
    """Equal compute: the images whose training MACs are nearest to the budget, in whole batches."""
    lec = get_lecture(name)
    images = capstone.images_for(name, tmacs)
    per_image = 3 * forward_macs(lec.build_model(), lec.data.image_size)
    assert images > 0 and images % lec.batch_size == 0
    assert abs(images * per_image - tmacs * 1e12) <= lec.batch_size * per_image / 2
    assert capstone.images_for(name, tmacs, batch_size=7) % 7 == 0


@pytest.mark.parametrize("tmacs", [0, -1.0, float("nan"), float("inf"), True, "1"])
def test_images_for_refuses_a_budget_that_is_not_positive(tmacs):
    with pytest.raises(ValueError, match="tmacs"):
        capstone.images_for("05_hrnet", tmacs)


def _sweep_choice(points, budget, name, seed=1):
    """Lecture 5's protocol: the rate with the best PCK@0.2 at ``seed``, and every seed's PCK@0.2 at that rate."""
    at = [p for p in points if round(p["train_macs"] / 1e12, 1) == budget and p["lecture"] == name]
    by_lr = {p["lr"]: p["scores"]["own"]["PCK@0.2"] for p in at if p["seed"] == seed}
    best = max(by_lr, key=by_lr.get)
    return best, sorted(by_lr), {p["seed"]: p["scores"]["own"]["PCK@0.2"] for p in at if p["lr"] == best}


def test_stored_sweep_backs_lecture_5s_equal_compute_statements():
    """Lecture 5's "What equal compute shows", read against ``lectures/05_hrnet_sweep.json``: every model's rate is
    inside the rates it tried, three seeds each; then the orderings the text states."""
    points = json.loads((capstone.DEFAULT_OUT.parent / "05_hrnet_sweep.json").read_text())["points"]
    seeds = {}
    for budget in (0.5, 2.0):
        for name in ("01_deeppose", "02_cpm", "03_hourglass", "05_hrnet"):
            best, tried, by_seed = _sweep_choice(points, budget, name)
            assert tried[0] < best < tried[-1], f"{name} at {budget} TMACs: best rate {best} at the edge of {tried}"
            assert {1, 2, 3} <= set(by_seed), f"{name} at {budget} TMACs: seeds {sorted(by_seed)}"
            seeds[budget, name[:2]] = list(by_seed.values())
    above = lambda b, x, y: min(seeds[b, x]) > max(seeds[b, y])    # every seed of x above every seed of y
    for b in (0.5, 2.0):
        assert all(above(b, "03", other) for other in ("01", "02", "05"))
        assert above(b, "01", "02") and above(b, "05", "02")
    assert above(0.5, "01", "05")
    assert not above(2.0, "01", "05") and not above(2.0, "05", "01")  # level: the ranges overlap
    gap = lambda b, x, y: sum(seeds[b, x]) / 3 - sum(seeds[b, y]) / 3
    assert gap(2.0, "01", "05") < gap(0.5, "01", "05")               # HRNet closes on DeepPose
    assert all(gap(2.0, other, "02") < gap(0.5, other, "02") for other in ("01", "03", "05"))  # CPM closes in


def test_stored_single_runs_back_lecture_5s_suspect_table():
    """The rows of lecture 5's suspect table that rest on one seed-1 run at 8,000 images beside the seed runs."""
    doc = json.loads(capstone.DEFAULT_OUT.read_text())

    def one(lecture, lr=None, batch=None, stages=None, t="PCK@0.2"):
        rec = get_lecture(lecture)
        for p in doc["points"]:
            kw = p.get("model_kw") or {}
            if (p["lecture"], p["source"], p["images"], p["seed"], p["lr"], p["batch_size"]) == (
                    lecture, "capstone run", 8000, 1, lr or rec.lr, batch or rec.batch_size) and kw.get("stages") == stages:
                return p["scores"]["own"] if t is None else p["scores"]["own"][t]
        raise AssertionError(f"no stored run {lecture} lr={lr} batch={batch} stages={stages}")

    hr = _stored_runs("05_hrnet")
    assert one("05_hrnet", batch=32) < min(hr.values())                       # batch 32: below every seed
    assert one("05_hrnet", lr=1e-3) < min(hr.values())                        # the paper's rate: below every seed
    assert hr[1] < one("05_hrnet", lr=1e-2) <= max(hr.values())               # 1e-2: above seed 1, inside the range
    w32 = [[1, 1, [32, 64]]]
    assert one("05_hrnet", lr=1e-2, stages=w32) <= min(_stored_runs("05_hrnet", [32, 64]).values())
    hg_seeds = [p["scores"]["own"] for p in doc["points"] if p["lecture"] == "03_hourglass" and p["images"] == 8000
                and p["lr"] == get_lecture("03_hourglass").lr]
    base, fast = one("03_hourglass", t=None), one("03_hourglass", lr=1e-2, t=None)
    for t in capstone.THRESHOLDS:                                             # higher at every threshold, by less
        spread = max(s[f"PCK@{t}"] for s in hg_seeds) - min(s[f"PCK@{t}"] for s in hg_seeds)
        assert 0 < fast[f"PCK@{t}"] - base[f"PCK@{t}"] < spread               # than the spread between seeds
    three16 = one("05_hrnet", stages=[[1, 1, [16, 32]], [1, 1, [16, 32, 64]]])
    three24 = one("05_hrnet", stages=[[1, 1, [24, 48]], [1, 1, [24, 48, 96]]])
    assert min(hr.values()) <= three16 <= max(hr.values())                    # width 16: inside the record's range
    two = list(_stored_runs("05_hrnet", [16, 32]).values()) + list(_stored_runs("05_hrnet", [32, 64]).values())
    assert max(hr.values()) < three24 < min(two)                              # width 24: between
