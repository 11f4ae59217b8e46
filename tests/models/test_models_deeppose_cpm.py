"""DeepPose and CPM: the paper configurations' facts (layer sizes, strides, stages, receptive
fields), the cascade geometry, and the small CPU siblings."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from hypothesis import given, settings
from hypothesis import strategies as st

from posecourse.models import create_model, list_models
from posecourse.models.cpm import CPM, center_map
from posecourse.models.deeppose import DeepPoseCascade, crop_sub_images, sub_boxes


def test_registered():
    assert {"deeppose_alexnet", "deeppose_tiny", "cpm", "cpm_tiny"} <= set(list_models())


# ----------------------------------------------------------------------------- DeepPose
@pytest.fixture(scope="module")
def alexnet():
    torch.manual_seed(0)
    return create_model("deeppose_alexnet", num_joints=14).eval()


def test_deeppose_alexnet_layer_sizes_follow_the_paper(alexnet):
    # C(55x55x96) - LRN - P - C(27x27x256) - LRN - P - C(13x13x384) - C(13x13x384) - C(13x13x256) - P - F(4096) - F(4096) - 2K
    shapes = {}
    for name, m in alexnet.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear, nn.LocalResponseNorm, nn.MaxPool2d)):
            m.register_forward_hook(lambda mod, i, o, name=name: shapes.__setitem__(name, (type(mod).__name__, tuple(o.shape[1:]))))
    with torch.no_grad():
        out = alexnet(torch.zeros(2, 3, 220, 220))
    seq = list(shapes.values())
    assert seq == [
        ("Conv2d", (96, 55, 55)), ("LocalResponseNorm", (96, 55, 55)), ("MaxPool2d", (96, 27, 27)),
        ("Conv2d", (256, 27, 27)), ("LocalResponseNorm", (256, 27, 27)), ("MaxPool2d", (256, 13, 13)),
        ("Conv2d", (384, 13, 13)), ("Conv2d", (384, 13, 13)), ("Conv2d", (256, 13, 13)), ("MaxPool2d", (256, 6, 6)),
        ("Linear", (4096,)), ("Linear", (4096,)), ("Linear", (28,)),
    ]
    assert out.shape == (2, 14, 2)
    conv1 = alexnet.features[0]
    assert conv1.kernel_size == (11, 11) and conv1.stride == (4, 4)
    assert [m.p for m in alexnet.modules() if isinstance(m, nn.Dropout)] == [0.6, 0.6]


def test_deeppose_rejects_bad_images(alexnet):
    with pytest.raises(ValueError, match="images"):
        alexnet(torch.zeros(1, 1, 220, 220))


@pytest.mark.parametrize("size", [64, 96])
def test_deeppose_tiny_shapes_and_gradients(size):
    m = create_model("deeppose_tiny", num_joints=16, image_size=size)
    x = torch.rand(3, 3, size, size)
    y = m(x)
    assert y.shape == (3, 16, 2)
    y.square().sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    assert sum(p.numel() for p in m.parameters()) < 1_000_000


def test_crop_of_whole_image_box_is_the_image():
    img = torch.rand(2, 3, 20, 20)
    boxes = torch.tensor([-0.5, -0.5, 20.0, 20.0]).expand(2, 1, 4)  # the image box, pixel (x0, y0, w, h)
    crops = crop_sub_images(img, boxes, 20)
    assert crops.shape == (2, 3, 20, 20)
    torch.testing.assert_close(crops, img, atol=1e-5, rtol=0)


@settings(deadline=None, max_examples=25)
@given(x=st.integers(3, 28), y=st.integers(3, 28))
def test_crop_is_centred_on_the_box(x, y):
    # a bright pixel at (x, y); a 5-px box around it puts the pixel at the crop's centre
    H = W = 32
    img = torch.zeros(1, 3, H, W)
    img[0, :, y, x] = 1.0
    boxes = torch.tensor([x - 2.5, y - 2.5, 5.0, 5.0]).view(1, 1, 4)
    crop = crop_sub_images(img, boxes, 5)
    assert crop.shape == (1, 3, 5, 5)
    assert crop[0, 0, 2, 2] == pytest.approx(1.0, abs=1e-5)
    assert crop[0, 0].sum() == pytest.approx(1.0, abs=1e-4)


def test_sub_boxes_side_is_sigma_times_torso_diameter():
    pred = torch.zeros(1, 3, 2)
    pred[0, 0] = torch.tensor([-0.25, 0.0])  # 100 px wide image: joints 0 and 2 are 30 + 40 px apart
    pred[0, 2] = torch.tensor([0.05, 0.2])    # dx = 30 px, dy = 40 px (H = 200) -> diam 50 px
    boxes = sub_boxes(pred, (200, 100), (0, 2), sigma=0.5)     # pixel (x0, y0, w, h), centred on each joint
    px = (pred[0] + 0.5) * torch.tensor([100.0, 200.0]) - 0.5
    torch.testing.assert_close(boxes[0, :, :2] + boxes[0, :, 2:] / 2, px)
    torch.testing.assert_close(boxes[0, :, 2:], torch.tensor([25.0, 25.0]).expand(3, 2))


@settings(deadline=None, max_examples=30)
@given(seed=st.integers(0, 2**16))
def test_cascade_displacement_target_composes_back_to_the_truth(seed):
    g = torch.Generator().manual_seed(seed)
    prev, target = torch.rand(2, 5, 2, generator=g) - 0.5, torch.rand(2, 5, 2, generator=g) - 0.5
    boxes = sub_boxes(prev, (64, 48), (0, 3), sigma=1.0)
    d = DeepPoseCascade.displacement_target(target, prev, boxes, (64, 48))
    # in pixels, d is the displacement over the sub-box size, (y - y_prev) / (b_w, b_h) (paper Eq. 7)
    scale = torch.tensor([48.0, 64.0])
    torch.testing.assert_close(d * boxes[..., 2:], (target - prev) * scale)
    m = create_model("deeppose_tiny", num_joints=5, num_stages=2)
    torch.testing.assert_close(m.refine(prev, d, boxes, (64, 48)), target, atol=1e-5, rtol=0)


def test_cascade_stages_refine_by_the_predicted_displacement():
    torch.manual_seed(0)
    m = create_model("deeppose_tiny", num_joints=16, num_stages=3).eval()
    x = torch.rand(2, 3, 64, 64)
    preds, boxes = m.forward_stages(x)
    assert len(preds) == 3 and len(boxes) == 2
    assert all(p.shape == (2, 16, 2) for p in preds) and boxes[0].shape == (2, 16, 4)
    d, b = m.stage_displacement(1, x, preds[0])
    torch.testing.assert_close(preds[1], preds[0] + d * b[..., 2:] / 64)  # pixel box sizes / image side
    torch.testing.assert_close(m(x), preds[-1])
    # stage s >= 2 regresses one joint per sub-image: 2 outputs
    assert m.stages[1].regressor[-1].out_features == 2


def test_cascade_rejects_multi_joint_refiners():
    a, b = create_model("deeppose_tiny", num_joints=4), create_model("deeppose_tiny", num_joints=4)
    with pytest.raises(ValueError, match="stages"):
        DeepPoseCascade([a, b], (0, 1))


# ----------------------------------------------------------------------------- CPM
def test_cpm_paper_config_shapes_stride_and_stages():
    torch.manual_seed(0)
    m = create_model("cpm", num_joints=14)
    assert m.num_stages == 6 and m.stride == 8
    with torch.no_grad():
        out = m(torch.zeros(1, 3, 368, 368))
    assert len(out) == 6
    assert all(o.shape == (1, 15, 46, 46) for o in out)  # P + 1 = 15 maps (official MPII model), 368 / 8 = 46
    convs = [c for c in m.stage1 if isinstance(c, nn.Conv2d)]
    assert [(c.kernel_size[0], c.out_channels) for c in convs] == [(9, 128), (9, 128), (9, 128), (5, 32), (9, 512), (1, 512), (1, 15)]
    stage2 = [c for c in m.stages[0] if isinstance(c, nn.Conv2d)]
    assert stage2[0].in_channels == 32 + 15 + 1  # x' + b_{t-1} + centre map
    assert [(c.kernel_size[0], c.out_channels) for c in stage2] == [(11, 128), (11, 128), (11, 128), (1, 128), (1, 15)]
    assert m.pool_center.kernel_size == 9 and m.pool_center.stride == 8


def test_cpm_receptive_field_grows_with_stages():
    # stage 1: 167 px; each later stage adds three 11x11 convs at stride 8: +240 px
    assert create_model("cpm").receptive_fields() == [167, 407, 647, 887, 1127, 1367]
    assert create_model("cpm_tiny").receptive_fields() == [37, 109, 181]  # stride 4, 3x3 features, 7x7 stages


def test_cpm_tiny_receptive_field_matches_the_gradient_support():
    rf_mod = pytest.importorskip("posecourse.models.receptive_field")
    m = create_model("cpm_tiny")
    expected = m.receptive_fields()
    for s in range(3):
        r = rf_mod.theoretical_rf(m, (384, 384), (48, 48), select=lambda o, s=s: o[s])
        assert r.size == (expected[s], expected[s])


@pytest.mark.parametrize("size", [64, (64, 48)])
def test_cpm_tiny_shapes(size):
    H, W = (size, size) if isinstance(size, int) else size
    m = create_model("cpm_tiny", num_joints=16)
    out = m(torch.rand(2, 3, H, W))
    assert len(out) == 3 and all(o.shape == (2, 17, H // 4, W // 4) for o in out)


def test_cpm_centre_map_changes_later_stages_only():
    torch.manual_seed(0)
    m = create_model("cpm_tiny").eval()
    x = torch.rand(1, 3, 64, 64)
    c1 = center_map(1, 64, 64, 5.0, center=torch.tensor([[10.0, 10.0]]))
    c2 = center_map(1, 64, 64, 5.0, center=torch.tensor([[50.0, 50.0]]))
    with torch.no_grad():
        a, b = m(x, c1), m(x, c2)
    torch.testing.assert_close(a[0], b[0])
    assert not torch.allclose(a[1], b[1])


def test_center_map_peak():
    c = center_map(2, 9, 11, 2.0, center=torch.tensor([[3.0, 4.0], [5.0, 4.0]]))
    assert c.shape == (2, 1, 9, 11)
    assert c[0, 0, 4, 3] == 1.0 and c[1, 0, 4, 5] == 1.0 and c.max() == 1.0


def test_cpm_rejects_bad_input():
    m = create_model("cpm_tiny")
    with pytest.raises(ValueError, match="centermap"):
        m(torch.rand(1, 3, 64, 64), torch.rand(1, 1, 32, 32))
    with pytest.raises(ValueError, match="num_stages"):
        CPM(num_stages=0)
