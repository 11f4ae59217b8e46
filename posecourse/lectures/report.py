"""What a lecture prints and stores: the results JSON, parameter tables, live run vs shipped
checkpoint, and lecture 5's comparison of all five models at one training budget."""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from ..models import create_model, model_card
from ..evaluation import PCK, evaluate, predict
from ..train.fit import make_data
from . import COMPARE_IMAGES, LECTURES
from .shipped import checkpoint_path, load_trained

__all__ = ["write_results", "count_parameters", "param_table", "format_table", "live_vs_shipped",
           "comparison_table", "training_line"]


def write_results(results_path, *, lecture: str, metric: str, value: float, train_seconds: float, **extra) -> dict:
    """Write the papermill contract's JSON (``lecture``, ``metric``, ``value``, ``train_seconds`` + extras)."""
    if not math.isfinite(float(value)):
        raise ValueError(f"value: the headline metric must be finite, got {value!r}")
    res = {"lecture": lecture, "metric": metric, "value": float(value), "train_seconds": float(train_seconds), **extra}
    if results_path:
        p = Path(results_path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(res, indent=2, default=float))
    return res


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def param_table(names, **kw) -> list[dict]:
    """``[{"model", "params", "official"}]`` for paper configs (built on the meta device: no memory)."""
    rows = []
    for name in names:
        with torch.device("meta"):
            m = create_model(name, **kw.get(name, {}))
        rows.append({"model": name, "params": count_parameters(m), "official": model_card(name).official_params})
    return rows


def format_table(rows: list[dict], columns: list[str] | None = None) -> str:
    """A plain-text table of dict rows (floats with 3 decimals, ints with thousands separators)."""
    if not rows:
        return "(empty)"
    columns = columns or list(rows[0])

    def fmt(v):
        return f"{v:,}" if isinstance(v, int) else f"{v:.3f}" if isinstance(v, float) else str(v)

    cells = [[fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[j]) for row in cells)) for j, c in enumerate(columns)]

    def line(vals):
        return "  ".join(v.ljust(w) for v, w in zip(vals, widths))

    return "\n".join([line(columns), line(["-" * w for w in widths])] + [line(r) for r in cells])


def training_line(history) -> str:
    """One line about a run's training: steps, seconds and first -> last loss; for a model loaded with
    ``use_shipped=True`` (:class:`posecourse.lectures.shipped.ShippedHistory`, no losses stored), where it came from."""
    if not history.losses:
        return (f"no training here (use_shipped=True): the shipped checkpoint's {history.steps:,} steps took "
                f"{history.seconds:.0f} s on the machine that trained it; its loss curve is not stored")
    return (f"{history.steps:,} steps in {history.seconds:.0f} s; loss {history.losses[0]:.4g} (first step) -> "
            f"{history.losses[-1]:.4g} (last step)")


def live_vs_shipped(history, result: dict, shipped: dict | None) -> str:
    """Two lines: this notebook's run (``history`` of :func:`posecourse.train.fit.fit`, or of
    :func:`posecourse.lectures.shipped.train_or_load`, and its ``result``) and the shipped checkpoint
    (:func:`posecourse.lectures.shipped.shipped_checkpoint`)."""
    if shipped is None:
        return "no shipped checkpoint here: `python -m posecourse_tools.checkpoints` trains it"

    def line(name, steps, images, r):
        per = r.get("per_stage", [])
        stages = f"  (per stage {', '.join(f'{v:.3f}' for v in per)})" if len(per) > 1 else ""
        return f"{name:<20} {steps:>6,} steps, {images:>9,} images: {r['metric']} = {r['value']:.3f}{stages}"

    batch = shipped["images"] // max(shipped["steps"], 1)
    return "\n".join([line(getattr(history, "label", "live run (above)"), history.steps, history.steps * batch, result),
                      line("shipped checkpoint", shipped["steps"], shipped["images"], shipped)])


def comparison_table(lectures=None, device=None, images: int | None = None) -> list[dict]:
    """Lecture 5's table: every lecture's model after the same number of training ``images`` (the snapshot of the
    shipped run, default :data:`posecourse.lectures.COMPARE_IMAGES`), on held-out data. Single-person models also get
    PCK@0.2 on one common held-out MPII-16 set (beside their own paper metric); multi-person models get their own
    metric on their own held-out set. Missing checkpoints are listed as such."""
    images = images or COMPARE_IMAGES
    rows, common, pck = [], None, PCK(0.2)
    for name in lectures or LECTURES:
        lec = LECTURES[name]
        model, meta = load_trained(name, device, images, with_meta=True)
        row = {"lecture": name, "model": lec.model}
        if model is None:
            rows.append({**row, "params": 0, "note": f"no checkpoint {checkpoint_path(name, images).name}"})
            continue
        row.update(params=count_parameters(model), images=int(meta.get("images", 0)),
                   steps=int(meta.get("steps", 0)), train_seconds=float(meta.get("train_seconds", 0.0)))
        if lec.codec.bottom_up:
            own = evaluate(model, lec, make_data(lec, seed=0))
            row.update({"PCK@0.2": "-", "paper metric": own["metric"], "value": own["value"]})
        else:
            common = common or make_data(LECTURES["05_hrnet"], seed=0)
            pred = lec.codec.decode(predict(model, common.val["image"]))
            own = lec.metric(pred, common.val)
            row.update({"PCK@0.2": pck(pred, common.val)["value"], "paper metric": own["metric"], "value": own["value"]})
        rows.append(row)
    return rows
