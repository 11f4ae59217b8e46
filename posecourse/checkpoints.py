"""Train the lectures' small models longer and ship them as ``checkpoints/<lecture>.pt``.

``python -m posecourse.checkpoints`` (or ``--only 05``) trains each lecture's recipe for the same
number of training images (``--images``, steps = images / batch size), from a seed, on the course's
synthetic stream, and saves the weights (float32, a few MB) with their metadata: steps, batch size,
seed, training seconds, the held-out metric, torch version. Same seed and machine -> same weights.

Lecture notebooks load them with :func:`posecourse.experiments.load_trained` to show the fully
trained result next to their short live run; lecture 5 compares all five in one table.
"""
from __future__ import annotations

import argparse
import time

import torch

from . import experiments as X


def train_one(lecture: str, images: int, seed: int, device: str = "auto", progress: bool = True) -> dict:
    recipe = X.RECIPES[lecture]
    steps = max(1, images // recipe.batch_size)
    data = X.make_data(recipe, seed=seed)
    t0 = time.perf_counter()
    model, history = X.fit(recipe, data, steps=steps, seed=seed, device=device, progress=progress)
    seconds = time.perf_counter() - t0
    result = X.evaluate(model, data, recipe)
    meta = {"lecture": lecture, "model": recipe.model, "steps": history.steps, "batch_size": recipe.batch_size,
            "images": history.steps * recipe.batch_size, "seed": seed, "train_seconds": seconds,
            "metric": result["metric"], "value": float(result["value"]), "torch": str(torch.__version__)}
    X.CHECKPOINTS.mkdir(exist_ok=True)
    state = {k: v.detach().float().cpu() if v.is_floating_point() else v.cpu() for k, v in model.state_dict().items()}
    torch.save({"model": state, "meta": meta}, X.checkpoint_path(lecture))
    return meta


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="lecture prefix, e.g. 05")
    ap.add_argument("--images", type=int, default=32_000, help="training images per model (default 32,000, what ships)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args(argv)
    for lec in X.RECIPES:
        if args.only and not lec.startswith(args.only):
            continue
        meta = train_one(lec, args.images, args.seed, args.device)
        print(f"{lec}: {meta['metric']} = {meta['value']:.3f} after {meta['steps']} steps ({meta['train_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
