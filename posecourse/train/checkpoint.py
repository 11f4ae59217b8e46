"""Checkpoints of :func:`posecourse.train.train`: saved so that ``torch.load(weights_only=True)`` reads them
back, and resumed exactly or not at all.

A checkpoint file holds one dict::

    model               the model's state dict (unwrapped from DistributedDataParallel)
    optimizer           the optimizer's state dict, or None
    optimizer_type      its class, e.g. "torch.optim.adam.Adam"; optimizer_defaults: its constructor settings
    scheduler           the learning-rate scheduler's state dict and class (scheduler_type), or None
    scaler              the fp16 GradScaler's state, or None
    history, step       :class:`~posecourse.train.History` as a plain dict; the optimizer steps done
    ...                 any ``**extra`` metadata, converted to plain Python by :func:`~posecourse.utils.to_plain`

Resuming checks, before anything is loaded or trained, that the model's keys and shapes, the optimizer's class, settings
and parameter groups, and the learning-rate schedule's class and settings are those of the checkpoint; any difference is
a ``ValueError`` naming it (restoring them silently would, for example, put back the checkpoint's learning rate over the
one just asked for)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
import math
import os
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn as nn

from ..params import as_path
from ..utils import _type_name, to_plain

__all__ = ["History", "save_checkpoint", "load_checkpoint", "read_checkpoint", "check_checkpoint_path"]

RESERVED = ("model", "optimizer", "optimizer_type", "optimizer_defaults", "scheduler", "scheduler_type", "scaler",
            "history", "step")
# keys a learning-rate scheduler rewrites in the optimizer's parameter groups as it goes
_SCHEDULED = {"lr", "initial_lr", "momentum", "betas", "max_lr", "min_lr", "max_momentum", "base_momentum"}
# scheduler state that is progress, not configuration
_PROGRESS = {"last_epoch", "base_lrs"}
# optimizer state tensors shaped like their parameter
_PER_PARAM = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq", "momentum_buffer", "sum", "square_avg", "acc_delta"}


@dataclass
class History:
    """What a run did. ``losses``: one float per optimizer step; ``lrs``: the learning rate of the first
    parameter group used at each step; ``epoch_losses``: mean per finished epoch; ``metrics``: one dict per
    evaluation the caller records (with ``step`` and ``epoch``); ``seconds``: wall time of the training calls
    (reported, never a budget); ``steps`` / ``epochs``: totals, counting resumed runs."""

    losses: list[float] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)
    epoch_losses: list[float] = field(default_factory=list)
    metrics: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    steps: int = 0
    epochs: int = 0

    def plot(self, ax=None, smooth: int = 10):
        """Loss per step (and its running mean over ``smooth`` steps) on a matplotlib axis."""
        import matplotlib.pyplot as plt  # here: pyplot takes ~0.8 s to import (measured), runs need no plot

        ax = ax or plt.subplots(figsize=(5, 3))[1]
        ax.set(xlabel="step", ylabel="loss")
        self._draw(ax, smooth)
        return ax

    def _draw(self, ax, smooth: int) -> None:
        ax.plot(self.losses, alpha=0.35, label="loss / step")
        if len(self.losses) >= smooth > 1:
            ls = torch.tensor(self.losses)
            ax.plot(range(smooth - 1, len(ls)), ls.unfold(0, smooth, 1).mean(1), label=f"mean of {smooth}")
        ax.set_yscale("log" if self.losses and min(self.losses) > 0 else "linear")
        ax.legend()


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def save_checkpoint(path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None, history=None,
                    step: int | None = None, *, scheduler=None, scaler: torch.amp.GradScaler | None = None,
                    **extra) -> None:
    """Save model (unwrapped from DDP), optimizer, lr scheduler, AMP scaler, history, step and ``**extra`` metadata to
    ``path``, atomically (a temporary file, read back under ``weights_only=True``, then renamed). ``history`` and
    ``extra`` are converted by :func:`to_plain` (a value it cannot convert is a ``ValueError`` naming its key, and
    nothing is written); ``extra`` may not use the names in ``RESERVED``."""
    if clash := sorted(set(extra) & set(RESERVED)):
        raise ValueError(f"save_checkpoint: extra metadata may not be named {clash} (reserved for the checkpoint)")
    hist = to_plain(history, "history") if history is not None else None
    opt, sched = optimizer is not None, scheduler is not None
    state = {"model": _unwrap(model).state_dict(), "optimizer": optimizer.state_dict() if opt else None,
             "optimizer_type": _type_name(optimizer) if opt else None,
             "optimizer_defaults": _settings(optimizer) if opt else None,
             "scheduler": scheduler.state_dict() if sched else None,
             "scheduler_type": _type_name(scheduler) if sched else None,
             "scaler": scaler.state_dict() if scaler is not None and scaler.is_enabled() else None, "history": hist,
             "step": int(step if step is not None else (hist or {}).get("steps", 0)),
             **{k: to_plain(v, f"extra {k!r}") for k, v in extra.items()}}
    path = check_checkpoint_path(path, "path")
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    try:  # the promise: what was written loads back (mmap: the tensors are not read)
        torch.load(tmp, map_location="cpu", weights_only=True, mmap=True)
    except Exception as e:
        tmp.unlink(missing_ok=True)
        raise ValueError(f"save_checkpoint: {path} would not load back under torch.load(weights_only=True) "
                         f"(nothing written): {e}") from e
    os.replace(tmp, path)


def read_checkpoint(path, what: str = "path", map_location="cpu") -> object:
    """``torch.load(path, weights_only=True)`` with errors that name ``what`` (the parameter or option) and
    the file: a missing path, a folder, an empty or truncated file, or a file ``torch.save`` did not write
    is a ``ValueError`` saying so (never a raw pickle/zip error)."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{what}: {path} is a folder, expected a checkpoint file")
    if not path.is_file():
        raise ValueError(f"{what}: no checkpoint file at {path}")
    if path.stat().st_size == 0:
        raise ValueError(f"{what}: {path} is empty (0 bytes), not a checkpoint")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # zip/pickle/unpickler errors of several types for a corrupt or foreign file
        msg = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        raise ValueError(f"{what}: {path} is not a readable checkpoint (truncated, corrupt, or not written by "
                         f"torch.save with plain data): {type(e).__name__}: {msg}") from None


def check_checkpoint_path(path, what: str = "checkpoint") -> Path:
    """Where a checkpoint will be written, checked before any work: not a folder; its folder created if missing and
    writable. Errors name ``what``. Returns the path."""
    path = as_path(what, path)
    if path.is_dir():
        raise ValueError(f"{what}: {path} is a folder, so the checkpoint (a file) cannot be written there")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"{what}: cannot create the folder {path.parent}: {e.strerror or e}") from None
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise ValueError(f"{what}: the folder {path.parent} is not writable")
    return path


def _plain_or_type(value):
    """Settings as comparable plain data; a value :func:`to_plain` cannot convert (a callable in a custom
    optimizer's defaults, say) is compared by its type only."""
    try:
        return to_plain(value)
    except ValueError:
        return f"<{_type_name(value)}>"


def _settings(optimizer: torch.optim.Optimizer) -> dict:
    return {k: _plain_or_type(v) for k, v in optimizer.defaults.items()}


def _same(a, b) -> bool:
    a, b = _plain_or_type(a), _plain_or_type(b)
    return a == b or isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)


def _differences(saved: Mapping, now: Mapping, skip=lambda key: False) -> str:
    """``"k=<now> here, <saved> in the checkpoint"`` for every key (but those ``skip`` names) whose values differ."""
    return "; ".join(f"{k}={now.get(k)!r} here, {saved.get(k)!r} in the checkpoint" for k in sorted({*saved, *now})
                     if not skip(k) and not _same(saved.get(k), now.get(k)))


def _check_layout(state: dict, path) -> None:
    """The parts of a checkpoint a load reads have the types :func:`save_checkpoint` writes (a file edited or
    written by other code fails here, naming the entry, instead of deep inside torch)."""
    def foreign(why: str) -> ValueError:
        return ValueError(f"path: {path} is not a save_checkpoint file: {why}")

    saved = state.get("model")
    if isinstance(saved, Mapping):
        odd = [k for k, v in saved.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
        if odd:
            raise foreign(f"'model' entries {odd[:5]} are not named tensors")
    for key, want in (("optimizer", "a state dict (state, param_groups)"), ("scheduler", "a state dict"),
                      ("scaler", "a state dict"), ("history", "a dict of History fields")):
        v = state.get(key)
        if v is not None and not isinstance(v, Mapping):
            raise foreign(f"{key!r} is a {type(v).__name__}, expected {want}")
    opt = state.get("optimizer")
    if opt is not None and not (isinstance(opt.get("state"), Mapping) and isinstance(opt.get("param_groups"), list)
                                and all(isinstance(g, Mapping) and isinstance(g.get("params"), list)
                                        for g in opt["param_groups"])):
        raise foreign("'optimizer' lacks 'state'/'param_groups'")
    hist = state.get("history") or {}
    for key in ("steps", "epochs", "step"):
        v = state.get(key) if key == "step" else hist.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            raise foreign(f"{'history ' if key != 'step' else ''}{key!r} is {v!r}, expected a count >= 0")
    for key in ("losses", "lrs", "epoch_losses", "metrics"):
        v = hist.get(key)
        if v is not None and not isinstance(v, list):
            raise foreign(f"history {key!r} is a {type(v).__name__}, expected a list")


def _check_model(state: dict, model: nn.Module, path) -> None:
    saved = state.get("model")
    if not isinstance(saved, Mapping):
        raise ValueError(f"path: {path} is not a save_checkpoint file (no 'model' state dict)")
    ours = _unwrap(model).state_dict()
    missing = [k for k in ours if k not in saved]
    unexpected = [k for k in saved if k not in ours]
    shapes = [f"{k}: {tuple(saved[k].shape)} saved, {tuple(v.shape)} in the model" for k, v in ours.items()
              if k in saved and hasattr(v, "shape") and hasattr(saved[k], "shape") and saved[k].shape != v.shape]
    if missing or unexpected or shapes:
        raise ValueError(f"model: {path} does not fit this {type(_unwrap(model)).__name__}: missing keys {missing[:10]}"
                         f" ({len(missing)}), unexpected keys {unexpected[:10]} ({len(unexpected)}), "
                         f"shape mismatches {shapes[:10]} ({len(shapes)})")


def _check_optimizer(state: dict, optimizer: torch.optim.Optimizer, path, scheduled: bool) -> None:
    saved = state.get("optimizer")
    if saved is None:
        raise ValueError(f"optimizer: {path} holds no optimizer state; load it without optimizer= for the weights "
                         "only, or train into a new checkpoint path")
    kind = state.get("optimizer_type")
    if kind is not None and kind != _type_name(optimizer):
        raise ValueError(f"optimizer: {path} was trained with {kind}, this run uses {_type_name(optimizer)}; resume "
                         "with the same optimizer class, or train into a new checkpoint path")
    defaults = state.get("optimizer_defaults")
    if defaults is not None and (diff := _differences(defaults, _settings(optimizer))):
        raise ValueError(f"optimizer: settings differ from {path}: {diff}")
    groups, ours = saved["param_groups"], optimizer.param_groups
    if len(groups) != len(ours):
        raise ValueError(f"optimizer: {path} has {len(groups)} parameter group(s), this optimizer {len(ours)}")
    for g, (s, o) in enumerate(zip(groups, ours)):
        if len(s["params"]) != len(o["params"]):
            raise ValueError(f"optimizer: parameter group {g} holds {len(s['params'])} parameters in {path}, "
                             f"{len(o['params'])} in this optimizer")
        skip = {"params"} | (_SCHEDULED if scheduled else set())
        if diff := _differences(s, o, skip.__contains__):
            raise ValueError(f"optimizer: parameter group {g} differs from {path}: {diff}")
        for j, (idx, p) in enumerate(zip(s["params"], o["params"])):
            for name, t in saved["state"].get(idx, {}).items():
                if name in _PER_PARAM and isinstance(t, torch.Tensor) and (t.shape != p.shape or any(
                        st == 0 and n > 1 for st, n in zip(t.stride(), t.shape))):  # a zero stride: a damaged file
                    raise ValueError(f"optimizer: {name} of parameter {j} in group {g} is {tuple(t.shape)}, strides "
                                     f"{t.stride()}, in {path}; the parameter: {tuple(p.shape)} (reordered? damaged?)")


def _check_scheduler(state: dict, scheduler, path, resume: bool) -> None:
    kind, ours = state.get("scheduler_type"), _type_name(scheduler) if scheduler is not None else None
    steps = (state.get("history") or {}).get("steps", state.get("step", 0))
    if kind is not None and ours is None and resume:
        raise ValueError(f"scheduler: {path} was trained with a {kind} learning-rate schedule; pass scheduler= (a "
                         "fresh one of the same class and settings) to resume it, or train into a new checkpoint path")
    if ours is not None and kind is None and (steps or not resume):
        raise ValueError(f"scheduler: {path} holds no learning-rate schedule, but this run gives a {ours}; it would "
                         f"start from its first value after {steps} steps. Train into a new checkpoint path")
    if kind is not None and ours is not None:
        if kind != ours:
            raise ValueError(f"scheduler: {path} was trained with {kind}, this run gives {ours}")
        if diff := _differences(state["scheduler"], scheduler.state_dict(), lambda k: k[:1] == "_" or k in _PROGRESS):
            raise ValueError(f"scheduler: settings differ from {path}: {diff}")


def load_checkpoint(path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None, scheduler=None, *,
                    scaler: torch.amp.GradScaler | None = None, map_location: str | torch.device = "cpu",
                    resume: bool = False) -> dict:
    """Load a :func:`save_checkpoint` file into ``model`` (and ``optimizer``, ``scheduler``, ``scaler``) after
    checking that they fit (see the module docstring); nothing is changed when a check fails. A CUDA
    checkpoint loads on CPU (``map_location``; the model's own device is kept). ``resume=True`` (what
    :func:`~posecourse.train.train` uses) also fails when the checkpoint has a schedule and no ``scheduler``
    is given. Returns the dict, with ``history`` as a :class:`~posecourse.train.History` and ``step``."""
    path = Path(path)
    state = read_checkpoint(path, "path", map_location)
    if not isinstance(state, dict):
        raise ValueError(f"path: {path} is not a save_checkpoint file (holds a {type(state).__name__})")
    _check_layout(state, path)
    _check_model(state, model, path)
    scheduled = scheduler is not None or state.get("scheduler_type") is not None
    if optimizer is not None and (resume or state.get("optimizer") is not None):
        _check_optimizer(state, optimizer, path, scheduled)
    if optimizer is not None or scheduler is not None:
        _check_scheduler(state, scheduler, path, resume)
    hist = state.get("history") or {}
    if unknown := sorted(set(hist) - {f.name for f in dataclasses.fields(History)}):
        raise ValueError(f"history: {path} has unknown fields {unknown}")

    _unwrap(model).load_state_dict(state["model"])
    if optimizer is not None and state.get("optimizer") is not None:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state.get("scheduler") is not None:
        scheduler.load_state_dict(state["scheduler"])
    if scaler is not None and scaler.is_enabled() and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    state["history"] = History(**hist)
    state["step"] = int(state.get("step") or state["history"].steps)
    return state
