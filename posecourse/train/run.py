"""Training as a function: :class:`RunConfig` -> :func:`run` -> :class:`RunResult`. A run trains (or only
evaluates) a lecture's model on the lecture's synthetic world (:class:`SyntheticSource`) or a dataset folder's
people (:class:`RealSource`), in one process or under ``torchrun``, scores it on the held-out set and, when
``out`` names a folder, writes ``checkpoint.pt`` and ``metrics.json`` there (an evaluation:
``eval_metrics.json``); ``python -m posecourse.train`` parses its options into a RunConfig (``docs/training.md``)::

    result = run(RunConfig("05_hrnet", data="mpii", data_root="../shared/data/mpii", steps=100, batch_size=4))
    result.model, result.history, result.info["eval"]
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler

from ..evaluation import evaluate, predict_flip
from ..evaluation.real import annotate_checkpoint, evaluate_crops, evaluate_images, gather_run, oks_file, oks_scores
from ..data import collate
from ..data.recipe import VAL_SEED, Collate, make_data
from ..data.topdown import FORMATS, TopDown, WholeImages, open_source, source_file, source_layout
from ..data.transforms import layout
from .fit import loss_function
from ..lectures import get_lecture
from ..models import model_card
from ..params import as_bool, as_device, as_float, as_int, as_optional_int, as_path, as_seed, one_of
from ..skeletons import SKELETONS, get_skeleton
from . import check_lr, train
from .checkpoint import History, check_checkpoint_path, read_checkpoint
from ..utils import to_plain
from .weights import NORMS, input_norm, load_weights

__all__ = ["RunConfig", "RunResult", "run", "SyntheticSource", "RealSource", "EpochSampler", "REAL"]

REAL = FORMATS  #: the real formats open_source reads
AMP = {"auto": "auto", "off": False, "on": True, "bf16": "bf16", "fp16": "fp16"}


def _numbers(name: str, value, counts, check) -> tuple | None:
    """``value`` (a number or a sequence) as a tuple of ``check(name, v)``, of a length in ``counts`` (None: any)."""
    if value is None:
        return None
    items = (value,) if isinstance(value, (int, float, str)) else value
    try:
        items = tuple(check(name, v) for v in items)
    except TypeError:
        raise ValueError(f"{name}: expected a number or a sequence of numbers, got {value!r}") from None
    if counts is not None and len(items) not in counts:
        raise ValueError(f"{name}: expected {' or '.join(map(str, counts))} numbers, got {value!r}")
    return items


@dataclass(frozen=True)
class RunConfig:
    """One run's settings, checked on construction (a ``ValueError`` naming the field); ``None``: the lecture's
    value. The command's options are these fields (``--batch-size`` is ``batch_size``)."""

    lecture: str  #: a lecture name or unique prefix ("03")
    data: str = "synthetic"  #: or a format of :data:`REAL`, read from ``data_root`` (``ann``/``img_dir`` if ambiguous)
    data_root: Path | None = None
    ann: Path | None = None
    img_dir: Path | None = None
    eval_ann: Path | None = None  #: held-out annotations (default: the training ones, un-augmented)
    steps: int | None = None  #: optimizer steps
    batch_size: int | None = None  #: the **global** batch, split over the processes
    lr: float | None = None  #: Adam's learning rate
    lr_drops: tuple[int, ...] = ()  #: steps at which the learning rate is multiplied by 0.1
    preset: str = "course"  #: "paper": the lecture's paper model at its card's input size
    input_size: tuple[int, int] | None = None  #: H or (H, W)
    model_skeleton: str | None = None  #: predict this layout (top-down real data; joints converted by name)
    out: Path | None = None  #: a folder for the outputs (None: nothing written)
    resume: bool = False  #: continue ``out/checkpoint.pt``
    weights: Path | None = None  #: evaluate these weights (no training)
    init: Path | None = None  #: train from these weights (fine-tuning)
    flip_test: bool = False  #: average with the mirrored image (on with ``weights``)
    input_norm: str = "auto"  #: "auto": official weights' own, else "none"; or a NORMS name
    input_mean: tuple[float, float, float] | None = None  #: subtract this RGB mean instead
    input_std: tuple[float, float, float] | None = None  #: divide by this RGB std
    device: str | None = None
    amp: str = "auto"  #: "auto", "off", "on", "bf16", "fp16"
    seed: int = 0
    workers: int = 0  #: DataLoader worker processes per training process
    val_size: int | None = None  #: held-out synthetic images
    progress: bool = True

    def __post_init__(self):
        put = partial(object.__setattr__, self)  # a frozen dataclass normalises its own fields
        if not isinstance(self.lecture, str) or not self.lecture.strip():
            raise ValueError(f"lecture: expected a lecture name or unique prefix (e.g. '03'), got {self.lecture!r}")
        put("data", one_of("data", self.data, ("synthetic",) + REAL))
        for name in ("data_root", "ann", "img_dir", "eval_ann", "out", "weights", "init"):
            put(name, None if getattr(self, name) is None else as_path(name, getattr(self, name)))
        put("steps", as_optional_int("steps", self.steps, minimum=0))
        for name in ("batch_size", "val_size"):
            put(name, as_optional_int(name, getattr(self, name), minimum=1))
        put("lr", None if self.lr is None else check_lr("lr", self.lr))
        put("lr_drops", _numbers("lr_drops", self.lr_drops, None, lambda n, v: as_int(n, v, minimum=1)) or ())
        size = _numbers("input_size", self.input_size, (1, 2), lambda n, v: as_int(n, v, minimum=1))
        put("input_size", size and (size[0], size[-1]))
        put("preset", one_of("preset", self.preset, ("course", "paper")))
        if self.model_skeleton is not None:
            one_of("model_skeleton", self.model_skeleton, SKELETONS)
        for name in ("resume", "flip_test", "progress"):
            put(name, as_bool(name, getattr(self, name)))
        put("input_norm", one_of("input_norm", self.input_norm, ("auto", "none", *NORMS)))
        put("input_mean", _numbers("input_mean", self.input_mean, (3,), as_float))
        put("input_std", _numbers("input_std", self.input_std, (3,), lambda n, v: as_float(n, v, minimum=1e-9)))
        as_device("device", self.device)
        put("amp", one_of("amp", self.amp, AMP))
        put("seed", as_seed("seed", self.seed))
        put("workers", as_int("workers", self.workers, minimum=0))
        if self.data in REAL and self.data_root is None:
            raise ValueError(f"data_root: data={self.data!r} reads a dataset folder; give its path")
        if self.weights is not None and (self.resume or self.init is not None):
            raise ValueError("weights: evaluates given weights; it cannot be combined with resume or init")
        if self.init is not None and self.resume:
            raise ValueError("init: starts a new run from weights; resume continues out/checkpoint.pt (choose one)")
        if self.resume and self.out is None:
            raise ValueError("resume: continues out/checkpoint.pt; give out")


@dataclass
class RunResult:
    """``model`` (in eval mode), ``history`` (None for an evaluation), ``info``: what ``metrics.json`` holds
    (None on a process other than rank 0, which evaluates), ``file``: the metrics file written, if any."""

    model: torch.nn.Module
    history: History | None
    info: dict | None
    file: Path | None = None


class EpochSampler(DistributedSampler):
    """A ``DistributedSampler`` that also tells the dataset the epoch (``set_epoch``), so seeded
    augmentation (:class:`~posecourse.data.topdown.TopDown`) draws anew every epoch on every rank alike.
    ``drop_last=True``: the ``n % world`` left-over images are skipped, never repeated on another rank."""

    def __init__(self, dataset, num_replicas: int, rank: int, seed: int):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed, drop_last=True)

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)


class _Seen:
    """The loss function, noting which samples (``meta["index"]``) this process trains on in its first epoch."""

    def __init__(self, loss_fn, sampler: EpochSampler):
        self.loss_fn, self.sampler, self.first_epoch, self.seen = loss_fn, sampler, None, []

    def __call__(self, outputs, batch):
        if self.first_epoch is None:
            self.first_epoch = self.sampler.epoch
        if self.sampler.epoch == self.first_epoch:
            self.seen.extend(int(m["index"]) for m in batch["meta"])
        return self.loss_fn(outputs, batch)


class _Source:
    converts = False  #: whether a model may predict another layout (joints converted by name)

    def for_model(self, name: str | None):
        """``(the layout the model predicts, the collate giving it)``: ``name``'s (None: the data's)."""
        if name in (None, self.skeleton.name):
            return self.skeleton, self.collate
        if not self.converts or self.skeleton.name not in SKELETONS:
            raise ValueError(f"model_skeleton: the data's layout {self.skeleton.name!r} stays (only top-down real "
                             "crops of a registered layout convert; synthetic people are drawn in the lecture's)")
        return get_skeleton(name), Collate(name)


class SyntheticSource(_Source):
    """The lecture's seeded generator at ``size`` (square): ``train_set`` (``length`` images of ``seed``),
    ``held_out`` (a collated batch of ``n_val`` images of :data:`~posecourse.data.recipe.VAL_SEED`),
    ``skeleton``, ``collate``, and ``lecture`` (the record, its recipe at that size)."""

    def __init__(self, lecture, size=None, *, seed: int = 0, length: int = 10_000, n_val: int | None = None):
        size = tuple(size or (lecture.data.image_size,) * 2)
        if size[0] != size[1]:
            raise ValueError(f"input_size: {size[0]} x {size[1]}: the synthetic generator draws square images; "
                             "give one size")
        self.lecture = lecture.replace(data=replace(lecture.data, image_size=size[0]))
        d = make_data(self.lecture.data, 1, seed=seed, train_length=length, n_val=n_val)
        self.train_set, self.collate, self.held_out = d.train.dataset, d.train.collate_fn, d.val
        self.skeleton = layout(lecture.skeleton)

    def describe(self) -> str:
        return f"held-out synthetic images (seed {VAL_SEED}, {len(self.held_out['image'])} images)"

    def evaluate(self, model, lecture, flip: bool, official: bool, model_skeleton) -> dict:
        """The lecture's metric on ``held_out``; ``flip``: the flip test without the left/right swap (the
        synthetic people's side is a colour, which a mirror does not swap)."""
        if not flip:
            return evaluate(model, lecture, SimpleNamespace(val=self.held_out))
        pred = predict_flip(model, self.held_out["image"], lecture.codec, lecture.skeleton, swap=False)
        return {**lecture.metric(pred, self.held_out), "flip_test": True}


class RealSource(_Source):
    """The people of a ``fmt`` folder (:func:`~posecourse.data.topdown.open_source`) at ``size``, as person crops
    (:class:`~posecourse.data.topdown.TopDown`) or, for a bottom-up lecture, whole COCO photos: ``train_set``
    augmented, ``held_out`` not (``eval_ann``'s people, else the training ones), ``skeleton``, ``collate``."""

    def __init__(self, fmt: str, root, lecture, size, *, ann=None, img_dir=None, eval_ann=None, seed: int = 0):
        whole = lecture.codec.bottom_up
        if whole and fmt != "coco":
            raise ValueError(f"lecture: {lecture.name}: bottom-up (multi-person) training on real images reads "
                             f"COCO files (whole photos, COCO-17 -> {lecture.skeleton}); data={fmt!r} is for the "
                             "top-down lectures (01, 02, 03, 05)")
        Crops = WholeImages if whole else TopDown
        source = open_source(fmt, root, ann, img_dir, per_image=whole)
        held = open_source(fmt, root, eval_ann, img_dir, per_image=whole) if eval_ann else source
        self.eval_ann, self.lecture, self.converts = eval_ann, lecture, not whole
        self.train_set = Crops(source, size, augment=True, seed=seed)
        self.held_out = Crops(held, size, augment=False)
        for name, data, what in (("eval_ann" if eval_ann else "data_root", self.held_out, "evaluation"),
                                 ("data_root", self.train_set, "training")):
            if not len(data):
                raise ValueError(f"{name}: {source_file(data.source) or root} holds no {what} sample (no person "
                                 "with a labelled joint)")
        skel, train_file = source_layout(source), source_file(source)  # each names its file if it names no joints
        if eval_ann and (held_joints := source_layout(held).joints) != skel.joints:
            here, there = held_joints + (None,), skel.joints + (None,)  # None: past the last joint
            k = next(k for k, (a, b) in enumerate(zip(here, there)) if a != b)
            raise ValueError(f"eval_ann: {source_file(held).name}: its joints are not the training file "
                             f"{train_file.name}'s (joint {k}: {here[k]!r} there {there[k]!r}; {len(held_joints)} and "
                             f"{skel.num_joints} joints), and the metric reads them in the model's (training) layout")
        if whole and skel.name not in SKELETONS:
            raise ValueError(f"data_root: {train_file.name}: its joints {skel.joints[:3] + ('...',)} are no registered "
                             f"layout; bottom-up training converts COCO-17 (a registered layout) to {lecture.skeleton}")
        if (file := oks_file(self.held_out, skel)) is not None:  # the final score reads it: checked before training
            oks_scores(file, [])
        self.skeleton = layout(lecture.skeleton) if whole else skel
        self.collate = Collate(lecture.skeleton) if whole else collate

    def describe(self) -> str:
        n = len(self.held_out)
        return f"{self.eval_ann} (un-augmented, {n} samples)" if self.eval_ann else \
            f"the training annotations, un-augmented ({n} samples; give eval_ann for a held-out set)"

    def evaluate(self, model, lecture, flip: bool, official: bool, model_skeleton) -> dict:
        """:func:`~posecourse.evaluation.real.evaluate_images` of whole photos (bottom-up), else
        :func:`~posecourse.evaluation.real.evaluate_crops` of the crops."""
        if self.held_out.whole:
            return evaluate_images(model, lecture, self.held_out, self.collate)
        return evaluate_crops(model, lecture, self.held_out, self.skeleton, flip, official,
                              model_skeleton=model_skeleton)


def _codec(lec, model, size, num_joints):
    """The lecture's codec at this input size and joint count (a dry run of the model, if it asks for one)."""
    def output_of():
        was = model.training
        with torch.no_grad():
            out = model.eval()(torch.zeros(1, 3, *size, device=next(model.parameters()).device))
        model.train(was)
        return out

    return lec.codec.for_model(size, num_joints, output_of)


def _norm(cfg: RunConfig, lec, official: bool, saved=None, resume: bool = False):
    """The input normalization of this run; ``saved``: the ``"run"`` entry of the checkpoint loaded (its
    ``input_norm`` wins over ``auto``; on ``resume`` an explicit different one is refused)."""
    saved = saved or {}
    if cfg.input_mean or cfg.input_std:
        norm = ("rgb", tuple(cfg.input_mean or (0.0,) * 3), tuple(cfg.input_std or (1.0,) * 3))
    elif cfg.input_norm != "auto":
        norm = None if cfg.input_norm == "none" else NORMS[cfg.input_norm]
    elif "input_norm" in saved:
        return _as_norm(saved["input_norm"])
    else:
        name = model_card(lec.model).input_norm if official else None
        return NORMS[name] if name else None
    if resume and "input_norm" in saved and norm != _as_norm(saved["input_norm"]):
        raise ValueError(f"input_norm: the checkpoint resumed was trained with input normalization "
                         f"{_as_norm(saved['input_norm'])}, this run asks for {norm}; leave input_norm, input_mean "
                         "and input_std out to continue with the checkpoint's (or train into a new out)")
    return norm


def _as_norm(v):  # as saved (lists: JSON-like plain data, floats exact) -> as NORMS holds it
    return None if v is None else (v[0], tuple(map(float, v[1])), tuple(map(float, v[2])))


def _outputs(cfg: RunConfig, lec, steps: int):
    """``(checkpoint path, the resumed checkpoint's "run" entry)`` (None, None without ``out``), after the
    checks made before any work: ``out`` a writable folder, no other run's outputs overwritten."""
    if cfg.out is None:
        return None, None
    if cfg.out.exists() and not cfg.out.is_dir():
        raise ValueError(f"out: {cfg.out} is a file; expected a folder for checkpoint.pt and metrics.json")
    ckpt = check_checkpoint_path(cfg.out / "checkpoint.pt", "out")
    if steps and ckpt.exists() and not cfg.resume:
        raise ValueError(f"out: {ckpt} exists: resume it (resume, --resume) or choose another out")
    if steps and not cfg.resume and (cfg.out / "metrics.json").exists():
        raise ValueError(f"out: {cfg.out / 'metrics.json'} holds another run's results (its loss curve); choose "
                         "another out, or remove it")
    if not cfg.resume:
        return ckpt, None
    state = read_checkpoint(ckpt, "resume")
    if not isinstance(state, dict) or not isinstance(state.get("model"), dict):
        raise ValueError(f"resume: {ckpt} is not a checkpoint of a run (no 'model' state dict)")
    resumed = state.get("run") or {}
    if resumed.get("lecture") not in (None, lec.name):
        raise ValueError(f"resume: {ckpt} is a run of lecture {resumed['lecture']}, not {lec.name}")
    return ckpt, resumed


def run(cfg: RunConfig) -> RunResult:
    """Train (or, with ``weights`` or ``steps=0``, only evaluate) as ``cfg`` says, then score on the held-out
    set; under ``torchrun`` every process calls it (each trains on its share, rank 0 evaluates and writes).
    Every check of the settings, of ``out`` and of the files named runs before the first step."""
    if not isinstance(cfg, RunConfig):
        raise ValueError(f"cfg: expected a RunConfig, got {type(cfg).__name__}")
    world, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))  # as torchrun sets them
    lec = get_lecture(cfg.lecture)
    size = (lec.data.image_size,) * 2
    if cfg.preset == "paper":
        lec, size = lec.replace(model=lec.paper_model), model_card(lec.paper_model).input_size
    size = cfg.input_size or size
    steps = 0 if cfg.weights is not None else (lec.steps if cfg.steps is None else cfg.steps)
    batch = lec.batch_size if cfg.batch_size is None else cfg.batch_size
    if batch % world:
        raise ValueError(f"batch_size: {batch} is the global batch; it must divide by the {world} processes")
    if cfg.flip_test and not lec.codec.flip_test:
        raise ValueError(f"flip_test: {lec.name}'s codec ({type(lec.codec).__name__}) has no flip test")
    ckpt, resumed = _outputs(cfg, lec, steps)
    source = SyntheticSource(lec, size, seed=cfg.seed, length=max(steps, 1) * batch,
                             n_val=cfg.val_size if rank == 0 else 1) if cfg.data == "synthetic" else \
        RealSource(cfg.data, cfg.data_root, lec, size, ann=cfg.ann, img_dir=cfg.img_dir, eval_ann=cfg.eval_ann,
                   seed=cfg.seed)
    lec, skel = source.lecture, source.skeleton
    mskel, collate_fn = source.for_model(cfg.model_skeleton)
    torch.manual_seed(cfg.seed)  # the same initial weights in every process (DDP also broadcasts rank 0's)
    model = lec.build_model(num_joints=mskel.num_joints)
    given, what = (cfg.weights, "weights") if cfg.weights is not None else (cfg.init, "init")
    official, saved = load_weights(model, given, what=what) if given is not None else (False, None)
    if resumed is not None:
        official, saved = bool(resumed.get("official_weights", False)), resumed
    norm = _norm(cfg, lec, official, saved, resume=resumed is not None)
    input_norm(model, norm)
    lecture = lec.replace(codec=_codec(lec, model, size, mskel.num_joints))
    n_train = len(source.train_set)
    if steps and n_train < batch:
        raise ValueError(f"batch_size: {batch}: the training data has only {n_train} samples ({cfg.data} at "
                         f"{cfg.data_root}); use a smaller global batch")
    sampler = EpochSampler(source.train_set, world, rank, cfg.seed)
    loader = DataLoader(source.train_set, batch_size=batch // world, sampler=sampler, collate_fn=collate_fn,
                        num_workers=cfg.workers, drop_last=True)
    seen = _Seen(loss_function(lecture), sampler)
    lr = lec.lr if cfg.lr is None else cfg.lr
    t0, history = time.perf_counter(), None
    if steps or cfg.resume:
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, sorted(cfg.lr_drops), 0.1) if cfg.lr_drops else None
        # what a resume needs beside the weights, in every save (a run stopped early keeps it too)
        keep = {"lecture": lec.name, "official_weights": official, "input_norm": norm}
        history = train(model, loader, seen, max_steps=steps, optimizer=optimizer, scheduler=scheduler,
                        device=cfg.device, amp=AMP[cfg.amp], checkpoint=ckpt, progress=cfg.progress and rank == 0,
                        seed=cfg.seed, checkpoint_extra={"run": {**(resumed or {}), **keep}})
    else:
        model.to(as_device("device", cfg.device))
    record = gather_run(history, seen, n_train, world)
    info = file = None
    if rank == 0:
        flip = lec.codec.flip_test and (cfg.flip_test or cfg.weights is not None)
        note = ("on" if flip else "off") + ("" if lec.codec.flip_test else
                                            f" ({type(lec.codec).__name__} has no flip test)")
        result = source.evaluate(model.eval(), lecture, flip, official, mskel)
        info = {"lecture": lec.name, "data": cfg.data, "model": lec.model, "input_size": list(size),
                "skeleton": skel.name, "model_skeleton": mskel.name, "num_joints": mskel.num_joints,
                "world_size": world, "global_batch": batch, "batch_per_process": batch // world,
                "steps": history.steps if history else 0, "lr": lr,
                "train_seconds": round(history.seconds, 3) if history else 0.0,
                "seconds": round(time.perf_counter() - t0, 3), "flip_test": flip, "flip_test_note": note,
                "official_weights": official, "input_norm": norm, **record, "eval": result,
                "eval_on": source.describe(), "config": to_plain(cfg, "config")}
        if given is not None:
            info[f"{what}_file"] = str(given)
        if cfg.out is not None:
            if history is not None:
                annotate_checkpoint(ckpt, info)
                info["checkpoint"] = str(ckpt)
            # an evaluation (no training step: weights, or steps=0) never overwrites a training run's outputs
            file = cfg.out / ("metrics.json" if history is not None else "eval_metrics.json")
            file.write_text(json.dumps(info, indent=1))
    if world > 1 and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    return RunResult(model.eval(), history, info, file)
