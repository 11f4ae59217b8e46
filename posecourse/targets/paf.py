"""OpenPose Part Affinity Fields: encoding, line-integral scoring, matching and person assembly.

Cao et al., "Realtime Multi-Person 2D Pose Estimation using Part Affinity Fields", CVPR 2017:

- PAF ``L*_c,k(p) = v`` (unit vector from joint ``j1`` to ``j2``) when ``0 <= v.(p - x_j1) <= l`` and
  ``|v_perp.(p - x_j1)| <= sigma_l``; ``L*_c(p)`` averages over the ``n_c(p)`` people non-zero at ``p`` (Eq. 8-9).
- Connection score ``E = integral L_c(p(u)) . (d_j2 - d_j1)/|d_j2 - d_j1| du`` sampled at ``num_samples``
  points (Eq. 10). The paper relaxes the whole k-partite problem to a tree of bipartite ones (Sec. 2.4, Eq. 13),
  says each can be solved with the Hungarian algorithm, and calls its parser greedy; OpenPose's released code,
  and this module by default, match greedily by decreasing score (``method="optimal"``: the Hungarian matching).

Channel order: limb ``c`` of ``skeleton.limbs`` owns channels ``2c`` (x component) and ``2c + 1`` (y).
Coordinates: heatmap px, centre-aligned with image px as in :mod:`.heatmap` (``x_hm = (x + 0.5)/s - 0.5``).
"""
from __future__ import annotations

import numbers

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from ..skeletons import Skeleton, get_skeleton
from .heatmap import _check_positive, _people, to_heatmap, to_image
from .peaks import MAX_PEAKS, _find_peaks, _numpy, find_peaks

__all__ = ["encode", "find_peaks", "line_integral", "match_limb", "assemble", "MAX_PEAKS"]


def _limbs(limbs) -> torch.Tensor:
    if isinstance(limbs, (str, Skeleton)):
        limbs = get_skeleton(limbs).limbs
    lt = torch.as_tensor(limbs, dtype=torch.long)
    if lt.dim() != 2 or lt.shape[1] != 2:
        raise ValueError(f"limbs: expected (L, 2) joint index pairs, got shape {tuple(lt.shape)}")
    return lt


def encode(keypoints, visibility, limbs, heatmap_size, stride: float = 8.0, limb_width: float = 1.0) -> torch.Tensor:
    """Ground-truth PAFs, vectorized over limbs and people.

    Args:
        keypoints: ``(B, P, K, 2)`` image px (or ``(B, K, 2)``); visibility ``(B, P, K)`` (``> 0`` labelled).
        limbs: ``(L, 2)`` joint pairs, or a skeleton / its name (uses ``.limbs``).
        heatmap_size: ``(H, W)``; stride: image px per heatmap px.
        limb_width: ``sigma_l`` in heatmap px.
    Returns:
        ``(B, 2L, H, W)``; channel ``2c`` is x, ``2c + 1`` is y of limb ``c``.
    """
    kp, labelled = _people(keypoints, visibility)
    lt = _limbs(limbs).to(kp.device)
    K = kp.shape[2]
    if lt.numel() and (lt.min() < 0 or lt.max() >= K):
        raise ValueError(f"limbs: joint indices must lie in [0, {K})")
    H, W = (int(v) for v in heatmap_size)
    if H <= 0 or W <= 0:
        raise ValueError(f"heatmap_size: expected positive (H, W), got {heatmap_size!r}")
    _check_positive(stride, "stride")
    _check_positive(limb_width, "limb_width")
    x = to_heatmap(kp, stride)
    a, b = x[:, :, lt[:, 0]], x[:, :, lt[:, 1]]                       # (B, P, L, 2)
    length = (b - a).norm(dim=-1)                                      # (B, P, L)
    valid = labelled[:, :, lt[:, 0]] & labelled[:, :, lt[:, 1]] & (length > 1e-6)
    v = (b - a) / length.clamp(min=1e-6).unsqueeze(-1)
    ys, xs = torch.meshgrid(torch.arange(H, device=kp.device, dtype=kp.dtype),
                            torch.arange(W, device=kp.device, dtype=kp.dtype), indexing="ij")
    dx = xs - a[..., 0, None, None]                                    # (B, P, L, H, W)
    dy = ys - a[..., 1, None, None]
    along = v[..., 0, None, None] * dx + v[..., 1, None, None] * dy
    perp = (v[..., 0, None, None] * dy - v[..., 1, None, None] * dx).abs()
    on = (along >= 0) & (along <= length[..., None, None]) & (perp <= limb_width) & valid[..., None, None]
    on = on.to(kp.dtype)
    count = on.sum(dim=1).clamp(min=1)                                 # n_c(p), (B, L, H, W)
    fx = (on * v[..., 0, None, None]).sum(dim=1) / count
    fy = (on * v[..., 1, None, None]).sum(dim=1) / count
    return torch.stack([fx, fy], dim=2).flatten(1, 2)                  # (B, 2L, H, W)


def _sample_dots(paf: np.ndarray, chan: np.ndarray, a: np.ndarray, b: np.ndarray, num_samples: int,
                 which=slice(None)) -> np.ndarray:
    """``L_c(p(u)) . unit(b - a)`` at ``num_samples`` evenly spaced points of each segment; ``(N, S)``
    (or only the samples ``which``, bit-identical to those columns of the full result).

    ``paf`` is ``(C, H, W)``; segment ``n`` reads channels ``chan[n]`` (x) and ``chan[n] + 1`` (y).
    The field is read by bilinear interpolation between pixel centres, points clamped to the map
    (as ``grid_sample(..., align_corners=True, padding_mode="border")``; OpenPose's Python demo rounds
    to the nearest pixel instead, which drops end samples of limbs only a few pixels long). Only the
    ``4 N S`` pixels around the samples are read, never the whole map.
    """
    H, W = paf.shape[-2:]
    flat = paf.reshape(-1)
    u = np.linspace(0, 1, num_samples, dtype=a.dtype)[which]
    d = b - a
    px = np.clip(a[:, None, 0] + u * d[:, None, 0], 0, W - 1)            # (N, S)
    py = np.clip(a[:, None, 1] + u * d[:, None, 1], 0, H - 1)
    x0, y0 = np.floor(px), np.floor(py)
    fx, fy = px - x0, py - y0
    x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
    x1, y1 = np.minimum(x0 + 1, W - 1), np.minimum(y0 + 1, H - 1)
    base = chan[:, None].astype(np.int64) * (H * W)
    r0, r1 = base + y0 * W, base + y1 * W
    field = [(1 - fy) * ((1 - fx) * flat[r0 + x0 + o] + fx * flat[r0 + x1 + o])
             + fy * ((1 - fx) * flat[r1 + x0 + o] + fx * flat[r1 + x1 + o]) for o in (0, H * W)]
    unit = d / np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-6)
    return field[0] * unit[:, 0, None] + field[1] * unit[:, 1, None]


def line_integral(paf_c, a, b, num_samples: int = 10) -> torch.Tensor:
    """Connection scores ``E`` ``(N,)`` for candidate limbs ``a -> b`` (``(N, 2)`` heatmap px each),
    the mean over ``num_samples`` points of ``L_c(p(u)) . (b - a)/|b - a|``; ``paf_c`` is ``(2, H, W)``."""
    f = _numpy(paf_c, "paf_c")
    if f.ndim != 3 or f.shape[0] != 2:
        raise ValueError(f"paf_c: expected (2, H, W), got {tuple(f.shape)}")
    a = _numpy(a, "a").astype(f.dtype).reshape(-1, 2)
    b = _numpy(b, "b").astype(f.dtype).reshape(-1, 2)
    if a.shape != b.shape:
        raise ValueError(f"b: shape {tuple(b.shape)} differs from a {tuple(a.shape)}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("a, b: contain NaN/inf")
    if num_samples < 2:
        raise ValueError(f"num_samples: expected >= 2, got {num_samples}")
    return torch.from_numpy(_sample_dots(f, np.zeros(len(a), np.int64), a, b, num_samples).mean(-1))


def match_limb(scores, method: str = "greedy") -> np.ndarray:
    """Bipartite matching of candidates ``(Na, Nb)`` (NaN or -inf = not allowed).

    ``"greedy"`` (OpenPose): take connections by decreasing score when neither end is used yet.
    ``"optimal"``: the matching of maximum total score (the Hungarian algorithm, which the paper says can solve
    Eq. 13, Sec. 2.4), via ``scipy.optimize.linear_sum_assignment``; pairs scoring <= 0 are never taken.
    Returns ``(M, 2)`` int index pairs ``(i, j)``.
    """
    s = _numpy(scores, "scores").astype(np.float64)
    if s.ndim != 2:
        raise ValueError(f"scores: expected (Na, Nb), got shape {s.shape}")
    ok = np.isfinite(s)
    if method == "greedy":
        ii, jj = np.nonzero(ok)
        order = np.argsort(-s[ii, jj], kind="stable")
        used_a, used_b, pairs = set(), set(), []
        for i, j in zip(ii[order], jj[order]):
            if i not in used_a and j not in used_b:
                used_a.add(i), used_b.add(j), pairs.append((i, j))
        return np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if method == "optimal":
        # maximum-weight matching (not maximum cardinality): a pair that is not allowed, or scores <= 0,
        # weighs 0, so it can never raise the total; the assignment solver may still return it, and it
        # is dropped afterwards
        w = np.maximum(np.where(ok, s, 0.0), 0.0)
        if not (w > 0).any():
            return np.zeros((0, 2), dtype=np.int64)
        rows, cols = linear_sum_assignment(w, maximize=True)
        keep = w[rows, cols] > 0
        return np.stack([rows[keep], cols[keep]], axis=-1).astype(np.int64)
    raise ValueError(f"method: expected 'greedy' or 'optimal', got {method!r}")


_CHUNK = 1 << 15     # candidate connections scored per step (bounds the temporaries to a few MB)


def _score_pairs(paf, limb, a, b, H, num_samples, paf_threshold, min_fraction, sk) -> np.ndarray:
    """Scores ``(N,)`` (float64) of candidate connections ``a -> b`` (``(N, 2)``) of limbs ``limb``
    (``(N,)``), NaN where a criterion of :func:`assemble` fails.

    Most candidates join parts of different people, so a few interior samples are read first: a
    candidate already failing more of them than ``min_fraction`` allows cannot pass and is dropped
    before its full line integral (an exact shortcut: the result is the same)."""
    S = num_samples
    score = np.full(len(limb), np.nan)
    allowed = max((f for f in range(S + 1) if np.float64(S - f) / S >= min_fraction), default=-1)
    if allowed < 0:
        return score
    probe = np.unique(np.round(np.linspace(1, S - 2, allowed + 1)).astype(np.int64))
    keep = np.arange(len(limb))
    if len(probe) == allowed + 1 and S > 2:
        dots = _sample_dots(paf, 2 * limb, a, b, S, probe)
        _check_finite(dots, limb, sk)
        keep = np.flatnonzero((dots <= paf_threshold).sum(-1) <= allowed)
    limb, a, b = limb[keep], a[keep], b[keep]
    dots = _sample_dots(paf, 2 * limb, a, b, S)                           # (N', S)
    _check_finite(dots, limb, sk)
    length = np.linalg.norm(b - a, axis=-1)
    e = dots.mean(-1) + np.minimum(0.5 * H / np.maximum(length, 1e-6) - 1, 0)
    ok = ((dots > paf_threshold).mean(-1) >= min_fraction) & (e > 0) & (length > 1e-6)
    score[keep] = np.where(ok, e, np.nan)
    return score


def _check_finite(dots, limb, sk):
    if not np.isfinite(dots).all():
        c = int(limb[~np.isfinite(dots).all(-1)][0])
        j1, j2 = sk.limbs[c]
        raise ValueError(f"pafs: NaN/inf where limb {c} ({sk.joints[j1]}-{sk.joints[j2]}) is sampled")


def assemble(heatmaps, pafs, skeleton, threshold: float = 0.1, paf_threshold: float = 0.05,
             num_samples: int = 10, min_fraction: float = 0.8, nms_radius: int = 1, method: str = "greedy",
             min_joints: int = 2, stride: float | None = None, max_peaks: int = MAX_PEAKS) -> list[np.ndarray]:
    """People in one image from its heatmaps and PAFs (OpenPose's bottom-up parsing).

    Args:
        heatmaps: ``(K, H, W)`` or ``(K + 1, H, W)`` (a trailing background channel is ignored).
        pafs: ``(2L, H, W)`` in ``skeleton.limbs`` order (x, y per limb).
        skeleton: a :class:`~posecourse.skeletons.Skeleton` or its name.
        threshold: peak threshold; ``paf_threshold`` / ``min_fraction``: a candidate connection needs
            ``min_fraction`` of its samples with ``L . v > paf_threshold`` and a positive score
            (``E`` plus OpenPose's length prior ``min(0.5 H / |b - a| - 1, 0)``); a connection between
            two peaks at the same point (length 0) is never made.
        method: limb matching, ``"greedy"`` or ``"optimal"``.
        min_joints: people with fewer joints are dropped.
        stride: if given, return image px (centre-aligned); else heatmap px.
        max_peaks: peaks kept per joint (:func:`find_peaks`), which bounds the work per limb by
            ``max_peaks^2 * num_samples`` whatever the maps hold.
    Returns:
        list of ``(K, 3)`` arrays ``x, y, score`` (NaN x/y and score 0 for a missing joint).

    Peaks differ from pytorch-openpose's ``body.py`` on purpose: it blurs each map (``gaussian_filter``,
    sigma 3) and keeps every pixel ``>=`` its four neighbours, so a flat (saturated) top yields many peaks
    and one person assembles as several; we read the maps as they are and keep one peak per plateau, at
    its centroid (:func:`find_peaks`; ``tests/targets/test_targets_paf.py`` pins it).

    Cost: one pass over the heatmaps (:func:`find_peaks`); the PAFs are read only around the sample
    points of candidate limbs (a NaN/inf read there raises ``ValueError``; the rest of the field is
    never looked at). Work per limb is at most ``max_peaks^2 * num_samples`` field reads, so a constant,
    random or saturated map of any size finishes in time linear in its pixels and bounded memory.
    """
    sk = get_skeleton(skeleton)
    K, limbs = sk.num_joints, sk.limbs
    if stride is not None:
        _check_positive(stride, "stride")
    for name, v in (("threshold", threshold), ("paf_threshold", paf_threshold), ("min_fraction", min_fraction)):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not np.isfinite(v):
            raise ValueError(f"{name}: expected a finite number, got {v!r}")
    for name, v, low in (("num_samples", num_samples, 2), ("min_joints", min_joints, 1),
                         ("nms_radius", nms_radius, 1), ("max_peaks", max_peaks, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
            raise ValueError(f"{name}: expected an int >= {low}, got {v!r}")
    hm, paf = _numpy(heatmaps, "heatmaps"), _numpy(pafs, "pafs")
    if hm.ndim != 3 or hm.shape[0] not in (K, K + 1):
        raise ValueError(f"heatmaps: expected ({K} or {K + 1}, H, W), got {tuple(hm.shape)}")
    if paf.ndim != 3 or paf.shape[0] != 2 * len(limbs) or paf.shape[1:] != hm.shape[1:]:
        raise ValueError(f"pafs: expected ({2 * len(limbs)}, {hm.shape[1]}, {hm.shape[2]}), got {tuple(paf.shape)}")
    if num_samples < 2:
        raise ValueError(f"num_samples: expected >= 2, got {num_samples}")
    if int(nms_radius) < 1 or not (isinstance(max_peaks, int) and max_peaks >= 1):
        raise ValueError(f"nms_radius / max_peaks: expected >= 1, got {nms_radius!r} / {max_peaks!r}")
    allpk, n_pk = _find_peaks(hm[:K], threshold, int(nms_radius), True, max_peaks)
    H = hm.shape[1]
    # every candidate connection of every limb at once: limb c pairs peaks[j1] x peaks[j2] (row-major)
    start = np.cumsum(n_pk) - n_pk
    lt = np.asarray(limbs, dtype=np.int64).reshape(-1, 2)
    na, nb = n_pk[lt[:, 0]], n_pk[lt[:, 1]]
    n_pair = na * nb
    bounds = np.cumsum(n_pair) - n_pair
    limb = np.repeat(np.arange(len(lt)), n_pair)
    local = np.arange(n_pair.sum()) - np.repeat(bounds, n_pair)
    ia, ib = start[lt[limb, 0]] + local // nb[limb], start[lt[limb, 1]] + local % nb[limb]
    xy = allpk[:, :2].astype(paf.dtype)
    score = np.concatenate([np.zeros(0)] + [
        _score_pairs(paf, limb[s:s + _CHUNK], xy[ia[s:s + _CHUNK]], xy[ib[s:s + _CHUNK]], H, num_samples,
                     paf_threshold, min_fraction, sk) for s in range(0, len(limb), _CHUNK)])
    live = set(np.flatnonzero(np.bincount(limb[np.isfinite(score)], minlength=len(lt))).tolist())
    peaks = np.split(allpk, np.cumsum(n_pk)[:-1])

    people: list[list[int] | None] = []     # per person: peak index per joint, -1 = missing
    owner: dict[tuple[int, int], int] = {}  # (joint, peak) -> person
    for c, (j1, j2) in enumerate(limbs):
        if c not in live:
            continue
        scores = score[bounds[c]:bounds[c] + n_pair[c]].reshape(na[c], nb[c])
        for i, j in match_limb(scores, method).tolist():
            owners = sorted({owner[key] for key in ((j1, i), (j2, j)) if key in owner})
            if not owners:
                q = [-1] * K
                q[j1], q[j2] = i, j
                people.append(q)
                owner[j1, i] = owner[j2, j] = len(people) - 1
            elif len(owners) == 1:
                n = owners[0]
                q = people[n]
                for jj, pi in ((j1, i), (j2, j)):
                    if q[jj] == -1:
                        q[jj] = pi
                        owner[jj, pi] = n
            else:
                q1, q2 = people[owners[0]], people[owners[1]]
                if not any(u >= 0 and v >= 0 for u, v in zip(q1, q2)):   # disjoint parts of one person
                    for jj, pi in enumerate(q2):
                        if pi >= 0:
                            q1[jj] = pi
                            owner[jj, pi] = owners[0]
                    people[owners[1]] = None
    out = []
    for q in people:
        if q is None or sum(v >= 0 for v in q) < min_joints:
            continue
        res = np.full((K, 3), np.nan)
        res[:, 2] = 0.0
        for k, pi in enumerate(q):
            if pi >= 0:
                res[k] = peaks[k][pi]
        if stride is not None:
            res[:, :2] = to_image(torch.from_numpy(res[:, :2]), stride).numpy()
        out.append(res)
    return out
