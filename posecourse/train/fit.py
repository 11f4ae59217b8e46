"""Training a lecture's model: the step budget, the loss from the codec, the seed.

Every family trains the same way: targets come from the lecture's codec, the loss from its loss
object, so one loop serves all five papers::

    lec = get_lecture("05_hrnet")
    data = make_data(lec, seed=0)
    model, history = fit(lec, data, steps=lec.steps, seed=0)

Budgets are optimizer steps, never seconds: one ``seed`` gives the same numbers on a fast or a slow
(or busy) machine; the time it took is only reported (``history.seconds``).
"""
from __future__ import annotations

import torch

from ..models import losses
from ..targets.codecs import Poses
from ..data.recipe import Data
from ..data.recipe import make_data as _make_data
from ..evaluation import predict
from ..models.deeppose import DeepPoseCascade
from ..skeletons import get_skeleton
from . import check_lr, train
from ..utils import seed_everything

__all__ = ["make_data", "loss_function", "fit", "fit_cascade", "fit_raw_pixels"]


def make_data(lecture, seed: int = 0, n_val: int | None = None) -> Data:
    """The lecture's training stream (seeded by ``seed``, its batch size) and held-out set."""
    return _make_data(lecture.data, lecture.batch_size, seed=seed, n_val=n_val)


def loss_function(lecture):
    """``loss_fn(outputs, batch) -> scalar`` for :func:`posecourse.train.train`: the codec encodes the
    batch's keypoints into targets (on the batch's device), the lecture's loss compares."""
    codec, loss = lecture.codec, lecture.loss

    def loss_fn(outputs, batch):
        return loss(outputs, **codec.encode(batch))

    return loss_fn


def _check_steps(steps) -> int:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps: expected a positive int (optimizer steps), got {steps!r}")
    return steps


def fit(lecture, data: Data, steps: int, *, seed: int = 0, device=None, model: torch.nn.Module | None = None,
        progress: bool = True, lr: float | None = None):
    """Train the lecture's model (or ``model``) on ``data.train`` for exactly ``steps`` optimizer steps.

    ``lr``: Adam's learning rate (default: the lecture's; ``0 < lr <= 1``, and 0 is refused, never read as
    "not given"). Returns ``(model, history)`` (see :class:`posecourse.train.History`); the model is in eval
    mode. A NaN/inf loss stops training with :class:`~posecourse.train.NonFiniteLossError`.
    """
    _check_steps(steps)
    if lr is not None:
        check_lr("lr", lr)
    seed_everything(seed)
    model = model if model is not None else lecture.build_model()
    history = train(model, data.train, loss_function(lecture), max_steps=steps, epochs=1,
                    lr=lecture.lr if lr is None else lr, device=device, progress=progress, seed=seed)
    return model.eval(), history


class _CascadeStageNet(torch.nn.Module):
    """Training wrapper for cascade stage 2: stage 1 frozen, its predictions jittered (the paper samples
    simulated predictions from the stage-1 error distribution; we add Gaussian noise of ``jitter``
    normalized units) -> ``(displacement, sub_boxes, prev)``."""

    def __init__(self, cascade, jitter: float):
        super().__init__()
        self.cascade, self.jitter = cascade, jitter

    def forward(self, images):
        self.cascade.stages[0].eval()  # frozen, BatchNorm statistics included
        with torch.no_grad():
            prev = self.cascade.stages[0](images)
            prev = prev + self.jitter * torch.randn_like(prev) if self.training and self.jitter > 0 else prev
        d, boxes = self.cascade.stage_displacement(1, images, prev)
        return d, boxes, prev


def fit_cascade(stage1, lecture, data: Data, steps: int, *, seed: int = 0, device=None, sigma: float = 1.0,
                jitter: float = 0.03, crop_size: int | None = None, progress: bool = True):
    """Add DeepPose stage 2 to a trained ``stage1`` regressor and train it for ``steps`` steps.

    The stage-2 target of joint ``i`` is its displacement normalized by the sub-box ``b_i`` around
    the stage-1 prediction, ``(y_i - y_i^1) / (b_w, b_h)`` (paper Eq. 7), with
    ``b_i = (y_i^1, sigma diam, sigma diam)`` (diam: the skeleton's torso diagonal).
    Stage 2 sees each sub-image resampled to ``crop_size`` px (default: half stage 1's input). The paper
    crops 220 px sub-images from the full-resolution photo; ours come from the 64 px image itself, where a
    sub-box spans about 20 source pixels, so 32 px keep all its detail at a quarter of 64 px's compute.
    Returns ``(cascade, history)``; ``cascade(images)`` gives the refined ``(B, K, 2)`` normalized joints.
    """
    _check_steps(steps)
    seed_everything(seed)
    for p in stage1.parameters():
        p.requires_grad_(False)
    stage2 = lecture.build_model(num_joints=1, image_size=crop_size or stage1.input_size // 2)
    cascade = DeepPoseCascade([stage1, stage2], diam_joints=get_skeleton(lecture.skeleton).torso, sigma=sigma)
    net = _CascadeStageNet(cascade, jitter)

    def loss_fn(outputs, batch):
        d, boxes, prev = outputs
        target = lecture.codec.encode(batch)
        goal = cascade.displacement_target(target["target"], prev, boxes, batch["image"].shape[-2:])
        return losses.coordinate_loss(d, goal, target["visibility"])

    history = train(net, data.train, loss_fn, max_steps=steps, epochs=1, lr=lecture.lr, device=device,
                    progress=progress, seed=seed)
    stage1.eval()
    return cascade.eval(), history


def fit_raw_pixels(lecture, data: Data, steps: int, *, seed: int = 0, device=None) -> dict:
    """The pitfall of lecture 1: the same regressor trained on raw pixel coordinates instead of
    ``N(y; b)``. Returns its held-out metric (``{"metric", "value", "history"}``)."""
    _check_steps(steps)
    seed_everything(seed)
    model = lecture.build_model()

    def loss_fn(outputs, batch):
        return losses.coordinate_loss(outputs, batch["keypoints"][:, 0], batch["visibility"][:, 0])

    history = train(model, data.train, loss_fn, max_steps=steps, epochs=1, lr=lecture.lr, device=device,
                    progress=False, seed=seed)
    pred = torch.nan_to_num(predict(model.eval(), data.val["image"]), nan=-1e6, posinf=1e6, neginf=-1e6)
    return {**lecture.metric(Poses.one_each(pred), data.val), "history": history}
