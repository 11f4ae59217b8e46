"""The training / evaluation command: any lecture, any data, one process or many (``torchrun``).

::

    python -m posecourse.train --lecture 03_hourglass --data coco --data-root PATH --steps N --out DIR
    torchrun --nproc_per_node=K -m posecourse.train --lecture 05_hrnet --data synthetic --steps N --out DIR

``--data synthetic`` is the lecture's own synthetic stream; ``coco``, ``crowdpose``, ``mpii``, ``lsp``,
``flic`` read a dataset folder (:func:`posecourse.data.topdown.open_source`) as top-down person crops
(:class:`~posecourse.data.topdown.TopDown`: box crop, random scale/rotation, flips that swap left/right).
``--batch-size`` is the **global** batch: with ``K`` processes each takes ``batch / K`` images per step
from its share of a :class:`~torch.utils.data.DistributedSampler` (gloo on CPU, NCCL on CUDA), so one
process and ``K`` processes see the same images per step. ``--preset paper`` swaps in the paper-size
model at the paper's input size. ``--weights PATH`` evaluates given weights (an official checkpoint,
see :func:`posecourse.models.load_official`, a shipped checkpoint or one this command wrote) instead of
training, with the flip test where the lecture's codec has one (``codec.flip_test``; the output says which);
``--init PATH`` trains from such weights (fine-tuning).

Training writes ``DIR/checkpoint.pt`` (``torch.load(weights_only=True)`` reads it; the run's settings and
result in its ``"run"`` entry, which also holds what a ``--resume`` needs: the input normalization and
whether the weights came from an official file) and ``DIR/metrics.json``. An evaluation (``--weights``)
writes only ``DIR/eval_metrics.json``, so evaluating into a training run's folder never touches its
checkpoint or its ``metrics.json`` (the loss curve). ``metrics.json`` holds the loss per step averaged
over the processes (the global batch's loss), the sample split check (``samples``: images seen in the
first epoch, duplicates across processes), and the lecture's metric after training (held-out synthetic images, or the real crops mapped
back to the photo's pixels; ``eval_on`` says which).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time
from dataclasses import replace
from pathlib import Path

import torch
from torch.utils.data import DataLoader, DistributedSampler

from .data.recipe import VAL_SEED
from .models import model_card
from .train_checkpoint import writable_folder

__all__ = ["main", "parse_args", "EpochSampler"]

REAL = ("coco", "crowdpose", "mpii", "lsp", "flic")
AMP = {"auto": "auto", "off": False, "on": True, "bf16": "bf16", "fp16": "fp16"}



def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m posecourse.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--lecture", required=True, help="a lecture name or unique prefix, e.g. 03_hourglass or 03")
    p.add_argument("--data", default="synthetic", choices=("synthetic",) + REAL)
    p.add_argument("--data-root", type=Path, help="the dataset folder (real data)")
    p.add_argument("--ann", type=Path, help="annotation file, if the folder holds several")
    p.add_argument("--img-dir", type=Path, help="image folder, if not found beside the annotations")
    p.add_argument("--eval-ann", type=Path, help="held-out annotations of the same format (default: the training "
                   "annotations, un-augmented)")
    p.add_argument("--steps", type=int, default=None, help="optimizer steps (default: the lecture's)")
    p.add_argument("--batch-size", type=int, default=None, help="global batch, split over the processes")
    p.add_argument("--lr", type=float, default=None, help="Adam's learning rate (default: the lecture's)")
    p.add_argument("--lr-drops", type=int, nargs="+", default=(), metavar="STEP",
                   help="multiply the learning rate by 0.1 at these steps (HRNet: at 170/210 and 200/210 of the run)")
    p.add_argument("--preset", choices=("course", "paper"), default="course")
    p.add_argument("--input-size", type=int, nargs="+", help="H [W] of the crops (default: the lecture's/preset's)")
    p.add_argument("--model-skeleton", help="predict this joint layout (e.g. mpii16 for the synthetic-trained "
                   "checkpoints on COCO): labels are converted to it, predictions back by joint name")
    p.add_argument("--out", type=Path, required=True, help="folder for checkpoint.pt and metrics.json")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--weights", type=Path, help="evaluate these weights (no training)")
    p.add_argument("--init", type=Path, help="start training from these weights (fine-tuning; optimizer fresh)")
    p.add_argument("--flip-test", action="store_true", help="average with the mirrored image (on with --weights)")
    p.add_argument("--input-norm", choices=("auto", "none", "imagenet", "openpose"), default="auto",
                   help="what the model sees: auto = the official code's for official weights (HRNet: imagenet, "
                        "OpenPose: openpose), else none (RGB in [0, 1], as the course trains)")
    p.add_argument("--input-mean", type=float, nargs=3, metavar=("R", "G", "B"),
                   help="subtract this RGB mean (in [0, 1] units) instead, e.g. pytorch-pose's MPII mean")
    p.add_argument("--input-std", type=float, nargs=3, metavar=("R", "G", "B"), help="divide by this RGB std")
    p.add_argument("--device", default=None, help="auto (CUDA if present, else CPU), cpu, cuda, cuda:N")
    p.add_argument("--amp", choices=tuple(AMP), default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes per training process")
    p.add_argument("--val-size", type=int, default=None, help="held-out synthetic images (default: the lecture's)")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if any(s < 1 for s in args.lr_drops):
        p.error(f"--lr-drops: expected steps >= 1, got {list(args.lr_drops)}")
    for name in ("steps", "batch_size", "val_size"):
        v = getattr(args, name)
        if v is not None and v < (0 if name == "steps" else 1):
            p.error(f"--{name.replace('_', '-')}: expected a positive number, got {v}")
    if args.data in REAL and args.data_root is None:
        p.error(f"--data {args.data} needs --data-root (the dataset folder)")
    if args.weights is not None and (args.resume or args.init is not None):
        p.error("--weights evaluates given weights; it cannot be combined with --resume or --init")
    if args.init is not None and args.resume:
        p.error("--init starts a new run from weights; --resume continues OUT/checkpoint.pt (choose one)")
    if args.lr is not None:
        from .train import MAX_LR

        if not (math.isfinite(args.lr) and 0 < args.lr <= MAX_LR):
            p.error(f"--lr: expected a learning rate with 0 < lr <= {MAX_LR:g}, got {args.lr}")
    if args.input_size and (len(args.input_size) > 2 or min(args.input_size) < 1):
        p.error(f"--input-size: expected H or H W, positive, got {args.input_size}")
    for name in ("input_mean", "input_std"):
        v = getattr(args, name)
        if v is not None and not all(math.isfinite(x) for x in v):
            p.error(f"--{name.replace('_', '-')}: expected finite numbers, got {v}")
    if args.input_std is not None and min(args.input_std) <= 0:
        p.error(f"--input-std: expected positive numbers, got {args.input_std}")
    if not 0 <= args.seed <= 2**32 - 1:
        p.error(f"--seed: expected 0 .. 2**32 - 1, got {args.seed}")
    if args.workers < 0:
        p.error(f"--workers: expected >= 0, got {args.workers}")
    return args


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


def _world() -> tuple[int, int]:
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def _setup(args):
    """The lecture record adapted to the data and preset: ``(lecture, skeleton, input_size)``."""
    from .lectures import get_lecture

    lec = get_lecture(args.lecture)
    size = (lec.data.image_size, lec.data.image_size)
    if args.preset == "paper":
        lec, size = lec.replace(model=lec.paper_model), model_card(lec.paper_model).input_size
    if args.input_size:
        if len(args.input_size) > 2:
            raise ValueError(f"--input-size: expected H or H W, got {args.input_size}")
        size = (args.input_size[0], args.input_size[-1])
    if args.data == "synthetic" and size != (lec.data.image_size,) * 2:
        if size[0] != size[1]:
            raise ValueError(f"--input-size {size[0]} {size[1]}: the synthetic generator draws square images; "
                             "give one size")
        lec = lec.replace(data=replace(lec.data, image_size=size[0]))
    if args.data in REAL and lec.data.multi_person and args.data != "coco":
        raise ValueError(f"--lecture {lec.name}: bottom-up (multi-person) training on real images reads COCO files "
                         f"(whole photos, COCO-17 -> {lec.skeleton}); --data {args.data} is for the top-down "
                         "lectures (01, 02, 03, 05)")
    return lec, size


def _codec(lec, model, size, num_joints):
    """The lecture's codec at this input size and joint count (the codec reads what it needs -- a heatmap
    size -- from a dry run of the model, which it asks for only if it needs it)."""

    def output_of():
        was = model.training
        with torch.no_grad():
            out = model.eval()(torch.zeros(1, 3, *size, device=next(model.parameters()).device))
        model.train(was)
        return out

    return lec.codec.for_model(size, num_joints, output_of)


class _Convert:
    """``collate``, then the joints converted to the model's layout (COCO-17 -> OpenPose's COCO-18)."""

    def __init__(self, skeleton: str):
        self.skeleton = skeleton

    def __call__(self, samples):
        from .data import collate
        from .skeletons import convert_keypoints

        b = collate(samples)
        if b["skeleton"] == self.skeleton:
            return b
        kp, vis = convert_keypoints(b["keypoints"], b["visibility"], b["skeleton"], self.skeleton)
        return {**b, "keypoints": torch.as_tensor(kp, dtype=torch.float32),
                "visibility": torch.as_tensor(vis, dtype=torch.float32), "skeleton": self.skeleton}


def _data(args, lec, size, steps, batch, rank, world):
    """``(train dataset, collate, eval)`` where eval is a held-out synthetic batch or a TopDown dataset."""
    from .data import collate
    from .data.recipe import make_data
    from .data.topdown import TopDown, WholeImages, open_source

    if args.data == "synthetic":
        d = make_data(lec.data, batch, seed=args.seed, train_length=max(steps, 1) * batch,
                      n_val=(lec.data.n_val if args.val_size is None else args.val_size) if rank == 0 else 1)
        return d.train.dataset, d.train.collate_fn, d.val
    whole = lec.data.multi_person
    Crops = WholeImages if whole else TopDown
    source = open_source(args.data, args.data_root, args.ann, args.img_dir, per_image=whole)
    train_set = Crops(source, size, augment=True, seed=args.seed)
    held = open_source(args.data, args.data_root, args.eval_ann, args.img_dir, per_image=whole) \
        if args.eval_ann else source
    return train_set, _Convert(lec.skeleton) if whole else collate, Crops(held, size, augment=False)


def _skeleton(dataset_or_batch):
    from .data.topdown import skeleton_of
    from .data.transforms import layout

    if isinstance(dataset_or_batch, dict):
        return layout(dataset_or_batch["skeleton"])
    src = getattr(dataset_or_batch, "source", dataset_or_batch)
    return layout(skeleton_of(src), getattr(src, "joint_names", None))


def _eval_on(args, lec, held) -> str:
    if args.data == "synthetic":
        return f"held-out synthetic images (seed {VAL_SEED}, {len(held['image'])} images)"
    if args.eval_ann:
        return f"{args.eval_ann} (un-augmented, {len(held)} samples)"
    return f"the training annotations, un-augmented ({len(held)} samples; pass --eval-ann for a held-out set)"


def _norm(args, lec, official: bool, saved=None, resume: bool = False):
    """The input normalization of this run (see ``--input-norm``); ``saved``: the ``"run"`` entry of the
    checkpoint loaded (its ``input_norm`` wins over ``auto``; on ``resume`` an explicit different one is
    refused)."""
    from .weights import NORMS

    if args.input_mean or args.input_std:
        norm = ("rgb", tuple(args.input_mean or (0.0,) * 3), tuple(args.input_std or (1.0,) * 3))
    elif args.input_norm == "auto":
        if saved is not None and "input_norm" in saved:
            return _as_norm(saved["input_norm"])
        name = model_card(lec.model).input_norm if official else None
        return NORMS[name] if name else None
    else:
        norm = None if args.input_norm == "none" else NORMS[args.input_norm]
    if resume and saved is not None and "input_norm" in saved and not _same_norm(norm, _as_norm(saved["input_norm"])):
        raise ValueError(f"--input-norm/--input-mean/--input-std: the checkpoint resumed was trained with input "
                         f"normalization {_as_norm(saved['input_norm'])}, this command asks for {norm}; leave them "
                         "out to continue with the checkpoint's (or train into a new --out)")
    return norm


def _as_norm(value):
    if value is None:
        return None
    order, mean, std = value
    return (order, tuple(float(v) for v in mean), tuple(float(v) for v in std))


def _same_norm(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return a[0] == b[0] and all(math.isclose(x, y, rel_tol=1e-6) for x, y in zip(a[1] + a[2], b[1] + b[2]))


def _out_dir(path: Path) -> Path:
    """``--out``, checked and created before any work: a folder (not a file) that can be written."""
    if path.exists() and not path.is_dir():
        raise ValueError(f"--out: {path} is a file; expected a folder for checkpoint.pt and metrics.json")
    return writable_folder(path, "--out")


def _resume_state(ckpt: Path, lec) -> dict:
    """The ``"run"`` entry of the checkpoint to resume (what it needs beside the weights), after checking
    that the file is a checkpoint of this command for this lecture."""
    from .train_checkpoint import read_checkpoint

    state = read_checkpoint(ckpt, "--resume")
    if not isinstance(state, dict) or not isinstance(state.get("model"), dict):
        raise ValueError(f"--resume: {ckpt} is not a checkpoint of this command (no 'model' state dict)")
    run = state.get("run") or {}
    if run.get("lecture") not in (None, lec.name):
        raise ValueError(f"--resume: {ckpt} is a run of lecture {run['lecture']}, not {lec.name}")
    return run


def main(argv=None) -> int:
    from . import realeval
    from .fit import loss_function
    from .train import train
    from .weights import input_norm, load_weights

    args = parse_args(argv)
    rank, world = _world()
    lec, size = _setup(args)
    steps = 0 if args.weights is not None else (lec.steps if args.steps is None else args.steps)
    batch = lec.batch_size if args.batch_size is None else args.batch_size
    if batch % world:
        raise ValueError(f"--batch-size {batch} is the global batch; it must divide by the {world} processes")
    if args.flip_test and not lec.codec.flip_test:
        raise ValueError(f"--flip-test: {lec.name}'s codec ({type(lec.codec).__name__}) has no flip test")
    _out_dir(args.out)
    ckpt = args.out / "checkpoint.pt"
    if ckpt.is_dir():
        raise ValueError(f"--out: {ckpt} is a folder, so the checkpoint cannot be written; choose another --out")
    if steps and ckpt.exists() and not args.resume:
        raise ValueError(f"{ckpt} exists: pass --resume to continue it, or choose another --out")
    if args.resume and not ckpt.is_file():
        raise ValueError(f"--resume: no checkpoint at {ckpt}")
    if steps and not args.resume and (args.out / "metrics.json").exists():
        raise ValueError(f"--out: {args.out / 'metrics.json'} holds another run's results (its loss curve); choose "
                         "another --out, or remove it")
    resumed = _resume_state(ckpt, lec) if args.resume else None
    # an evaluation (no training step: --weights, or --steps 0) never overwrites a training run's outputs
    out_name = "metrics.json" if steps or args.resume else "eval_metrics.json"

    train_set, collate_fn, held = _data(args, lec, size, steps, batch, rank, world)
    skel = _skeleton({"skeleton": lec.skeleton} if args.data == "synthetic" or lec.data.multi_person else train_set)
    mskel = skel
    if args.model_skeleton and args.model_skeleton != skel.name:
        if args.data == "synthetic" or lec.data.multi_person:
            raise ValueError("--model-skeleton: for the top-down real data only (synthetic data is drawn in the "
                             "lecture's layout)")
        from .skeletons import SKELETONS, get_skeleton

        if skel.name not in SKELETONS:
            raise ValueError(f"--model-skeleton: {args.data}'s layout {skel.name!r} is not registered, so its "
                             "joints cannot be converted by name")
        mskel = get_skeleton(args.model_skeleton)
        collate_fn = _Convert(mskel.name)
    torch.manual_seed(args.seed)  # the same initial weights in every process (DDP also broadcasts rank 0's)
    model = lec.build_model(num_joints=mskel.num_joints)
    given = args.weights if args.weights is not None else args.init
    what = "--weights" if args.weights is not None else "--init"
    official, saved = load_weights(model, given, what=what) if given is not None else (False, None)
    if resumed is not None:
        official, saved = bool(resumed.get("official_weights", False)), resumed
    norm = _norm(args, lec, official, saved, resume=resumed is not None)
    input_norm(model, norm)
    codec = _codec(lec, model, size, mskel.num_joints)
    for part, ds in (("training", train_set if steps else None), ("evaluation", held if args.data in REAL else None)):
        if ds is not None and len(ds) == 0:
            where = getattr(getattr(ds, "source", None), "ann_file", None) or args.data_root
            raise ValueError(f"--data {args.data}: {where} holds no {part} sample (no person with a labelled joint)")
    if steps and len(train_set) < batch:
        raise ValueError(f"--batch-size {batch}: the training data has only {len(train_set)} samples "
                         f"({args.data} at {args.data_root}); use a smaller global batch")
    sampler = EpochSampler(train_set, world, rank, args.seed)
    loader = DataLoader(train_set, batch_size=batch // world, sampler=sampler, collate_fn=collate_fn,
                        num_workers=args.workers, drop_last=True)
    lecture = lec.replace(codec=codec)
    seen = _Seen(loss_function(lecture), sampler)
    lr = lec.lr if args.lr is None else args.lr
    t0 = time.perf_counter()
    history = None
    if steps or args.resume:
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, sorted(args.lr_drops), 0.1) \
            if args.lr_drops else None
        # what a --resume needs beside the weights, in every save (a run stopped early keeps it too)
        keep = {"lecture": lec.name, "official_weights": official, "input_norm": norm}
        history = train(model, loader, seen, max_steps=steps, optimizer=optimizer, scheduler=scheduler,
                        device=args.device, amp=AMP[args.amp], checkpoint=ckpt,
                        progress=not args.no_progress and rank == 0, seed=args.seed,
                        checkpoint_extra={"run": {**(resumed or {}), **keep}})
    record = realeval.gather_run(history, seen, len(train_set), world)
    if rank == 0:
        flip = lec.codec.flip_test and (args.flip_test or args.weights is not None)
        flip_note = ("on" if flip else "off") + ("" if lec.codec.flip_test else
                                                 f" ({type(lec.codec).__name__} has no flip test)")
        result = realeval.evaluate(model.eval(), lecture, held, skel, flip=flip, official=official,
                                   collate_fn=collate_fn, model_skeleton=mskel)
        settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
        info = {"lecture": lec.name, "data": args.data, "model": lec.model, "input_size": list(size),
                "skeleton": skel.name, "model_skeleton": mskel.name, "num_joints": mskel.num_joints,
                "world_size": world, "global_batch": batch,
                "batch_per_process": batch // world, "steps": history.steps if history else 0,
                "lr": lr, "train_seconds": round(history.seconds, 3) if history else 0.0,
                "seconds": round(time.perf_counter() - t0, 3), "flip_test": flip, "flip_test_note": flip_note,
                "official_weights": official, "input_norm": norm,
                **record, "eval": result, "eval_on": _eval_on(args, lec, held), "command": settings}
        if given is not None:
            info["weights_file" if args.weights is not None else "init_file"] = str(given)
        if history is not None:
            realeval.annotate_checkpoint(ckpt, info)
            info["checkpoint"] = str(ckpt)
        (args.out / out_name).write_text(json.dumps(info, indent=1))
        print(f"{lec.name} on {args.data}: {result['metric']} = {result['value']:.4f} "
              f"({info['steps']} steps, {world} process{'es' if world > 1 else ''}, flip test {flip_note}) "
              f"-> {args.out / out_name}")
    if world > 1 and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
