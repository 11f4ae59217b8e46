"""Architecture descriptions and figures drawn from the model objects (posecourse.viz.architecture).

Each description is checked against the model it came from: block counts from the module structure,
resolutions against a real forward pass, the paths each paper is about (skips, stage inputs,
branches, fusions, the cascade), the paper configs on the meta device; and the figure is drawn with
the Agg backend (no browser, no display).
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import io
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from posecourse.lectures import LECTURES
from posecourse.models import create_model, list_models, model_card
from posecourse.models.receptive_field import theoretical_rf
from posecourse.viz.architecture import describe, describe_model, draw_architecture


def _cpu(name, **kw):
    torch.manual_seed(0)
    return create_model(name, **kw).eval()


def _key(arch):
    return [(b.name, b.type, b.channels, b.resolution, b.col, b.row) for b in arch.blocks], \
        [(p.src, p.dst, p.kind) for p in arch.paths]


@pytest.mark.parametrize("name", [lec.model for lec in LECTURES.values()])
def test_meta_description_equals_cpu_description(name):
    assert _key(describe_model(name)) == _key(describe(_cpu(name), (64, 64)))


def test_hrnet_branches_and_exchange_units():
    model = _cpu("hrnet_tiny", num_joints=16)
    arch = describe(model, (64, 64))
    units = model.exchange_units()
    assert arch.family == "hrnet" and arch.extras["num_units"] == len(units) == 3
    assert [u["branches"] for u in arch.extras["units"]] == [len(u.branches) for u in units] == [2, 3, 4]
    assert [u["outputs"] for u in arch.extras["units"]] == [len(u.fuse_layers) for u in units] == [2, 3, 1]
    assert len(arch.of_type("branch")) == 9 and len(arch.of_type("fuse")) == 6
    assert len(arch.paths_of("fusion")) == 2 * 2 + 3 * 3 + 4 * 1  # every a(X_i, k)
    assert len(arch.of_type("transition")) == 4  # 1 width adaptation + 3 new branches
    for b in arch.of_type("branch"):
        i = int(b.name[-1])
        assert b.resolution == (16 // 2**i,) * 2 and b.channels == 16 * 2**i
    fusions = {(p.src, p.dst): p.label for p in arch.paths_of("fusion")}
    assert fusions[("stage3.0.branches.2", "stage3.0.fuse0")] == "up x4"
    assert fusions[("stage3.0.branches.0", "stage3.0.fuse2")] == "down /4"
    assert fusions[("stage3.0.branches.1", "stage3.0.fuse1")] == "identity"
    with torch.no_grad():
        out = model(torch.rand(1, 3, 64, 64))[0]
    head = arch.block("final_layer")
    assert (head.channels, *head.resolution) == tuple(out.shape[1:])
    assert arch.extras["parameters"] == sum(p.numel() for p in model.parameters())
    model.train()
    describe(model, (64, 64))
    assert model.training  # describe() leaves the model's mode alone


def test_hrnet_w32_paper_config_on_meta():
    arch = describe_model("hrnet_w32", num_joints=17)
    assert arch.input_size == (256, 192) and arch.extras["num_units"] == 1 + 4 + 3
    assert len(arch.paths_of("fusion")) == 1 * 4 + 4 * 9 + 2 * 16 + 1 * 4
    assert {b.resolution for b in arch.of_type("branch")} == {(64, 48), (32, 24), (16, 12), (8, 6)}
    assert arch.block("final_layer").resolution == (64, 48)
    assert arch.extras["parameters"] == model_card("hrnet_w32").official_params


@settings(max_examples=8, deadline=None)
@given(h=st.integers(2, 8), w=st.integers(2, 8))
def test_hrnet_branch_resolutions_follow_the_input(h, w):
    arch = describe_model("hrnet_tiny", input_size=(32 * h, 32 * w))
    for b in arch.of_type("branch") + arch.of_type("fuse"):
        assert b.resolution == (8 * h // 2 ** (b.row - 2), 8 * w // 2 ** (b.row - 2))


def test_hourglass_skips_and_intermediate_supervision():
    model = _cpu("hourglass_tiny")
    arch = describe(model, (64, 64))
    S, D = model.num_stacks, model.hg[0].depth
    assert arch.extras["num_stacks"] == S and arch.extras["depth"] == D == 3
    assert len(arch.of_type("skip")) == len(arch.of_type("down")) == len(arch.of_type("up")) == S * D
    # every level: input -> skip residual -> add, plus the identity carried around each stack but the last
    assert len(arch.paths_of("skip")) == 2 * S * D + (S - 1)
    assert len(arch.paths_of("reinject")) == 4 * (S - 1)
    for s in range(S):
        for n in range(1, D + 1):
            down, up = arch.block(f"hg.{s}.down{n}"), arch.block(f"hg.{s}.up{n}")
            skip, add = arch.block(f"hg.{s}.skip{n}"), arch.block(f"hg.{s}.add{n}")
            assert down.resolution == up.resolution == (16 // 2 ** (D - n + 1),) * 2
            assert skip.resolution == add.resolution == (16 // 2 ** (D - n),) * 2
            assert any(p.src == skip.name and p.dst == add.name for p in arch.paths_of("skip"))
        assert arch.block(f"hg.{s}.bottom").resolution == (16 // 2**D,) * 2
    # rows are resolutions: every block with one sits in its row (the heads at 1/4, not drawn above it)
    for blk in arch.blocks:
        if blk.resolution is not None:
            assert blk.row == math.log2(64 // blk.resolution[0]), blk.name
            assert arch.row_labels[blk.row] == ("full" if blk.row == 0 else f"1/{64 // blk.resolution[0]}"), blk.name
    assert len({(b.col, b.row) for b in arch.blocks}) == len(arch.blocks)  # no two boxes drawn on top of each other
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 64, 64))
    heads = [arch.block(n) for n in arch.extras["heads"]]
    assert [(h.channels, *h.resolution) for h in heads] == [tuple(o.shape[1:]) for o in outs]


def test_hourglass_8_paper_config_on_meta():
    arch = describe_model("hourglass_8")
    assert len(arch.of_type("head")) == 8 and len(arch.of_type("skip")) == 8 * 4
    assert {arch.block(n).resolution for n in arch.extras["heads"]} == {(64, 64)}
    assert arch.extras["parameters"] == model_card("hourglass_8").official_params
    fig = draw_architecture(arch, max_stage=2)  # the stem and the first two stacks
    shown = [b for b in arch.blocks if b.stage <= 2]
    assert sum(isinstance(p, FancyBboxPatch) for p in fig.axes[0].patches) == len(shown) < len(arch.blocks)
    assert "2 of 8 shown" in fig.axes[0].get_title()


def test_cpm_stage_inputs_and_receptive_field():
    model = _cpu("cpm_tiny", num_joints=16)
    arch = describe(model, (64, 64))
    T = model.num_stages
    beliefs = [arch.block(n) for n in arch.extras["beliefs"]]
    assert len(beliefs) == T == 3 and all(b.type == "head" for b in beliefs)
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 64, 64))
    assert [(b.channels, *b.resolution) for b in beliefs] == [tuple(o.shape[1:]) for o in outs]
    concats = arch.of_type("concat")
    assert len(concats) == T - 1 and all(c.channels == 16 + 17 + 1 for c in concats)  # x' + (P + 1) beliefs + centre
    for t in range(2, T + 1):  # stage t's input: b_{t-1}, its image features x' and the centre map
        into = {p.kind: p.src for p in arch.paths if p.dst == f"stage{t}.concat"}
        assert into == {"belief": beliefs[t - 2].name, "features": f"x_heads.{t - 2}.0", "center": "pool_center"}
    rfs = arch.extras["receptive_field"]
    assert rfs == model.receptive_fields() and rfs[0] < rfs[1] < rfs[2]
    # the same numbers from the linearized network's gradient support, on an image large enough not to clip
    for t in (0, 1):
        size = theoretical_rf(model, (160, 160), (20, 20), select=lambda o, t=t: o[t]).size
        assert size == (rfs[t], rfs[t])


def test_cpm_paper_config_on_meta():
    arch = describe_model("cpm")
    heads = [arch.block(n) for n in arch.extras["beliefs"]]
    assert len(heads) == 6 and {h.resolution for h in heads} == {(46, 46)} and {h.channels for h in heads} == {17}
    assert {c.channels for c in arch.of_type("concat")} == {32 + 17 + 1}


def test_openpose_two_branches_per_stage():
    model = _cpu("openpose_tiny")
    arch = describe(model, (64, 64))
    T = arch.extras["num_stages"]
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 64, 64))
    assert T == len(outs) == 2 and len(arch.of_type("head")) == 2 * T
    for t, o in enumerate(outs, start=1):
        L, S = arch.block(f"L{t}"), arch.block(f"S{t}")
        assert (L.channels, *L.resolution) == tuple(o["paf"].shape[1:])
        assert (S.channels, *S.resolution) == tuple(o["heatmaps"].shape[1:])
    cat = arch.block("concat2")
    assert cat.channels == 38 + 19 + 32  # concat(L^1, S^1, F)
    assert {(p.src, p.kind) for p in arch.paths if p.dst == "concat2"} == {("L1", "belief"), ("S1", "belief"),
                                                                           ("features.conv4_4_CPM", "features")}
    arch = describe_model("openpose_vgg19")
    assert len(arch.of_type("head")) == 12 and {b.resolution for b in arch.of_type("head")} == {(46, 46)}
    assert arch.extras["parameters"] == model_card("openpose_vgg19").official_params


def test_deeppose_regressor_and_cascade():
    arch = describe(_cpu("deeppose_tiny"), (64, 64))
    convs = arch.of_type("conv")
    assert [c.resolution[0] for c in convs] == [32, 32, 16, 16, 8, 8, 4, 4]
    assert arch.of_type("head")[0].channels == 32 and arch.of_type("head")[0].resolution is None
    model = _cpu("deeppose_tiny", num_stages=2)
    arch = describe(model, (64, 64))
    assert arch.extras["num_stages"] == 2
    crop = arch.block("stage2.crop")
    assert (crop.channels, *crop.resolution) == (3, model.crop_size, model.crop_size)
    assert {(p.src, p.dst) for p in arch.paths_of("cascade")} == {("stages.0.regressor.1", "stage2.crop"),
                                                                  ("stages.0.regressor.1", "stage2.refine")}
    assert arch.block("stage2.refine").type == "head" and arch.block("stage2.refine").channels == 32
    alex = describe_model("deeppose_alexnet")
    assert [c.resolution[0] for c in alex.of_type("conv")] == [55, 27, 13, 13, 13]
    assert [b.channels for b in alex.blocks if b.type in ("fc", "head")] == [4096, 4096, 32]
    assert len(alex.of_type("norm")) == 2 and len(alex.of_type("pool")) == 3


@pytest.mark.parametrize("name", [lec.model for lec in LECTURES.values()])
def test_figure_draws_every_block_and_path(name):
    arch = describe_model(name)
    fig = draw_architecture(arch)
    ax = fig.axes[0]
    assert sum(isinstance(p, FancyBboxPatch) for p in ax.patches) == len(arch.blocks)
    assert sum(isinstance(p, FancyArrowPatch) for p in ax.patches) == len(arch.paths)
    assert arch.family in ax.get_title()
    if name == "cpm_tiny":  # the receptive-field panel: one bar per stage
        assert len(fig.axes) == 2 and [b.get_height() for b in fig.axes[1].patches] == arch.extras["receptive_field"]
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40)
    assert buf.getvalue().startswith(b"\x89PNG")


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="no describer for Linear"):
        describe(torch.nn.Linear(2, 2), (8, 8))
    with pytest.raises(ValueError, match="input_size"):
        describe(_cpu("hrnet_tiny"), (64, 0))


@pytest.mark.parametrize("name", list_models())
def test_figures_are_drawn_at_the_card_input_size(name):
    """describe_model's default size is the card's (the paper's crop for paper configs, 256 x 192 for HRNet)."""
    assert describe_model(name).input_size == model_card(name).input_size
