"""The lectures' experiments: data, training, prediction and evaluation in a few calls.

Each lecture notebook trains its paper's small model on the synthetic pose world and evaluates it
with the paper's metric on held-out images. The recipes live here, not in the notebooks, so the
notebooks stay short and the same code is tested and reused by ``scripts``/benchmarks::

    recipe = RECIPES["05_hrnet"]                    # model name, image size, sigma, metric ...
    data = make_data(recipe, seed=0)                # endless training stream + fixed held-out set
    model, history = fit(recipe, data, seconds=180, seed=0)
    result = evaluate(model, data, recipe)          # {"metric": "PCK@0.2", "value": ..., ...}

Held-out data: training images come from the generator seeded with ``seed`` (index ``i`` is image
``i``, so every step sees new images); the validation images come from a *fixed* seed
(:data:`VAL_SEED`) that training never uses, so metrics of different runs are comparable.

Reproducibility: ``fit(..., steps=N)`` trains exactly ``N`` steps and gives the same numbers on
the same machine for the same seed. A time budget (``seconds``) is what a lecture uses by default;
it stops after however many steps fit, which depends on the machine's speed.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from .geometry import denormalize, normalize
from .skeletons import get_skeleton
from .utils import resolve_device, seed_everything

__all__ = ["Recipe", "RECIPES", "VAL_SEED", "Data", "make_data", "fit", "predict", "evaluate",
           "write_results", "budget", "param_table", "checkpoint_path", "load_trained", "shipped_checkpoint",
           "live_vs_shipped", "comparison_table", "COMPARE_IMAGES"]

VAL_SEED = 10_007  # the held-out stream; training seeds never reach it (seed + 1 per lecture)
ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS = ROOT / "checkpoints"


@dataclass(frozen=True)
class Recipe:
    """Everything a lecture's experiment needs to know.

    ``kind``: "heatmap" (CPM, Hourglass, HRNet), "regression" (DeepPose) or "paf" (OpenPose).
    ``sigma`` is in heatmap pixels under ``convention`` ("hrnet": exp(-d^2 / 2 sigma^2)).
    ``metric``/``alpha``: the headline metric and its threshold.
    """

    lecture: str
    model: str
    kind: str
    image_size: int = 64
    skeleton: str = "mpii16"
    num_people: int | tuple[int, int] = 1
    sigma: float = 1.0
    limb_width: float = 1.0
    convention: str = "hrnet"
    background: bool = False
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 0.0
    decode: str = "quarter"
    metric: str = "pck"
    alpha: float = 0.2
    n_val: int = 256
    model_kw: dict = field(default_factory=dict)
    data_kw: dict = field(default_factory=dict)

    @property
    def metric_name(self) -> str:
        return {"pck": f"PCK@{self.alpha}", "pckh": f"PCKh@{self.alpha}", "pdj": f"PDJ@{self.alpha}",
                "oks_ap": "OKS AP"}[self.metric]


# Single-person lectures use person-centred images: the figure fills 75-90 % of the frame, like the
# papers' crops around the person box.
_PERSON_CROP = {"scale_range": (0.75, 0.9)}

RECIPES: dict[str, Recipe] = {
    "01_deeppose": Recipe("01_deeppose", "deeppose_tiny", "regression", image_size=64, metric="pdj", lr=1e-3,
                          data_kw=_PERSON_CROP),
    "02_cpm": Recipe("02_cpm", "cpm_tiny", "heatmap", background=True, metric="pck", sigma=1.5, lr=5e-3,
                     decode="dark", data_kw=_PERSON_CROP),
    "03_hourglass": Recipe("03_hourglass", "hourglass_tiny", "heatmap", metric="pckh", alpha=0.5, sigma=1.5, lr=5e-3,
                           decode="quarter", data_kw=_PERSON_CROP),
    "04_openpose": Recipe("04_openpose", "openpose_tiny", "paf", image_size=96, skeleton="coco18",
                          num_people=(1, 4), metric="oks_ap", batch_size=16, n_val=128, lr=5e-3),
    # batch 16: on the same 32,000 images, 2,000 steps of 16 reached PCK@0.2 0.802 where 1,000 of 32 reached
    # 0.692 (seed 0, measured on a 2-core CPU), for about the same compute
    "05_hrnet": Recipe("05_hrnet", "hrnet_tiny", "heatmap", metric="pck", sigma=1.5, lr=5e-3, decode="dark",
                       batch_size=16, data_kw=_PERSON_CROP),
}


def budget(train_seconds: float, smoke: bool, smoke_seconds: float = 4.0) -> float:
    """The training time a notebook uses: ``train_seconds``, or a few seconds in smoke mode."""
    if train_seconds is None or not (train_seconds > 0):
        raise ValueError(f"train_seconds: expected a positive number of seconds, got {train_seconds!r}")
    return float(min(train_seconds, smoke_seconds) if smoke else train_seconds)


# --------------------------------------------------------------------------- data
@dataclass
class Data:
    """``train``: a DataLoader over an endless synthetic stream; ``val``: a collated held-out batch dict."""

    train: torch.utils.data.DataLoader
    val: dict
    skeleton: str


def _source_skeleton(recipe: Recipe) -> str:
    return "coco17" if recipe.skeleton in ("coco17", "coco18") else recipe.skeleton


def _to_recipe_skeleton(batch: dict, recipe: Recipe) -> dict:
    """Convert a collated batch's joints to the recipe's layout (e.g. COCO-17 -> OpenPose's COCO-18)."""
    from .skeletons import convert_keypoints

    if batch["skeleton"] == recipe.skeleton:
        return batch
    kp, vis = convert_keypoints(batch["keypoints"], batch["visibility"], batch["skeleton"], recipe.skeleton)
    return {**batch, "keypoints": torch.as_tensor(kp, dtype=torch.float32),
            "visibility": torch.as_tensor(vis, dtype=torch.float32), "skeleton": recipe.skeleton}


def make_data(recipe: Recipe, seed: int = 0, n_val: int | None = None, train_length: int = 10_000_000) -> Data:
    """Synthetic training stream (seeded by ``seed``) and held-out set (seeded by :data:`VAL_SEED`)."""
    from .data import collate
    from .data.synthetic import SyntheticPoseDataset

    kw = dict(image_size=recipe.image_size, num_people=recipe.num_people, skeleton=_source_skeleton(recipe),
              **recipe.data_kw)
    train_set = SyntheticPoseDataset(train_length, seed=seed, **kw)
    val_set = SyntheticPoseDataset(n_val or recipe.n_val, seed=VAL_SEED, **kw)
    conv = lambda samples: _to_recipe_skeleton(collate(samples), recipe)
    loader = torch.utils.data.DataLoader(train_set, batch_size=recipe.batch_size, shuffle=False,
                                         collate_fn=conv, num_workers=0)
    val = conv([val_set[i] for i in range(len(val_set))])
    return Data(loader, val, recipe.skeleton)


# --------------------------------------------------------------------------- targets and losses
def _stride(recipe: Recipe, out: torch.Tensor) -> float:
    return recipe.image_size / out.shape[-1]


def _heatmap_targets(recipe: Recipe, batch: dict, out: torch.Tensor):
    from .targets import heatmap

    stride = _stride(recipe, out)
    return heatmap.encode(batch["keypoints"], batch["visibility"], heatmap_size=tuple(out.shape[-2:]),
                          stride=stride, sigma=recipe.sigma, convention=recipe.convention,
                          background=recipe.background)


def loss_function(recipe: Recipe):
    """``loss_fn(outputs, batch) -> scalar`` for :func:`posecourse.train.train`; targets are encoded
    on the batch's device from its keypoints (no precomputed target files)."""
    from . import losses

    if recipe.kind == "heatmap":
        def loss_fn(outputs, batch):
            target, weight = _heatmap_targets(recipe, batch, outputs[-1])
            return losses.heatmap_loss(outputs, target, weight)
    elif recipe.kind == "paf":
        def loss_fn(outputs, batch):
            hm_t, hm_w, paf_t, paf_w = _paf_targets(recipe, batch, outputs[-1]["heatmaps"])
            return losses.openpose_loss(outputs, paf_t, hm_t, paf_w, hm_w)
    elif recipe.kind == "regression":
        def loss_fn(outputs, batch):
            target = normalize(batch["keypoints"][:, 0], _image_boxes(batch))           # N(y; b)
            return losses.coordinate_loss(outputs, target, batch["visibility"][:, 0])
    else:
        raise ValueError(f"recipe.kind: unknown {recipe.kind!r}")
    return loss_fn


def _image_boxes(batch: dict) -> torch.Tensor:
    """The box DeepPose normalizes by: the whole (already person-centred) image, ``(B, 4)``."""
    B, _, H, W = batch["image"].shape
    return torch.tensor([0.0, 0.0, W, H], device=batch["image"].device).expand(B, 4) - torch.tensor(
        [0.5, 0.5, 0.0, 0.0], device=batch["image"].device)


def _paf_targets(recipe: Recipe, batch: dict, out: torch.Tensor):
    from .targets import heatmap, paf

    sk = get_skeleton(recipe.skeleton)
    stride = _stride(recipe, out)
    size = tuple(out.shape[-2:])
    hm_t, hm_w = heatmap.encode(batch["keypoints"], batch["visibility"], heatmap_size=size, stride=stride,
                                sigma=recipe.sigma, convention=recipe.convention, background=True)
    paf_t = paf.encode(batch["keypoints"], batch["visibility"], sk.limbs, heatmap_size=size, stride=stride,
                       limb_width=recipe.limb_width)
    return hm_t, hm_w, paf_t, None  # W(p) = 1: every person in a synthetic image is annotated


# --------------------------------------------------------------------------- training
def build_model(recipe: Recipe, **kw) -> torch.nn.Module:
    from .models import create_model

    sk = get_skeleton(recipe.skeleton)
    return create_model(recipe.model, num_joints=sk.num_joints, **{**recipe.model_kw, **kw})


def fit(recipe: Recipe, data: Data, seconds: float | None = None, *, steps: int | None = None, seed: int = 0,
        device="auto", model: torch.nn.Module | None = None, progress: bool = True, lr: float | None = None):
    """Train ``recipe``'s model on ``data.train`` for ``seconds`` (or exactly ``steps`` steps).

    Returns ``(model, history)`` (see :class:`posecourse.train.History`); the model is in eval mode.
    """
    from .train import train

    if seconds is None and steps is None:
        raise ValueError("fit: give seconds (a time budget) or steps")
    seed_everything(seed)
    model = model if model is not None else build_model(recipe)
    kw = {"max_steps": steps} if steps is not None else {}
    history = train(model, data.train, loss_function(recipe), seconds=seconds if steps is None else None,
                    epochs=1, lr=lr or recipe.lr, device=device, progress=progress, seed=seed, **kw)
    model.eval()
    return model, history


# --------------------------------------------------------------------------- prediction
@torch.no_grad()
def predict(model, images: torch.Tensor, recipe: Recipe, *, batch_size: int = 64, method: str | None = None):
    """Keypoints ``(N, K, 2)`` in image px and scores ``(N, K)`` for single-person recipes, plus the raw
    per-stage outputs (list over stages of ``(N, C, h, w)``; DeepPose: ``(N, K, 2)`` normalized)."""
    from .targets import heatmap

    dev = next(model.parameters()).device
    outs = []
    for i in range(0, len(images), batch_size):
        outs.append(model(images[i:i + batch_size].to(dev)))
    if recipe.kind == "regression":
        norm = torch.cat(outs).cpu()
        boxes = _image_boxes({"image": images})
        return denormalize(norm, boxes), torch.ones(norm.shape[:2]), norm
    stages = [torch.cat([o[t] for o in outs]).float().cpu() for t in range(len(outs[0]))]
    K = get_skeleton(recipe.skeleton).num_joints
    coords, scores = heatmap.decode(stages[-1][:, :K], stride=_stride(recipe, stages[-1]),
                                    method=method or recipe.decode)
    return coords, scores, stages


def stage_coords(stages, recipe: Recipe, method: str | None = None) -> list[torch.Tensor]:
    """Decoded keypoints ``(N, K, 2)`` of every stage/stack (for "the last stage beats the first")."""
    from .targets import heatmap

    K = get_skeleton(recipe.skeleton).num_joints
    return [heatmap.decode(s[:, :K], stride=_stride(recipe, s), method=method or recipe.decode)[0] for s in stages]


# --------------------------------------------------------------------------- evaluation
def score(pred: torch.Tensor, batch: dict, recipe: Recipe, alpha: float | None = None) -> dict:
    """The recipe's metric of single-person predictions ``(N, K, 2)`` against ``batch`` (person 0)."""
    from . import metrics

    gt, vis = batch["keypoints"][:, 0], batch["visibility"][:, 0] > 0
    a = recipe.alpha if alpha is None else alpha
    if recipe.metric == "pck":  # torso-normalized PCK, as CPM (LSP) and the course report it
        r = metrics.pck(pred, gt, vis, norm="torso", alpha=a, skeleton=recipe.skeleton)
    elif recipe.metric == "pckh":  # no head boxes in synthetic data: upper-neck-head-top fallback
        r = metrics.pckh(pred, gt, vis, alpha=a, skeleton=recipe.skeleton)
    elif recipe.metric == "pdj":
        r = metrics.pdj(pred, gt, vis, alpha=a, skeleton=recipe.skeleton)
    else:
        raise ValueError(f"recipe.metric: {recipe.metric!r} is not a single-person metric")
    return {"metric": recipe.metric_name if alpha is None else f"{recipe.metric_name.split('@')[0]}@{a}",
            "value": float(r.mean), "per_joint": [float(v) for v in np.asarray(r.per_joint)]}


def evaluate(model, data: Data, recipe: Recipe) -> dict:
    """Headline metric on the held-out set, plus per-stage values for multi-stage heatmap models."""
    if recipe.kind == "paf":
        return evaluate_multi_person(model, data, recipe)
    coords, _, stages = predict(model, data.val["image"], recipe)
    res = score(coords, data.val, recipe)
    if recipe.kind == "heatmap" and len(stages) > 1:
        res["per_stage"] = [score(c, data.val, recipe)["value"] for c in stage_coords(stages, recipe)]
    return res


def multi_person_predict(model, images: torch.Tensor, recipe: Recipe, batch_size: int = 32, **assemble_kw):
    """People per image: a list (one per image) of ``(P_i, K, 3)`` arrays (x, y in image px, score)."""
    from .targets import paf

    dev = next(model.parameters()).device
    sk = get_skeleton(recipe.skeleton)
    people = []
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            out = model(images[i:i + batch_size].to(dev))[-1]
            hm, pf = out["heatmaps"].float().cpu(), out["paf"].float().cpu()
            stride = _stride(recipe, hm)
            for b in range(hm.shape[0]):
                found = paf.assemble(hm[b], pf[b], sk, stride=stride, **assemble_kw)
                people.append(np.stack(found) if len(found) else np.zeros((0, sk.num_joints, 3)))
    return people


def coco_format(batch: dict, people: list | None = None, skeleton: str = "coco18"):
    """Ground truth of a collated multi-person batch (and optional predictions) as COCO dicts.

    Joints are converted to COCO-17 (OpenPose's neck is dropped). GT ``area`` is the person box
    area (the synthetic data have no segmentation masks); a detection's score is the mean score of
    its found joints.
    """
    from .skeletons import convert_keypoints

    kp, vis = batch["keypoints"], batch["visibility"]
    if batch["skeleton"] != "coco17":
        kp, vis = convert_keypoints(kp, vis, batch["skeleton"], "coco17")
    kp, vis = np.asarray(kp, dtype=float), np.asarray(vis, dtype=float)
    boxes = np.asarray(batch["boxes"], dtype=float)
    images, anns = [], []
    H, W = batch["image"].shape[-2:]
    for i in range(kp.shape[0]):
        images.append({"id": i + 1, "width": int(W), "height": int(H)})
        for p in range(int(batch["num_people"][i])):
            v = vis[i, p]
            flat = np.concatenate([kp[i, p], v[:, None]], 1)
            flat[v == 0] = 0
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": 1, "iscrowd": 0,
                         "keypoints": flat.ravel().tolist(), "num_keypoints": int((v > 0).sum()),
                         "bbox": boxes[i, p].tolist(), "area": float(boxes[i, p, 2] * boxes[i, p, 3])})
    gt = {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person", "supercategory": "person",
          "keypoints": list(get_skeleton("coco17").joints), "skeleton": [list(l) for l in get_skeleton("coco17").limbs]}]}
    if people is None:
        return gt
    dt = []
    for i, found in enumerate(people):
        for person in found:
            xy, s = person[:, :2], person[:, 2]
            xy17, s17 = convert_keypoints(np.nan_to_num(xy)[None], s[None], skeleton, "coco17")
            xy17, s17 = np.asarray(xy17)[0], np.asarray(s17)[0]
            ok = s17 > 0
            if not ok.any():
                continue
            flat = np.concatenate([xy17, np.where(ok, 1.0, 0.0)[:, None]], 1)
            dt.append({"image_id": i + 1, "category_id": 1, "keypoints": flat.ravel().tolist(),
                       "score": float(s17[ok].mean() * ok.mean())})
    return gt, dt


def evaluate_multi_person(model, data: Data, recipe: Recipe) -> dict:
    """OKS AP (COCO's 10 numbers, ours computed exactly as pycocotools does) on the held-out set."""
    from .metrics import coco_keypoint_eval

    people = multi_person_predict(model, data.val["image"], recipe)
    gt, dt = coco_format(data.val, people, recipe.skeleton)
    stats = coco_keypoint_eval(gt, dt) if dt else {k: 0.0 for k in ("AP", "AP50", "AP75", "APm", "APl", "AR",
                                                                      "AR50", "AR75", "ARm", "ARl")}
    return {"metric": "OKS AP", "value": float(max(stats["AP"], 0.0)), "stats": stats}


# --------------------------------------------------------------------------- results, checkpoints, tables
def write_results(results_path, *, lecture: str, metric: str, value: float, train_seconds: float, **extra) -> dict:
    """Write the papermill contract's JSON (``lecture``, ``metric``, ``value``, ``train_seconds`` + extras)."""
    if not math.isfinite(float(value)):
        raise ValueError(f"value: the headline metric must be finite, got {value!r}")
    res = {"lecture": lecture, "metric": metric, "value": float(value), "train_seconds": float(train_seconds),
           **extra}
    if results_path:
        p = Path(results_path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(res, indent=2, default=float))
    return res


def checkpoint_path(lecture: str, budget: int | None = None) -> Path:
    """``checkpoints/<lecture>.pt`` (fully trained) or, with ``budget`` (training images),
    ``checkpoints/<lecture>_<budget // 1000>k.pt`` (the same run's snapshot lecture 5 compares)."""
    if lecture not in RECIPES:
        raise ValueError(f"lecture: unknown {lecture!r}; expected one of {', '.join(RECIPES)}")
    return CHECKPOINTS / (f"{lecture}.pt" if budget is None else f"{lecture}_{budget // 1000}k.pt")


def load_trained(lecture: str, device="cpu", budget: int | None = None, with_meta: bool = False):
    """The shipped longer-trained model of a lecture (``checkpoints/<lecture>.pt``; with ``budget``,
    its snapshot after that many training images), in eval mode, or None if absent (``make checkpoints``
    makes them). ``with_meta=True``: ``(model, meta)`` (``(None, {})`` if absent), one read of the file."""
    p = checkpoint_path(lecture, budget)
    if not p.exists():
        return (None, {}) if with_meta else None
    ck = torch.load(p, map_location=resolve_device(device), weights_only=True)
    model = build_model(RECIPES[lecture])
    model.load_state_dict(ck["model"])
    model = model.to(resolve_device(device)).eval()
    return (model, ck.get("meta", {})) if with_meta else model


def shipped_checkpoint(recipe: Recipe, data: Data, device="cpu") -> dict | None:
    """The lecture's shipped fully trained model evaluated like the live run: :func:`evaluate`'s dict plus
    ``model``, ``steps``, ``images`` and ``train_seconds`` from its metadata; None if it is absent."""
    model, meta = load_trained(recipe.lecture, device, with_meta=True)
    if model is None:
        return None
    return {**evaluate(model, data, recipe), "model": model, "steps": int(meta.get("steps", 0)),
            "images": int(meta.get("images", 0)), "train_seconds": float(meta.get("train_seconds", 0.0))}


def live_vs_shipped(history, result: dict, shipped: dict | None) -> str:
    """Two lines: the live run (``history`` of :func:`fit`, its ``result``) and the shipped checkpoint."""
    if shipped is None:
        return "no shipped checkpoint here: `make checkpoints` (python -m posecourse.checkpoints) trains it"

    def line(name, steps, images, r):
        stages = f"  (per stage {', '.join(f'{v:.3f}' for v in r['per_stage'])})" if len(r.get("per_stage", [])) > 1 else ""
        return f"{name:<20} {steps:>6,} steps, {images:>9,} images: {r['metric']} = {r['value']:.3f}{stages}"

    batch = shipped["images"] // max(shipped["steps"], 1)
    return "\n".join([line("live run (above)", history.steps, history.steps * batch, result),
                      line("shipped checkpoint", shipped["steps"], shipped["images"], shipped)])


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def param_table(names, **kw) -> list[dict]:
    """``[{"model", "params", "official"}]`` for paper configs (built on the meta device: no memory)."""
    from .models import OFFICIAL_PARAMS, create_model

    rows = []
    for name in names:
        with torch.device("meta"):
            m = create_model(name, **kw.get(name, {}))
        rows.append({"model": name, "params": count_parameters(m), "official": OFFICIAL_PARAMS.get(name)})
    return rows


# --------------------------------------------------------------------------- display helpers (compute here, draw in viz)
def per_image_error(pred: torch.Tensor, batch: dict) -> torch.Tensor:
    """Mean pixel error over the labelled joints of person 0, per image ``(N,)`` (NaN-free)."""
    gt, vis = batch["keypoints"][:, 0], batch["visibility"][:, 0] > 0
    d = (torch.as_tensor(pred, dtype=torch.float32) - gt).norm(dim=-1)
    return (d * vis).sum(-1) / vis.sum(-1).clamp_min(1)


def show_predictions(pred, batch: dict, recipe: Recipe, n: int = 6):
    """Best ``n // 2`` and worst ``n - n // 2`` held-out images by mean joint error: prediction in the
    left/right colours, ground truth dashed white. Returns the figure."""
    import matplotlib.pyplot as plt

    from .viz.plots import draw_pose

    err = per_image_error(pred, batch)
    order = torch.argsort(err)
    pick = torch.cat([order[: n // 2], order.flip(0)[: n - n // 2]]).tolist()
    fig, axes = plt.subplots(1, n, figsize=(2.1 * n, 2.5))
    for ax, i in zip(np.atleast_1d(axes), pick):
        draw_pose(ax, batch["keypoints"][i, 0], recipe.skeleton, batch["visibility"][i, 0], image=batch["image"][i],
                  color="white", linestyle="--", linewidth=1, markersize=2)
        draw_pose(ax, pred[i], recipe.skeleton, batch["visibility"][i, 0] > 0)
        ax.set_title(f"{'best' if i in pick[: n // 2] else 'worst'}: {err[i]:.1f} px", fontsize=8)
    plt.show()
    return fig


@torch.no_grad()
def predict_flip(model, images: torch.Tensor, recipe: Recipe, shift: float = 0.0, method: str | None = None,
                 swap: bool = True):
    """Flip-test keypoints ``(N, K, 2)``: average the heatmaps of the image and of its mirror image
    (mirrored back, left/right channels swapped, shifted by ``shift`` heatmap px), then decode.

    ``swap=False`` keeps the channels: right for the course's synthetic people, whose left/right cue
    is a colour that a mirror does not swap (on real images always swap)."""
    from .targets import heatmap

    sk = get_skeleton(recipe.skeleton)
    _, _, stages = predict(model, images, recipe)
    _, _, stages_f = predict(model, images.flip(-1), recipe)
    K = sk.num_joints
    index = sk.flip_index if swap else np.arange(K)
    hm = heatmap.flip_test(stages[-1][:, :K], stages_f[-1][:, :K], index, shift=shift)
    return heatmap.decode(hm, stride=_stride(recipe, hm), method=method or recipe.decode)[0]


def format_table(rows: list[dict], columns: list[str] | None = None) -> str:
    """A plain-text table of dict rows (floats with 3 decimals, ints with thousands separators)."""
    if not rows:
        return "(empty)"
    columns = columns or list(rows[0])
    fmt = lambda v: f"{v:,}" if isinstance(v, int) else f"{v:.3f}" if isinstance(v, float) else str(v)
    cells = [[fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[j]) for row in cells)) for j, c in enumerate(columns)]
    line = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, widths))
    return "\n".join([line(columns), line(["-" * w for w in widths])] + [line(r) for r in cells])


COMPARE_IMAGES = 32_000  #: lecture 5's common training budget (images); see posecourse.checkpoints


def comparison_table(lectures=tuple(RECIPES), device="cpu", budget: int = COMPARE_IMAGES) -> list[dict]:
    """Lecture 5's table: every lecture's model after the same ``budget`` training images (the snapshot
    ``checkpoints/<lecture>_32k.pt`` of the shipped run), on held-out data.

    Single-person models get PCK@0.2 on the same held-out MPII-16 images (plus their own paper metric);
    OpenPose gets OKS AP on its multi-person held-out set. Missing checkpoints are listed as such.
    """
    rows = []
    pck_recipe = replace(RECIPES["05_hrnet"], metric="pck", alpha=0.2)
    single = None
    for lec in lectures:
        recipe = RECIPES[lec]
        model, meta = load_trained(lec, device, budget, with_meta=True)
        row = {"lecture": lec, "model": recipe.model}
        if model is None:
            rows.append({**row, "params": 0, "note": f"no checkpoint {checkpoint_path(lec, budget).name}"})
            continue
        row.update(params=count_parameters(model), images=int(meta.get("images", 0)),
                   steps=int(meta.get("steps", 0)), train_seconds=float(meta.get("train_seconds", 0.0)))
        if recipe.kind == "paf":
            data = make_data(recipe, seed=0)
            row.update({"PCK@0.2": "-", "paper metric": "OKS AP", "value": evaluate(model, data, recipe)["value"]})
        else:
            single = single or make_data(pck_recipe, seed=0)
            coords = predict(model, single.val["image"], recipe)[0]
            own = score(coords, single.val, recipe)
            row.update({"PCK@0.2": score(coords, single.val, pck_recipe)["value"], "paper metric": own["metric"],
                        "value": own["value"]})
        rows.append(row)
    return rows


def checkpoint_meta(lecture: str, budget: int | None = None) -> dict:
    """The metadata saved with a shipped checkpoint (steps, images, seconds, metric, ...); {} if absent."""
    p = checkpoint_path(lecture, budget)
    if not p.exists():
        return {}
    return torch.load(p, map_location="cpu", weights_only=True).get("meta", {})


# --------------------------------------------------------------------------- DeepPose: cascade and the raw-pixel pitfall
class _CascadeStageNet(torch.nn.Module):
    """Training wrapper for cascade stage 2: stage 1 frozen, its predictions jittered (the paper samples
    simulated predictions from the stage-1 error distribution; we add Gaussian noise of ``jitter``
    normalized units) -> ``(displacement, sub_boxes, prev)``."""

    def __init__(self, cascade, jitter: float):
        super().__init__()
        self.cascade, self.jitter = cascade, jitter

    def forward(self, images):
        self.cascade.stages[0].eval()  # frozen, BatchNorm statistics included
        with torch.no_grad():
            prev = self.cascade.stages[0](images)
            if self.training and self.jitter > 0:
                prev = prev + self.jitter * torch.randn_like(prev)
        d, boxes = self.cascade.stage_displacement(1, images, prev)
        return d, boxes, prev


def fit_cascade(stage1, recipe: Recipe, data: Data, seconds: float | None = None, *, steps: int | None = None,
                seed: int = 0, device="auto", sigma: float = 1.0, jitter: float = 0.03, progress: bool = True):
    """Add DeepPose stage 2 to a trained ``stage1`` regressor and train it for ``seconds`` / ``steps``.

    The stage-2 target of joint ``i`` is ``N(y_i; b_i) - N(y_i^1; b_i)``, the displacement normalized by
    the sub-box ``b_i = (y_i^1, sigma diam, sigma diam)`` (diam: left shoulder to right hip).
    Returns ``(cascade, history)``; ``cascade(images)`` gives the refined ``(B, K, 2)`` normalized joints.
    """
    from . import losses
    from .models.deeppose import DeepPoseCascade, _tiny_regressor
    from .train import train

    sk = get_skeleton(recipe.skeleton)
    seed_everything(seed)
    for p in stage1.parameters():
        p.requires_grad_(False)
    stage2 = _tiny_regressor(1, recipe.image_size, 16)
    cascade = DeepPoseCascade([stage1, stage2], diam_joints=sk.torso, sigma=sigma)
    net = _CascadeStageNet(cascade, jitter)

    def loss_fn(outputs, batch):
        d, boxes, prev = outputs
        target = normalize(batch["keypoints"][:, 0], _image_boxes(batch))
        return losses.coordinate_loss(d, cascade.displacement_target(target, prev, boxes), batch["visibility"][:, 0])

    kw = {"max_steps": steps} if steps is not None else {}
    history = train(net, data.train, loss_fn, seconds=seconds if steps is None else None, epochs=1,
                    lr=recipe.lr, device=device, progress=progress, seed=seed, **kw)
    stage1.eval()
    return cascade.eval(), history


@torch.no_grad()
def evaluate_cascade(cascade, data: Data, recipe: Recipe) -> dict:
    """PDJ of every cascade stage on the held-out set: ``{"per_stage": [...], "value": last}``."""
    dev = next(cascade.parameters()).device
    images = data.val["image"]
    per_stage = None
    for i in range(0, len(images), 64):
        preds, _ = cascade.forward_stages(images[i:i + 64].to(dev))
        per_stage = [p.cpu() for p in preds] if per_stage is None else [torch.cat([a, p.cpu()]) for a, p in zip(per_stage, preds)]
    boxes = _image_boxes({"image": images})
    values = [score(denormalize(p, boxes), data.val, recipe)["value"] for p in per_stage]
    return {"metric": recipe.metric_name, "value": values[-1], "per_stage": values}


def fit_raw_pixels(recipe: Recipe, data: Data, seconds: float | None = None, *, steps: int | None = None,
                   seed: int = 0, device="auto") -> dict:
    """The pitfall of lecture 1: the same regressor trained on raw pixel coordinates instead of
    ``N(y; b)``. Returns its held-out metric (``{"metric", "value", "history"}``)."""
    from . import losses
    from .train import train

    seed_everything(seed)
    model = build_model(recipe)

    def loss_fn(outputs, batch):
        return losses.coordinate_loss(outputs, batch["keypoints"][:, 0], batch["visibility"][:, 0])

    kw = {"max_steps": steps} if steps is not None else {}
    history = train(model, data.train, loss_fn, seconds=seconds if steps is None else None, epochs=1, lr=recipe.lr,
                    device=device, progress=False, seed=seed, **kw)
    model.eval()
    dev = next(model.parameters()).device
    with torch.no_grad():
        pred = torch.cat([model(data.val["image"][i:i + 64].to(dev)).cpu() for i in range(0, len(data.val["image"]), 64)])
    pred = torch.nan_to_num(pred, nan=-1e6, posinf=1e6, neginf=-1e6)
    return {**score(pred, data.val, recipe), "history": history}
