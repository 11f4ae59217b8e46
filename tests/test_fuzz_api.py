"""Fuzzing the public functions (issue 24): mutated inputs -- non-finite values, wrong types, dtypes and
shapes, empty and huge inputs -- give either a ``ValueError`` that names the parameter, or the right answer
(checked by a property of the answer, not just "no crash"). Each test draws a modest number of examples;
the whole file runs in well under a minute on two cores."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from posecourse import metrics
from posecourse.targets.codecs import HeatmapCodec, PAFCodec, RegressionCodec
from posecourse.skeletons import get_skeleton
from posecourse.targets import heatmap, paf, regression

FUZZ = settings(deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow])

#: values a caller (or papermill, or a broken upstream step) may pass where a number is expected
NASTY_NUMBERS = [math.nan, math.inf, -math.inf, 0, 0.0, -1, -1e-12, 1e30, -1e30, True, False, None, "3", "nan", "",
                 [1.0], (2, 3), {}, 2.5, 3, 1e-300, np.float32(2.0), np.int64(4), torch.tensor(2.0)]
nasty_number = st.sampled_from(NASTY_NUMBERS)
DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.int64, torch.uint8, torch.bool,
          torch.complex64]


def named(exc: BaseException, *names: str) -> bool:
    """The error names one of ``names`` (the parameter) -- what "a clear error" means here."""
    return isinstance(exc, ValueError) and any(n in str(exc) for n in names)


def _finite(*xs) -> bool:
    return all(bool(torch.isfinite(torch.as_tensor(np.asarray(x, dtype=np.float64))).all()) for x in xs)


# ---------------------------------------------------------------------------- heatmap targets
@FUZZ
@given(stride=nasty_number, sigma=nasty_number, seed=st.integers(0, 2 ** 16),
       where=st.sampled_from(["none", "labelled", "unlabelled"]), bad=st.sampled_from([math.nan, math.inf, 1e30]))
@example(stride=1e30, sigma=1e30, seed=0, where="labelled", bad=1e30)  # found by the fuzz: 1e30 px is 1 map px
def test_heatmap_encode_mutated(stride, sigma, seed, where, bad):
    g = torch.Generator().manual_seed(seed)
    kp = torch.rand(2, 1, 5, 2, generator=g) * 60
    vis = (torch.rand(2, 1, 5, generator=g) > 0.3).float()
    vis[0, 0, 0], vis[1, 0, 1] = 1.0, 0.0
    if where == "labelled":
        kp[0, 0, 0, 0] = bad
    elif where == "unlabelled":
        kp[1, 0, 1, 1] = bad
    try:
        hm, w = heatmap.encode(kp, vis, (16, 16), stride=stride, sigma=sigma)
    except ValueError as e:
        assert named(e, "stride", "sigma", "keypoints"), e
        return
    # the right answer: finite maps in [0, 1]; a labelled joint at 1e30 px weighs 0 where that is far off the map
    # (at a stride of 1e30 px it is 1 map px, on the map); unlabelled ones 0
    assert hm.shape == (2, 5, 16, 16) and _finite(hm, w) and hm.min() >= 0 and hm.max() <= 1
    assert (w[vis[:, 0] == 0] == 0).all()
    assert where != "labelled" or bad == 1e30
    if where == "labelled" and bad / stride > 32:
        assert w[0, 0] == 0 and hm[0, 0].max() == 0


MAP_FAMILIES = ["gauss", "flat", "negative", "saturated", "noise", "zeros"]


def _maps(kind: str, seed: int, B=2, K=3, H=12, W=10) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if kind == "noise":
        return torch.rand(B, K, H, W, generator=g)
    if kind == "zeros":
        return torch.zeros(B, K, H, W)
    if kind == "flat":
        return torch.full((B, K, H, W), 0.5)
    if kind == "negative":
        return -torch.rand(B, K, H, W, generator=g) - 0.1
    c = torch.rand(B, K, 2, generator=g) * torch.tensor([W - 1.0, H - 1.0])
    ys, xs = torch.meshgrid(torch.arange(H, dtype=torch.float64), torch.arange(W, dtype=torch.float64), indexing="ij")
    m = torch.exp(-((xs - c[..., 0, None, None]) ** 2 + (ys - c[..., 1, None, None]) ** 2) / 4)
    return (3 * m).clamp(max=1) if kind == "saturated" else m


@FUZZ
@given(kind=st.sampled_from(MAP_FAMILIES), seed=st.integers(0, 2 ** 16), dtype=st.sampled_from(DTYPES),
       method=st.sampled_from(["argmax", "quarter", "dark", "soft_argmax", "bogus"]),
       poison=st.sampled_from([None, math.nan, math.inf, -math.inf]), stride=st.sampled_from([1.0, 4, 0, math.nan]))
def test_heatmap_decode_mutated(kind, seed, dtype, method, poison, stride):
    maps = _maps(kind, seed)
    if poison is not None:
        maps[1, 2, 3, 4] = poison
    try:
        x = maps.to(dtype)
    except RuntimeError:
        return
    try:
        xy, s = heatmap.decode(x, stride=stride, method=method)
    except ValueError as e:
        assert named(e, "heatmaps", "method", "stride"), e
        assert poison not in (math.nan, math.inf) or dtype in (torch.int64, torch.uint8, torch.bool) or \
            "heatmaps" in str(e) or "method" in str(e) or "stride" in str(e)
        return
    assert dtype not in (torch.complex64, torch.bool) and method != "bogus" and stride in (1.0, 4)
    assert xy.shape == (2, 3, 2) and s.shape == (2, 3) and _finite(xy, s)
    if dtype in (torch.float16, torch.bfloat16):  # computed in float32: the same answer as the float32 copy
        want = heatmap.decode(x.float(), stride=stride, method=method)
        assert torch.equal(xy, want[0]) and torch.equal(s, want[1])
    if method in ("argmax", "quarter"):  # inside the image: heatmap px -0.25 .. W - 0.75, in image px
        lo, hi = heatmap.to_image(torch.tensor(-0.25), stride), heatmap.to_image(torch.tensor([9.25, 11.25]), stride)
        assert (xy >= lo - 1e-4).all() and (xy <= hi + 1e-4).all()


@FUZZ
@given(shape=st.lists(st.integers(0, 5), min_size=0, max_size=6),
       obj=st.sampled_from(["tensor", "list", "str", "none", "dict"]))
def test_decoders_refuse_wrong_shapes_and_types(shape, obj):
    x = {"tensor": torch.rand(tuple(shape)), "list": torch.rand(tuple(shape)).tolist(), "str": "maps", "none": None,
         "dict": {"heatmaps": 1}}[obj]
    ok_shape = len(shape) == 4 and shape[2] > 0 and shape[3] > 0
    codec = HeatmapCodec(input_size=16, heatmap_size=4, num_joints=2)
    for fn, who in ((lambda: heatmap.decode(x), "heatmaps"), (lambda: codec.decode(x), "HeatmapCodec.decode")):
        try:
            xy, s = fn()
        except ValueError as e:
            assert named(e, who, "heatmaps", "outputs"), e
            continue
        assert obj in ("tensor", "list") and ok_shape
        assert xy.shape[:-1] == s.shape and _finite(xy, s)


@FUZZ
@given(index=st.sampled_from([[1, 0], [0, 0], [0, 2], [-1, 0], [0], [0.5, 1], "ab", None, [0, 1, 1]]),
       shift=st.sampled_from([0, 1, 2, 1.0, -1, 0.5, True, math.nan, 40]))
def test_flip_test_mutated(index, shift):
    a, b = torch.rand(1, 2, 6, 8), torch.rand(1, 2, 6, 8)
    try:
        out = heatmap.flip_test(a, b, index, shift=shift)
    except ValueError as e:
        assert named(e, "flip_index", "shift"), e
        return
    assert out.shape == a.shape and _finite(out)
    want = (a + b.flip(-1)[:, list(index)]) / 2 if shift == 0 else None
    assert want is None or torch.allclose(out, want)


# ---------------------------------------------------------------------------- PAF assembly
SK = get_skeleton("coco18")


#: a standing person in OpenPose's COCO-18 order (x, y in units of about a head), jittered per example
_STANDING = torch.tensor([[0, -3.0], [0, -2], [-1, -2], [-1.3, -1], [-1.5, 0], [1, -2], [1.3, -1], [1.5, 0],
                          [-0.6, 0.5], [-0.7, 2], [-0.7, 3.5], [0.6, 0.5], [0.7, 2], [0.7, 3.5],
                          [-0.4, -3.4], [0.4, -3.4], [-0.8, -3.1], [0.8, -3.1]])


def _person(seed: int, H=36, W=36, stride=4.0):
    """One person's exact maps, far enough from the border that even a flat top at gain 10 is not cut off
    (a clipped plateau's centroid moves inwards)."""
    g = torch.Generator().manual_seed(seed)
    unit = 12.0 + 2 * torch.rand((), generator=g)
    centre = torch.tensor([W * stride / 2, H * stride / 2]) + (torch.rand(2, generator=g) - 0.5) * 12
    kp = (centre + unit * _STANDING + (torch.rand(SK.num_joints, 2, generator=g) - 0.5) * 3)[None, None]
    vis = torch.ones(1, 1, SK.num_joints)
    hm, _ = heatmap.encode(kp, vis, (H, W), stride=stride, sigma=1.5)
    field = paf.encode(kp, vis, SK.limbs, (H, W), stride=stride, limb_width=1.5)
    return hm[0], field[0], kp[0, 0]


@FUZZ
@given(seed=st.integers(0, 2 ** 16), gain=st.sampled_from([1.0, 1.5, 3.0, 10.0]),
       dtype=st.sampled_from([torch.float16, torch.float32, torch.float64]),
       stride=st.sampled_from([None, 4.0, 4, 0, -4.0, math.nan, math.inf, "4"]),
       threshold=st.sampled_from([0.1, math.nan, -math.inf, "0.1"]))
def test_assemble_one_person_whatever_the_saturation(seed, gain, dtype, stride, threshold):
    """One person's maps, saturated by ``gain`` (flat tops), in any float precision: one person, every joint
    near its label -- or a named error for a bad stride/threshold."""
    hm, field, kp = _person(seed)
    hm = (gain * hm).clamp(max=1).to(dtype)
    try:
        people = paf.assemble(hm, field.to(dtype), SK, stride=stride, threshold=threshold)
    except ValueError as e:
        assert named(e, "stride", "threshold"), e
        assert stride not in (None, 4.0, 4) or threshold != 0.1
        return
    assert stride in (None, 4.0, 4) and threshold == 0.1
    if dtype == torch.float16:  # decoded in float32: the same people as from the float32 copy
        same = paf.assemble(hm.float(), field.to(dtype).float(), SK, stride=stride, threshold=threshold)
        assert len(same) == len(people) and all(np.array_equal(a, b, equal_nan=True) for a, b in zip(same, people))
    assert len(people) == 1
    found = people[0][:, 2] > 0
    xy = torch.as_tensor(people[0][:, :2])
    want = kp if stride is not None else heatmap.to_heatmap(kp, 4.0)
    assert found.sum() >= SK.num_joints - 1
    err = (xy[found] - want[found].double()).norm(dim=-1)
    assert (err < (4.0 if stride is not None else 1.0)).all(), err.max()


@FUZZ
@given(seed=st.integers(0, 2 ** 16), what=st.sampled_from(["hm_nan", "hm_inf", "paf_nan", "hm_shape", "paf_shape",
                                                           "empty", "int", "complex"]))
def test_assemble_mutated_maps(seed, what):
    hm, field, _ = _person(seed)
    if what == "hm_nan":
        hm[3, 5, 5] = math.nan
    elif what == "hm_inf":
        hm[3, 5, 5] = math.inf
    elif what == "paf_nan":
        field[:] = math.nan
    elif what == "hm_shape":
        hm = hm[:5]
    elif what == "paf_shape":
        field = field[:, :10]
    elif what == "empty":
        hm, field = hm[:, :0], field[:, :0]
    elif what == "int":
        hm = (hm > 0.5).long()
    elif what == "complex":
        hm = hm.to(torch.complex64)
    try:
        people = paf.assemble(hm, field, SK, stride=4.0)
    except ValueError as e:
        assert named(e, "heatmaps", "pafs"), e
        return
    assert what in ("empty", "int", "paf_nan")  # NaN PAFs are only an error where a limb is sampled
    assert all(p.shape == (SK.num_joints, 3) and (p[:, 2] >= 0).all() for p in people)


# ---------------------------------------------------------------------------- codecs and regression
@FUZZ
@given(value=nasty_number, field=st.sampled_from(["input_size", "heatmap_size", "num_joints", "sigma"]))
def test_codec_constructors_mutated(value, field):
    kw = {"input_size": 64, "heatmap_size": 16, "num_joints": 16, "sigma": 2.0, field: value}
    try:
        codec = HeatmapCodec(**kw)
    except (ValueError, TypeError) as e:
        assert isinstance(e, ValueError) and named(e, field), e
        return
    # accepted: it encodes a batch into finite targets
    batch = {"keypoints": torch.rand(1, 1, codec.num_joints, 2) * 60, "visibility": torch.ones(1, 1, codec.num_joints)}
    out = codec.encode(batch)
    assert _finite(out["target"]) and out["target"].shape[-2:] == codec.heatmap_size


@FUZZ
@given(scale=nasty_number, poison=st.sampled_from([None, math.nan, math.inf]))
def test_cascade_boxes_mutated(scale, poison):
    pred = torch.rand(2, 16, 2) * 60
    if poison is not None:
        pred[0, 4, 1] = poison
    try:
        boxes = regression.cascade_boxes(pred, scale, torso=(3, 12))
    except ValueError as e:
        assert named(e, "scale", "prev_pred", "diameter"), e
        return
    assert poison is None and _finite(boxes) and (boxes[..., 2:] > 0).all()
    centre = boxes[..., :2] + boxes[..., 2:] / 2  # the prediction, to float precision of the box's size
    torch.testing.assert_close(centre, pred, rtol=0, atol=1e-4 + 1e-6 * float(boxes[..., 2:].max()))


def test_regression_decode_passes_nan_through_as_a_miss():
    """A regressor's NaN output stays NaN (no made-up coordinate), and the metric counts it as a miss."""
    codec = RegressionCodec(input_size=64)
    out = torch.zeros(3, 16, 2)
    out[1, 5] = math.nan
    xy, _ = codec.decode(out).single()
    assert torch.isnan(xy[1, 5]).all() and torch.isfinite(xy[0]).all()
    gt = xy.nan_to_num(0.0)
    r = metrics.pck(xy, gt, torch.ones(3, 16), norm=10.0, alpha=0.5)
    assert r.per_joint[5] == pytest.approx(2 / 3) and r.count[5] == 3


# ---------------------------------------------------------------------------- metrics
@FUZZ
@given(seed=st.integers(0, 2 ** 16), n_bad=st.integers(0, 10), bad=st.sampled_from([math.nan, math.inf, -math.inf]),
       alpha=st.sampled_from([0.2, 0.5, -0.1, math.nan, "0.2", True, None]))
def test_non_finite_predictions_are_misses(seed, n_bad, bad, alpha):
    """Making predictions NaN/inf never raises the score: it equals the score with those joints far off."""
    rng = np.random.default_rng(seed)
    gt = rng.uniform(0, 100, (6, 16, 2))
    pred = gt + rng.normal(0, 4, gt.shape)
    vis = rng.random((6, 16)) > 0.2
    idx = rng.integers(0, 6, n_bad), rng.integers(0, 16, n_bad)
    spoiled, far = pred.copy(), pred.copy()
    spoiled[idx] = bad
    far[idx] = 1e9
    try:
        a = metrics.pck(spoiled, gt, vis, norm=20.0, alpha=alpha)
    except ValueError as e:
        assert named(e, "alpha"), e
        return
    b = metrics.pck(far, gt, vis, norm=20.0, alpha=alpha)
    c = metrics.pck(pred, gt, vis, norm=20.0, alpha=alpha)
    np.testing.assert_array_equal(a.per_joint, b.per_joint)
    np.testing.assert_array_equal(a.count, c.count)
    assert a.mean <= c.mean


@FUZZ
@given(area=st.sampled_from([1.0, 0.0, -1.0, math.nan, math.inf]), poison=st.sampled_from([None, math.nan]))
def test_oks_mutated(area, poison):
    rng = np.random.default_rng(0)
    gt = rng.uniform(0, 50, (2, 17, 2))
    pred = gt + 1.0
    if poison is not None:
        pred[0, 3] = poison
    try:
        o = metrics.oks(pred, gt, np.ones((2, 17)), np.array([area * 400, 400.0]))
    except ValueError as e:
        assert named(e, "area", "pred"), e
        return
    o = np.asarray(o)
    assert np.isfinite(o).all() and (o >= 0).all() and (o <= 1).all()


@settings(deadline=None, max_examples=15)
@given(value=st.sampled_from([0, 1, True, False, 0.0, 1.0, "0", "1", "", None, 2, -1, 0.5, [0], {}]))
def test_coco_eval_iscrowd_is_0_1_or_refused(value):
    from posecourse.metrics.coco_eval import coco_keypoint_eval

    def doc(flag):
        kp = [10, 10, 2] * 17
        gt = {"images": [{"id": 1}], "categories": [{"id": 1}],
              "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "keypoints": kp, "num_keypoints": 17,
                               "area": 400.0, "bbox": [0, 0, 20, 20], "iscrowd": flag}]}
        return gt, [{"image_id": 1, "category_id": 1, "keypoints": kp, "score": 1.0}]

    try:
        got = coco_keypoint_eval(*doc(value))
    except ValueError as e:
        assert named(e, "iscrowd"), e
        assert not (isinstance(value, (bool, int, float)) and value in (0, 1))
        return
    assert got == coco_keypoint_eval(*doc(int(value)))


# ---------------------------------------------------------------------------- models and augmentation
@settings(deadline=None, max_examples=20)
@given(value=nasty_number, name=st.sampled_from(["deeppose_tiny", "cpm_tiny", "hrnet_tiny"]))
def test_create_model_num_joints_mutated(value, name):
    from posecourse.models import create_model

    try:
        model = create_model(name, num_joints=value)
    except ValueError as e:
        assert named(e, "num_joints"), e
        assert not (isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1)
        return
    assert isinstance(value, (int, np.integer)) and value >= 1
    out = model.eval()(torch.zeros(1, 3, 64, 64))
    out = out[-1] if isinstance(out, list) else out
    assert out.shape[1] in (value, value + 1)  # CPM adds its background channel


@settings(deadline=None, max_examples=20)
@given(dtype=st.sampled_from(DTYPES), shape=st.sampled_from([(1, 3, 64, 64), (3, 64, 64), (1, 1, 64, 64),
                                                             (1, 3, 0, 64), (0, 3, 64, 64), (1, 3, 60, 64)]))
def test_models_refuse_wrong_input_by_name(dtype, shape):
    from posecourse.models import create_model

    model = _hrnet()
    x = torch.zeros(shape).to(dtype)
    try:
        with torch.no_grad():
            out = model(x)
    except ValueError as e:
        assert named(e, "hrnet_tiny"), e
        return
    assert dtype == torch.float32 and len(shape) == 4 and shape[1] == 3
    assert out[-1].shape[0] == shape[0]


_MODELS: dict = {}


def _hrnet():
    from posecourse.models import create_model

    if "hrnet" not in _MODELS:
        torch.manual_seed(0)
        _MODELS["hrnet"] = create_model("hrnet_tiny").eval()
    return _MODELS["hrnet"]


@FUZZ
@given(rot=nasty_number, translate=st.sampled_from([0.0, 0.1, math.nan, math.inf, -0.1]),
       scale=st.sampled_from([(0.75, 1.25), (1.0, math.inf), (math.nan, 1.0), (0.0, 1.0), (1.2, 0.8)]))
def test_augmentation_parameters_mutated(rot, translate, scale):
    from posecourse.data.transforms import apply_affine
    from posecourse.geometry import random_affine

    try:
        M = random_affine(1, (32, 32), scale, rot, translate, generator=torch.Generator().manual_seed(0))[0]
    except (ValueError, TypeError) as e:
        assert isinstance(e, ValueError) and named(e, "rot_deg", "translate", "scale_range"), e
        return
    sample = {"image": torch.rand(3, 32, 32), "keypoints": torch.full((1, 4, 2), 16.0), "visibility": torch.ones(1, 4),
              "boxes": torch.tensor([[8.0, 8.0, 16.0, 16.0]]), "skeleton": "none"}
    out = apply_affine(sample, M, (32, 32))
    assert _finite(out["image"], out["keypoints"], out["boxes"])


@settings(deadline=None, max_examples=15)
@given(box=st.sampled_from([[8.0, 8.0, 16.0, 16.0], [math.nan, 8.0, 16.0, 16.0], [8.0, 8.0, math.inf, 16.0],
                            [8.0, 8.0, 0.0, 16.0], [8.0, 8.0, -3.0, 16.0]]))
def test_crop_to_a_non_finite_box_is_refused(box):
    from posecourse.data.transforms import apply_affine
    from posecourse.geometry import crop_affine, expand_boxes

    sample = {"image": torch.rand(3, 32, 32), "keypoints": torch.full((1, 4, 2), 16.0), "visibility": torch.ones(1, 4),
              "boxes": torch.tensor([box]), "skeleton": "none"}
    try:
        out = apply_affine(sample, crop_affine(expand_boxes(sample["boxes"][0], 1.25, aspect=1.0), (16, 16)), (16, 16))
    except ValueError as e:
        assert named(e, "boxes", "factor", "box"), e
        assert not all(math.isfinite(v) for v in box) or min(box[2:]) <= 0
        return
    assert _finite(out["image"], out["keypoints"]) and (out["visibility"] > 0).all()


# ---------------------------------------------------------------------------- notebook / command parameters
@settings(deadline=None, max_examples=60)
@given(value=st.one_of(st.integers(-10 ** 20, 10 ** 20), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
                       st.booleans(), st.none(), st.lists(st.integers(), max_size=2)))
def test_params_validators_return_the_type_or_name_the_parameter(value):
    from posecourse.params import as_bool, as_float, as_int, as_seed

    for fn, typ in ((as_int, int), (as_float, float), (as_bool, bool), (as_seed, int)):
        try:
            out = fn("p", value)
        except ValueError as e:
            assert str(e).startswith("p: "), e
            continue
        assert type(out) is typ
        if typ is float:
            assert math.isfinite(out)
        if fn is as_seed:
            assert 0 <= out <= 2 ** 32 - 1


@settings(deadline=None, max_examples=20)
@given(norm=st.sampled_from([None, "imagenet", "openpose", "nope", ("rgb", (0, 0, 0), (1, 1, 1)),
                             ("bgr", (0.5,) * 3, (0.25,) * 3), ("rgb", (0, 0, 0), (0, 1, 1)),
                             ("rgb", (math.nan, 0, 0), (1, 1, 1)), ("rgb", (0, 0), (1, 1, 1)),
                             ("hsv", (0, 0, 0), (1, 1, 1)), ("rgb", (0, 0, 0), (-1, 1, 1)), 3]))
def test_input_norm_mutated(norm):
    from posecourse.train.weights import NORMS, input_norm

    conv = torch.nn.Conv2d(3, 1, 1).requires_grad_(False)
    x = torch.rand(1, 3, 4, 4)
    plain = conv(x)
    try:
        input_norm(conv, norm)
    except ValueError as e:
        assert named(e, "norm"), e
        return
    out = conv(x)
    assert _finite(out)
    if norm is None:
        assert torch.equal(out, plain)
    else:
        order, mean, std = NORMS.get(norm, norm) if isinstance(norm, str) else norm
        y = x.flip(1) if order == "bgr" else x
        want = torch.nn.Conv2d.forward(conv, (y - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1))
        torch.testing.assert_close(out, want)


@settings(deadline=None, max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(what=st.sampled_from(["model", "loader", "loss_fn", "extra", "checkpoint_dir"]))
def test_train_refuses_what_it_cannot_use_before_the_first_step(tmp_path, what):
    from posecourse.train import train

    calls = []
    model, loader = torch.nn.Linear(2, 2), [(torch.rand(4, 2), torch.rand(4, 2))] * 2

    def loss_fn(out, batch):
        calls.append(1)
        return ((out - batch[1]) ** 2).mean()

    kw = dict(model=model, loader=loader, loss_fn=loss_fn, epochs=1, device="cpu", progress=False)
    bad = {"model": {"model": None}, "loader": {"loader": None}, "loss_fn": {"loss_fn": "mse"},
           "extra": {"checkpoint": tmp_path / "c.pt", "checkpoint_extra": {"model": 1}},
           "checkpoint_dir": {"checkpoint": tmp_path}}[what]
    kw.update(bad)
    with pytest.raises(ValueError, match="^(model|loader|loss_fn|checkpoint_extra|checkpoint): "):
        train(kw.pop("model"), kw.pop("loader"), kw.pop("loss_fn"), **kw)
    assert calls == []


@settings(deadline=None, max_examples=25)
@given(field=st.sampled_from(["length", "image_size", "num_people", "seed", "batch_size", "n_val"]), value=nasty_number)
def test_synthetic_data_parameters_mutated(field, value):
    """The synthetic world and the lecture's data recipe: a bad count or seed is named; a good one yields
    finite samples of the asked size."""
    from posecourse.data.recipe import make_data
    from posecourse.data.synthetic import SyntheticPoseDataset
    from posecourse.lectures import get_lecture
    from posecourse.params import as_int, as_optional_int

    try:
        if field in ("batch_size", "n_val"):
            kw = {"batch_size": 2, "n_val": 2, field: value}
            data = make_data(get_lecture("05").data, kw["batch_size"], n_val=kw["n_val"], train_length=4)
            batch = next(iter(data.train))
            n_val = as_optional_int("n_val", kw["n_val"])  # "" / None: the recipe's
            assert len(batch["image"]) == as_int("b", kw["batch_size"]) and len(data.val["image"]) == (
                get_lecture("05").data.n_val if n_val is None else n_val)
            return
        kw = {"length": 2, "image_size": 64, "num_people": 1, "seed": 0, "skeleton": "mpii16", field: value}
        ds = SyntheticPoseDataset(**kw)
    except ValueError as e:
        assert named(e, field), e
        return
    if len(ds):
        s = ds[len(ds) - 1]
        assert _finite(s["image"], s["keypoints"]) and s["image"].shape[-1] == int(kw["image_size"])


@settings(deadline=None, max_examples=20, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(["padding", "rot_deg", "rot_p", "flip_p", "seed", "input_size", "scale_range"]),
       value=st.one_of(nasty_number, st.sampled_from([(0.5, 1.5), (64, 48), (1.5, 0.5)])))
def test_person_crops_parameters_mutated(shared_data, field, value):
    from posecourse.data.topdown import TopDown, open_source

    src = _COCO.setdefault("src", open_source("coco", shared_data / "coco"))
    try:
        crops = TopDown(src, **{"input_size": (32, 24), "augment": True, field: value})
        s = crops[3]
    except ValueError as e:
        assert named(e, field), e
        return
    assert _finite(s["image"]) and _finite(s["keypoints"]) and s["image"].shape[0] == 3


_COCO: dict = {}
