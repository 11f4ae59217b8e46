"""Weights from files -- official checkpoints or the course's own -- and the input normalization each expects.

The course's models see RGB in [0, 1]. The papers' released weights were trained on normalized input, so evaluating them
needs the same normalization: HRNet's code applies ``transforms.Normalize`` with the ImageNet statistics to RGB; CMU's
OpenPose model (as converted by pytorch-openpose) takes BGR ``uint8 / 256 - 0.5``. :func:`input_norm` adds it to a model
as a forward pre-hook, so the state dict (and a checkpoint) is unchanged."""
from __future__ import annotations

import math
from pathlib import Path

import torch

from ..models import load_official
from .checkpoint import _check_layout, _check_model, read_checkpoint

__all__ = ["NORMS", "load_weights", "input_norm"]

#: input normalizations ``(channel order, mean, std)`` on RGB in [0, 1] (whose: the module note); a model's card
#: names the one its official weights expect (``model_card(name).input_norm``)
NORMS = {"imagenet": ("rgb", (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
         "openpose": ("bgr", (128 / 255,) * 3, (256 / 255,) * 3)}


def load_weights(model, path: Path, what: str = "--weights/--init"):
    """A checkpoint of this command / :func:`posecourse.train.train` (``{"model": ...}``), else an official
    one (:func:`posecourse.models.load_official`). Returns (whether it was official, the checkpoint's ``"run"``
    entry -- its input normalization, lecture, ... -- or None). Every failure is a ``ValueError`` naming
    ``what`` and the file: missing, empty, truncated or not a checkpoint, or weights of another lecture or
    model (named when the checkpoint records it). The model is unchanged when loading fails."""
    path = Path(path)
    if not path.is_file() and not path.is_dir():
        raise FileNotFoundError(f"{what}: no file at {path}")
    state = read_checkpoint(path, what)
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        run = state.get("run") if isinstance(state.get("run"), dict) else None
        try:
            _check_layout(state, path)
            _check_model(state, model, path)
        except ValueError as e:
            origin = f" (it holds a run of lecture {run.get('lecture')}, model {run.get('model')})" \
                if run and run.get("lecture") else ""
            raise ValueError(f"{what}: {path} holds weights of another model{origin}: {e}") from None
        model.load_state_dict(state["model"])
        return False, run
    if not isinstance(state, dict):
        raise ValueError(f"{what}: {path} holds a {type(state).__name__}, not a state dict or checkpoint")
    try:
        load_official(model, state)
    except ValueError as e:
        raise ValueError(f"{what}: {path} is neither a checkpoint of this course nor official weights of this "
                         f"model: {e}") from None
    return True, None


def input_norm(model, norm):
    """Normalize the model's input in a forward pre-hook (the state dict is unchanged): ``norm`` is
    ``(order, mean, std)`` with ``order`` "rgb" or "bgr" (channels reversed first), or None."""
    if norm is None:
        return model
    norm = NORMS.get(norm, norm) if isinstance(norm, str) else norm
    try:
        order, mean, std = norm
        mean, std = [float(v) for v in mean], [float(v) for v in std]
    except (TypeError, ValueError):
        raise ValueError(f"norm: expected None, one of {sorted(NORMS)} or ('rgb'|'bgr', (3 means), (3 stds)), "
                         f"got {norm!r}") from None
    if order not in ("rgb", "bgr") or len(mean) != 3 or len(std) != 3 or \
            not all(math.isfinite(v) for v in mean + std) or min(std) <= 0:
        raise ValueError(f"norm: expected ('rgb'|'bgr', 3 finite means, 3 finite stds > 0), got {norm!r}")
    m, sd = (torch.tensor(v, dtype=torch.float32).view(1, 3, 1, 1) for v in (mean, std))

    def hook(module, args):
        x = args[0].flip(1) if order == "bgr" else args[0]
        return ((x - m.to(x)) / sd.to(x),) + tuple(args[1:])

    model.register_forward_pre_hook(hook)
    return model
