import torch
import torch.nn as nn

from posecourse.models.receptive_field import effective_rf, linearized, theoretical_rf


def _chain(n_convs, k=3, pool=False):
    layers = [nn.Conv2d(3, 4, k, padding=k // 2), nn.BatchNorm2d(4), nn.ReLU()]
    if pool:
        layers.append(nn.MaxPool2d(2, 2))
    for _ in range(n_convs - 1):
        layers += [nn.Conv2d(4, 4, k, padding=k // 2), nn.ReLU()]
    return nn.Sequential(*layers)


def test_theoretical_rf_of_conv_chain_matches_formula():
    # n stacked k x k convs, stride 1: RF = 1 + n (k - 1)
    for n, k in [(1, 3), (3, 3), (2, 5), (4, 3)]:
        rf = theoretical_rf(_chain(n, k), (41, 41), (20, 20))
        assert rf.size == (1 + n * (k - 1),) * 2
        assert rf.center == (20.0, 20.0)


def test_theoretical_rf_through_pooling_uses_jump():
    # conv3 -> pool2 -> 2 x conv3: RF = 3 + 1 (pool) + 2 * 2 * 2 = 12
    rf = theoretical_rf(_chain(3, 3, pool=True), (64, 64), (16, 16))
    assert rf.size == (12, 12)


def test_linearized_leaves_model_untouched():
    m = _chain(2)
    before = [p.clone() for p in m.parameters()]
    lin = linearized(m)
    assert all(torch.equal(a, b) for a, b in zip(before, m.parameters()))
    assert not any(isinstance(x, (nn.ReLU, nn.BatchNorm2d, nn.MaxPool2d)) for x in lin.modules())


def test_effective_rf_lies_inside_theoretical():
    torch.manual_seed(0)
    m = _chain(4)
    img = torch.rand(3, 33, 33)
    th = theoretical_rf(m, (33, 33), (16, 16))
    eff = effective_rf(m, img, (16, 16))
    assert eff.map.max() == 1.0
    assert (eff.map[th.map == 0] == 0).all()
    assert eff.size[0] <= th.size[0] and eff.size[1] <= th.size[1]
