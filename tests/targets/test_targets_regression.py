"""DeepPose regression targets: N(y; b) round trips and cascade displacement targets."""
import pytest
import torch
from hypothesis import given, settings, strategies as st

from posecourse.targets import regression as reg

coord = st.floats(-500, 500, allow_nan=False)


@settings(deadline=None, max_examples=30)
@given(pts=st.lists(st.tuples(coord, coord), min_size=2, max_size=6),
       box=st.tuples(coord, coord, st.floats(1, 400), st.floats(1, 400)))
def test_normalize_round_trip(pts, box):
    y = torch.tensor(pts, dtype=torch.float64)[None]
    b = torch.tensor(box, dtype=torch.float64)[None]
    n = reg.encode(y, b)
    assert torch.allclose(reg.decode(n, b), y, atol=1e-6)


def test_normalized_box_corners():
    b = torch.tensor([[10.0, 20.0, 100.0, 50.0]])
    y = torch.tensor([[[10.0, 20.0], [110.0, 70.0], [60.0, 45.0]]])
    assert torch.allclose(reg.encode(y, b), torch.tensor([[[-0.5, -0.5], [0.5, 0.5], [0.0, 0.0]]]))


@settings(deadline=None, max_examples=30)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.2, 2.0))
def test_cascade_displacement_round_trip(seed, scale):
    g = torch.Generator().manual_seed(seed)
    y = torch.rand(3, 5, 2, generator=g, dtype=torch.float64) * 200
    prev = y + torch.randn(3, 5, 2, generator=g, dtype=torch.float64) * 5
    boxes = reg.cascade_boxes(prev, scale, torso=(0, 3))
    assert boxes.shape == (3, 5, 4)
    side = scale * (prev[:, 0] - prev[:, 3]).norm(dim=-1)
    assert torch.allclose(boxes[..., 2], side[:, None].expand(3, 5)) and torch.allclose(boxes[..., 3], boxes[..., 2])
    assert torch.allclose(boxes[..., :2] + boxes[..., 2:] / 2, prev)          # centred on the prediction
    d = reg.encode_displacement(y, prev, boxes)
    assert torch.allclose(reg.decode_displacement(d, prev, boxes), y)
    # equals N(y_i; b_i) - N(y_prev_i; b_i) (boxes per joint)
    n = reg.encode(y.unsqueeze(-2), boxes) - reg.encode(prev.unsqueeze(-2), boxes)
    assert torch.allclose(n.squeeze(-2), d)


def test_pose_diameter_default_is_bbox_diagonal():
    y = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]])
    assert reg.pose_diameter(y).item() == pytest.approx(5.0)


def test_bad_input():
    with pytest.raises(ValueError, match="keypoints"):
        reg.encode(torch.tensor([[float("nan"), 0.0]]), torch.tensor([0.0, 0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="boxes"):
        reg.encode(torch.zeros(2, 2), torch.tensor([0.0, 0.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match="scale"):
        reg.cascade_boxes(torch.rand(4, 2), 0.0)
    with pytest.raises(ValueError, match="prev_pred"):
        reg.encode_displacement(torch.zeros(4, 2), torch.zeros(3, 2), torch.ones(4, 4))
