"""One readable training loop: device choice, AMP on CUDA, a budget in optimizer steps (never seconds:
the result must not depend on the machine), an optional learning-rate schedule, progress bar,
checkpoint/resume (see :mod:`posecourse.train.checkpoint`), and DistributedDataParallel when launched
with ``torchrun``.

The contract between the loop and the rest of the course::

    outputs = model(batch["image"])          # batch: a dict as from posecourse.data.collate
    loss = loss_fn(outputs, batch)           # a scalar tensor; build targets here or in the dataset

``batch`` may also be a ``(inputs, ...)`` tuple/list, then ``model(batch[0])``. Every tensor in the
batch (nested in dicts/lists) is moved to the device before the call.
"""
from __future__ import annotations

import math
import os
import sys
import time
from contextlib import nullcontext
from typing import Any, Callable

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.utils.data import DataLoader, DistributedSampler, IterableDataset
from tqdm import tqdm

from ..params import as_bool, as_device, as_float, as_optional_int, as_seed
from .checkpoint import RESERVED, History, check_checkpoint_path, load_checkpoint, save_checkpoint
from ..utils import seed_everything

__all__ = ["History", "train", "to_device", "save_checkpoint", "load_checkpoint", "check_lr",
           "NonFiniteLossError"]

#: the largest learning rate the default Adam accepts: Adam moves every weight by about ``lr`` per step, so
#: anything above 1 wrecks weights that start near 0 (the lectures use 1e-4 .. 1e-2)
MAX_LR = 1.0


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite: training stops at once (before the step that would spread it into
    every weight), naming the step and the batch."""


def check_lr(name: str, value) -> float:
    """A learning rate for Adam: a finite number with ``0 < lr <= MAX_LR`` (0 is refused, never read as
    "not given"; strings from papermill are parsed), else a ``ValueError`` naming ``name``."""
    lr = as_float(name, value, finite=False)  # NaN and inf fail the range check below, which says why
    if not 0 < lr <= MAX_LR:
        raise ValueError(f"{name}: expected a learning rate with 0 < lr <= {MAX_LR:g} (Adam moves each weight by "
                         f"about lr per step; the lectures use 1e-4 .. 1e-2), got {value!r}")
    return lr


def _batch_label(batch, position: int) -> str:
    """``"batch 3 of the epoch (sample indices [12, 13])"``: what a message about one batch names."""
    label = f"batch {position} of the epoch"
    meta = batch.get("meta") if isinstance(batch, dict) else None
    if isinstance(meta, (list, tuple)):
        idx = [m.get("index") for m in meta if isinstance(m, dict) and m.get("index") is not None]
        if idx:
            label += f" (sample indices {[int(i) for i in idx[:16]]}{' ...' if len(idx) > 16 else ''})"
    return label


def _check_weights(model: nn.Module, step: int) -> None:
    bad = [n for n, p in model.named_parameters() if not torch.isfinite(p).all()]
    if bad:
        raise NonFiniteLossError(f"weights: {len(bad)} parameter tensor(s) became NaN/inf by step {step} (first: "
                                 f"{bad[0]}); the learning rate is likely too large. Nothing was saved for this "
                                 "state")


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


def _amp_dtype(amp, device: torch.device):
    if isinstance(amp, str) and amp.strip().lower() in ("auto", "bf16", "fp16"):
        amp = amp.strip().lower()
    elif isinstance(amp, str):  # papermill's "False" / "true" / "0"
        try:
            amp = as_bool("amp", amp)
        except ValueError:
            raise ValueError(f"amp: expected 'auto', True, False, 'bf16' or 'fp16', got {amp!r}") from None
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


def _distributed(loader, device: torch.device):
    """Under torchrun: the process group, this process's GPU, a loader drawing its share -> (rank, world, device)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, device
    if isinstance(loader, DataLoader) and not isinstance(loader.dataset, IterableDataset) and \
            not isinstance(loader.sampler, DistributedSampler):
        raise ValueError(f"loader: under torchrun (WORLD_SIZE={world}) every process would train on every sample; "
                         "build the DataLoader with sampler=DistributedSampler(dataset, ...) and a per-process batch")
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    return dist.get_rank(), dist.get_world_size(), device


def _check_scheduler(scheduler, optimizer, given_optimizer: bool) -> None:
    if scheduler is None:
        return
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        raise ValueError("scheduler: ReduceLROnPlateau needs a metric to step on; train() steps the schedule "
                         "after every optimizer step without one. Use a step-based schedule (StepLR, OneCycleLR, ...)")
    if not hasattr(scheduler, "step") or not hasattr(scheduler, "state_dict"):
        raise ValueError(f"scheduler: expected a torch.optim.lr_scheduler object, got {type(scheduler).__name__}")
    if not given_optimizer:
        raise ValueError("scheduler: pass optimizer= too, the one the schedule was built on (the default Adam "
                         "is created inside train() and no schedule can refer to it)")
    if getattr(scheduler, "optimizer", None) is not optimizer:
        raise ValueError("scheduler: it schedules a different optimizer than the optimizer= given")


def train(model: nn.Module, loader, loss_fn: Callable[[Any, Any], torch.Tensor], *, epochs: int | None = None,
          max_steps: int | None = None, lr: float | None = None, optimizer: torch.optim.Optimizer | None = None,
          scheduler=None, device: str | torch.device | None = None, amp="auto", checkpoint=None,
          checkpoint_extra: dict | None = None, progress: bool = True, seed: int | None = None) -> History:
    """Train ``model`` in place until ``epochs`` or ``max_steps`` (both totals, counting a resumed
    checkpoint) is reached, whichever comes first. The budget is counted in optimizer steps, never in
    seconds, so the same seed gives the same run on any machine; the time taken is in ``History.seconds``.
    Evaluation is the caller's, after (or between) calls: :func:`posecourse.train.run.run` scores a held-out set.

    Args:
        model: any ``nn.Module``; moved to ``device`` (``None``/``"auto"``: CUDA, else Apple MPS, else CPU).
        loader: an iterable of batches (a ``DataLoader``). Under ``torchrun`` each process must draw its own
            share: a ``DataLoader`` without a ``DistributedSampler`` is a ``ValueError`` (it is never rebuilt
            behind your back; :class:`posecourse.train.run.EpochSampler` is one); a sampler with ``set_epoch`` is
            told the epoch.
        loss_fn: ``loss_fn(outputs, batch) -> scalar tensor`` (see the module docstring).
        lr: learning rate of the default optimizer, ``Adam(lr=lr)`` (default ``1e-3``; ``0 < lr <= 1``, see
            :func:`check_lr`); an error beside ``optimizer=``, whose own settings hold its learning rate.
        optimizer: default ``Adam(lr=lr)``.
        scheduler: an optional ``torch.optim.lr_scheduler`` built on ``optimizer``, stepped after every
            optimizer step (so its periods are in steps); saved in and restored from ``checkpoint``.
        amp: ``"auto"`` = autocast on CUDA (bf16 where supported, else fp16 with a ``GradScaler``), off
            elsewhere; ``True``/``"bf16"``/``"fp16"`` force it (CUDA only), ``False`` disables it.
        checkpoint: a path; if a file is there the run resumes from it -- after checking, before any step,
            that model, optimizer class/settings/parameter groups and schedule match it (else a
            ``ValueError`` saying what differs); saved after every epoch and at the end. A run stopped by
            ``max_steps`` inside an epoch resumes at the start of the next epoch (the loader's position is
            not saved), so split runs at epoch ends to repeat a single run exactly. The path is checked
            before the first step (a folder, or a folder that cannot be created, is a ``ValueError``), and a
            file there that is not a checkpoint is a ``ValueError`` naming it.
        checkpoint_extra: metadata saved in every checkpoint beside the weights (see
            :func:`~posecourse.train.checkpoint.save_checkpoint`'s ``**extra``), e.g. what a resume needs.
        progress: a text ``tqdm`` bar on rank 0, on stdout, updated at most every 2 s: it ends as one finished
            line in a stored notebook (a widget bar would be stored as an empty red widget without its state).
        seed: seeds Python/NumPy/torch.
    Returns:
        :class:`History`.
    Raises:
        NonFiniteLossError: the loss is NaN/inf at some step (named, with the batch), or the weights are
            NaN/inf at a save or at the end; the checkpoint keeps the last state saved before it.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise ValueError(f"loss_fn: expected a callable loss_fn(outputs, batch), got {type(loss_fn).__name__}")
    if not hasattr(loader, "__iter__"):
        raise ValueError(f"loader: expected an iterable of batches (a DataLoader), got {type(loader).__name__}")
    epochs = as_optional_int("epochs", epochs, minimum=0)
    max_steps = as_optional_int("max_steps", max_steps, minimum=0)
    if epochs is None and max_steps is None:
        raise ValueError("train: give epochs or max_steps (or both; budgets are optimizer steps), else it never stops")
    if optimizer is not None and lr is not None:
        raise ValueError("lr: set the learning rate in the optimizer you pass; lr= is for the default Adam only")
    lr = check_lr("lr", 1e-3 if lr is None else lr)
    if checkpoint is not None:
        checkpoint = check_checkpoint_path(checkpoint, "checkpoint")
    if checkpoint_extra is not None and (not isinstance(checkpoint_extra, dict) or set(checkpoint_extra) & {*RESERVED}):
        raise ValueError(f"checkpoint_extra: expected a dict of metadata not named {list(RESERVED)} (reserved for the "
                         f"checkpoint itself), got {checkpoint_extra!r}")
    progress = as_bool("progress", progress)
    _check_scheduler(scheduler, optimizer, optimizer is not None)
    if seed is not None:
        seed_everything(as_seed("seed", seed))
    device = as_device("device", device)
    rank, world, device = _distributed(loader, device)
    amp_dtype = _amp_dtype(amp, device)
    model = model.to(device)
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    history = History()
    if checkpoint is not None and checkpoint.is_file():
        history = load_checkpoint(checkpoint, model, optimizer, scheduler, scaler=scaler, map_location=device,
                                  resume=True)["history"]
    net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None) \
        if world > 1 else model
    autocast = (lambda: torch.autocast("cuda", dtype=amp_dtype)) if amp_dtype is not None else nullcontext

    def save():
        if checkpoint is not None and rank == 0:
            _check_weights(model, history.steps)
            save_checkpoint(checkpoint, model, optimizer, history, scheduler=scheduler, scaler=scaler,
                            **(checkpoint_extra or {}))

    bar = None
    if progress and rank == 0:
        total = None
        if epochs is not None and hasattr(loader, "__len__"):
            total = max(0, epochs - history.epochs) * len(loader)
        if max_steps is not None:
            total = min(total or math.inf, max(0, max_steps - history.steps))
        bar = tqdm(total=None if total == math.inf else total, desc="train", leave=True, file=sys.stdout,
                   mininterval=2.0, dynamic_ncols=False, ncols=100)

    def out_of_budget() -> bool:
        return max_steps is not None and history.steps >= max_steps  # the same count on every rank

    t0, seconds0 = time.perf_counter(), history.seconds
    stopped = out_of_budget()
    net.train()
    while not stopped and (epochs is None or history.epochs < epochs):
        sampler = getattr(loader, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(history.epochs)
        epoch_sum, epoch_n = 0.0, 0
        for position, batch in enumerate(loader):
            if out_of_budget():
                stopped = True
                break
            batch = to_device(batch, device, non_blocking=device.type == "cuda")
            inputs = batch["image"] if isinstance(batch, dict) else batch[0]
            with autocast():
                outputs = net(inputs)
            loss = loss_fn(outputs, batch)
            if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
                raise ValueError(f"loss_fn must return a scalar tensor, got "
                                 f"{tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__}")
            value = float(loss.detach())
            bad = not math.isfinite(value)
            if world > 1:  # every process stops at the same step (one stopping alone would hang the others)
                flag = torch.tensor([float(bad)], device=device)
                dist.all_reduce(flag)
                bad = bool(flag.item())
            if bad:
                raise NonFiniteLossError(
                    f"loss: {value}{'' if not math.isfinite(value) else ' here, non-finite in another process,'} "
                    f"at step {history.steps + 1} (epoch {history.epochs + 1}, "
                    f"{_batch_label(batch, position)}); stopped before updating the weights. Look for NaN/inf in "
                    "that batch's images or targets, or lower the learning rate (a checkpoint keeps its last save)")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            history.lrs.append(float(optimizer.param_groups[0]["lr"]))
            scaler.step(optimizer)
            scaler.update()
            if scheduler is not None:
                scheduler.step()
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
            save()
            if epoch_n == 0:  # an empty loader would loop for ever
                break
    history.seconds = seconds0 + time.perf_counter() - t0
    _check_weights(model, history.steps)
    save()
    if bar is not None:
        bar.close()
    if world > 1:
        dist.barrier()
    return history

