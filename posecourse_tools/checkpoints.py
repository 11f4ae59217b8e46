"""Train the lectures' small models longer and ship them with the package.

``python -m posecourse_tools.checkpoints`` (``make checkpoints``; ``--only 05`` for one lecture) trains
each lecture for its record's ``checkpoint_steps`` from a seed on the course's synthetic stream and
writes two files per lecture into :func:`posecourse.lectures.shipped.checkpoint_dir` (float32 weights and their
metadata: steps, batch size, images, seed, threads, seconds, held-out metric, torch version):

- ``<lecture>.pt``: the fully trained model;
- ``<lecture>_32k.pt``: the same run's weights after :data:`posecourse.lectures.COMPARE_IMAGES` training
  images, the common budget at which lecture 5 compares all five models.

Both come from one run (the snapshot is taken on the way, then training goes on with the same optimizer
state and the next images of the stream). Same seed, thread count and machine -> same weights. Two
lectures can train side by side on 2 cores: ``--only 05 --threads 1`` in one shell, ``--only 02 --threads 1``
in another.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from posecourse.evaluation import evaluate
from posecourse.train.fit import loss_function, make_data
from posecourse.lectures import COMPARE_IMAGES, LECTURES, get_lecture
from posecourse.lectures.shipped import checkpoint_dir


def _save(model: torch.nn.Module, meta: dict, path: Path) -> None:
    state = {k: v.detach().float().cpu() if v.is_floating_point() else v.cpu() for k, v in model.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"model": state, "meta": meta}, tmp)
    tmp.replace(path)


def train_one(name: str, steps: int | None = None, compare_images: int = COMPARE_IMAGES, seed: int = 1,
              device=None, progress: bool = True, out: Path | None = None, lecture=None) -> tuple[dict, dict]:
    """Train lecture ``name`` for ``steps`` steps (default: its ``checkpoint_steps``), saving the snapshot after
    ``compare_images`` images on the way, into ``out`` (default: the package's checkpoint folder).
    ``lecture``: a modified record to train instead (tests use a small one). Returns the metadata of
    (full checkpoint, snapshot)."""
    from posecourse.train import train
    from posecourse.utils import seed_everything

    lec = lecture or get_lecture(name)
    out = Path(out) if out is not None else checkpoint_dir()
    steps = steps or lec.checkpoint_steps
    snap_steps = max(1, compare_images // lec.batch_size)
    if steps <= snap_steps:
        raise ValueError(f"steps: a checkpoint must train longer than the comparison budget "
                         f"({snap_steps} steps = {compare_images:,} images), got {steps}")
    data = make_data(lec, seed=seed)
    seed_everything(seed)
    model = lec.build_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=lec.lr)
    loss_fn = loss_function(lec)
    base = {"lecture": lec.name, "model": lec.model, "batch_size": lec.batch_size, "seed": seed,
            "threads": torch.get_num_threads(), "torch": str(torch.__version__)}

    def finish(total_steps, seconds, path):
        model.eval()
        result = evaluate(model, lec, data)
        meta = {**base, "steps": total_steps, "images": total_steps * lec.batch_size, "train_seconds": seconds,
                "metric": result["metric"], "value": float(result["value"])}
        _save(model, meta, path)
        return meta

    t0 = time.perf_counter()
    h1 = train(model, data.train, loss_fn, max_steps=snap_steps, optimizer=optimizer, device=device,
               progress=progress, seed=seed)
    snap = finish(h1.steps, time.perf_counter() - t0, out / lec.checkpoint(compare_images))
    # the rest of the run: the next images of the same stream, the same optimizer state
    rest = torch.utils.data.DataLoader(
        torch.utils.data.Subset(data.train.dataset, range(h1.steps * lec.batch_size, len(data.train.dataset))),
        batch_size=lec.batch_size, shuffle=False, collate_fn=data.train.collate_fn, num_workers=0)
    t1 = time.perf_counter()
    h2 = train(model, rest, loss_fn, max_steps=steps - h1.steps, optimizer=optimizer, device=device,
               progress=progress)
    full = finish(h1.steps + h2.steps, snap["train_seconds"] + time.perf_counter() - t1, out / lec.checkpoint())
    return full, snap


def rescore(name: str, device=None, out: Path | None = None) -> list[dict]:
    """Re-evaluate ``name``'s shipped checkpoint and snapshot on the held-out set with today's decoder and
    metric, and rewrite the ``value`` in their metadata (the weights are not touched; ``rescored`` notes the
    previous value). For when a decoder changes, so the metadata says what the files score now."""
    from posecourse.utils import resolve_device

    lec = get_lecture(name)
    out = Path(out) if out is not None else checkpoint_dir()
    data = make_data(lec, seed=0)
    metas = []
    for images in (COMPARE_IMAGES, None):
        path = out / lec.checkpoint(images)
        ck = torch.load(path, map_location="cpu", weights_only=True)
        model = lec.build_model()
        model.load_state_dict(ck["model"])
        result = evaluate(model.to(resolve_device(device)).eval(), lec, data)
        meta = {**ck["meta"], "rescored": {"from": ck["meta"].get("value"), "torch": str(torch.__version__)},
                "metric": result["metric"], "value": float(result["value"])}
        tmp = path.with_suffix(".tmp")
        torch.save({"model": ck["model"], "meta": meta}, tmp)
        tmp.replace(path)
        metas.append(meta)
    return metas


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="lecture prefix, e.g. 05")
    ap.add_argument("--steps", type=int, help="optimizer steps per model (default: each lecture's checkpoint_steps)")
    ap.add_argument("--compare-images", type=int, default=COMPARE_IMAGES,
                    help=f"training images of the snapshot lecture 5 compares (default {COMPARE_IMAGES:,})")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--device", default=None, help="default: CUDA if present, else Apple MPS, else CPU")
    ap.add_argument("--out", default=None, help="folder to write to (default: the package's checkpoints)")
    ap.add_argument("--rescore", action="store_true",
                    help="no training: re-evaluate the existing files and update the metric in their metadata")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    names = [n for n in LECTURES if not args.only or n.startswith(args.only)]
    if not names:
        ap.error(f"--only {args.only}: no lecture starts with it (lectures: {', '.join(LECTURES)})")
    if args.rescore:
        for name in names:
            for m in rescore(name, args.device, args.out):
                print(f"{name}: {m['metric']} {m['rescored']['from']:.3f} -> {m['value']:.3f} ({m['images']:,} images)")
        return 0
    for name in names:
        full, snap = train_one(name, args.steps, args.compare_images, args.seed, args.device, out=args.out)
        for m in (snap, full):
            print(f"{name}: {m['metric']} = {m['value']:.3f} after {m['steps']} steps, {m['images']:,} images "
                  f"({m['train_seconds']:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
