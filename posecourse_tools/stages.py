"""Lecture 4's stages, measured: why is the course's second OpenPose stage not above its first?

For each run -- the lecture's record trained from a seed (optionally with a changed model config or a heavier
field loss), or the shipped checkpoint and its snapshot -- and for each stage ``t`` it stores, on the run's own
held-out images (those the notebook scores):

- ``AP``: OKS AP of the people parsed from stage ``t``'s maps with the parser's defaults (the lecture's number);
- ``heatmap_mse`` / ``paf_mse``: the mean squared error of stage ``t``'s part maps ``S^t`` and fields ``L^t``
  against the codec's targets (the two terms of the training loss, on held-out images);
- ``AP_by_paf_threshold``: OKS AP when the parser's ``paf_threshold`` (how far a sample of ``L . v`` must reach for
  a connection to count) is set otherwise, and ``AP_by_threshold`` the same for its peak ``threshold``: how much
  of a stage's AP is the parser's setting;
- ``AP_with_stage1_fields`` / ``AP_with_stage1_maps``: OKS AP of stage ``t``'s part maps parsed with stage 1's
  fields, and of stage 1's part maps with stage ``t``'s fields: which of the two outputs costs a stage its AP.

::

    python -m posecourse_tools.stages --seeds 0,1,2,3,4               # the record, 1 thread
    python -m posecourse_tools.stages --seeds 0,1 --model-kw '{"stage_t": [2, 7, 24]}'   # 7x7 later stage
    python -m posecourse_tools.stages --seeds 0,1 --paf-factor 2       # field term weighted 2x
    python -m posecourse_tools.stages --shipped                        # checkpoint and 32k snapshot

Each run lands in ``lectures/04_openpose_stages.json`` (a run with the same settings replaces its row), which
lecture 4 reads. Training is deterministic on one machine and thread count; another CPU differs as the spread does.
"""
from __future__ import annotations

import argparse
import datetime
import json
import time
from pathlib import Path

import posecourse  # noqa: F401  before torch: the course's OpenMP wait policy (posecourse.threads)
import torch

from posecourse import evaluation as E
from posecourse.lectures import COMPARE_IMAGES, get_lecture
from posecourse.lectures.shipped import load_trained
from posecourse.models.losses import masked_mse
from posecourse.train import fit as F

from . import cpu_model

__all__ = ["LECTURE", "PAF_THRESHOLDS", "PEAK_THRESHOLDS", "DEFAULT_OUT", "stage_rows", "train_run", "shipped_runs", "update", "main"]

LECTURE = "04_openpose"
PAF_THRESHOLDS = (0.02, 0.05, 0.1, 0.2)  #: the parser's paf_threshold values scored (its default: 0.05)
PEAK_THRESHOLDS = (0.05, 0.1, 0.2, 0.3)  #: the parser's peak threshold values scored (its default: 0.1)
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "lectures" / "04_openpose_stages.json"
_KEY = ("source", "seed", "steps", "model_kw", "paf_factor", "threads")


def _key(row: dict) -> str:
    return json.dumps([row.get(k) for k in _KEY], sort_keys=True)


@torch.no_grad()
def stage_rows(model: torch.nn.Module, lecture, val: dict) -> list[dict]:
    """Per stage ``t``: ``{"stage", "AP", "heatmap_mse", "paf_mse", "AP_by_paf_threshold", "AP_by_threshold",
    "AP_with_stage1_fields", "AP_with_stage1_maps"}`` of ``model`` on the held-out batch ``val`` (images ``(N, 3, H, W)``, keypoints,
    visibility)."""
    outputs = E.predict(model, val["image"])                     # per stage {"paf", "heatmaps"}
    target = lecture.codec.encode({k: val[k] for k in ("keypoints", "visibility")})
    grids = {"AP_by_paf_threshold": {f"{t:g}": lecture.codec.decode_stages(outputs, paf_threshold=t)
                                     for t in PAF_THRESHOLDS},
             "AP_by_threshold": {f"{t:g}": lecture.codec.decode_stages(outputs, threshold=t) for t in PEAK_THRESHOLDS}}
    first = outputs[0]
    mixed = {"AP_with_stage1_fields": [{"heatmaps": o["heatmaps"], "paf": first["paf"]} for o in outputs],
             "AP_with_stage1_maps": [{"heatmaps": first["heatmaps"], "paf": o["paf"]} for o in outputs]}
    mixed = {k: [lecture.metric(p, val)["value"] for p in lecture.codec.decode_stages(v)] for k, v in mixed.items()}
    rows = []
    for t, (stage, people) in enumerate(zip(outputs, lecture.codec.decode_stages(outputs)), 1):
        rows.append({"stage": t, "AP": lecture.metric(people, val)["value"],
                     "heatmap_mse": float(masked_mse(stage["heatmaps"].cpu(), target["heatmap_target"])),
                     "paf_mse": float(masked_mse(stage["paf"].cpu(), target["paf_target"])),
                     **{g: {th: lecture.metric(p[t - 1], val)["value"] for th, p in grid.items()}
                        for g, grid in grids.items()},
                     **{k: v[t - 1] for k, v in mixed.items()}})
    return rows


def _weighted_loss(lecture, paf_factor: float):
    """The lecture's OpenPose loss with its field term multiplied by ``paf_factor`` at every stage."""
    def loss(outputs, paf_target, heatmap_target, paf_weight=None, heatmap_weight=None):
        return sum(paf_factor * masked_mse(o["paf"], paf_target, paf_weight)
                   + masked_mse(o["heatmaps"], heatmap_target, heatmap_weight) for o in outputs)
    return loss


def _row(lecture, model, val, **settings) -> dict:
    return {"lecture": lecture.name, **settings, "cpu": cpu_model(), "torch": str(torch.__version__),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "stages": stage_rows(model, lecture, val)}


def train_run(seed: int, steps: int | None = None, model_kw: dict | None = None, paf_factor: float = 1.0,
              device=None, progress: bool = False) -> dict:
    """Train lecture 4's record from ``seed`` (``steps``: default the record's; ``model_kw``: config changes, e.g.
    ``{"stage_t": [2, 7, 24]}``; ``paf_factor``: weight of the field term) and return its row."""
    if model_kw is not None and not isinstance(model_kw, dict):
        raise ValueError(f"model_kw: expected a dict of create_model keywords, got {model_kw!r}")
    if isinstance(paf_factor, bool) or not isinstance(paf_factor, (int, float)) or not paf_factor > 0:
        raise ValueError(f"paf_factor: expected a positive number, got {paf_factor!r}")
    lec = get_lecture(LECTURE)
    lec = lec.replace(model_kw={**lec.model_kw, **(model_kw or {})})
    if paf_factor != 1:
        lec = lec.replace(loss=_weighted_loss(lec, float(paf_factor)))
    data = F.make_data(lec, seed=seed)
    t0 = time.perf_counter()
    model, history = F.fit(lec, data, steps or lec.steps, seed=seed, device=device, progress=progress)
    return _row(lec, model.eval(), data.val, source="run", seed=seed, steps=history.steps,
                model_kw=dict(model_kw or {}), paf_factor=float(paf_factor), threads=torch.get_num_threads(),
                seconds=round(time.perf_counter() - t0, 1))


def shipped_runs(device=None) -> list[dict]:
    """Rows of the shipped checkpoint and its snapshot after ``COMPARE_IMAGES`` images, on seed 0's held-out set
    (the notebook's); absent files are skipped."""
    lec = get_lecture(LECTURE)
    val = F.make_data(lec, seed=0).val
    rows = []
    for images, source in ((COMPARE_IMAGES, "shipped snapshot"), (None, "shipped checkpoint")):
        model, meta = load_trained(LECTURE, device, images, with_meta=True)
        if model is not None:
            rows.append(_row(lec, model, val, source=source, seed=int(meta["seed"]), steps=int(meta["steps"]),
                             model_kw={}, paf_factor=1.0, threads=meta.get("threads"), seconds=None))
    return rows


def update(path: Path, new: list[dict]) -> list[dict]:
    """Merge ``new`` into the rows stored at ``path`` (a row with the same settings is replaced), write, return."""
    path = Path(path)
    old = json.loads(path.read_text())["runs"] if path.exists() else []
    keys = {_key(r) for r in new}
    runs = sorted([r for r in old if _key(r) not in keys] + new,
                  key=lambda r: (r["source"], json.dumps(r["model_kw"], sort_keys=True), r["paf_factor"], r["seed"]))
    doc = {"about": "lecture 4's per-stage measurements (OKS AP, held-out MSE of part maps and fields); made by "
                    "python -m posecourse_tools.stages", "paf_thresholds": list(PAF_THRESHOLDS),
           "peak_thresholds": list(PEAK_THRESHOLDS), "runs": runs}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    tmp.replace(path)
    return runs


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(prog="python -m posecourse_tools.stages", description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="", help="comma list of seeds to train, e.g. 0,1,2,3,4")
    ap.add_argument("--steps", type=int, default=None, help="default: the record's")
    ap.add_argument("--model-kw", type=json.loads, default=None, help='e.g. \'{"stage_t": [2, 7, 24]}\'')
    ap.add_argument("--paf-factor", type=float, default=1.0, help="weight of the field term of the loss")
    ap.add_argument("--shipped", action="store_true", help="also score the shipped checkpoint and snapshot")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the machine is shared)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    if args.threads < 1:
        ap.error(f"--threads: expected a positive int, got {args.threads}")
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        ap.error(f"--seeds: expected a comma list of ints, got {args.seeds!r}")
    torch.set_num_threads(args.threads)
    for seed in seeds:
        row = train_run(seed, args.steps, args.model_kw, args.paf_factor)
        update(args.out, [row])                                  # each run lands at once
        print(f"seed {seed}: AP per stage " + " -> ".join(f"{s['AP']:.3f}" for s in row["stages"])
              + f", PAF MSE " + " -> ".join(f"{s['paf_mse']:.5f}" for s in row["stages"]), flush=True)
    if args.shipped:
        runs = update(args.out, shipped_runs())
    else:
        runs = json.loads(args.out.read_text())["runs"] if args.out.exists() else []
    print(f"{args.out}: {len(runs)} runs")
    return runs


if __name__ == "__main__":
    main()
