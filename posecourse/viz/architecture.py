"""Architecture figures drawn from the model object.

:func:`describe` walks one of the course's models and returns an :class:`Architecture`: its blocks
(name, type, output channels and resolution, measured by a forward pass with hooks on every module,
on the meta device if the model lives there) and the paths between them, among which the ones each
paper is about: DeepPose's cascade (sub-image crops, refinement added to the previous estimate),
CPM's stage inputs (belief maps + image features + centre map), the hourglass skip connections and
the re-injection of each stack's heatmaps, OpenPose's two branches per stage, HRNet's parallel
branches and every ``a(X_i, k)`` of its exchange units. :func:`draw_architecture` draws it
(:mod:`.architecture_figure`).

The walk reads module structure from outside (the attributes each model file documents: ``stage1``,
``features``, ``x_heads``, ``stages`` of :class:`~posecourse.models.cpm.CPM`, ``hg``/``res``/``fc``/
``score``/``fc_``/``score_`` of the hourglass, ``L``/``S`` of OpenPose, ``stage{s}``/``transition{s}``
of HRNet, ``features``/``regressor`` of DeepPose); one describer per model class, see :data:`DESCRIBERS`.

Layout: every block has a ``col`` (position along the forward pass) and a ``row``. Rows are
resolution levels (``log2`` of the stride) for DeepPose, the hourglass and HRNet, and lanes (one per
stage or branch) for CPM and OpenPose; ``row_labels`` names them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn as nn

__all__ = ["Block", "Path", "Architecture", "describe", "describe_model", "draw_architecture", "DESCRIBERS",
           "INPUT_SIZES"]

# input size (H, W) each registered config is described at by default (the papers' / the course's)
INPUT_SIZES = {"deeppose_alexnet": (220, 220), "cpm": (368, 368), "hourglass_2": (256, 256), "hourglass_8": (256, 256),
               "openpose_vgg19": (368, 368), "hrnet_w32": (256, 192), "hrnet_w48": (256, 192)}
TINY_SIZE = (64, 64)


@dataclass
class Block:
    """One box of the figure. ``channels``/``resolution`` describe its output (``resolution`` is
    ``(h, w)``, None for a vector); ``module`` is its qualified name in the model (None for an operation
    done in ``forward``, e.g. an addition); ``stage`` the stage/stack it belongs to (0: stem/trunk)."""

    name: str
    type: str
    label: str
    channels: int
    resolution: tuple[int, int] | None
    col: float
    row: float
    module: str | None = None
    stage: int = 0
    detail: str = ""


@dataclass
class Path:
    """An arrow ``src -> dst`` (block names); ``kind`` is what it carries (see :data:`PATH_KINDS`)."""

    src: str
    dst: str
    kind: str = "flow"
    label: str = ""


PATH_KINDS = {"flow": "forward pass", "skip": "skip connection (added)", "belief": "previous stage's maps",
              "features": "image features", "center": "centre map", "reinject": "heatmaps / features re-injected",
              "fusion": "exchange unit a(X_i, k)", "transition": "new / adapted branch", "cascade": "previous estimate"}


@dataclass
class Architecture:
    family: str
    input_size: tuple[int, int]
    blocks: list[Block]
    paths: list[Path]
    row_labels: dict[float, str] = field(default_factory=dict)
    extras: dict = field(default_factory=dict)

    def block(self, name: str) -> Block:
        for b in self.blocks:
            if b.name == name:
                return b
        raise KeyError(f"no block named {name!r}")

    def of_type(self, type_: str) -> list[Block]:
        return [b for b in self.blocks if b.type == type_]

    def paths_of(self, kind: str) -> list[Path]:
        return [p for p in self.paths if p.kind == kind]


def _record(model: nn.Module, input_size, run=None) -> dict[str, dict]:
    """Output and first-input shapes (without the batch dim) of every named module, from one forward
    pass ``run(model, x)`` (default ``model(x)``) of a ``(1, 3, H, W)`` zero image on the model's device
    (meta works), in eval mode."""
    shapes: dict[str, dict] = {}

    def shape(x):
        if isinstance(x, torch.Tensor):
            return tuple(x.shape[1:])
        if isinstance(x, (list, tuple)) and x and all(isinstance(t, torch.Tensor) for t in x):
            return [tuple(t.shape[1:]) for t in x]
        return None

    def hook(name):
        return lambda _m, inp, out: shapes.__setitem__(name, {"out": shape(out), "in": shape(inp[0]) if inp else None})

    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules() if n]
    p = next(model.parameters(), None)
    device = p.device if p is not None else torch.device("cpu")
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            (run or (lambda m, x: m(x)))(model, torch.zeros(1, 3, *input_size, device=device))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return shapes


class _Builder:
    def __init__(self, shapes, input_size):
        self.shapes, self.input_size = shapes, tuple(input_size)
        self.blocks, self.paths, self.names = [], [], set()

    def level(self, res) -> float:
        return float(round(math.log2(self.input_size[0] / res[0]))) if res else 0.0

    def add(self, name, type_, label, shape, col, row=None, module=None, stage=0, detail="") -> str:
        if name in self.names:
            raise ValueError(f"block {name!r} described twice")
        res = tuple(shape[1:]) if len(shape) == 3 else None
        row = self.level(res) if row is None else row
        self.blocks.append(Block(name, type_, label, int(shape[0]), res, float(col), float(row), module, stage, detail))
        self.names.add(name)
        return name

    def block(self, name: str) -> Block:
        return next(b for b in self.blocks if b.name == name)

    def out(self, module: str, index=None):
        s = self.shapes[module]["out"]
        return s if index is None else s[index]

    def inp(self, module: str):
        return self.shapes[module]["in"]

    def link(self, src, dst, kind="flow", label=""):
        self.paths.append(Path(src, dst, kind, label))

    def chain(self, names, kind="flow"):
        for a, b in zip(names, names[1:]):
            self.link(a, b, kind)


def _kernel(m) -> str:
    k = m.kernel_size if isinstance(m.kernel_size, tuple) else (m.kernel_size,) * 2
    s = m.stride if isinstance(m.stride, tuple) else (m.stride,) * 2
    return f"{k[0]}x{k[1]}" + (f"/{s[0]}" if s[0] > 1 else "")


def _layers(b: _Builder, seq: nn.Sequential, prefix: str, col, row=None, stage=0, with_lrn=False) -> list[str]:
    """Blocks for the conv / pool / linear (/ LRN) layers of a ``Sequential``; BN and activations are folded."""
    names = []
    for n, m in seq.named_children():
        q = f"{prefix}.{n}"
        if isinstance(m, nn.Conv2d):
            t, label = "conv", f"conv {_kernel(m)}"
        elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            t, label = "pool", f"{'max' if isinstance(m, nn.MaxPool2d) else 'avg'}pool {_kernel(m)}"
        elif isinstance(m, nn.Linear):
            t, label = "fc", f"fc {m.out_features}"
        elif with_lrn and isinstance(m, nn.LocalResponseNorm):
            t, label = "norm", "LRN"
        else:
            continue
        names.append(b.add(q, t, label, b.out(q), col + len(names), row, q, stage))
    return names


def draw_architecture(arch: Architecture, ax=None, title: str | None = None, max_stage: int | None = None):
    """Draw ``arch`` with matplotlib; returns the ``Figure`` (see :func:`.architecture_figure.draw_architecture`)."""
    from .architecture_figure import draw_architecture as draw

    return draw(arch, ax=ax, title=title, max_stage=max_stage)


def describe(model: nn.Module, input_size=TINY_SIZE) -> Architecture:
    """Walk ``model`` (one of the course's five families, any config, any device incl. meta) with a
    forward pass of a ``(1, 3, *input_size)`` image and describe its blocks and paths."""
    from . import architecture_families as fam

    input_size = tuple(int(v) for v in (input_size if isinstance(input_size, (tuple, list)) else (input_size,) * 2))
    if len(input_size) != 2 or min(input_size) < 1:
        raise ValueError(f"input_size: expected (H, W) of positive ints, got {input_size}")
    for cls, fn in fam.DESCRIBERS.items():
        if isinstance(model, cls):
            b = _Builder(_record(model, input_size, fam.RUNNERS.get(cls)), input_size)
            b.add("input", "input", "image", (3, *input_size), 0, 0.0)
            family, row_labels, extras = fn(model, b)
            extras["parameters"] = sum(p.numel() for p in model.parameters())
            for p in b.paths:
                if p.src not in b.names or p.dst not in b.names:
                    raise RuntimeError(f"path {p} names an unknown block")
            return Architecture(family, input_size, b.blocks, b.paths, row_labels, extras)
    raise ValueError(f"model: no describer for {type(model).__name__}; "
                     f"known: {', '.join(c.__name__ for c in fam.DESCRIBERS)}")


def describe_model(name: str, input_size=None, device: str | torch.device = "meta", **kw) -> Architecture:
    """Build ``create_model(name, **kw)`` on ``device`` (default meta: no memory, no weights) and describe it at
    ``input_size`` (default: the paper's input for paper configs, 64 x 64 for the ``*_tiny`` ones)."""
    from ..models import create_model

    with torch.device(device):
        model = create_model(name, **kw)
    return describe(model, input_size or INPUT_SIZES.get(name, TINY_SIZE))


def __getattr__(name):
    if name == "DESCRIBERS":
        from .architecture_families import DESCRIBERS

        return DESCRIBERS
    raise AttributeError(name)
