"""load_official: official state-dict key layouts (../shared/reference/*_state_dict.json) load
strictly into our models: every official key used once, every tensor of ours set to it."""
from __future__ import annotations

import json

import pytest
import torch

from posecourse.models import create_model
from posecourse.models.official import load_official, official_key_map


def _random_state(layout, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {k: (torch.randint(0, 100, (), generator=g) if k.endswith("num_batches_tracked")
                else torch.randn(*shape, generator=g)) for k, shape in layout}


@pytest.mark.parametrize("name", ["hrnet_w32", "hourglass_8", "openpose_vgg19"])
def test_official_layout_loads_exactly(name, shared_reference):
    layout = json.loads((shared_reference / f"{name}_state_dict.json").read_text())
    state = _random_state(layout)
    if name.startswith("hourglass"):  # pytorch-pose checkpoints: {"state_dict": {"module." + key: ...}}
        ckpt = {"state_dict": {"module." + k: v for k, v in state.items()}, "epoch": 1}
    else:
        ckpt = state
    torch.manual_seed(0)
    model = create_model(name)
    load_official(model, ckpt)
    ours = model.state_dict()
    key_map = official_key_map(model, state)
    assert len(set(key_map.values())) == len(key_map) == len(ours)  # a bijection: each key used once
    for k, v in state.items():
        assert torch.equal(ours[key_map[k]], v), k

def test_openpose_rename_rules(shared_reference):
    layout = json.loads((shared_reference / "openpose_vgg19_state_dict.json").read_text())
    state = _random_state(layout, seed=1)
    model = load_official(create_model("openpose_vgg19"), state)
    sd = model.state_dict()
    torch.testing.assert_close(sd["features.conv4_4_CPM.weight"], state["model0.conv4_4_CPM.weight"])
    torch.testing.assert_close(sd["L.1.Mconv1_stage2_L1.weight"], state["model2_1.Mconv1_stage2_L1.weight"])
    torch.testing.assert_close(sd["S.5.Mconv7_stage6_L2.bias"], state["model6_2.Mconv7_stage6_L2.bias"])


def test_load_from_path_and_strictness(tmp_path):
    src = create_model("hourglass_tiny")
    path = tmp_path / "ckpt.pth.tar"
    torch.save({"state_dict": {"module." + k: v for k, v in src.state_dict().items()}}, path)
    dst = load_official(create_model("hourglass_tiny"), path)
    for k, v in src.state_dict().items():
        assert torch.equal(dst.state_dict()[k], v)
    state = dict(src.state_dict())
    key = next(iter(state))
    with pytest.raises(ValueError, match="missing"):
        load_official(create_model("hourglass_tiny"), {k: v for k, v in state.items() if k != key})
    with pytest.raises(ValueError, match="extra.weight"):
        load_official(create_model("hourglass_tiny"), {**state, "extra.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match="shape"):
        load_official(create_model("hourglass_tiny"), {**state, key: torch.zeros(1, 2, 3)})
    with pytest.raises(ValueError, match="state_dict_or_path"):
        load_official(create_model("hourglass_tiny"), [1, 2])
