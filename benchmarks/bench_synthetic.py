"""Synthetic pose world throughput: images/s rendered, and the ratio to the 2,000 img/s target.

    python benchmarks/bench_synthetic.py           # ~20 s
    python benchmarks/bench_synthetic.py --quick   # ~3 s sanity run

Prints one line per setting: single process (``__getitem__`` in a loop, CPU time and wall time)
and a 2-worker DataLoader (wall time, what a training loop sees on a 2-core laptop). On a shared,
busy machine wall-clock rates drop; the CPU-time rate (per core) times 2 is what two idle cores give.
"""
from __future__ import annotations

import argparse
import time

import torch
from torch.utils.data import DataLoader

from posecourse.data import collate
from posecourse.data.synthetic import SyntheticPoseDataset

TARGET = 2000.0  # single-person 64x64 images/s on 2 cores


def rate_single(ds, n: int) -> tuple[float, float]:
    ds[0]  # build the texture bank outside the timing
    w, c = time.perf_counter(), time.process_time()
    for i in range(1, n + 1):
        ds[i]
    return n / (time.perf_counter() - w), n / (time.process_time() - c)


def rate_loader(ds, n: int, workers: int, batch: int = 64) -> float:
    loader = DataLoader(ds, batch_size=batch, collate_fn=collate, num_workers=workers,
                        persistent_workers=False, prefetch_factor=4 if workers else None)
    it = iter(loader)
    next(it)  # workers started, banks built
    t, seen = time.perf_counter(), 0
    for b in it:
        seen += b["image"].shape[0]
        if seen >= n:
            break
    return seen / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small counts, a sanity run")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(1)
    n = 300 if args.quick else 3000
    settings = [("64 px, 1 person, mpii16", dict(image_size=64, num_people=1, skeleton="mpii16")),
                ("128 px, 1-4 people, coco17", dict(image_size=128, num_people=(1, 4), skeleton="coco17")),
                ("256 px, 1 person, mpii16", dict(image_size=256, num_people=1, skeleton="mpii16"))]
    for name, kw in settings:
        ds = SyntheticPoseDataset(10 * n + 10, seed=0, **kw)
        m = n if kw["image_size"] == 64 else n // 4
        wall, cpu = rate_single(ds, m)
        line = f"{name:28s} single process: {wall:7.0f} img/s wall, {cpu:7.0f} img/s CPU"
        if args.workers:
            lr = rate_loader(SyntheticPoseDataset(10 * n + 10, seed=0, **kw), 2 * m, args.workers)
            line += f" | DataLoader({args.workers} workers): {lr:7.0f} img/s"
        if kw["image_size"] == 64:
            best = max(wall, lr if args.workers else 0.0)
            line += (f" | ratio to {TARGET:.0f} target: {best / TARGET:.2f} measured,"
                     f" {2 * cpu / TARGET:.2f} from CPU time on 2 free cores")
        print(line, flush=True)


if __name__ == "__main__":
    main()
