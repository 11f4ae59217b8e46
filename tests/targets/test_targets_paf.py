"""OpenPose PAF codec: field encoding, peaks, line integral, matching and person assembly."""
import numpy as np
import pytest
import torch
from hypothesis import example, given, settings, strategies as st

from posecourse.skeletons import COCO18, get_skeleton
from posecourse.targets import heatmap as hmap
from posecourse.targets import paf

# a small upright COCO-18 figure (heatmap px, relative to its cell centre); face limbs >= 2.8 px long
_TEMPLATE = {
    "nose": (0, -9), "neck": (0, -5), "right_shoulder": (-3, -5), "right_elbow": (-5, -1), "right_wrist": (-6, 3),
    "left_shoulder": (3, -5), "left_elbow": (5, -1), "left_wrist": (6, 3), "right_hip": (-2, 2),
    "right_knee": (-2, 6), "right_ankle": (-2, 10), "left_hip": (2, 2), "left_knee": (2, 6), "left_ankle": (2, 10),
    "right_eye": (-2, -11), "left_eye": (2, -11), "right_ear": (-4, -10), "left_ear": (4, -10),
}
CELL, COLS, ROWS = 26, 5, 4


def _people(n, seed):
    g = torch.Generator().manual_seed(seed)
    t = torch.tensor([_TEMPLATE[j] for j in COCO18.joints], dtype=torch.float32)
    cells = torch.randperm(COLS * ROWS, generator=g)[:n]
    centre = torch.stack([cells % COLS * CELL + 13, cells // COLS * CELL + 13], dim=-1).float()
    jitter = torch.rand(n, 1, 2, generator=g) - 0.5                                # whole person, +-0.5 px
    wobble = (torch.rand(n, t.shape[0], 2, generator=g) - 0.5) * 0.4              # per joint, +-0.2 px
    return t + centre[:, None] + jitter + wobble                                   # (n, 18, 2)


def _naive_paf(kp, vis, limbs, H, W, width):
    """Reference: per-person, per-limb, per-pixel loops (slow, obvious)."""
    out = np.zeros((2 * len(limbs), H, W))
    for c, (j1, j2) in enumerate(limbs):
        acc, cnt = np.zeros((2, H, W)), np.zeros((H, W))
        for p in range(kp.shape[0]):
            if vis[p, j1] <= 0 or vis[p, j2] <= 0:
                continue
            a, b = kp[p, j1], kp[p, j2]
            v = (b - a) / np.linalg.norm(b - a)
            for y in range(H):
                for x in range(W):
                    d = np.array([x, y]) - a
                    along, perp = v @ d, abs(v[0] * d[1] - v[1] * d[0])
                    if 0 <= along <= np.linalg.norm(b - a) and perp <= width:
                        acc[:, y, x] += v
                        cnt[y, x] += 1
        out[2 * c:2 * c + 2] = acc / np.maximum(cnt, 1)
    return out


def test_encode_matches_naive_loops_with_overlap_and_unlabelled():
    g = torch.Generator().manual_seed(1)
    kp = torch.rand(3, 4, 2, generator=g) * 14 + 1                                  # 3 people overlapping
    vis = torch.ones(3, 4)
    vis[1, 2] = 0
    limbs = [(0, 1), (1, 2), (2, 3)]
    got = paf.encode(kp[None], vis[None], limbs, (16, 16), stride=1.0, limb_width=1.5)[0]
    ref = _naive_paf(kp.double().numpy(), vis.numpy(), limbs, 16, 16, 1.5)
    assert got.shape == (6, 16, 16)
    np.testing.assert_allclose(got.numpy(), ref, atol=1e-5)


def test_field_is_unit_on_limb_and_zero_off_it():
    kp = torch.tensor([[[2.0, 5.0], [12.0, 5.0]]])
    f = paf.encode(kp, torch.ones(1, 2), [(0, 1)], (10, 16), stride=1.0, limb_width=1.0)[0]
    assert torch.equal(f[0, 5, 2:13], torch.ones(11)) and f[1].abs().max() == 0
    assert f[0, 8].abs().max() == 0 and f[0, 5, 13:].abs().max() == 0 and f[0, 5, :2].abs().max() == 0
    e = paf.line_integral(f[0:2], torch.tensor([[2.0, 5.0], [12.0, 5.0]]), torch.tensor([[12.0, 5.0], [2.0, 5.0]]))
    assert torch.allclose(e, torch.tensor([1.0, -1.0]))


def test_find_peaks_nms_and_subpixel():
    kp = torch.tensor([[[[5.3, 6.6]], [[20.0, 9.0]]]])                              # 2 people, 1 joint
    hm, _ = hmap.encode(kp, torch.ones(1, 2, 1), (16, 32), stride=1.0, sigma=1.5)
    peaks = paf.find_peaks(hm[0], threshold=0.1)
    assert len(peaks) == 1 and peaks[0].shape == (2, 3)
    got = peaks[0][peaks[0][:, 0].argsort()]
    assert torch.allclose(got[:, :2], torch.tensor([[5.3, 6.6], [20.0, 9.0]]), atol=1e-3)
    coarse = paf.find_peaks(hm[0], subpixel=False)[0]
    assert set(map(tuple, coarse[:, :2].tolist())) == {(5.0, 7.0), (20.0, 9.0)}


def test_match_limb_greedy_vs_optimal():
    s = np.array([[10.0, 9.0], [8.0, np.nan]])
    assert paf.match_limb(s, "greedy").tolist() == [[0, 0]]
    assert sorted(paf.match_limb(s, "optimal").tolist()) == [[0, 1], [1, 0]]
    assert paf.match_limb(np.full((2, 3), np.nan)).shape == (0, 2)
    # maximum weight, not maximum cardinality: one pair of 10 beats two pairs of 1
    assert paf.match_limb(np.array([[10.0, 1.0], [1.0, np.nan]]), "optimal").tolist() == [[0, 0]]
    assert paf.match_limb(np.array([[-1.0, 0.0]]), "optimal").shape == (0, 2)   # nothing worth taking


@settings(deadline=None, max_examples=40)
@given(na=st.integers(0, 5), nb=st.integers(0, 5), seed=st.integers(0, 10_000))
def test_optimal_matching_is_the_maximum_weight_matching(na, nb, seed):
    """Against brute force over every matching: the optimal total is the maximum, and never below greedy's."""
    import itertools

    rng = np.random.default_rng(seed)
    s = rng.uniform(-0.5, 1.0, (na, nb))
    s[rng.random((na, nb)) < 0.3] = np.nan

    def total(pairs):
        return sum(s[i, j] for i, j in pairs)

    best = 0.0
    cells = [(i, j) for i in range(na) for j in range(nb) if np.isfinite(s[i, j])]
    for r in range(min(na, nb) + 1):
        for pairs in itertools.combinations(cells, r):
            if len({i for i, _ in pairs}) == r and len({j for _, j in pairs}) == r:
                best = max(best, total(pairs))
    opt = paf.match_limb(s, "optimal").tolist()
    assert len({i for i, _ in opt}) == len(opt) and len({j for _, j in opt}) == len(opt)
    assert all(np.isfinite(s[i, j]) and s[i, j] > 0 for i, j in opt)
    assert total(opt) == pytest.approx(best)
    assert total(opt) >= total(paf.match_limb(s, "greedy").tolist()) - 1e-12 or best <= 0


@settings(deadline=None, max_examples=8)
@given(n=st.integers(1, 20), seed=st.integers(0, 10_000), method=st.sampled_from(["greedy", "optimal"]))
@example(n=20, seed=7, method="greedy")
@example(n=20, seed=8, method="optimal")
def test_assemble_recovers_every_person_from_exact_fields(n, seed, method):
    gt = _people(n, seed)
    vis = torch.ones(1, n, COCO18.num_joints)
    size = (ROWS * CELL, COLS * CELL)
    hm, _ = hmap.encode(gt[None], vis, size, stride=1.0, sigma=1.0, background=True)
    pf = paf.encode(gt[None], vis, COCO18, size, stride=1.0, limb_width=1.0)
    people = paf.assemble(hm[0], pf[0], COCO18, method=method)
    assert len(people) == n
    found = np.stack(people)                                                       # (n, K, 3)
    order = [int(np.argmin(np.linalg.norm(gt[:, 1].numpy() - p[1, :2], axis=-1))) for p in found]
    assert sorted(order) == list(range(n))
    np.testing.assert_allclose(found[np.argsort(order), :, :2], gt.numpy(), atol=0.05)
    assert (found[..., 2] > 0.6).all()


def test_assemble_stride_and_missing_joint():
    gt = _people(2, 3)
    vis = torch.ones(1, 2, COCO18.num_joints)
    vis[0, 0, COCO18.index("left_ankle")] = 0
    stride = 4.0
    img = hmap.to_image(gt, stride)                                                # image px of the same joints
    hm, _ = hmap.encode(img[None], vis, (ROWS * CELL, COLS * CELL), stride=stride, sigma=1.0)
    pf = paf.encode(img[None], vis, COCO18, (ROWS * CELL, COLS * CELL), stride=stride)
    people = sorted(paf.assemble(hm[0], pf[0], "coco18", stride=stride), key=lambda p: np.isnan(p[:, 0]).sum())
    assert len(people) == 2
    miss = people[1]
    k = COCO18.index("left_ankle")
    assert np.isnan(miss[k, :2]).all() and miss[k, 2] == 0 and np.isnan(miss[:, 0]).sum() == 1
    i = int(np.argmin(np.linalg.norm(img[:, 1].numpy() - miss[1, :2], axis=-1)))
    np.testing.assert_allclose(np.delete(miss[:, :2], k, 0), np.delete(img[i].numpy(), k, 0), atol=0.2)


def test_bad_input():
    with pytest.raises(ValueError, match="pafs"):
        paf.assemble(torch.zeros(18, 8, 8), torch.zeros(37, 8, 8), COCO18)
    with pytest.raises(ValueError, match="heatmaps"):
        paf.assemble(torch.zeros(17, 8, 8), torch.zeros(38, 8, 8), COCO18)
    with pytest.raises(ValueError, match="limbs"):
        paf.encode(torch.zeros(1, 3, 2), torch.ones(1, 3), [(0, 5)], (8, 8))
    with pytest.raises(ValueError, match="keypoints"):
        paf.encode(torch.full((1, 3, 2), float("nan")), torch.ones(1, 3), [(0, 1)], (8, 8))
    with pytest.raises(ValueError, match="method"):
        paf.match_limb(np.zeros((2, 2)), "random")
    with pytest.raises(ValueError, match="paf_c"):
        paf.line_integral(torch.zeros(3, 4, 4), torch.zeros(1, 2), torch.ones(1, 2))


# ---- bounded worst case: flat, saturated and random maps ------------------------------------------------
def _naive_peaks(m, threshold, r=1):
    """Brute force of find_peaks' rule: above threshold, earlier window pixels lower, later ones not
    higher, at least one lower, the first of its plateau; (y, x) in raster order."""
    H, W = m.shape
    out = []
    for y in range(H):
        for x in range(W):
            if not m[y, x] > threshold:
                continue
            ok, lower = True, False
            for yy in range(max(0, y - r), min(H, y + r + 1)):
                for xx in range(max(0, x - r), min(W, x + r + 1)):
                    if (yy, xx) == (y, x):
                        continue
                    earlier = (yy, xx) < (y, x)
                    ok &= m[yy, xx] < m[y, x] if earlier else m[yy, xx] <= m[y, x]
                    lower |= m[yy, xx] < m[y, x]
            if ok and lower:
                out.append((y, x))
    # one peak per plateau: drop a peak joined to an earlier one by 8-connected pixels of its exact value
    kept, taken = [], set()
    for y, x in out:
        if (y, x) in taken:
            continue
        kept.append((y, x))
        stack = [(y, x)]
        while stack:
            cy, cx = stack.pop()
            if (cy, cx) in taken:
                continue
            taken.add((cy, cx))
            stack += [(cy + dy, cx + dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                      if 0 <= cy + dy < H and 0 <= cx + dx < W and m[cy + dy, cx + dx] == m[y, x]]
    return kept


@settings(deadline=None, max_examples=30)
@given(seed=st.integers(0, 2 ** 31), levels=st.sampled_from([0, 2, 3]), r=st.sampled_from([1, 2]),
       size=st.tuples(st.integers(1, 9), st.integers(1, 9)))
def test_find_peaks_rule_matches_brute_force_with_ties(seed, levels, r, size):
    rng = np.random.default_rng(seed)
    m = rng.integers(0, levels, (2, *size)) / max(levels - 1, 1) if levels else rng.random((2, *size))
    peaks = paf.find_peaks(torch.from_numpy(m), threshold=0.1, nms_radius=r, subpixel=False)
    for k in range(2):
        assert [(int(y), int(x)) for x, y, _ in peaks[k].tolist()] == _naive_peaks(m[k], 0.1, r)


@pytest.mark.parametrize("value", [0.05, 0.5, 1.0])
@pytest.mark.parametrize("size", [(46, 46), (300, 200)])
def test_constant_and_saturated_maps_have_no_peaks_and_no_people(value, size):
    hm = torch.full((COCO18.num_joints, *size), value)
    assert all(len(p) == 0 for p in paf.find_peaks(hm))
    pf = torch.ones(2 * len(COCO18.limbs), *size)
    assert paf.assemble(hm, pf, COCO18) == []


def test_saturated_plateaus_give_one_peak_each():
    ys, xs = np.mgrid[:40, :60]
    blob = lambda cx, cy: np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / 8.0)  # noqa: E731
    m = np.minimum(3 * np.maximum(blob(15, 20), blob(45.5, 10)), 1.0)       # clipped: flat tops
    peaks = paf.find_peaks(torch.from_numpy(m)[None], subpixel=False)[0]
    tops = [(int(x), int(y)) for x, y, _ in peaks.tolist()]
    assert len(tops) == 2 and all(m[y, x] == 1.0 for x, y in tops)
    assert tops == sorted(tops, key=lambda p: (p[1], p[0]))                 # raster order
    assert all(np.argwhere(m[max(y - 1, 0):y + 2, max(x - 1, 0):x + 2] == 1.0)[0].tolist() == [min(y, 1), min(x, 1)]
               for x, y in tops)                                             # first pixel of its plateau


def test_random_maps_are_capped_and_assembly_stays_bounded():
    g = torch.Generator().manual_seed(0)
    hm = torch.rand(COCO18.num_joints, 120, 100, generator=g)
    pf = torch.rand(2 * len(COCO18.limbs), 120, 100, generator=g) * 2 - 1
    full = paf.find_peaks(hm, max_peaks=10 ** 6)
    assert min(len(p) for p in full) > 1000                                  # plenty of local maxima
    capped = paf.find_peaks(hm, max_peaks=7)
    assert [len(p) for p in capped] == [7] * COCO18.num_joints
    for f, c in zip(full, capped):
        assert torch.equal(c[:, 2].sort().values, f[:, 2].sort().values[-7:])  # the 7 highest
    assert len(paf.find_peaks(hm)[0]) == paf.MAX_PEAKS
    people = paf.assemble(hm, pf, COCO18)
    assert len(people) <= COCO18.num_joints * paf.MAX_PEAKS // 2           # each peak in at most one person
    assert all(p.shape == (COCO18.num_joints, 3) and (~np.isnan(p[:, 0])).sum() >= 2 for p in people)
    with pytest.raises(ValueError, match="max_peaks"):
        paf.find_peaks(hm, max_peaks=0)


def test_non_finite_maps():
    hm = torch.zeros(COCO18.num_joints, 30, 30)
    hm[3, 4, 5] = float("nan")
    with pytest.raises(ValueError, match="heatmaps"):
        paf.find_peaks(hm)
    hm[3, 4, 5] = float("-inf")                                              # just low: no error
    assert all(len(p) == 0 for p in paf.find_peaks(hm))
    gt = _people(1, 0)
    vis = torch.ones(1, 1, COCO18.num_joints)
    hm, _ = hmap.encode(gt[None], vis, (ROWS * CELL, COLS * CELL), stride=1.0, sigma=1.0)
    pf = paf.encode(gt[None], vis, COCO18, (ROWS * CELL, COLS * CELL), stride=1.0)
    pf[0, :, 0, 0] = float("nan")                                            # never sampled: ignored
    assert len(paf.assemble(hm[0], pf[0], COCO18)) == 1
    neck = gt[0, COCO18.index("neck")].round().long()
    pf[0, :, neck[1], neck[0]] = float("nan")                                # on limbs' sample points
    with pytest.raises(ValueError, match="pafs: NaN/inf where limb"):
        paf.assemble(hm[0], pf[0], COCO18)


@pytest.mark.parametrize("gain", [2.0, 3.0, 6.0])
def test_saturated_peaks_assemble_one_person(gain):
    """Issue 24: flat-topped (saturated) belief maps gave several peaks per part -- a plateau that widens by
    more than a pixel per row -- and one person assembled as two. One peak per plateau now."""
    from posecourse.targets import heatmap as hmod

    sk = get_skeleton("coco18")
    g = torch.Generator().manual_seed(1)
    kp = torch.rand(1, 1, sk.num_joints, 2, generator=g) * torch.tensor([60.0, 70.0]) + torch.tensor([20.0, 15.0])
    vis = torch.ones(1, 1, sk.num_joints)
    hm, _ = hmod.encode(kp, vis, (32, 32), stride=4, sigma=2.5)
    field = paf.encode(kp, vis, sk.limbs, (32, 32), stride=4, limb_width=2.0)
    flat = (gain * hm[0]).clamp(max=1.0)
    for k in range(sk.num_joints):
        assert len(paf.find_peaks(flat[k:k + 1])[0]) == 1
    people = paf.assemble(flat, field[0], sk, stride=4)
    assert len(people) == 1 and (people[0][:, 2] > 0).sum() >= sk.num_joints - 2


def test_peaks_on_different_plateaus_of_equal_height_are_kept():
    m = torch.zeros(1, 12, 12)
    m[0, 2:4, 2:5] = 1.0
    m[0, 8:10, 7:10] = 1.0
    assert paf.find_peaks(m)[0][:, :2].tolist() == [[3.0, 2.5], [8.0, 8.5]]  # each plateau's centroid
    assert paf.find_peaks(m, subpixel=False)[0][:, :2].tolist() == [[2.0, 2.0], [7.0, 8.0]]  # its first pixel


@pytest.mark.parametrize("stride", [0, -4, float("nan"), float("inf"), True, "4"])
def test_assemble_refuses_a_bad_stride(stride):
    sk = get_skeleton("coco18")
    with pytest.raises(ValueError, match="^stride: "):
        paf.assemble(torch.zeros(sk.num_joints, 8, 8), torch.zeros(2 * len(sk.limbs), 8, 8), sk, stride=stride)
