"""The training / evaluation command: any lecture, any data, one process or many (``torchrun``).

::

    python -m posecourse.train --lecture 03_hourglass --data coco --data-root PATH --steps N --out DIR
    torchrun --nproc_per_node=K -m posecourse.train --lecture 05_hrnet --data synthetic --steps N --out DIR

The options are the fields of :class:`posecourse.train.run.RunConfig` (``--batch-size`` is ``batch_size``, the
**global** batch; ``--no-progress`` is ``progress=False``); the command checks them into one, calls
:func:`posecourse.train.run.run` (which says what it writes in ``DIR``; ``docs/training.md``) and prints the result.
Errors name the option (``--out: ...``)."""
from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

from .run import AMP, REAL, RunConfig, run

__all__ = ["main", "parse_args"]

FIELDS = {f.name for f in fields(RunConfig)}


def _option(message: str) -> str:
    """A :class:`RunConfig` error names a field (``batch_size: ...``); the command's user typed the option."""
    head, sep, rest = message.partition(": ")
    return f"--{head.replace('_', '-')}{sep}{rest}" if sep and head in FIELDS else message


def parse_args(argv=None) -> RunConfig:
    p = argparse.ArgumentParser(prog="python -m posecourse.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--lecture", required=True, help="a lecture name or unique prefix, e.g. 03_hourglass or 03")
    p.add_argument("--data", default="synthetic", choices=("synthetic",) + REAL)
    p.add_argument("--data-root", type=Path, help="the dataset folder (real data)")
    p.add_argument("--ann", type=Path, help="annotation file, if the folder holds several")
    p.add_argument("--img-dir", type=Path, help="image folder, if not found beside the annotations")
    p.add_argument("--eval-ann", type=Path, help="held-out annotations (default: the training ones, un-augmented)")
    p.add_argument("--steps", type=int, help="optimizer steps (default: the lecture's)")
    p.add_argument("--batch-size", type=int, help="global batch, split over the processes")
    p.add_argument("--lr", type=float, help="Adam's learning rate (default: the lecture's)")
    p.add_argument("--lr-drops", type=int, nargs="+", default=(), metavar="STEP", help="x0.1 at these steps")
    p.add_argument("--preset", choices=("course", "paper"), default="course")
    p.add_argument("--input-size", type=int, nargs="+", help="H [W] of the crops (default: the lecture's/preset's)")
    p.add_argument("--model-skeleton", help="predict this layout (e.g. mpii16: the shipped checkpoints on COCO)")
    p.add_argument("--out", type=Path, required=True, help="folder for checkpoint.pt and metrics.json")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--weights", type=Path, help="evaluate these weights (no training)")
    p.add_argument("--init", type=Path, help="start training from these weights (fine-tuning; optimizer fresh)")
    p.add_argument("--flip-test", action="store_true", help="average with the mirrored image (on with --weights)")
    p.add_argument("--input-norm", choices=("auto", "none", "imagenet", "openpose"), default="auto",
                   help="auto: the official code's for official weights, else none (RGB in [0, 1])")
    p.add_argument("--input-mean", type=float, nargs=3, metavar=("R", "G", "B"), help="subtract this RGB mean")
    p.add_argument("--input-std", type=float, nargs=3, metavar=("R", "G", "B"), help="divide by this RGB std")
    p.add_argument("--device", default=None, help="auto (CUDA if present, else Apple MPS, else CPU), cpu, cuda, cuda:N, mps")
    p.add_argument("--amp", choices=tuple(AMP), default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes per training process")
    p.add_argument("--val-size", type=int, help="held-out synthetic images (default: the lecture's)")
    p.add_argument("--no-progress", action="store_true")
    args = vars(p.parse_args(argv))
    args["progress"] = not args.pop("no_progress")
    try:
        return RunConfig(**args)
    except ValueError as e:
        p.error(_option(str(e)))


def main(argv=None) -> int:
    cfg = parse_args(argv)
    try:
        result = run(cfg)
    except (ValueError, OSError) as e:  # name the option the user typed
        if len(e.args) == 1 and isinstance(e.args[0], str):
            e.args = (_option(e.args[0]),)
        raise
    if (info := result.info) is not None:  # rank 0 evaluates and reports
        ev, k = info["eval"], info["world_size"]
        print(f"{info['lecture']} on {info['data']}: {ev['metric']} = {ev['value']:.4f} ({info['steps']} steps, "
              f"{k} process{'es' if k > 1 else ''}, flip test {info['flip_test_note']}) -> {result.file}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
