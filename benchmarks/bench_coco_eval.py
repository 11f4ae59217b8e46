"""Speed of posecourse.metrics.coco_keypoint_eval against pycocotools on synthetic data.

Default: 5,000 images, ~10,000 people, ~15,000 keypoint detections, generated with NumPy.
Prints both wall times (one run each, after building the inputs), the speed-up ratio and
the largest |difference| over the ten stats. ``--quick``: 300 images, a sanity run.
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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="300 images instead of 5,000")
    ap.add_argument("--images", type=int, default=None)
    args = ap.parse_args(argv)
    n_img = args.images or (300 if args.quick else 5000)
    gt, dt = make_data(n_img)
    print(f"{n_img} images, {len(gt['annotations'])} people, {len(dt)} detections")
    gt_ref, dt_ref = copy.deepcopy(gt), copy.deepcopy(dt)  # pycocotools edits its inputs
    warm_gt, warm_dt = make_data(20, seed=1)  # warm-up: imports, first-call costs
    coco_keypoint_eval(warm_gt, warm_dt)
    run_pycocotools(warm_gt, warm_dt)

    t0 = time.perf_counter()
    ours = coco_keypoint_eval(gt, dt)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = run_pycocotools(gt_ref, dt_ref)
    t_ref = time.perf_counter() - t0

    diff = float(np.max(np.abs(np.array(list(ours.values())) - ref)))
    print(f"posecourse : {t_ours:8.3f} s   AP={ours['AP']:.4f}")
    print(f"pycocotools: {t_ref:8.3f} s   AP={ref[0]:.4f}")
    print(f"speed-up   : {t_ref / t_ours:8.1f} x   (target >= 3.4x)")
    print(f"max |diff| of the 10 stats: {diff:.3g}")


if __name__ == "__main__":
    main()
