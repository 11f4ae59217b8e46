"""OpenPose Part Affinity Fields: encoding, line-integral scoring, matching and person assembly.

Cao et al., "Realtime Multi-Person 2D Pose Estimation using Part Affinity Fields", CVPR 2017:
- PAF ``L*_c,k(p) = v`` (unit vector from joint ``j1`` to ``j2``) when ``0 <= v.(p - x_j1) <= l`` and
  ``|v_perp.(p - x_j1)| <= sigma_l``; ``L*_c(p)`` averages over the ``n_c(p)`` people non-zero at ``p`` (Eq. 8-9).
- Connection score ``E = integral L_c(p(u)) . (d_j2 - d_j1)/|d_j2 - d_j1| du`` sampled at ``num_samples``
  points (Eq. 10); limbs matched greedily (Sec. 3.4) or optimally (Hungarian).

Channel order: limb ``c`` of ``skeleton.limbs`` owns channels ``2c`` (x component) and ``2c + 1`` (y).
Coordinates: heatmap px, centre-aligned with image px as in :mod:`.heatmap` (``x_hm = (x + 0.5)/s - 0.5``).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

from ..skeletons import Skeleton, get_skeleton
from .heatmap import _people, to_heatmap, to_image

__all__ = ["encode", "find_peaks", "line_integral", "match_limb", "assemble"]


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
    if not (stride > 0 and limb_width > 0):
        raise ValueError("stride and limb_width must be > 0")
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


def find_peaks(heatmaps, threshold: float = 0.1, nms_radius: int = 1, subpixel: bool = True) -> list[torch.Tensor]:
    """Local maxima of each ``(K, H, W)`` heatmap above ``threshold`` (max-pool NMS in a ``2r+1`` window).

    ``subpixel`` refines each peak per axis by the vertex of a parabola through the log-values of
    the peak and its two neighbours (exact for a Gaussian). Returns ``K`` tensors ``(N_k, 3)`` of
    ``x, y, score`` in heatmap px.
    """
    hm = torch.as_tensor(heatmaps)
    hm = hm.float() if not torch.is_floating_point(hm) else hm
    if hm.dim() != 3:
        raise ValueError(f"heatmaps: expected (K, H, W), got {tuple(hm.shape)}")
    if not torch.isfinite(hm).all():
        raise ValueError("heatmaps: contain NaN/inf")
    r = int(nms_radius)
    if r < 1:
        raise ValueError(f"nms_radius: expected >= 1, got {nms_radius}")
    pooled = F.max_pool2d(hm.unsqueeze(0), 2 * r + 1, stride=1, padding=r).squeeze(0)
    k, y, x = torch.nonzero((hm == pooled) & (hm > threshold), as_tuple=True)
    score = hm[k, y, x]
    xy = torch.stack([x, y], dim=-1).to(hm.dtype)
    if subpixel and len(k):
        H, W = hm.shape[-2:]
        L = torch.log(hm.clamp(min=1e-10))
        c = L[k, y, x]
        offs = []
        for ax, n in ((0, W), (1, H)):
            i = xy[:, ax].long()
            lo, hi = (i - 1).clamp(0, n - 1), (i + 1).clamp(0, n - 1)
            lm = L[k, y, lo] if ax == 0 else L[k, lo, x]
            lp = L[k, y, hi] if ax == 0 else L[k, hi, x]
            curv = lm - 2 * c + lp
            ok = (i > 0) & (i < n - 1) & (curv < -1e-9)
            off = 0.5 * (lm - lp) / torch.where(ok, curv, -torch.ones_like(curv))
            offs.append((off * ok).clamp(-0.5, 0.5))
        xy = xy + torch.stack(offs, dim=-1)
    out = torch.cat([xy, score.unsqueeze(-1)], dim=-1)
    return [out[k == j] for j in range(hm.shape[0])]


def _sample_dots(paf_c: torch.Tensor, a: torch.Tensor, b: torch.Tensor, num_samples: int) -> torch.Tensor:
    """``L_c(p(u)) . unit(b - a)`` at ``num_samples`` evenly spaced points; ``(N, S)``.

    The field is read by bilinear interpolation between pixel centres (OpenPose's Python demo rounds
    to the nearest pixel instead, which drops end samples of limbs only a few pixels long).
    """
    H, W = paf_c.shape[-2:]
    u = torch.linspace(0, 1, num_samples, device=a.device, dtype=a.dtype)
    p = a[:, None] + u[None, :, None] * (b - a)[:, None]                 # (N, S, 2)
    scale = torch.tensor([2 / max(W - 1, 1), 2 / max(H - 1, 1)], device=p.device, dtype=p.dtype)
    grid = (p * scale - 1).unsqueeze(0)                                  # (1, N, S, 2), align_corners=True
    field = F.grid_sample(paf_c.unsqueeze(0), grid, mode="bilinear", padding_mode="border",
                          align_corners=True)[0]                         # (2, N, S)
    d = b - a
    unit = d / d.norm(dim=-1, keepdim=True).clamp(min=1e-6)
    return field[0] * unit[:, 0, None] + field[1] * unit[:, 1, None]


def line_integral(paf_c, a, b, num_samples: int = 10) -> torch.Tensor:
    """Connection scores ``E`` ``(N,)`` for candidate limbs ``a -> b`` (``(N, 2)`` heatmap px each),
    the mean over ``num_samples`` points of ``L_c(p(u)) . (b - a)/|b - a|``; ``paf_c`` is ``(2, H, W)``."""
    paf_c = torch.as_tensor(paf_c)
    if paf_c.dim() != 3 or paf_c.shape[0] != 2:
        raise ValueError(f"paf_c: expected (2, H, W), got {tuple(paf_c.shape)}")
    a = torch.as_tensor(a, dtype=paf_c.dtype, device=paf_c.device).reshape(-1, 2)
    b = torch.as_tensor(b, dtype=paf_c.dtype, device=paf_c.device).reshape(-1, 2)
    if a.shape != b.shape:
        raise ValueError(f"b: shape {tuple(b.shape)} differs from a {tuple(a.shape)}")
    if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
        raise ValueError("a, b: contain NaN/inf")
    if num_samples < 2:
        raise ValueError(f"num_samples: expected >= 2, got {num_samples}")
    return _sample_dots(paf_c, a, b, num_samples).mean(dim=-1)


def match_limb(scores, method: str = "greedy") -> np.ndarray:
    """Bipartite matching of candidates ``(Na, Nb)`` (NaN or -inf = not allowed).

    ``"greedy"`` (OpenPose): take connections by decreasing score when neither end is used yet.
    ``"optimal"``: maximum total score (``scipy.optimize.linear_sum_assignment``).
    Returns ``(M, 2)`` int index pairs ``(i, j)``.
    """
    s = np.asarray(torch.as_tensor(scores).detach().cpu(), dtype=np.float64)
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
        if not ok.any():
            return np.zeros((0, 2), dtype=np.int64)
        low = s[ok].min() - 1e6
        rows, cols = linear_sum_assignment(np.where(ok, s, low), maximize=True)
        keep = ok[rows, cols]
        return np.stack([rows[keep], cols[keep]], axis=-1).astype(np.int64)
    raise ValueError(f"method: expected 'greedy' or 'optimal', got {method!r}")


def assemble(heatmaps, pafs, skeleton, threshold: float = 0.1, paf_threshold: float = 0.05,
             num_samples: int = 10, min_fraction: float = 0.8, nms_radius: int = 1, method: str = "greedy",
             min_joints: int = 2, stride: float | None = None) -> list[np.ndarray]:
    """People in one image from its heatmaps and PAFs (OpenPose's bottom-up parsing).

    Args:
        heatmaps: ``(K, H, W)`` or ``(K + 1, H, W)`` (a trailing background channel is ignored).
        pafs: ``(2L, H, W)`` in ``skeleton.limbs`` order (x, y per limb).
        skeleton: a :class:`~posecourse.skeletons.Skeleton` or its name.
        threshold: peak threshold; ``paf_threshold`` / ``min_fraction``: a candidate connection needs
            ``min_fraction`` of its samples with ``L . v > paf_threshold`` and a positive score
            (``E`` plus OpenPose's length prior ``min(0.5 H / |b - a| - 1, 0)``).
        method: limb matching, ``"greedy"`` or ``"optimal"``.
        min_joints: people with fewer joints are dropped.
        stride: if given, return image px (centre-aligned); else heatmap px.
    Returns:
        list of ``(K, 3)`` arrays ``x, y, score`` (NaN x/y and score 0 for a missing joint).
    """
    sk = get_skeleton(skeleton)
    K, limbs = sk.num_joints, sk.limbs
    hm = torch.as_tensor(heatmaps)
    paf = torch.as_tensor(pafs).to(hm.dtype if torch.is_floating_point(hm) else torch.float32)
    if hm.dim() != 3 or hm.shape[0] not in (K, K + 1):
        raise ValueError(f"heatmaps: expected ({K} or {K + 1}, H, W), got {tuple(hm.shape)}")
    if paf.dim() != 3 or paf.shape[0] != 2 * len(limbs) or paf.shape[1:] != hm.shape[1:]:
        raise ValueError(f"pafs: expected ({2 * len(limbs)}, {hm.shape[1]}, {hm.shape[2]}), got {tuple(paf.shape)}")
    if not torch.isfinite(paf).all():
        raise ValueError("pafs: contain NaN/inf")
    peaks = find_peaks(hm[:K], threshold, nms_radius)
    H = hm.shape[1]
    people: list[np.ndarray] = []       # each (K,) peak index per joint, -1 = missing
    for c, (j1, j2) in enumerate(limbs):
        pa, pb = peaks[j1], peaks[j2]
        if not len(pa) or not len(pb):
            continue
        a = pa[:, None, :2].expand(-1, len(pb), -1).reshape(-1, 2)
        b = pb[None, :, :2].expand(len(pa), -1, -1).reshape(-1, 2)
        dots = _sample_dots(paf[2 * c:2 * c + 2], a, b, num_samples)
        length = (b - a).norm(dim=-1).clamp(min=1e-6)
        e = dots.mean(-1) + torch.clamp(0.5 * H / length - 1, max=0)
        ok = ((dots > paf_threshold).float().mean(-1) >= min_fraction) & (e > 0)
        scores = torch.where(ok, e, torch.full_like(e, float("nan"))).view(len(pa), len(pb))
        for i, j in match_limb(scores, method):
            owners = [n for n, q in enumerate(people) if q[j1] == i or q[j2] == j]
            if not owners:
                q = np.full(K, -1, dtype=np.int64)
                q[j1], q[j2] = i, j
                people.append(q)
            elif len(owners) == 1:
                q = people[owners[0]]
                if q[j1] == -1:
                    q[j1] = i
                if q[j2] == -1:
                    q[j2] = j
            else:
                q1, q2 = people[owners[0]], people[owners[1]]
                if not ((q1 >= 0) & (q2 >= 0)).any():      # disjoint parts of one person: merge
                    people[owners[0]] = np.maximum(q1, q2)
                    del people[owners[1]]
    out = []
    for q in people:
        if (q >= 0).sum() < min_joints:
            continue
        res = np.full((K, 3), np.nan)
        res[:, 2] = 0.0
        for k in np.nonzero(q >= 0)[0]:
            res[k] = peaks[k][q[k]].detach().cpu().numpy()
        if stride is not None:
            res[:, :2] = to_image(torch.from_numpy(res[:, :2]), stride).numpy()
        out.append(res)
    return out
