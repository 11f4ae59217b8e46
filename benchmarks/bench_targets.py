"""Target codec speed: batched heatmap/PAF encoding vs naive per-joint/per-limb Python loops,
and PAF assembly time per image for 1, 5 and 20 people.

    python benchmarks/bench_targets.py [--quick] [--device cpu|cuda]
"""
from __future__ import annotations

import argparse
import time

import torch

from posecourse.skeletons import COCO18
from posecourse.targets import heatmap as hmap
from posecourse.targets import paf


def timeit(fn, repeat):
    """Best of ``repeat`` runs after a warm-up (the minimum is the least disturbed by other load)."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


def naive_heatmaps(kp, vis, size, stride, sigma=2.0):
    """One Gaussian per (image, person, joint) in Python loops, max-combined."""
    B, P, K, _ = kp.shape
    H, W = size
    out = torch.zeros(B, K, H, W, device=kp.device)
    ys, xs = torch.meshgrid(torch.arange(H, device=kp.device), torch.arange(W, device=kp.device), indexing="ij")
    for b in range(B):
        for p in range(P):
            for k in range(K):
                if vis[b, p, k] > 0:
                    mu = hmap.to_heatmap(kp[b, p, k], stride)
                    g = torch.exp(-((xs - mu[0]) ** 2 + (ys - mu[1]) ** 2) / (2 * sigma ** 2))
                    out[b, k] = torch.maximum(out[b, k], g)
    return out


def naive_pafs(kp, vis, limbs, size, stride, width=1.0):
    """One limb of one person at a time (vectorized over pixels only), averaged over people."""
    B, P, K, _ = kp.shape
    H, W = size
    out = torch.zeros(B, 2 * len(limbs), H, W, device=kp.device)
    ys, xs = torch.meshgrid(torch.arange(H, device=kp.device), torch.arange(W, device=kp.device), indexing="ij")
    for b in range(B):
        for c, (j1, j2) in enumerate(limbs):
            acc, cnt = torch.zeros(2, H, W, device=kp.device), torch.zeros(H, W, device=kp.device)
            for p in range(P):
                if vis[b, p, j1] > 0 and vis[b, p, j2] > 0:
                    a, e = hmap.to_heatmap(kp[b, p, j1], stride), hmap.to_heatmap(kp[b, p, j2], stride)
                    n = (e - a).norm()
                    v = (e - a) / n
                    dx, dy = xs - a[0], ys - a[1]
                    along, perp = v[0] * dx + v[1] * dy, (v[0] * dy - v[1] * dx).abs()
                    on = ((along >= 0) & (along <= n) & (perp <= width)).float()
                    acc += on * v[:, None, None]
                    cnt += on
            out[b, 2 * c:2 * c + 2] = acc / cnt.clamp(min=1)
    return out


def people_on_grid(n, cell=26, cols=5, seed=0):
    """n COCO-18 stick figures (heatmap px) in a grid of cells; see tests/targets/test_targets_paf.py."""
    g = torch.Generator().manual_seed(seed)
    names = COCO18.joints
    tmpl = {"nose": (0, -9), "neck": (0, -5), "right_shoulder": (-3, -5), "right_elbow": (-5, -1),
            "right_wrist": (-6, 3), "left_shoulder": (3, -5), "left_elbow": (5, -1), "left_wrist": (6, 3),
            "right_hip": (-2, 2), "right_knee": (-2, 6), "right_ankle": (-2, 10), "left_hip": (2, 2),
            "left_knee": (2, 6), "left_ankle": (2, 10), "right_eye": (-2, -11), "left_eye": (2, -11),
            "right_ear": (-4, -10), "left_ear": (4, -10)}
    t = torch.tensor([tmpl[j] for j in names], dtype=torch.float32)
    i = torch.arange(n)
    centre = torch.stack([i % cols * cell + 13, i // cols * cell + 13], -1).float()
    return t + centre[:, None] + torch.rand(n, 1, 2, generator=g) - 0.5


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes, one repeat: a sanity run")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch CPU threads (0 = torch's default); on a busy 2-core machine 1 avoids OpenMP stalls")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"device={args.device} torch threads={torch.get_num_threads()}")
    dev = torch.device(args.device)
    B, P, rep = (2, 2, 3) if args.quick else (16, 4, 5)
    K, size, stride = COCO18.num_joints, (46, 46), 8.0
    g = torch.Generator().manual_seed(0)
    kp = (torch.rand(B, P, K, 2, generator=g) * 360).to(dev)
    vis = torch.ones(B, P, K, device=dev)
    t_fast = timeit(lambda: hmap.encode(kp, vis, size, stride), rep)
    t_slow = timeit(lambda: naive_heatmaps(kp, vis, size, stride), rep)
    print(f"heatmap encode  B={B} P={P} K={K} {size}: batched {t_fast * 1e3:7.2f} ms   "
          f"loop {t_slow * 1e3:8.2f} ms   speed-up x{t_slow / t_fast:.1f}")
    limbs = COCO18.limbs
    t_fast = timeit(lambda: paf.encode(kp, vis, limbs, size, stride), rep)
    t_slow = timeit(lambda: naive_pafs(kp, vis, limbs, size, stride), rep)
    print(f"PAF encode      B={B} P={P} L={len(limbs)} {size}: batched {t_fast * 1e3:7.2f} ms   "
          f"loop {t_slow * 1e3:8.2f} ms   speed-up x{t_slow / t_fast:.1f}")
    for n in ((1, 5) if args.quick else (1, 5, 20)):
        gt = people_on_grid(n).to(dev)
        v = torch.ones(1, n, K, device=dev)
        hs = (4 * 26, 5 * 26)
        hm, _ = hmap.encode(gt[None], v, hs, stride=1.0, sigma=1.0)
        pf = paf.encode(gt[None], v, COCO18, hs, stride=1.0)
        found = []
        t = timeit(lambda: found.append(paf.assemble(hm[0], pf[0], COCO18)), rep)
        print(f"PAF assemble    {n:2d} people, {hs}: {t * 1e3:7.2f} ms/image   found {len(found[-1])}")


if __name__ == "__main__":
    main()
