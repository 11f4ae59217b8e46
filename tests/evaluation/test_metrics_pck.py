"""PCK / PCKh / PDJ / PCP / curves / AUC / OKS: hand-checked cases, conventions, bad input, fuzzing."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from posecourse.metrics import auc, oks, pck, pck_curve, pckh, pcp, pdj
from posecourse.metrics.coco_eval import COCO_SIGMAS, _oks_pairs
from posecourse.skeletons import LSP14, MPII16


def errors_along_x(err, vis=None):
    """One sample whose joint k is predicted err[k] pixels right of its GT."""
    err = np.asarray(err, float)
    gt = np.stack([np.arange(len(err)) * 100.0, np.zeros(len(err))], -1)[None]
    pred = gt.copy()
    pred[0, :, 0] += err
    return pred, gt, np.ones((1, len(err))) if vis is None else np.asarray(vis, float)[None]


def test_pck_hand_checked_and_boundary_is_inclusive():
    pred, gt, vis = errors_along_x([1.0, 2.0, 3.0])
    r = pck(pred, gt, vis, norm=8.0, alpha=0.25)  # threshold 2 px exactly; 2.0 counts (<=)
    np.testing.assert_array_equal(r.per_joint, [1, 1, 0])
    assert r.mean == pytest.approx(2 / 3)
    np.testing.assert_array_equal(r.count, [1, 1, 1])
    assert pck(pred, gt, vis, norm=8.0, alpha=0.2499).per_joint[1] == 0


def test_invisible_joints_are_excluded_everywhere():
    pred, gt, vis = errors_along_x([0.0, 1e6, 0.0], vis=[1, 0, 1])
    r = pck(pred, gt, vis, norm=10.0, alpha=0.1)
    assert r.mean == 1.0 and r.count.tolist() == [1, 0, 1] and r.per_joint[1] == 0.0
    gt[0, 1] = np.nan  # NaN GT at an invisible joint is fine
    assert pck(pred, gt, vis, norm=10.0).mean == 1.0


def test_nan_prediction_is_a_miss():
    pred, gt, vis = errors_along_x([0.0, 0.0])
    pred[0, 1] = np.nan
    r = pck(pred, gt, vis, norm=10.0)
    np.testing.assert_array_equal(r.per_joint, [1, 0])


def test_mean_is_count_weighted():
    pred = np.zeros((2, 2, 2))
    gt = np.zeros((2, 2, 2))
    pred[:, 1, 0] = 100  # joint 1 always wrong
    r = pck(pred, gt, np.array([[1, 1], [1, 0]]), norm=1.0)
    assert r.mean == pytest.approx(2 / 3)  # 2 correct of 3 visible, not mean(1, 0)


def mpii_sample(err):
    """One MPII person with a 30 x 40 head box (head size 0.6 * 50 = 30)."""
    gt = np.random.default_rng(0).uniform(0, 300, (1, 16, 2))
    gt[0, MPII16.head[1]] = gt[0, MPII16.head[0]] + [0.0, 20.0]  # neck-head distance 20
    pred = gt.copy()
    pred[0, :, 0] += err
    return pred, gt, np.ones((1, 16))


def test_pckh_head_box_and_mpii_mean():
    err = np.zeros(16)
    err[0], err[1] = 15.0, 15.5  # 0.5 * 30 = 15: boundary correct, just above wrong
    err[6] = err[7] = 1e3  # pelvis, thorax: not in the MPII mean
    pred, gt, vis = mpii_sample(err)
    r = pckh(pred, gt, vis, head_boxes=np.array([[0.0, 0.0, 30.0, 40.0]]))
    assert r.per_joint[0] == 1 and r.per_joint[1] == 0 and r.per_joint[6] == 0
    assert 6 not in r.mean_joints and 7 not in r.mean_joints and len(r.mean_joints) == 14
    assert r.mean == pytest.approx(13 / 14)
    assert pckh(pred, gt, vis, head_boxes=[[0.0, 0.0, 30.0, 40.0]], joints=range(16)).mean == pytest.approx(13 / 16)


def test_pckh_fallback_uses_neck_to_head_top():
    err = np.zeros(16)
    err[0], err[1] = 10.0, 10.5  # 0.5 * 20 = 10
    pred, gt, vis = mpii_sample(err)
    r = pckh(pred, gt, vis)
    assert r.per_joint[0] == 1 and r.per_joint[1] == 0


def test_pckh_on_real_mpii(shared_data):
    ann = json.loads((shared_data / "mpii" / "test_mpii.json").read_text())
    gt = np.array([a["joints"] for a in ann], float)
    vis = np.array([a["joints_vis"] for a in ann], float)
    assert pckh(gt, gt, vis).mean == 1.0
    assert pckh(gt + 1.0, gt, vis).mean == 1.0  # 1.4 px is well inside half a head
    assert pckh(gt + 500.0, gt, vis).mean == 0.0


def test_pdj_uses_left_shoulder_right_hip():
    gt = np.zeros((1, 14, 2))
    ls, rh = LSP14.torso
    gt[0, rh] = [0.0, 0.0]
    gt[0, ls] = [6.0, 8.0]  # torso diameter 10
    pred = gt.copy()
    pred[0, 0, 0] += 2.0  # = 0.2 * 10 -> detected
    pred[0, 1, 0] += 2.5
    r = pdj(pred, gt, np.ones((1, 14)), alpha=0.2, skeleton="lsp14")
    assert r.per_joint[0] == 1 and r.per_joint[1] == 0 and r.mean == pytest.approx(13 / 14)


def test_pcp_strict_and_averaged():
    gt = np.zeros((1, 14, 2))
    gt[0, :, 1] = np.arange(14) * 10.0  # every consecutive joint 10 px apart
    a, b = LSP14.pcp_parts["right_lower_leg"]  # (0, 1), length 10, alpha 0.5 -> 5 px
    pred = gt.copy()
    pred[0, a, 0] += 4.0
    pred[0, b, 0] += 6.0
    vis = np.ones((1, 14))
    strict = pcp(pred, gt, vis, skeleton="lsp14")
    averaged = pcp(pred, gt, vis, skeleton="lsp14", variant="averaged")
    k = strict.parts.index("right_lower_leg")
    assert strict.per_part[k] == 0 and averaged.per_part[k] == 1  # mean error 5 <= 5
    vis[0, a] = 0
    assert pcp(pred, gt, vis, skeleton="lsp14").count[k] == 0


def test_curve_and_auc():
    pred, gt, vis = errors_along_x([0.0, 2.5, 5.0, 7.5])
    c = pck_curve(pred, gt, vis, norm=10.0, thresholds=np.linspace(0, 1, 11))
    assert np.all(np.diff(c.mean) >= 0) and c.per_joint.shape == (11, 4)
    np.testing.assert_allclose(c.mean[[0, 3, 5, 8, 10]], [0.25, 0.5, 0.75, 1.0, 1.0])
    assert c.mean[5] == pck(pred, gt, vis, norm=10.0, alpha=0.5).mean
    assert auc([0, 1], [0, 1]) == pytest.approx(0.5)
    assert auc(c.thresholds, np.ones(11)) == pytest.approx(1.0)


def test_torch_inputs_match_numpy():
    rng = np.random.default_rng(0)
    gt = rng.uniform(0, 100, (5, 16, 2))
    pred = gt + rng.normal(0, 5, gt.shape)
    vis = rng.random((5, 16)) > 0.2
    want = pckh(pred, gt, vis)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for dev in devices:
        t = lambda x: torch.as_tensor(x, device=dev)  # noqa: E731
        got = pckh(t(pred).float(), t(gt), t(vis))
        np.testing.assert_allclose(got.per_joint, want.per_joint, atol=1e-6)


@pytest.mark.parametrize("call, match", [
    (lambda p, g, v: pck(p[:, :3], g, v, norm=1.0), "pred"),
    (lambda p, g, v: pck(p, g, v[:, :3], norm=1.0), "visible"),
    (lambda p, g, v: pck(p, g, v, norm=0.0), "norm"),
    (lambda p, g, v: pck(p, g, v, norm="elbow"), "norm"),
    (lambda p, g, v: pck(p, g, 0 * v, norm=1.0), "visible"),
    (lambda p, g, v: pck(p[:0], g[:0], v[:0], norm=1.0), "gt"),
    (lambda p, g, v: pdj(p, g, v * 0, skeleton="mpii16"), "norm"),
    (lambda p, g, v: pckh(p, g, v, head_boxes=np.zeros((2, 4))), "head_boxes"),
    (lambda p, g, v: pcp(p, g, v, skeleton="mpii16", variant="loose"), "variant"),
    (lambda p, g, v: pck(p, g, v, norm="torso"), "skeleton"),
])
def test_bad_input_raises_value_error(call, match):
    g = np.random.default_rng(1).uniform(0, 100, (2, 16, 2))
    with pytest.raises(ValueError, match=match):
        call(g + 1, g, np.ones((2, 16)))


def test_nan_gt_at_visible_joint_raises():
    pred, gt, vis = errors_along_x([0.0, 0.0])
    gt[0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="gt"):
        pck(pred, gt, vis, norm=1.0)


# mostly ordinary coordinates, sometimes NaN / inf / huge
floats = st.one_of(st.floats(-1e3, 1e3), st.floats(allow_nan=True, allow_infinity=True))


@settings(deadline=None, max_examples=80)
@given(pred=arrays(np.float64, (3, 16, 2), elements=floats), gt=arrays(np.float64, (3, 16, 2), elements=floats),
       vis=arrays(np.int8, (3, 16), elements=st.integers(0, 2)), norm=st.sampled_from(["torso", "head", "bbox", 5.0]),
       which=st.sampled_from(["pck", "pckh", "pdj", "pcp_strict", "pcp_averaged", "curve"]))
def test_fuzz_finite_or_value_error(pred, gt, vis, norm, which):
    fns = {"pck": lambda: pck(pred, gt, vis, norm, skeleton="mpii16").per_joint,
           "pckh": lambda: pckh(pred, gt, vis).per_joint,
           "pdj": lambda: pdj(pred, gt, vis, skeleton="mpii16").per_joint,
           "pcp_strict": lambda: pcp(pred, gt, vis, skeleton="mpii16").per_part,
           "pcp_averaged": lambda: pcp(pred, gt, vis, skeleton="mpii16", variant="averaged").per_part,
           "curve": lambda: pck_curve(pred, gt, vis, norm, skeleton="mpii16").mean}
    try:
        out = fns[which]()
    except ValueError:
        return
    assert np.isfinite(out).all() and (out >= 0).all() and (out <= 1).all()


def test_oks_matches_pycocotools_formula_and_properties():
    rng = np.random.default_rng(0)
    gt = rng.uniform(0, 200, (6, 17, 2))
    pred = gt + rng.normal(0, 8, gt.shape)
    vis = rng.random((6, 17)) > 0.3
    area = rng.uniform(500, 20000, 6)
    got = oks(pred, gt, vis, area)
    want = _oks_pairs(pred, gt, vis, area, np.zeros((6, 4)), COCO_SIGMAS)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert np.all(oks(gt, gt, vis, area) == 1.0)
    matrix = oks(pred[:, None], gt[None], vis[None], area[None])
    assert matrix.shape == (6, 6)
    np.testing.assert_allclose(np.diag(matrix), got)
    assert oks(pred, gt, np.zeros((6, 17)), area).tolist() == [0.0] * 6  # documented: nothing labelled -> 0
    with pytest.raises(ValueError, match="pred"):
        oks(pred[:, :5], gt, vis, area)
    with pytest.raises(ValueError, match="area"):
        oks(pred, gt, vis, -area)


@settings(deadline=None, max_examples=60)
@given(pred=arrays(np.float64, (2, 17, 2), elements=floats), gt=arrays(np.float64, (2, 17, 2), elements=floats),
       vis=arrays(np.int8, (2, 17), elements=st.integers(0, 2)), area=st.floats(0, 1e12))
def test_fuzz_oks(pred, gt, vis, area):
    try:
        out = oks(pred, gt, vis, area)
    except ValueError:
        return
    assert out.shape == (2,) and np.isfinite(out).all() and (out >= 0).all() and (out <= 1).all()


def test_keyword_call_used_by_experiments():
    """posecourse.experiments.score calls fn(pred, gt, vis, skeleton=..., alpha=...) with tensors."""
    rng = np.random.default_rng(2)
    gt = torch.as_tensor(rng.uniform(0, 64, (4, 16, 2)))
    pred = gt + 1.0
    vis = torch.ones(4, 16, dtype=torch.bool)
    for fn in (pck, pckh, pdj):
        r = fn(pred, gt, vis, skeleton="mpii16", alpha=0.5)
        assert r.per_joint.shape == (16,) and 0.0 <= r.mean <= 1.0
    assert pdj(pred, gt, vis, skeleton="mpii16", alpha=1e-3).mean == 0.0
