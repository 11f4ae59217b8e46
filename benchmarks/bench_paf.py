"""PAF person assembly at full resolution: ``paf.assemble`` vs a straightforward per-limb Python baseline.

Maps: 1000 x 1000 (stride 1), COCO-18, exact fields built with ``heatmap.encode`` (sigma 2, people
max-combined) and ``paf.encode`` (limb width 2, people averaged), for 1, 5 and 20 upright people
about 170 px tall. The baseline is written here the way the CMU reference post-processing is
structured: for each joint, peaks by comparing the whole map with its shifted copies (NMS) above the
threshold, then for each limb a Python double loop over candidate pairs sampling the field along the
segment (the line integral), greedy connection per limb, and the subset merging that builds people.
It applies the same rules as ``assemble`` (peak tie rule, cap, sub-pixel refinement, bilinear field
reads, length prior, criteria), so both must return the same people; the script checks that.

Prints, per person count, both times (best of ``--repeat`` runs after a warm-up, all in this run),
the speed-up, and the speed-up against the CMU reference timings quoted in issue 16
(471 / 487 / 814 ms on a quiet 2-core machine; the 10x target means <= 47 / 49 / 81 ms here).

    python benchmarks/bench_paf.py [--quick] [--repeat N]
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from posecourse.skeletons import COCO18
from posecourse.targets import heatmap as hmap
from posecourse.targets import paf

CMU_MS = {1: 471.0, 5: 487.0, 20: 814.0}   # issue 16: CMU reference post-processing, same maps
TEMPLATE = {   # an upright figure in template units (x right, y down); x8 -> about 170 px tall
    "nose": (0, -9), "neck": (0, -5), "right_shoulder": (-3, -5), "right_elbow": (-5, -1), "right_wrist": (-6, 3),
    "left_shoulder": (3, -5), "left_elbow": (5, -1), "left_wrist": (6, 3), "right_hip": (-2, 2),
    "right_knee": (-2, 6), "right_ankle": (-2, 10), "left_hip": (2, 2), "left_knee": (2, 6), "left_ankle": (2, 10),
    "right_eye": (-2, -11), "left_eye": (2, -11), "right_ear": (-4, -10), "left_ear": (4, -10),
}


def make_people(n: int, size: int, seed: int = 0) -> np.ndarray:
    """``(n, 18, 2)`` image px: one figure per cell of a 5 x 4 grid, jittered and scaled."""
    rng = np.random.default_rng(seed)
    t = np.array([TEMPLATE[j] for j in COCO18.joints], dtype=float)
    cells = rng.permutation(20)[:n]
    cw, ch = size / 5, size / 4
    centre = np.stack([(cells % 5 + 0.5) * cw, (cells // 5 + 0.5) * ch], -1)
    scale = rng.uniform(7.0, 8.5, (n, 1, 1)) * size / 1000
    return t * scale + centre[:, None] + rng.uniform(-10, 10, (n, 1, 2)) * size / 1000 + rng.uniform(-1, 1, (n, 18, 2))


def make_maps(people: np.ndarray, size: int, sigma: float = 2.0, limb_width: float = 2.0):
    """Exact heatmaps ``(18, S, S)`` and PAFs ``(38, S, S)`` for ``people``, encoded person by person on
    a crop around each figure (the fields vanish outside it; a Gaussian 40 px away underflows float32)
    and combined as ``encode`` combines people: heatmaps by max, PAFs averaged where they overlap."""
    K, L = COCO18.num_joints, len(COCO18.limbs)
    hm = torch.zeros(K, size, size)
    acc, cnt = torch.zeros(2 * L, size, size), torch.zeros(L, size, size)
    for p in torch.from_numpy(people).float():
        x0, y0 = (int(v) for v in (p.min(0).values - 40).clamp(min=0))
        x1, y1 = (int(v) for v in (p.max(0).values + 41).clamp(max=size))
        local = (p - torch.tensor([x0, y0]))[None]
        h, _ = hmap.encode(local, torch.ones(1, K), (y1 - y0, x1 - x0), stride=1.0, sigma=sigma)
        f = paf.encode(local, torch.ones(1, K), COCO18, (y1 - y0, x1 - x0), stride=1.0, limb_width=limb_width)[0]
        hm[:, y0:y1, x0:x1] = torch.maximum(hm[:, y0:y1, x0:x1], h[0])
        acc[:, y0:y1, x0:x1] += f
        cnt[:, y0:y1, x0:x1] += (f.view(L, 2, *f.shape[1:]) != 0).any(1).float()
    return hm, acc / cnt.clamp(min=1).repeat_interleave(2, 0)


# ---------------------------------------------------------------- the baseline ------------------------
def baseline_peaks(m: np.ndarray, threshold=0.1, max_peaks=paf.MAX_PEAKS):
    """One joint's peaks, CMU style: compare the whole map with its 8 shifted copies (3 x 3 NMS)."""
    H, W = m.shape
    pad = np.full((H + 2, W + 2), -np.inf)
    pad[1:-1, 1:-1] = m
    keep = m > threshold
    lower = np.zeros_like(keep)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy == dx == 0:
                continue
            nb = pad[1 + dy:1 + dy + H, 1 + dx:1 + dx + W]
            inside = np.isfinite(nb)
            earlier = dy < 0 or (dy == 0 and dx < 0)
            keep &= ~(inside & ((nb >= m) if earlier else (nb > m)))
            lower |= inside & (nb < m)
    ys, xs = np.nonzero(keep & lower)
    found = sorted(zip(ys.tolist(), xs.tolist()), key=lambda yx: -m[yx])[:max_peaks]
    out = []
    for y, x in sorted(found):                                  # raster order, as find_peaks
        c = math.log(max(m[y, x], 1e-10))
        pos = [float(x), float(y)]
        for ax, (i, n) in enumerate(((x, W), (y, H))):
            if 0 < i < n - 1:
                lm = math.log(max(m[y, x - 1] if ax == 0 else m[y - 1, x], 1e-10))
                lp = math.log(max(m[y, x + 1] if ax == 0 else m[y + 1, x], 1e-10))
                curv = lm - 2 * c + lp
                if curv < -1e-9:
                    pos[ax] += min(max(0.5 * (lm - lp) / curv, -0.5), 0.5)
        out.append((pos[0], pos[1], float(m[y, x])))
    return out


def bilinear(field: np.ndarray, x: float, y: float) -> float:
    H, W = field.shape
    x, y = min(max(x, 0.0), W - 1.0), min(max(y, 0.0), H - 1.0)
    x0, y0 = min(int(x), W - 2), min(int(y), H - 2)
    fx, fy = x - x0, y - y0
    return ((1 - fy) * ((1 - fx) * field[y0, x0] + fx * field[y0, x0 + 1])
            + fy * ((1 - fx) * field[y0 + 1, x0] + fx * field[y0 + 1, x0 + 1]))


def baseline_assemble(hm: np.ndarray, pf: np.ndarray, threshold=0.1, paf_threshold=0.05, num_samples=10,
                      min_fraction=0.8, min_joints=2):
    K, H = hm.shape[0], hm.shape[1]
    peaks = [baseline_peaks(hm[k], threshold) for k in range(K)]
    subsets: list[list[int]] = []
    for c, (j1, j2) in enumerate(COCO18.limbs):
        cands = []
        for i, (ax, ay, _) in enumerate(peaks[j1]):
            for j, (bx, by, _) in enumerate(peaks[j2]):
                dx, dy = bx - ax, by - ay
                norm = math.hypot(dx, dy)
                if norm <= 1e-6:
                    continue
                ux, uy = dx / norm, dy / norm
                dots = []
                for s in range(num_samples):
                    u = s / (num_samples - 1)
                    px, py = ax + u * dx, ay + u * dy
                    dots.append(bilinear(pf[2 * c], px, py) * ux + bilinear(pf[2 * c + 1], px, py) * uy)
                e = sum(dots) / num_samples + min(0.5 * H / norm - 1, 0)
                if sum(d > paf_threshold for d in dots) / num_samples >= min_fraction and e > 0:
                    cands.append((e, i, j))
        cands.sort(key=lambda t: -t[0])                         # greedy: best first, each peak once
        used_a, used_b = set(), set()
        for e, i, j in cands:
            if i in used_a or j in used_b:
                continue
            used_a.add(i), used_b.add(j)
            found = [n for n, q in enumerate(subsets) if q[j1] == i or q[j2] == j]
            if not found:
                q = [-1] * K
                q[j1], q[j2] = i, j
                subsets.append(q)
            elif len(found) == 1:
                q = subsets[found[0]]
                q[j1] = i if q[j1] == -1 else q[j1]
                q[j2] = j if q[j2] == -1 else q[j2]
            else:
                q1, q2 = subsets[found[0]], subsets[found[1]]
                if all(u < 0 or v < 0 for u, v in zip(q1, q2)):
                    subsets[found[0]] = [max(u, v) for u, v in zip(q1, q2)]
                    del subsets[found[1]]
    people = []
    for q in subsets:
        if sum(v >= 0 for v in q) >= min_joints:
            res = np.full((K, 3), np.nan)
            res[:, 2] = 0
            for k, v in enumerate(q):
                if v >= 0:
                    res[k] = peaks[k][v]
            people.append(res)
    return people


def same_people(a: list[np.ndarray], b: list[np.ndarray], atol: float = 1e-3) -> bool:
    if len(a) != len(b):
        return False
    key = lambda p: tuple(np.nan_to_num(p[:, :2], nan=-1).round(1).ravel())  # noqa: E731
    return all(np.array_equal(np.isnan(p), np.isnan(q)) and np.allclose(p, q, atol=atol, equal_nan=True)
               for p, q in zip(sorted(a, key=key), sorted(b, key=key)))


def best_ms(fn, repeat):
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1e3


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="300 x 300 maps, 1 repeat (a sanity run)")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    size, repeat = (300, 1) if args.quick else (1000, args.repeat)
    torch.set_num_threads(1)
    print(f"{size} x {size} maps, COCO-18, exact fields; best of {repeat} runs; 1 torch thread")
    print(f"{'people':>6} {'assemble':>10} {'baseline':>10} {'speed-up':>9} {'vs CMU ref':>11}  same people")
    ok_all = True
    for n in (1, 5, 20):
        people = make_people(n, size, seed=n)
        hm, pf = make_maps(people, size)
        hm_np, pf_np = hm.numpy(), pf.numpy()
        ours = paf.assemble(hm, pf, COCO18)
        base = baseline_assemble(hm_np, pf_np)
        same = same_people(ours, base) and len(ours) == n
        ok_all &= same
        t_ours = best_ms(lambda: paf.assemble(hm, pf, COCO18), repeat)
        t_base = best_ms(lambda: baseline_assemble(hm_np, pf_np), max(1, repeat // 2))
        vs_cmu = f"{CMU_MS[n] / t_ours:>10.1f}x" if size == 1000 else f"{'-':>11}"   # CMU timings: 1000 px
        print(f"{n:>6} {t_ours:>8.1f}ms {t_base:>8.1f}ms {t_base / t_ours:>8.1f}x {vs_cmu}"
              f"  {'yes' if same else 'NO'} ({len(ours)} vs {len(base)} found, {n} drawn)")
    if not ok_all:
        raise SystemExit("assemble and the baseline disagree")


if __name__ == "__main__":
    main()
