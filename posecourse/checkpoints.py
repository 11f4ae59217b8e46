"""Train the lectures' small models longer and ship them in ``checkpoints/``.

``python -m posecourse.checkpoints`` (or ``--only 05``) trains each lecture's recipe from a seed on
the course's synthetic stream and writes two files per lecture (float32 weights, a few MB, with their
metadata: steps, batch size, images, seed, threads, seconds, held-out metric, torch version):

- ``checkpoints/<lecture>.pt``: the fully trained model, :data:`STEPS` optimizer steps: several times
  the steps the lecture's live run makes in its default time budget on a 2-core CPU, so the notebook
  shows where the short live run is heading;
- ``checkpoints/<lecture>_32k.pt``: the same run's weights after :data:`COMPARE_IMAGES` training
  images, the *common budget* at which lecture 5 compares all five models.

Both come from one run (the snapshot is taken on the way, then training goes on with the same
optimizer state and the next images of the stream). Same seed, thread count and machine -> same
weights. Two lectures can train side by side on 2 cores: ``--only 05 --threads 1`` in one shell and
``--only 02 --threads 1`` in another.

Lecture notebooks load them with :func:`posecourse.experiments.load_trained`.
"""
from __future__ import annotations

import argparse
import time

import torch

from . import experiments as X

#: Optimizer steps of each shipped checkpoint (batch size from the recipe). The lectures' live runs at
#: default parameters made 573 / 316 / 375 / 768 / 2,779 steps (lectures 1-5) on the 2-core CPU
#: that measured the course (README), i.e. the checkpoints train 3.2-7.9x longer; on the earlier 2.2-2.5x
#: faster 2-core machine (2,247 / 575 / 1,078 / 1,452 steps at the older, longer budgets of lectures 1-4)
#: they still train at least 1.5x longer.
STEPS = {"01_deeppose": 4_500, "02_cpm": 1_200, "03_hourglass": 2_200, "04_openpose": 3_000, "05_hrnet": 9_000}
#: The common budget (training images) of lecture 5's comparison: 1,000 steps at batch 32.
COMPARE_IMAGES = X.COMPARE_IMAGES


def _save(model: torch.nn.Module, meta: dict, path) -> None:
    state = {k: v.detach().float().cpu() if v.is_floating_point() else v.cpu() for k, v in model.state_dict().items()}
    path.parent.mkdir(exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"model": state, "meta": meta}, tmp)
    tmp.replace(path)


def train_one(lecture: str, steps: int | None = None, compare_images: int = COMPARE_IMAGES, seed: int = 1,
              device: str = "auto", progress: bool = True) -> tuple[dict, dict]:
    """Train ``lecture``'s model for ``steps`` steps, saving the snapshot after ``compare_images`` images
    on the way. Returns the metadata of (full checkpoint, snapshot)."""
    from .train import train
    from .utils import seed_everything

    X.checkpoint_path(lecture)  # a clear error for an unknown lecture, before any training
    recipe = X.RECIPES[lecture]
    steps = steps or STEPS[lecture]
    snap_steps = max(1, compare_images // recipe.batch_size)
    if steps <= snap_steps:
        raise ValueError(f"steps: a checkpoint must train longer than the comparison budget "
                         f"({snap_steps} steps = {compare_images:,} images), got {steps}")
    data = X.make_data(recipe, seed=seed)
    seed_everything(seed)
    model = X.build_model(recipe)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    loss_fn = X.loss_function(recipe)
    base = {"lecture": lecture, "model": recipe.model, "batch_size": recipe.batch_size, "seed": seed,
            "threads": torch.get_num_threads(), "torch": str(torch.__version__)}

    def finish(total_steps, seconds, path):
        model.eval()
        result = X.evaluate(model, data, recipe)
        meta = {**base, "steps": total_steps, "images": total_steps * recipe.batch_size, "train_seconds": seconds,
                "metric": result["metric"], "value": float(result["value"])}
        _save(model, meta, path)
        return meta

    t0 = time.perf_counter()
    h1 = train(model, data.train, loss_fn, max_steps=snap_steps, optimizer=optimizer, device=device,
               progress=progress, seed=seed)
    snap = finish(h1.steps, time.perf_counter() - t0, X.checkpoint_path(lecture, budget=compare_images))
    # the rest of the run: the next images of the same stream, the same optimizer state
    rest = torch.utils.data.DataLoader(
        torch.utils.data.Subset(data.train.dataset, range(h1.steps * recipe.batch_size, len(data.train.dataset))),
        batch_size=recipe.batch_size, shuffle=False, collate_fn=data.train.collate_fn, num_workers=0)
    t1 = time.perf_counter()
    h2 = train(model, rest, loss_fn, max_steps=steps - h1.steps, optimizer=optimizer, device=device,
               progress=progress)
    full = finish(h1.steps + h2.steps, snap["train_seconds"] + time.perf_counter() - t1, X.checkpoint_path(lecture))
    return full, snap


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="lecture prefix, e.g. 05")
    ap.add_argument("--steps", type=int, help="optimizer steps per model (default: the STEPS table)")
    ap.add_argument("--compare-images", type=int, default=COMPARE_IMAGES,
                    help=f"training images of the snapshot lecture 5 compares (default {COMPARE_IMAGES:,})")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    lectures = [lec for lec in X.RECIPES if not args.only or lec.startswith(args.only)]
    if not lectures:
        ap.error(f"--only {args.only}: no lecture starts with it (lectures: {', '.join(X.RECIPES)})")
    for lec in lectures:
        full, snap = train_one(lec, args.steps, args.compare_images, args.seed, args.device)
        for m in (snap, full):
            print(f"{lec}: {m['metric']} = {m['value']:.3f} after {m['steps']} steps, {m['images']:,} images "
                  f"({m['train_seconds']:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
