"""The shipped checkpoints: each lecture's model trained longer, installed with the package.

``posecourse/checkpoints/<lecture>.pt`` holds float32 weights and their metadata (steps, batch size,
images, seed, seconds, held-out metric, torch version); ``<lecture>_32k.pt`` is the same run's snapshot
after :data:`posecourse.lectures.COMPARE_IMAGES` training images, the common budget of lecture 5's
comparison. They are package data, found through :mod:`importlib.resources`, so a ``pip install``ed
course loads them as well as a source checkout. ``python -m posecourse_tools.checkpoints`` trains them.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..evaluation import evaluate
from ..train.fit import fit
from . import checkpoint_dir, get_lecture
from ..train import History
from ..utils import resolve_device

__all__ = ["checkpoint_dir", "checkpoint_path", "load_trained", "checkpoint_meta", "shipped_checkpoint",
           "train_or_load", "ShippedHistory"]


def checkpoint_path(lecture: str, images: int | None = None) -> Path:
    """Path of ``lecture``'s shipped checkpoint, or of its snapshot after ``images`` training images."""
    return checkpoint_dir() / get_lecture(lecture).checkpoint(images)


def _read(path: Path, device) -> dict:
    return torch.load(path, map_location=resolve_device(device), weights_only=True)


def load_trained(lecture: str, device=None, images: int | None = None, with_meta: bool = False):
    """The shipped model of ``lecture`` (with ``images``: its snapshot after that many training
    images) on ``device`` (None: CUDA if present, else Apple MPS, else CPU), in eval mode; None if the file is absent.
    ``with_meta=True``: ``(model, meta)`` (``(None, {})`` if absent) from one read of the file."""
    lec = get_lecture(lecture)
    path = checkpoint_path(lec.name, images)
    if not path.exists():
        return (None, {}) if with_meta else None
    ck = _read(path, device)
    model = lec.build_model()
    model.load_state_dict(ck["model"])
    model = model.to(resolve_device(device)).eval()
    return (model, ck.get("meta", {})) if with_meta else model


def checkpoint_meta(lecture: str, images: int | None = None) -> dict:
    """The metadata saved with a shipped checkpoint; {} if the file is absent."""
    path = checkpoint_path(lecture, images)
    return _read(path, "cpu").get("meta", {}) if path.exists() else {}


def shipped_checkpoint(lecture, data, device=None) -> dict | None:
    """The lecture's shipped model evaluated like the live run: :func:`posecourse.evaluation.evaluate`'s
    dict plus ``model``, ``steps``, ``images`` and ``train_seconds`` from its metadata; None if absent."""
    model, meta = load_trained(lecture.name, device, with_meta=True)
    if model is None:
        return None
    return {**evaluate(model, lecture, data), "model": model, "steps": int(meta.get("steps", 0)),
            "images": int(meta.get("images", 0)), "train_seconds": float(meta.get("train_seconds", 0.0))}


class ShippedHistory(History):
    """The :class:`posecourse.train.History` of a model loaded instead of trained (``use_shipped=True``): ``steps`` and
    ``seconds`` from the checkpoint's metadata; its per-step losses are not stored, so ``losses`` is empty and
    :meth:`plot` says so on the axis."""

    label = "shipped (use_shipped)"  #: how report.live_vs_shipped names this run

    def _draw(self, ax, smooth: int) -> None:
        ax.text(0.5, 0.5, f"use_shipped=True: no training here\n(the checkpoint's {self.steps:,} steps\n"
                f"store no loss curve)", ha="center", va="center", transform=ax.transAxes)


def train_or_load(run, data, *, progress: bool = True):
    """A lecture notebook's model: trained live, or the shipped checkpoint in the slow-laptop mode. ``run``:
    :meth:`posecourse.lectures.Lecture.settings` (seed, steps, device, ``use_shipped``). Returns ``(model, history)``
    in both cases, so every later cell has the same variables: live, those of :func:`posecourse.train.fit.fit` for
    ``run.steps`` steps; with ``use_shipped``, the shipped model in eval mode and a :class:`ShippedHistory` (its steps,
    images and training seconds). A missing checkpoint is an error that says how to make it."""
    lec = run.lecture
    if not run.use_shipped:
        return fit(lec, data, run.steps, seed=run.seed, device=run.device, progress=progress)
    model, meta = load_trained(lec.name, run.device, with_meta=True)
    if model is None:
        raise FileNotFoundError(f"use_shipped: no shipped checkpoint {checkpoint_path(lec.name)}; train it with "
                                f"`python -m posecourse_tools.checkpoints --only {lec.name[:2]}` or set use_shipped=False")
    history = ShippedHistory(steps=int(meta.get("steps", 0)), seconds=float(meta.get("train_seconds", 0.0)))
    return model, history
