"""One readable training loop: device choice, AMP on CUDA, a time budget, progress bar,
checkpoint/resume, and DistributedDataParallel when launched with ``torchrun``.

The contract between the loop and the rest of the course::

    outputs = model(batch["image"])          # batch: a dict as from posecourse.data.collate
    loss = loss_fn(outputs, batch)           # a scalar tensor; build targets here or in the dataset

``batch`` may also be a ``(inputs, ...)`` tuple/list, then ``model(batch[0])``. Every tensor in the
batch (nested in dicts/lists) is moved to the device before the call.
"""
from __future__ import annotations

import math
import os
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.utils.data import DataLoader, DistributedSampler

from .utils import resolve_device, seed_everything

__all__ = ["History", "train", "to_device", "save_checkpoint", "load_checkpoint"]


@dataclass
class History:
    """What a run did. ``losses``: one float per optimizer step; ``epoch_losses``: mean per finished
    epoch; ``metrics``: one dict per evaluation (with ``step`` and ``epoch``); ``seconds``: wall time
    of the training calls; ``steps`` / ``epochs``: totals, counting resumed runs."""

    losses: list[float] = field(default_factory=list)
    epoch_losses: list[float] = field(default_factory=list)
    metrics: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    steps: int = 0
    epochs: int = 0

    def plot(self, ax=None, smooth: int = 10):
        """Loss per step (and its running mean over ``smooth`` steps) on a matplotlib axis."""
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots(figsize=(5, 3))[1]
        ax.plot(self.losses, alpha=0.35, label="loss / step")
        if len(self.losses) >= smooth > 1:
            ls = torch.tensor(self.losses)
            ax.plot(range(smooth - 1, len(ls)), ls.unfold(0, smooth, 1).mean(1), label=f"mean of {smooth}")
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.set_yscale("log" if self.losses and min(self.losses) > 0 else "linear")
        ax.legend()
        return ax


def to_device(batch: Any, device: torch.device, non_blocking: bool = False) -> Any:
    """Move every tensor in a nested dict/list/tuple to ``device``; other values are returned unchanged."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=non_blocking)
    if isinstance(batch, dict):
        return {k: to_device(v, device, non_blocking) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        out = [to_device(v, device, non_blocking) for v in batch]
        return type(batch)(*out) if hasattr(batch, "_fields") else type(batch)(out)
    return batch


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def save_checkpoint(path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    history: History | None = None, step: int | None = None, **extra) -> None:
    """Save model (unwrapped from DDP), optimizer, history and step to ``path`` (written atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "model": _unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "history": asdict(history) if history is not None else None,
        "step": step if step is not None else (history.steps if history is not None else 0),
        **extra,
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    map_location: str | torch.device = "cpu") -> dict:
    """Load a :func:`save_checkpoint` file into ``model`` (and ``optimizer``); a CUDA checkpoint loads on
    CPU (``map_location``; the model's own device is kept). Returns the dict with ``history`` as a
    :class:`History` and ``step``."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"path: no checkpoint at {path}")
    state = torch.load(path, map_location=map_location, weights_only=True)
    _unwrap(model).load_state_dict(state["model"])
    if optimizer is not None and state.get("optimizer") is not None:
        optimizer.load_state_dict(state["optimizer"])
    state["history"] = History(**state["history"]) if state.get("history") else History()
    return state


def _amp_dtype(amp, device: torch.device):
    if amp == "auto":
        amp = device.type == "cuda"
    if amp in (False, None):
        return None
    if device.type != "cuda":
        raise ValueError(f"amp={amp!r}: mixed precision is used on CUDA only, the device is {device}")
    if amp is True:
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if amp in (torch.bfloat16, torch.float16, "bf16", "fp16"):
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp, amp)
    raise ValueError(f"amp: expected 'auto', True, False, 'bf16' or 'fp16', got {amp!r}")


def _distributed(loader: DataLoader, device: torch.device, seed: int | None):
    """Under torchrun (WORLD_SIZE > 1): init the process group and re-build the loader with a
    DistributedSampler. Returns (rank, world_size, device, loader)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, device, loader
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not isinstance(getattr(loader, "sampler", None), DistributedSampler):
        sampler = DistributedSampler(loader.dataset, shuffle=True, seed=seed or 0)
        loader = DataLoader(loader.dataset, batch_size=loader.batch_size, sampler=sampler, num_workers=loader.num_workers,
                            collate_fn=loader.collate_fn, pin_memory=loader.pin_memory, drop_last=loader.drop_last)
    return dist.get_rank(), dist.get_world_size(), device, loader


def train(model: nn.Module, loader, loss_fn: Callable[[Any, Any], torch.Tensor], *, epochs: int | None = None,
          seconds: float | None = None, max_steps: int | None = None, lr: float = 1e-3,
          optimizer: torch.optim.Optimizer | None = None, device: str | torch.device = "auto", amp="auto",
          eval_fn: Callable[[nn.Module], dict] | None = None, eval_every: int | None = None,
          checkpoint=None, progress: bool = True, seed: int | None = None) -> History:
    """Train ``model`` in place until ``epochs`` (total, counting a resumed checkpoint), ``seconds`` (this
    call's wall-clock budget) or ``max_steps`` (total) is reached, whichever comes first.

    Args:
        model: any ``nn.Module``; moved to ``device`` (``"auto"``: CUDA, then MPS, then CPU).
        loader: an iterable of batches (a ``DataLoader``; under ``torchrun`` it is rebuilt with a
            ``DistributedSampler``).
        loss_fn: ``loss_fn(outputs, batch) -> scalar tensor`` (see the module docstring).
        seconds: the budget is checked before each step, so a run overruns it by at most one step.
        optimizer: default ``Adam(lr=lr)``.
        amp: ``"auto"`` = autocast on CUDA (bf16 where supported, else fp16 with a ``GradScaler``), off
            elsewhere; ``True``/``"bf16"``/``"fp16"`` force it (CUDA only), ``False`` disables it.
        eval_fn: ``eval_fn(model) -> dict`` of metrics, run every ``eval_every`` epochs (default 1) and
            at the end; the model is in ``eval()`` mode inside.
        checkpoint: a path; loaded first if it exists (resume), saved after every epoch and at the end.
        progress: a ``tqdm.auto`` bar on rank 0.
        seed: seeds Python/NumPy/torch (and the distributed sampler).
    Returns:
        :class:`History`.
    """
    if epochs is None and seconds is None and max_steps is None:
        raise ValueError("train: give epochs, seconds or max_steps (or several), else it never stops")
    for name, v in (("epochs", epochs), ("seconds", seconds), ("max_steps", max_steps)):
        if v is not None and v < 0:
            raise ValueError(f"{name} must be >= 0, got {v}")
    if seed is not None:
        seed_everything(seed)
    device = resolve_device(device)
    rank, world, device, loader = _distributed(loader, device, seed)
    amp_dtype = _amp_dtype(amp, device)
    model = model.to(device)
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    history = History()
    if checkpoint is not None and Path(checkpoint).is_file():
        history = load_checkpoint(checkpoint, model, optimizer, map_location=device)["history"]
    net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None) \
        if world > 1 else model
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    autocast = (lambda: torch.autocast("cuda", dtype=amp_dtype)) if amp_dtype is not None else nullcontext
    eval_every = eval_every or 1

    bar = None
    if progress and rank == 0:
        from tqdm.auto import tqdm

        total = None
        if epochs is not None and hasattr(loader, "__len__"):
            total = max(0, epochs - history.epochs) * len(loader)
        if max_steps is not None:
            total = min(total or math.inf, max(0, max_steps - history.steps))
        bar = tqdm(total=None if total == math.inf else total, desc="train", leave=True)

    def out_of_budget() -> bool:
        stop = (seconds is not None and time.perf_counter() - t0 >= seconds) or \
               (max_steps is not None and history.steps >= max_steps)
        if world > 1:  # every rank must stop at the same step, or the gradient all-reduce hangs
            flag = torch.tensor([float(stop)], device=device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            stop = bool(flag.item())
        return stop

    def evaluate():
        net.eval()
        with torch.no_grad():
            m = dict(eval_fn(model))
        net.train()
        history.metrics.append({"step": history.steps, "epoch": history.epochs, **m})

    t0, seconds0 = time.perf_counter(), history.seconds
    stopped = False
    net.train()
    while not stopped and (epochs is None or history.epochs < epochs):
        sampler = getattr(loader, "sampler", None)
        if isinstance(sampler, DistributedSampler):
            sampler.set_epoch(history.epochs)
        epoch_sum, epoch_n = 0.0, 0
        for batch in loader:
            if out_of_budget():
                stopped = True
                break
            batch = to_device(batch, device, non_blocking=device.type == "cuda")
            inputs = batch["image"] if isinstance(batch, dict) else batch[0]
            with autocast():
                outputs = net(inputs)
            loss = loss_fn(outputs, batch)
            if loss.dim() != 0:
                raise ValueError(f"loss_fn must return a scalar, got shape {tuple(loss.shape)}")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            value = float(loss.detach())
            history.losses.append(value)
            history.steps += 1
            history.seconds = seconds0 + time.perf_counter() - t0
            epoch_sum, epoch_n = epoch_sum + value, epoch_n + 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{value:.4g}", refresh=False)
        else:  # the epoch ran to its end
            history.epochs += 1
            history.epoch_losses.append(epoch_sum / max(epoch_n, 1))
            if eval_fn is not None and rank == 0 and history.epochs % eval_every == 0:
                evaluate()
            if checkpoint is not None and rank == 0:
                save_checkpoint(checkpoint, model, optimizer, history)
            if epoch_n == 0:  # an empty loader would loop for ever
                break
    history.seconds = seconds0 + time.perf_counter() - t0
    if eval_fn is not None and rank == 0 and (not history.metrics or history.metrics[-1]["step"] != history.steps):
        evaluate()
    if checkpoint is not None and rank == 0:
        save_checkpoint(checkpoint, model, optimizer, history)
    if bar is not None:
        bar.close()
    if world > 1:
        dist.barrier()
    return history
