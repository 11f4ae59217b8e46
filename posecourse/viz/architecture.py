"""Architecture figures drawn from the model object.

:func:`describe` walks one of the course's models and returns an :class:`Architecture`: its blocks (shapes
measured by one forward pass with hooks, on the meta device if the model lives there) and the paths between
them, among which the ones each paper is about: DeepPose's cascade (sub-image crops, refinement added to the
previous estimate), CPM's stage inputs (belief maps + image features + centre map), the hourglass skips and
re-injected heatmaps, OpenPose's two branches per stage, every ``a(X_i, k)`` of HRNet's exchange units.
:func:`draw_architecture` draws it. The walk reads the attributes each model file documents, one describer
per model file (:data:`DESCRIBERS`). Every block has a ``col`` (position along the forward pass) and a
``row``: resolution level (``log2`` of the stride) for DeepPose, the hourglass and HRNet, a lane per stage
or branch for CPM and OpenPose; ``row_labels`` names them.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..geometry import as_size
from ..models import create_model
from ..models.deeppose import DeepPoseCascade
from .architecture_blocks import PATH_KINDS, Architecture, Block, Path, _Builder, _layers, _record
from .architecture_figure import draw_architecture

__all__ = ["Block", "Path", "Architecture", "PATH_KINDS", "describe", "describe_model", "draw_architecture",
           "DESCRIBERS"]


def _res_labels(b) -> dict[float, str]:
    return {blk.row: f"1/{2 ** int(blk.row)}" if blk.row else "full" for blk in b.blocks if blk.resolution}


def _stages(model) -> list:
    return list(model.stages) if isinstance(model, DeepPoseCascade) else [model]


def _deeppose(model, b):
    stages = _stages(model)
    cascade = stages[0] is not model
    K = stages[0].num_joints
    estimate, labels, lane = None, {}, 0.0
    for s, reg in enumerate(stages):  # one lane of rows per stage: its resolution levels, then its vector outputs
        pre = f"stages.{s}." if cascade else ""
        first = "input"
        if s:  # the sub-images b_i^(s) around the previous estimate, one per joint
            first = b.add(f"stage{s + 1}.crop", "crop", f"crop b_i ({K} sub-images)", b.inp(f"stages.{s}"), 0,
                          lane + b.level(b.inp(f"stages.{s}")[1:]), stage=s + 1, detail="sub-box side sigma * diam(y)")
            b.link("input", first, "flow", "image")
            b.link(estimate, first, "cascade", "y^(s-1) -> boxes")
            labels[b.block(first).row] = f"stage {s + 1}: sub-images"
        feats = _layers(b, reg.features, f"{pre}features", 1, stage=s + 1, with_lrn=True)
        for n in feats:
            blk = b.block(n)
            labels[lane + blk.row] = (f"stage {s + 1}: " if cascade else "") + (f"1/{2 ** int(blk.row)}" if blk.row else "full")
            blk.row += lane
        vec_row = max(b.block(n).row for n in feats) + 1
        labels[vec_row] = (f"stage {s + 1}: " if cascade else "") + "vector"
        fcs = _layers(b, reg.regressor, f"{pre}regressor", len(feats) + 1, vec_row, stage=s + 1)
        b.chain([first] + feats + fcs)
        out = fcs[-1]
        if s:  # y^s = y^(s-1) + displacement * box size
            out = b.add(f"stage{s + 1}.refine", "add", "y^s = y^(s-1) + d", (2 * K,), len(feats) + len(fcs) + 1, vec_row,
                        stage=s + 1)
            b.link(fcs[-1], out, "flow", "displacement")
            b.link(estimate, out, "cascade", "y^(s-1)")
        b.block(out).type, estimate = "head", out
        lane = vec_row + 1
    labels.setdefault(0.0, "full")
    return labels, {"num_stages": len(stages), "num_joints": K}


def _run_deeppose(model, x):
    """A cascade's stages one by one: stage 1 on the image, stage s > 1 on one ``(3, crop, crop)`` sub-image
    (the shapes of ``forward``; the sub-box geometry needs real values, which the meta device has not)."""
    first, *later = _stages(model)
    first(x)
    for stage in later:
        stage(x.new_zeros(1, 3, model.crop_size, model.crop_size))


def _cpm(model, b):
    T = model.num_stages
    s1 = _layers(b, model.stage1, "stage1", 1, 0, stage=1)
    b.chain(["input"] + s1)
    trunk = _layers(b, model.features, "features", 1, 1) if T > 1 else []
    nT = len(trunk)
    beliefs = [s1[-1]]
    if T > 1:
        b.chain(["input"] + trunk)
        cm = b.add("center_map", "input", "centre map", b.inp("pool_center"), nT + 1, 1, detail="Gaussian at the person")
        pc = b.add("pool_center", "pool", f"avgpool {model.stride + 1}/{model.stride}", b.out("pool_center"), nT + 2, 1,
                   "pool_center")
        b.link(cm, pc, "center")
    for t in range(2, T + 1):
        xh = _layers(b, model.x_heads[t - 2], f"x_heads.{t - 2}", nT + 1, t, stage=t)
        cat = b.add(f"stage{t}.concat", "concat", "concat(x', b, c)", b.inp(f"stages.{t - 2}"), nT + 3, t, stage=t)
        layers = _layers(b, model.stages[t - 2], f"stages.{t - 2}", nT + 4, t, stage=t)
        b.link(trunk[-1], xh[0], "features")
        b.chain(xh)
        b.link(xh[-1], cat, "features", "x'")
        b.chain([cat] + layers)
        b.link(beliefs[-1], cat, "belief", f"b_{t - 1}")
        b.link(pc, cat, "center")
        beliefs.append(layers[-1])
    for t, name in enumerate(beliefs, start=1):
        blk = b.block(name)
        blk.type, blk.label = "head", f"b_{t} ({blk.channels} maps)"
    labels = {0.0: "stage 1", 1.0: "x' trunk, centre", **{float(t): f"stage {t}" for t in range(2, T + 1)}}
    return labels, {"num_stages": T, "stride": model.stride, "receptive_field": model.receptive_fields(),
                           "beliefs": beliefs}


def _hourglass(model, b):
    stem = [b.mod("conv1", "conv", "conv 7x7/2", 1), b.mod("layer1", "residual", "residual", 2),
            b.add("pool", "pool", "maxpool 2/2", b.inp("layer2"), 3), b.mod("layer2", "residual", "residual", 4),
            b.mod("layer3", "residual", "residual", 5)]
    b.chain(["input"] + stem)
    prev, c0, S, heads = stem[-1], 5, model.num_stacks, []
    for s in range(S):
        hg, D = f"hg.{s}", model.hg[s].depth
        mid = c0 + D + 1  # the descent left of ``mid``, the skip branches stacked above the bottom, the ascent right
        into = prev
        for n in range(D, 0, -1):  # the descent: pool + residual; a skip branch at every resolution
            q = f"{hg}.hg.{n - 1}"
            skip = b.add(f"{hg}.skip{n}", "skip", "skip: residual", b.out(f"{q}.0"), mid, module=f"{q}.0", stage=s + 1)
            down = b.add(f"{hg}.down{n}", "down", "pool + residual", b.out(f"{q}.1"), mid - n, module=f"{q}.1", stage=s + 1)
            b.link(into, skip, "skip")
            b.link(into, down)
            into = down
        bottom = b.add(f"{hg}.bottom", "bottom", "residual", b.out(f"{hg}.hg.0.3"), mid, module=f"{hg}.hg.0.3", stage=s + 1)
        b.link(into, bottom)
        into = bottom
        for n in range(1, D + 1):  # the ascent: residual, nearest x2 upsampling, add the skip branch
            q = f"{hg}.hg.{n - 1}"
            up = b.add(f"{hg}.up{n}", "up", "residual", b.out(f"{q}.2"), mid + n, module=f"{q}.2", stage=s + 1)
            add = b.add(f"{hg}.add{n}", "add", "up x2 + skip", b.out(f"{q}.0"), mid + n, stage=s + 1)
            b.chain([into, up, add])
            b.link(f"{hg}.skip{n}", add, "skip")
            into = add
        # the head at the stack's output resolution, in that row (rows are resolutions): residual, 1x1 conv,
        # heatmaps; between stacks, both re-mapped by 1x1 convs and added to the stack's input
        a = mid + D
        res = b.mod(f"res.{s}", "residual", "residual", a + 1, stage=s + 1)
        fc = b.mod(f"fc.{s}", "conv", "conv 1x1", a + 2, stage=s + 1)
        score = b.mod(f"score.{s}", "head", f"heatmaps ({b.out(f'score.{s}')[0]})", a + 3, stage=s + 1)
        b.chain([into, res, fc, score])
        heads.append(score)
        if s < S - 1:  # intermediate supervision: heatmaps and features mapped back and added to the input
            s_ = b.mod(f"score_.{s}", "conv", "conv 1x1", a + 4, stage=s + 1)
            f_ = b.mod(f"fc_.{s}", "conv", "conv 1x1", a + 5, stage=s + 1)
            merge = b.add(f"merge.{s}", "add", "x + both", b.out(f"fc_.{s}"), a + 6, stage=s + 1)
            for src, dst in ((fc, f_), (score, s_), (f_, merge), (s_, merge)):
                b.link(src, dst, "reinject")
            b.link(prev, merge, "skip")
            prev, c0 = merge, a + 6
    return _res_labels(b), {"num_stacks": S, "depth": model.hg[0].depth, "heads": heads}


def _openpose(model, b):
    b.block("input").row = 1.0
    trunk = _layers(b, model.features, "features", 1, 1)
    b.chain(["input"] + trunk)
    F, n, prev = trunk[-1], len(trunk), None
    for t in range(1, len(model.L) + 1):
        col = n + 2 * (t - 1)
        src = F
        if t > 1:
            src = b.add(f"concat{t}", "concat", "concat(L, S, F)", b.inp(f"L.{t - 1}"), col, 1, stage=t)
            b.link(prev[0], src, "belief", f"L^{t - 1}")
            b.link(prev[1], src, "belief", f"S^{t - 1}")
            b.link(F, src, "features", "F")
        names = []
        for row, key, what in ((0.0, "L", "phi (PAFs)"), (2.0, "S", "rho (conf. maps)")):
            q = f"{key}.{t - 1}"
            convs = [m for m in getattr(model, key)[t - 1] if hasattr(m, "kernel_size")]
            detail = ", ".join(f"conv {m.kernel_size[0]}x{m.kernel_size[1]}" for m in convs)
            names.append(b.add(f"{key}{t}", "head", f"{key}^{t} = {what}", b.out(q), col + 1, row, q, t, detail))
            b.link(src, names[-1], "features" if t == 1 else "flow")
        prev = names
    labels = {0.0: "branch 1: PAFs L", 1.0: "features F", 2.0: "branch 2: conf. maps S"}
    return labels, {"num_stages": len(model.L)}


def _hrnet(model, b):
    stem = [b.mod("conv1", "conv", "conv 3x3/2", 1), b.mod("conv2", "conv", "conv 3x3/2", 2),
            b.mod("layer1", "bottleneck", f"{len(model.layer1)} bottleneck", 3)]
    b.chain(["input"] + stem)
    cur, col, units = [stem[-1]], 4, []
    for s in range(2, model.num_stages + 2):
        inputs = []
        for bi, t in enumerate(getattr(model, f"transition{s - 1}")):
            src = cur[min(bi, len(cur) - 1)]
            if t is None:
                inputs.append(src)
                continue
            q = f"transition{s - 1}.{bi}"
            new = bi >= len(cur)
            inputs.append(b.mod(q, "transition", "new branch: conv/2" if new else "conv 3x3", col, stage=s))
            b.link(src, q, "transition")
        col += 1
        for m, mod in enumerate(getattr(model, f"stage{s}")):
            q = f"stage{s}.{m}"
            nb = len(mod.branches[0])
            br = [b.mod(f"{q}.branches.{i}", "branch", f"X_{i + 1}: {nb} basic block{'s' * (nb > 1)}", col, stage=s)
                  for i in range(len(mod.branches))]
            for x, y in zip(inputs, br):
                b.link(x, y)
            fused = []
            for k in range(len(mod.fuse_layers)):
                fused.append(b.add(f"{q}.fuse{k}", "fuse", f"Y_{k + 1} = sum a(X_i, {k + 1})", b.out(q, k), col + 1, stage=s))
                for i, x in enumerate(br):
                    how = "identity" if i == k else f"up x{2 ** (i - k)}" if i > k else f"down /{2 ** (k - i)}"
                    b.link(x, fused[-1], "fusion", how)
            units.append({"stage": s, "module": q, "branches": len(br), "outputs": len(fused)})
            inputs = cur = fused
            col += 2
    head = b.mod("final_layer", "head", f"heatmaps ({b.out('final_layer')[0]})", col, stage=model.num_stages + 1)
    b.link(cur[0], head)
    return _res_labels(b), {"units": units, "num_units": len(units)}


#: model file (the family: where the model's class lives) -> ``fn(model, builder) -> (row_labels, extras)``, which
#: adds the model's blocks and paths to the builder (shapes from its recorded forward pass, keyed by module name)
DESCRIBERS = {"deeppose": _deeppose, "cpm": _cpm, "hourglass": _hourglass, "openpose": _openpose, "hrnet": _hrnet}
RUNNERS = {"deeppose": _run_deeppose}


def describe(model: nn.Module, input_size) -> Architecture:
    """Walk ``model`` (one of the course's five families, any config, any device incl. meta) with a
    forward pass of a ``(1, 3, *input_size)`` image (``input_size``: ``(H, W)`` or one side) and describe
    its blocks and paths."""
    input_size = as_size(input_size, "input_size")
    family = type(model).__module__.removeprefix("posecourse.models.")
    if family not in DESCRIBERS:
        raise ValueError(f"model: no describer for {type(model).__name__}; known: the models of posecourse.models."
                         f"{{{', '.join(DESCRIBERS)}}}")
    b = _Builder(_record(model, input_size, RUNNERS.get(family)), input_size)
    b.add("input", "input", "image", (3, *input_size), 0, 0.0)
    row_labels, extras = DESCRIBERS[family](model, b)
    extras["parameters"] = sum(p.numel() for p in model.parameters())
    if bad := [p for p in b.paths if p.src not in b.names or p.dst not in b.names]:
        raise RuntimeError(f"path {bad[0]} names an unknown block")
    return Architecture(family, input_size, b.blocks, b.paths, row_labels, extras)


def describe_model(name: str, input_size=None, device: str | torch.device = "meta", **kw) -> Architecture:
    """Build ``create_model(name, **kw)`` on ``device`` (default meta: no memory, no weights) and describe it at
    ``input_size`` (default: its card's, :func:`posecourse.models.model_card`: the paper's input for paper
    configs, 64 x 64 for the ``*_tiny`` ones)."""
    with torch.device(device):
        model = create_model(name, **kw)
    return describe(model, input_size or model.card.input_size)
