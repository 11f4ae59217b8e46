"""Speed of posecourse.metrics.coco_keypoint_eval against pycocotools on synthetic data.

Default: 5,000, 20,000 and 50,000 images (~2 people and ~3 keypoint detections per image),
generated with NumPy. For each size prints both wall times and CPU times (one run each, after
building the inputs), the speed-ups (target >= 10x at every size: the cost must stay linear in the
number of images), the time per 1,000 images, and the largest |difference| over the ten stats.
``--quick``: 300 images, a sanity run; ``--images N [N ...]``: other sizes. Takes a few minutes
(pycocotools needs ~11 s for 50k images on a quiet 2-core machine).
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import io
import time

import numpy as np

from posecourse.metrics import coco_keypoint_eval


def make_data(n_img: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    people = rng.poisson(2.0, n_img)  # ~2 people / image
    gt = {"images": [{"id": i + 1} for i in range(n_img)], "categories": [{"id": 1, "name": "person"}],
          "annotations": []}
    dt = []
    for img in range(n_img):
        for _ in range(people[img]):
            cx, cy, s = rng.uniform(100, 500, 2).tolist() + [float(rng.uniform(15, 200))]
            kp = np.c_[cx + rng.normal(0, s / 3, 17), cy + rng.normal(0, s / 2, 17), rng.integers(0, 3, 17)]
            gt["annotations"].append(dict(
                id=len(gt["annotations"]) + 1, image_id=img + 1, category_id=1, keypoints=kp.ravel().tolist(),
                num_keypoints=int((kp[:, 2] > 0).sum()), area=float(s * s), bbox=[cx - s / 2, cy - s / 2, s, s],
                iscrowd=int(rng.random() < 0.02)))
            for _ in range(rng.poisson(1.5)):  # ~1.5 detections / person
                d = kp.copy()
                d[:, :2] += rng.normal(0, s * rng.uniform(0.01, 0.12), (17, 2))
                d[:, 2] = 1
                dt.append(dict(image_id=img + 1, category_id=1, keypoints=d.ravel().tolist(), score=float(rng.random())))
    return gt, dt


def run_pycocotools(gt, dt):
    from pycocotools.coco import COCO  # imported (and warmed up) before the timed run
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(dt), "keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


def timed(fn):
    """(result, wall s, CPU s) of one call (the CPU time is the fairer one on a shared machine)."""
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="300 images only")
    ap.add_argument("--images", type=int, nargs="+", default=None)
    args = ap.parse_args(argv)
    sizes = args.images or ([300] if args.quick else [5000, 20000, 50000])
    # warm-up, both tools on other data of the first size: imports, first-call costs, and the C
    # allocator's adaptive thresholds (a process's first large NumPy arrays come with fresh pages)
    warm_gt, warm_dt = make_data(min(sizes[0], 5000), seed=1)
    coco_keypoint_eval(warm_gt, warm_dt)
    run_pycocotools(copy.deepcopy(warm_gt), copy.deepcopy(warm_dt))
    del warm_gt, warm_dt
    print(f"{'images':>7} {'people':>7} {'dets':>7} | {'ours wall':>9} {'pycoco wall':>11} {'ratio':>6} | "
          f"{'ours CPU':>8} {'pycoco CPU':>10} {'ratio':>6} | {'ours ms/1k img':>14} | max|diff|")
    worst = float("inf")
    for n_img in sizes:
        gt, dt = make_data(n_img)
        gt_ref, dt_ref = copy.deepcopy(gt), copy.deepcopy(dt)  # pycocotools edits its inputs
        ours, w_ours, c_ours = timed(lambda: coco_keypoint_eval(gt, dt))
        ref, w_ref, c_ref = timed(lambda: run_pycocotools(gt_ref, dt_ref))
        diff = float(np.max(np.abs(np.array(list(ours.values())) - ref)))
        worst = min(worst, w_ref / w_ours, c_ref / c_ours)
        print(f"{n_img:>7} {len(gt['annotations']):>7} {len(dt):>7} | {w_ours:>8.3f}s {w_ref:>10.3f}s {w_ref / w_ours:>5.1f}x | "
              f"{c_ours:>7.3f}s {c_ref:>9.3f}s {c_ref / c_ours:>5.1f}x | {1e3 * w_ours / n_img * 1e3:>14.1f} | {diff:.3g}",
              flush=True)
        del gt, dt, gt_ref, dt_ref
    print(f"smallest speed-up: {worst:.1f}x (target >= 10x at every size)")


if __name__ == "__main__":
    main()
