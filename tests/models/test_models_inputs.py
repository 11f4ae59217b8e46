"""Every model checks its input at the top of ``forward`` and names itself, what it expects and what it got
(issue 16, point 4): never torch's 'mat1 and mat2 shapes cannot be multiplied' from deep inside. The
checks read shapes only, so they also run on the meta device (used to count parameters and FLOPs)."""
from __future__ import annotations

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from posecourse.models import create_model, list_models, model_card

# the input rule of each config is on its card (min_size, multiple, fixed_size); its input_size is valid
TINY = sorted(n for n in list_models() if not model_card(n).paper)


def _meta(name, **kw):
    with torch.device("meta"):
        return create_model(name, **kw)


def _accepts(name, h, w):
    card = model_card(name)
    if card.fixed_size:
        return (h, w) == card.input_size
    return min(h, w) >= card.min_size and h % card.multiple == 0 and w % card.multiple == 0


@pytest.mark.parametrize("name", list_models())
def test_valid_input_runs_on_the_meta_device(name):
    h, w = model_card(name).input_size
    assert _accepts(name, h, w)
    with torch.device("meta"):
        model = create_model(name)
        out = model(torch.empty(2, 3, h, w))
    heads = [t for o in (out if isinstance(out, list) else [out]) for t in (o.values() if isinstance(o, dict) else [o])]
    assert heads and all(t.device.type == "meta" and t.shape[0] == 2 for t in heads)


@pytest.mark.parametrize("name", list_models())
def test_wrong_channels_rank_and_dtype_name_the_model(name):
    h, w = model_card(name).input_size
    model = _meta(name)
    bad = {"channels": torch.empty(1, 1, h, w, device="meta"), "rank": torch.empty(3, h, w, device="meta"),
           "dtype": torch.empty(1, 3, h, w, dtype=torch.uint8, device="meta")}
    for why, x in bad.items():
        with pytest.raises(ValueError, match=rf"^{name} \(\w+\): images: expected a float tensor \(B, 3, H, W\)") as e:
            model(x)
        assert f"got shape {tuple(x.shape)}, {x.dtype}" in str(e.value), why
    with pytest.raises(ValueError, match=rf"^{name} .*got a list"):
        model([torch.empty(3, h, w, device="meta")])


def test_deeppose_names_its_fixed_input_size_instead_of_a_matmul_error():
    """Today a 224 x 224 crop fails inside the first Linear layer ('mat1 and mat2 shapes cannot be multiplied')."""
    model = _meta("deeppose_alexnet")
    with pytest.raises(ValueError, match=r"^deeppose_alexnet \(DeepPoseRegressor\): images: expected .*\(H, W\) = "
                                         r"\(220, 220\), got shape \(1, 3, 224, 224\)"):
        model(torch.empty(1, 3, 224, 224, device="meta"))
    tiny = create_model("deeppose_tiny", image_size=96)
    with pytest.raises(ValueError, match=r"\(H, W\) = \(96, 96\), got shape \(2, 3, 64, 64\)"):
        tiny(torch.zeros(2, 3, 64, 64))
    cascade = create_model("deeppose_tiny", num_stages=2)
    with pytest.raises(ValueError, match=r"^deeppose_tiny \(DeepPoseCascade\): images: .*\(64, 64\)"):
        cascade(torch.zeros(1, 3, 48, 48))


@pytest.mark.parametrize("name,size,rule", [
    ("hrnet_w32", (250, 192), "divisible by 32"), ("hourglass_2", (256, 200), "divisible by 64"),
    ("cpm", (370, 368), "divisible by 8"), ("openpose_vgg19", (368, 7), "H, W >= 8"),
    ("hrnet_tiny", (16, 16), "H, W >= 32 and divisible by 32"),
])
def test_sizes_the_strides_cannot_take_are_named(name, size, rule):
    with pytest.raises(ValueError, match=rf"^{name} .*{rule}, got shape \(1, 3, {size[0]}, {size[1]}\)"):
        _meta(name)(torch.empty(1, 3, *size, device="meta"))


def test_a_model_built_directly_names_its_class():
    from posecourse.models.hrnet import HRNet

    with pytest.raises(ValueError, match=r"^HRNet: images: "):
        HRNet(num_joints=3)(torch.empty(1, 3, 30, 30, device="meta"))


@pytest.mark.parametrize("name", TINY)
@settings(max_examples=12, deadline=None)
@given(h=st.one_of(st.integers(1, 100), st.sampled_from([32, 64, 96])),
       w=st.one_of(st.integers(1, 100), st.sampled_from([32, 64, 96])))
def test_tiny_models_run_or_refuse_clearly_on_cpu(name, h, w):
    """On real tensors: every size the check lets through runs and gives the documented output size;
    every other size is the check's ValueError, never an error from inside torch."""
    torch.manual_seed(0)
    model = _tiny_cache(name)
    x = torch.rand(1, 3, h, w)
    if not _accepts(name, h, w):
        with pytest.raises(ValueError, match=rf"^{name} \(\w+\): images: expected"):
            model(x)
        return
    with torch.no_grad():
        out = model(x)
    if name.startswith("deeppose"):
        assert out.shape == (1, 16, 2)
        return
    heads = [t for o in out for t in (o.values() if isinstance(o, dict) else [o])]
    assert all(t.shape[-2:] == (h // 4, w // 4) for t in heads), [t.shape for t in heads]


_CACHE: dict = {}


def _tiny_cache(name):
    if name not in _CACHE:
        _CACHE[name] = create_model(name).eval()
    return _CACHE[name]


@pytest.mark.parametrize("name", sorted(set(list_models()) - set(TINY)))
@settings(max_examples=8, deadline=None)
@given(h=st.one_of(st.integers(1, 400), st.sampled_from([64, 192, 220, 256, 368])),
       w=st.one_of(st.integers(1, 400), st.sampled_from([64, 192, 220, 256, 368])))
@example(h=64, w=64)
def test_paper_models_on_meta_accept_exactly_their_rule(name, h, w):
    model = _meta_cache(name)
    x = torch.empty(1, 3, h, w, device="meta")
    if _accepts(name, h, w):
        model(x)
    else:
        with pytest.raises(ValueError, match=rf"^{name} "):
            model(x)


def _meta_cache(name):
    key = ("meta", name)
    if key not in _CACHE:
        # eval mode: the smallest accepted input leaves 1 x 1 maps at an hourglass's bottom, where BatchNorm
        # in training mode cannot take batch statistics of a batch of one (a BatchNorm rule, not the input rule)
        _CACHE[key] = _meta(name).eval()
    return _CACHE[key]


# ---- issue 24: counts and dtypes --------------------------------------------------------------------

@pytest.mark.parametrize("name", TINY)
@pytest.mark.parametrize("value", ["17", 2.5, 0, -3, True, None.__class__])
def test_num_joints_must_be_a_positive_int(name, value):
    with pytest.raises(ValueError, match=rf"^{name}: num_joints: expected a positive int"):
        create_model(name, num_joints=value)


@pytest.mark.parametrize("name", TINY)
@pytest.mark.parametrize("dtype", [torch.float16, torch.float64, torch.bfloat16])
def test_half_or_double_input_into_a_float_model_is_named(name, dtype):
    h, w = model_card(name).input_size
    model = _tiny_cache(name)
    with pytest.raises(ValueError, match=rf"^{name} \(\w+\): images: {dtype}, but the model's weights are "
                                         r"torch.float32"):
        model(torch.zeros(1, 3, h, w, dtype=dtype))
    with torch.no_grad():  # converting either side works
        model.to(torch.float64)
        try:
            model(torch.zeros(1, 3, h, w, dtype=torch.float64))
        finally:
            model.to(torch.float32)
