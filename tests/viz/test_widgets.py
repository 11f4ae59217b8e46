"""The lecture widgets' pure functions (what every widget shows), called without a browser,
and the widget shells' redraw on interaction."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from posecourse.models import create_model
from posecourse.skeletons import get_skeleton
from posecourse.targets import heatmap, paf
from posecourse.viz import widgets


@pytest.fixture(scope="module")
def cpm():
    torch.manual_seed(0)
    return create_model("cpm_tiny", num_joints=16).eval()


def test_receptive_fields_grow_stage_by_stage(cpm):
    image = torch.rand(3, 64, 64)
    rfs = widgets.receptive_fields_per_stage(cpm, image, (8, 8))
    sizes = [r["theoretical"].size[0] for r in rfs]
    assert len(rfs) == 3
    assert sizes[0] == 37 and sizes[1] == 64 and sizes[2] == 64  # 37 px, then clipped by the 64 px image
    for r in rfs:
        eff = r["effective"].map
        assert eff.shape == (64, 64) and torch.isfinite(eff).all() and eff.max() == pytest.approx(1.0)
        # the effective field lies inside the theoretical one
        assert (eff[r["theoretical"].map == 0] == 0).all()


def test_belief_maps_per_stage_picks_one_joint(cpm):
    outputs = cpm(torch.rand(2, 3, 64, 64))
    maps = widgets.belief_maps_per_stage(outputs, joint=5, index=1)
    assert maps.shape == (3, 16, 16)
    np.testing.assert_allclose(maps[2], outputs[2][1, 5].detach().numpy())
    with pytest.raises(ValueError, match="joint"):
        widgets.belief_maps_per_stage(outputs, joint=17)


def _two_people():
    sk = get_skeleton("coco18")
    rng = np.random.default_rng(0)
    base = rng.uniform(10, 30, size=(sk.num_joints, 2))
    kp = torch.tensor(np.stack([base, base + [40.0, 30.0]]), dtype=torch.float32)[None]  # (1, 2, K, 2)
    vis = torch.full((1, 2, sk.num_joints), 2.0)
    hm, _ = heatmap.encode(kp, vis, heatmap_size=(96, 96), stride=1, sigma=1.0, background=True)
    pf = paf.encode(kp, vis, sk.limbs, heatmap_size=(96, 96), stride=1, limb_width=1.0)
    return sk, kp, hm[0], pf[0]


def test_paf_explorer_data_scores_true_limbs_highest():
    sk, kp, hm, pf = _two_people()
    limb = 0
    d = widgets.paf_limb_explorer_data(hm, pf, sk, limb)
    assert d["field"].shape == (2, 96, 96) and d["E"].shape == (2, 2)
    assert len(d["matches"]) == 2
    j1, j2 = sk.limbs[limb]
    for i, j, e in d["matches"]:
        # each match connects the two joints of one person
        pa = np.argmin(np.linalg.norm(kp[0, :, j1].numpy() - d["a"][i], axis=1))
        pb = np.argmin(np.linalg.norm(kp[0, :, j2].numpy() - d["b"][j], axis=1))
        assert pa == pb and e > 0.8


def test_paf_explorer_rejects_bad_input():
    sk, _, hm, pf = _two_people()
    with pytest.raises(ValueError, match="pafs"):
        widgets.paf_limb_explorer_data(hm, pf[:4], sk, 0)
    with pytest.raises(ValueError, match="limb"):
        widgets.paf_limb_explorer_data(hm, pf, sk, 99)


@pytest.fixture(scope="module")
def hrnet():
    """hrnet_tiny with non-trivial BN running statistics (a few train-mode forwards), in train mode."""
    torch.manual_seed(0)
    model = create_model("hrnet_tiny", num_joints=16)
    with torch.no_grad():
        for _ in range(3):
            model(torch.rand(4, 3, 64, 64))
    return model


def _widths(model):
    return [[m.branches[i][0].conv1.in_channels for i in range(len(m.branches))] for m in model.exchange_units()]


@settings(max_examples=8, deadline=None)
@given(unit=st.integers(0, 2), k=st.integers(0, 3), channel=st.sampled_from(["max_var", "mean", 0, 5]),
       seed=st.integers(0, 2**16))
def test_exchange_terms_add_up_to_the_models_fused_output(hrnet, unit, k, channel, seed):
    n_out = len(hrnet.exchange_units()[unit].fuse_layers)
    k = min(k, n_out - 1)
    image = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(seed))
    d = widgets.exchange_terms(hrnet, image, unit=unit, k=k, channel=channel)
    widths = _widths(hrnet)[unit]
    assert len(d["inputs"]) == len(d["terms"]) == len(widths) == unit + 2
    for i, x in enumerate(d["inputs"]):  # X_i at its own resolution and width
        assert x.shape == (widths[i], 16 // 2**i, 16 // 2**i)
    for t in d["terms"]:  # every a(X_i, k) at resolution k and width k
        assert t.shape == (widths[k], 16 // 2**k, 16 // 2**k)
    torch.testing.assert_close(d["fused"], sum(d["terms"]))
    # the module's own output is ReLU of the sum of the terms
    torch.testing.assert_close(torch.relu(d["fused"]), d["output"], rtol=1e-5, atol=1e-6)
    assert d["max_error"] < 1e-5
    # the identity term is X_k itself, and the shown 2-D maps add up too (a channel / the mean are linear)
    torch.testing.assert_close(d["terms"][k], d["inputs"][k])
    torch.testing.assert_close(sum(d["maps"]["terms"]), d["maps"]["fused"], rtol=1e-5, atol=1e-5)
    assert d["maps"]["fused"].shape == (16 // 2**k, 16 // 2**k)
    assert hrnet.training  # the mode is restored


def test_exchange_terms_recomputed_from_the_fuse_layers(hrnet):
    """Independently of the hooks: apply the unit's fuse layers to the X_i by hand (eval mode)."""
    image = torch.rand(3, 64, 64)
    d = widgets.exchange_terms(hrnet, image, unit=1, k=2)
    mod = hrnet.exchange_units()[1]
    hrnet.eval()
    try:
        with torch.no_grad():
            by_hand = [x if a is None else a(x[None])[0] for a, x in zip(mod.fuse_layers[2], d["inputs"])]
    finally:
        hrnet.train()
    for t, h in zip(d["terms"], by_hand):
        torch.testing.assert_close(t, h)
    assert d["ops"] == ["2 strided 3x3\nconvs (/4)", "1 strided 3x3\nconv (/2)", "identity (i = k)"]


def test_exchange_terms_channel_choice_and_bad_input(hrnet):
    image = torch.rand(3, 64, 64)
    d = widgets.exchange_terms(hrnet, image, unit=0, k=1, channel="max_var")
    var = d["fused"].flatten(1).var(1)
    assert d["channel"] == int(var.argmax()) and "largest spatial variance" in d["channel_rule"]
    torch.testing.assert_close(d["maps"]["fused"], d["fused"][d["channel"]])
    m = widgets.exchange_terms(hrnet, image, unit=0, k=1, channel="mean")
    assert m["channel"] is None and "mean" in m["channel_rule"]
    torch.testing.assert_close(m["maps"]["fused"], m["fused"].mean(0))
    with pytest.raises(ValueError, match="k: 1 not in"):
        widgets.exchange_terms(hrnet, image, unit=-1, k=1)  # the last unit outputs Y_1 only
    with pytest.raises(ValueError, match="unit"):
        widgets.exchange_terms(hrnet, image, unit=3)
    with pytest.raises(ValueError, match="channel"):
        widgets.exchange_terms(hrnet, image, channel=999)
    with pytest.raises(ValueError, match="channel"):
        widgets.exchange_terms(hrnet, image, channel="median")
    with pytest.raises(ValueError, match="image"):
        widgets.exchange_terms(hrnet, torch.rand(1, 3, 64, 64))
    with pytest.raises(ValueError, match="exchange_units"):
        widgets.exchange_terms(create_model("cpm_tiny"), image)


def test_exchange_figure_shows_image_terms_and_sum(hrnet):
    d = widgets.exchange_terms(hrnet, torch.rand(3, 64, 64), unit=2, k=0)
    fig = widgets.exchange_figure(d)
    titles = [ax.get_title() for ax in fig.axes]
    assert any(t.startswith("input image") for t in titles)
    assert sum(t.startswith("a(X_") for t in titles) == 4  # one term per branch of the last unit
    assert any(t.startswith("Y_1 = sum") for t in titles) and any(t.startswith("ReLU(Y_1)") for t in titles)


def test_hrnet_viewer_builds_and_redraws(hrnet):
    pytest.importorskip("ipywidgets")
    w = widgets.hrnet_viewer(hrnet, torch.rand(3, 64, 64))
    assert w.last_png.startswith(b"\x89PNG")
    assert any("largest" in getattr(c, "value", "") or "varies most" in getattr(c, "value", "") for c in w.children)
    first = w.last_png
    w.controls["channel"].value = "mean"
    assert w.last_png != first
    second = w.last_png
    w.controls["unit"].value = 2  # the last unit: k is clamped to Y_1
    w.controls["k"].value = 2
    assert w.last_png != second and w.last_png.startswith(b"\x89PNG")


def test_explorer_redraws_on_interaction(cpm):
    pytest.importorskip("ipywidgets")
    outputs = cpm(torch.rand(2, 3, 64, 64))
    w = widgets.belief_stepper(outputs, torch.rand(2, 3, 64, 64), "mpii16", stride=4)
    first = w.last_png
    assert first.startswith(b"\x89PNG")
    w.controls["joint"].value = 0
    assert w.last_png != first
    bundle = w._repr_mimebundle_()
    assert "image/png" in bundle  # the static fallback travels with the widget view


def test_cascade_view_boxes_sit_on_stage_one_joints():
    from posecourse.models.deeppose import DeepPoseCascade, deeppose_tiny

    torch.manual_seed(0)
    sk = get_skeleton("mpii16")
    stage1, stage2 = deeppose_tiny(16), deeppose_tiny(1)
    cascade = DeepPoseCascade([stage1, stage2], diam_joints=sk.torso, sigma=1.0).eval()
    view = widgets.cascade_view(cascade, torch.rand(3, 64, 64))
    assert len(view["stages"]) == 2 and view["stages"][0].shape == (16, 2)
    assert view["boxes"].shape == (1, 16, 4) and view["crops"].shape == (1, 16, 3, 64, 64)
    centres = view["boxes"][0, :, :2] + view["boxes"][0, :, 2:] / 2
    torch.testing.assert_close(centres, view["stages"][0])  # b_i is centred on y_i^(1)
    side = (view["stages"][0][sk.torso[0]] - view["stages"][0][sk.torso[1]]).norm().clamp_min(1.0)
    torch.testing.assert_close(view["boxes"][0, :, 2], side.expand(16))  # sigma * diam(y), sigma = 1
    fig = widgets.cascade_figure(view, torch.rand(3, 64, 64), 10, sk)
    assert len(fig.axes) == 2
