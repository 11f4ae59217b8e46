"""posecourse.models.compute: forward MACs counted on the meta device, training MACs = 3 x forward x images."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from posecourse.models.compute import forward_flops, forward_macs, training_macs
from posecourse.models import create_model


@settings(max_examples=15, deadline=None)
@given(c_in=st.integers(1, 8), c_out=st.integers(1, 8), k=st.sampled_from([1, 3, 5]), stride=st.integers(1, 2),
       h=st.integers(8, 24), w=st.integers(8, 24))
def test_conv_macs_match_the_formula(c_in, c_out, k, stride, h, w):
    conv = torch.nn.Conv2d(3, c_in, 1)
    net = torch.nn.Sequential(conv, torch.nn.Conv2d(c_in, c_out, k, stride, k // 2))
    h2, w2 = (h + 2 * (k // 2) - k) // stride + 1, (w + 2 * (k // 2) - k) // stride + 1
    expected = 3 * c_in * h * w + c_in * c_out * k * k * h2 * w2
    assert forward_macs(net, (h, w)) == expected
    assert forward_flops(net, (h, w)) == 2 * expected


def test_model_is_left_unchanged():
    model = create_model("hrnet_tiny", num_joints=16)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    macs = forward_macs(model, 64)
    assert 1e7 < macs < 1e8, macs
    assert next(model.parameters()).device.type == "cpu" and model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_hrnet_w32_counts_multiply_adds_near_the_papers_7_1():
    """The paper's 7.1 "GFLOPs" for W32 at 256 x 192 is a count of multiply-adds: our MACs are near it,
    our FLOPs twice as far."""
    with torch.device("meta"):
        model = create_model("hrnet_w32", num_joints=17)
    macs = forward_macs(model, (256, 192))
    assert abs(macs / 1e9 - 7.1) < 1.0 < abs(2 * macs / 1e9 - 7.1), macs


def test_training_macs_is_three_forwards_per_image():
    assert training_macs(10.0, 4) == 120.0
    assert training_macs(10.0, 4, backward_factor=1.0) == 80.0
    assert training_macs(5, 0) == 0.0


@pytest.mark.parametrize("bad", [-1, 2.5, True, "8"])
def test_training_macs_rejects_bad_images(bad):
    with pytest.raises(ValueError, match="images"):
        training_macs(10.0, bad)


@pytest.mark.parametrize("bad", [0, (64,), (64, -1), "64", (64.0, 64)])
def test_forward_macs_rejects_bad_sizes(bad):
    with pytest.raises(ValueError, match="input_size"):
        forward_macs(torch.nn.Conv2d(3, 4, 3), bad)


def test_forward_macs_rejects_non_modules():
    with pytest.raises(ValueError, match="model"):
        forward_macs(lambda x: x, 8)
