"""Lecture 5's capstone, measured: the models at equal training images *and* their compute, as learning curves.

Each point of a curve is one model after a number of training images, scored on one common held-out set
(the set of :func:`posecourse.lectures.report.comparison_table`: 256 person-centred MPII-16 images, seed 0) with
PCK at several thresholds, and charged its compute: forward MACs per image (:mod:`posecourse.models.compute`,
counted on the meta device) x images x 3 (backward ~ 2 x forward). Points come from

- the shipped checkpoints (``posecourse.lectures.shipped``): the snapshot after 32,000 images and the full run;
- short runs trained here with :func:`posecourse.train.fit.fit` for a given number of images (fixed seed, the
  lecture's batch size and learning rate unless overridden), e.g. the third budget of the curves::

    python -m posecourse_tools.capstone --images 8000                       # hourglass + HRNet, 1 thread
    python -m posecourse_tools.capstone --images 8000 --lectures 05_hrnet --batch-size 32

At equal compute instead of equal images, ``--tmacs`` gives each model the number of images (a multiple of its
batch size) nearest to that many training TMACs, e.g. the learning-rate sweep of lecture 5's equal-compute table::

    python -m posecourse_tools.capstone --tmacs 0.5 --lectures 01 02 03 05 --lr 0.002 --seed 2 \
        --no-shipped --out lectures/05_hrnet_sweep.json

It writes (and updates: a point is replaced by a new run with the same settings) a JSON file, by default
``lectures/05_hrnet_capstone.json``, which lecture 5 reads. The shipped points are recomputed every time.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from posecourse.models.compute import BACKWARD_FACTOR, forward_macs, training_macs
from posecourse.evaluation import PCK, predict
from posecourse.train.fit import fit, make_data
from posecourse.lectures import COMPARE_IMAGES, get_lecture
from posecourse.lectures.report import count_parameters
from posecourse.lectures.shipped import load_trained

from . import cpu_model

__all__ = ["THRESHOLDS", "DEFAULT_OUT", "images_for", "heldout", "score", "point", "train_point", "shipped_points", "update", "main"]

THRESHOLDS = (0.2, 0.1, 0.05)  #: PCK thresholds (fractions of the torso diameter) of every point
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "lectures" / "05_hrnet_capstone.json"
_METHODS = ("quarter", "dark")  #: decoders every heatmap model is also scored with (one decoder for all)
_KEY = ("lecture", "source", "images", "batch_size", "lr", "seed", "model_kw")


def _key(row: dict) -> tuple:
    return tuple(json.dumps(row.get(k) or None, sort_keys=True) for k in _KEY)


def images_for(name: str, tmacs: float, batch_size: int | None = None) -> int:
    """The training images (a positive multiple of the batch size, the record's by default) whose training compute
    is nearest to ``tmacs`` x 10^12 MACs for lecture ``name``'s model (:func:`training_macs` per image)."""
    if isinstance(tmacs, bool) or not isinstance(tmacs, (int, float)) or not 0 < tmacs < float("inf"):
        raise ValueError(f"tmacs: expected a positive number of training TMACs, got {tmacs!r}")
    lec = get_lecture(name)
    batch = lec.batch_size if batch_size is None else batch_size
    per_image = training_macs(forward_macs(lec.build_model(), lec.data.image_size), 1)
    return max(1, round(tmacs * 1e12 / per_image / batch)) * batch


def heldout():
    """The common held-out batch (images ``(256, 3, 64, 64)``, keypoints, visibility) of lecture 5's table."""
    return make_data(get_lecture("05_hrnet"), seed=0).val


def score(model: torch.nn.Module, lecture, val: dict, methods=None) -> dict:
    """``{"<method>": {"PCK@t": value}}``: PCK at each of :data:`THRESHOLDS`, decoding the heatmaps with the
    lecture's own sub-pixel method (key ``"own"``) and with each of ``methods`` (e.g. ``("quarter", "dark")``,
    for heatmap lectures only), so that two models can be compared with the same decoder."""
    out = predict(model, val["image"])
    res = {}
    for method in ("own", *(methods or ())):
        pred = lecture.codec.decode(out) if method == "own" else lecture.codec.decode(out, method=method)
        res[method] = {f"PCK@{t}": PCK(t)(pred, val)["value"] for t in THRESHOLDS}
    return res


def point(lecture, model, *, source: str, images: int, steps: int, batch_size: int, lr: float, seed: int,
          train_seconds: float, threads: int | None, val: dict, model_kw: dict | None = None,
          cpu: str | None = None) -> dict:
    """One curve point: the settings, the compute and the scores of ``model`` (a trained ``lecture`` model);
    ``cpu``: the CPU that trained it (default: this machine's; the shipped points pass their metadata's)."""
    fwd = forward_macs(model, lecture.data.image_size)
    return {"lecture": lecture.name, "model": lecture.model, "model_kw": dict(model_kw or {}), "source": source,
            "images": int(images),
            "steps": int(steps), "batch_size": int(batch_size), "lr": float(lr), "seed": int(seed),
            "params": count_parameters(model), "forward_macs_per_image": fwd,
            "train_macs": training_macs(fwd, int(images)), "train_seconds": float(train_seconds), "threads": threads,
            "cpu": cpu if cpu is not None else cpu_model(),
            "scores": score(model, lecture, val, methods=[m for m in _METHODS if m in lecture.codec.methods])}


def train_point(name: str, images: int, *, seed: int = 1, batch_size: int | None = None, lr: float | None = None,
                device=None, val: dict | None = None, progress: bool = False, model_kw: dict | None = None) -> dict:
    """Train ``name``'s model from scratch on ``images`` training images of its synthetic stream
    (``images / batch_size`` optimizer steps; must divide exactly) and return its :func:`point`.
    ``model_kw``: changes to the model's config (``create_model`` keywords, e.g. HRNet's ``stages``)."""
    lec = get_lecture(name)
    if lec.codec.bottom_up:
        raise ValueError(f"lectures: {name} is multi-person (bottom-up); the capstone curves compare single-person models")
    batch = lec.batch_size if batch_size is None else batch_size  # 0 is 0 (refused), never 'not given'
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch_size: expected a positive int, got {batch_size!r}")
    if isinstance(images, bool) or not isinstance(images, int) or images < batch or images % batch:
        raise ValueError(f"images: expected a positive multiple of the batch size {batch}, got {images!r}")
    if model_kw is not None and not isinstance(model_kw, dict):
        raise ValueError(f"model_kw: expected a dict of create_model keywords, got {model_kw!r}")
    lec = lec.replace(batch_size=batch, lr=float(lec.lr if lr is None else lr), model_kw={**lec.model_kw, **(model_kw or {})})
    model, history = fit(lec, make_data(lec, seed=seed), images // batch, seed=seed, device=device, progress=progress)
    return point(lec, model, source="capstone run", images=images, steps=history.steps, batch_size=batch, lr=lec.lr,
                 seed=seed, train_seconds=history.seconds, threads=torch.get_num_threads(),
                 val=val if val is not None else heldout(), model_kw=model_kw)


def shipped_points(names, device=None, val: dict | None = None) -> list[dict]:
    """The points of the shipped checkpoints: each lecture's snapshot after ``COMPARE_IMAGES`` images and its
    full run (absent files are skipped)."""
    val = val if val is not None else heldout()
    rows = []
    for name in names:
        lec = get_lecture(name)
        for images, source in ((COMPARE_IMAGES, "shipped snapshot"), (None, "shipped checkpoint")):
            model, meta = load_trained(name, device, images, with_meta=True)
            if model is None:
                continue
            rows.append(point(lec, model, source=source, images=int(meta["images"]), steps=int(meta["steps"]),
                              batch_size=int(meta["batch_size"]), lr=lec.lr, seed=int(meta["seed"]),
                              train_seconds=float(meta.get("train_seconds", 0.0)), threads=meta.get("threads"),
                              val=val, cpu=meta.get("cpu", "not recorded")))
    return rows


def update(path: Path, new_rows: list[dict], shipped: list[dict]) -> dict:
    """Merge ``new_rows`` into the JSON at ``path`` (same lecture, source, images, batch size, lr and seed:
    replaced), replace the shipped points of the lectures in ``shipped`` by those (other lectures' are kept),
    write it back and return it."""
    path = Path(path)
    old = json.loads(path.read_text())["points"] if path.exists() else []
    keys = {_key(r) for r in new_rows}
    fresh = {r["lecture"] for r in shipped}
    kept = [r for r in old if _key(r) not in keys
            and (r["source"] == "capstone run" or r["lecture"] not in fresh)]
    points = sorted(kept + new_rows + shipped, key=lambda r: (r["lecture"], r["images"], r["source"], r["batch_size"]))
    doc = {"about": "lecture 5's learning curves: PCK on the common held-out set (256 images, seed 0) after a number "
                    "of training images, with compute; made by python -m posecourse_tools.capstone",
           "thresholds": list(THRESHOLDS), "backward_factor": BACKWARD_FACTOR,
           "macs": "forward multiply-accumulates per image (torch.utils.flop_counter FLOPs / 2; convolutions and "
                   "matrix products only); train_macs = (1 + backward_factor) x forward MACs x images",
           "torch": torch.__version__, "machine": platform.machine(), "points": points}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return doc


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m posecourse_tools.capstone", description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, nargs="*", default=[], help="training images per run (a multiple of the batch)")
    ap.add_argument("--tmacs", type=float, nargs="*", default=[],
                    help="training compute per run in TMACs: each model gets the images nearest to it (see images_for)")
    ap.add_argument("--lectures", nargs="+", default=["03_hourglass", "05_hrnet"])
    ap.add_argument("--seed", type=int, default=1, help="seed of the runs (the shipped checkpoints use 1)")
    ap.add_argument("--batch-size", type=int, default=None, help="default: each lecture's record")
    ap.add_argument("--lr", type=float, default=None, help="default: each lecture's record")
    ap.add_argument("--model-kw", type=json.loads, default=None,
                    help='model config changes as JSON, e.g. \'{"stages": [[1, 1, [24, 48]], [1, 1, [24, 48, 96]]]}\'')
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the machine is shared)")
    ap.add_argument("--device", default=None, help="default: CUDA if present, else Apple MPS, else CPU")
    ap.add_argument("--no-shipped", action="store_true", help="do not (re)score the shipped checkpoints")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    if args.threads < 1:
        ap.error(f"--threads: expected a positive int, got {args.threads}")
    torch.set_num_threads(args.threads)
    names = [get_lecture(n).name for n in args.lectures]
    val = heldout()
    rows = []
    budgets = [{n: images for n in names} for images in args.images]
    budgets += [{n: images_for(n, tmacs, args.batch_size) for n in names} for tmacs in args.tmacs]
    for budget in budgets:
        for name, images in budget.items():
            t = time.perf_counter()
            rows.append(train_point(name, images, seed=args.seed, batch_size=args.batch_size, lr=args.lr,
                                    device=args.device, val=val, model_kw=args.model_kw))
            r = rows[-1]
            print(f"{name}: {images:,} images, {r['steps']:,} steps of {r['batch_size']}: PCK@0.2 "
                  f"{r['scores']['own']['PCK@0.2']:.3f}, {r['train_macs'] / 1e12:.2f} TMACs, "
                  f"{time.perf_counter() - t:.0f} s", flush=True)
    doc = update(args.out, rows, [] if args.no_shipped else shipped_points(names, args.device, val))
    print(f"wrote {args.out} ({len(doc['points'])} points)")
    return doc


if __name__ == "__main__":
    main()
