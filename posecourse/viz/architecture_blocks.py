"""The data of an architecture figure (:class:`Architecture`: :class:`Block` boxes, :class:`Path` arrows) and
``_Builder``, which turns the shapes :func:`_record` measures into blocks and paths for the describers
(:data:`.architecture.DESCRIBERS`); :mod:`.architecture` is the public entry point."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn as nn

__all__ = ["Block", "Path", "Architecture", "PATH_KINDS"]


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


def forward_hooked(model: nn.Module, x: torch.Tensor, hooks=(), run=None):
    """``run(model, x)`` (default ``model(x)``) in eval mode without gradients, with the forward ``hooks``
    ``[(module, fn)]`` attached; restores the mode, removes the hooks and returns the output."""
    handles = [m.register_forward_hook(fn) for m, fn in hooks]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            return (run or (lambda m, x: m(x)))(model, x)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()


def _record(model: nn.Module, input_size, run=None) -> dict[str, dict]:
    """Output and first-input shapes (without the batch dim) of every named module, from one
    :func:`forward_hooked` pass of a ``(1, 3, H, W)`` zero image on the model's device (meta works)."""
    shapes: dict[str, dict] = {}

    def shape(x):
        if isinstance(x, torch.Tensor):
            return tuple(x.shape[1:])
        if isinstance(x, (list, tuple)) and x and all(isinstance(t, torch.Tensor) for t in x):
            return [tuple(t.shape[1:]) for t in x]
        return None

    def hook(name):
        return lambda _m, inp, out: shapes.__setitem__(name, {"out": shape(out), "in": shape(inp[0]) if inp else None})

    p = next(model.parameters(), None)
    x = torch.zeros(1, 3, *input_size, device=p.device if p is not None else "cpu")
    forward_hooked(model, x, [(m, hook(n)) for n, m in model.named_modules() if n], run)
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

    def mod(self, name, type_, label, col, row=None, stage=0) -> str:
        """:meth:`add` the block of module ``name`` (its recorded output shape)."""
        return self.add(name, type_, label, self.out(name), col, row, name, stage)

    block = Architecture.block  # by name, among the blocks added so far

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
        names.append(b.mod(q, t, label, col + len(names), row, stage))
    return names
