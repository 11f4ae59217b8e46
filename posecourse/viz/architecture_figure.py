"""Draw an :class:`~posecourse.viz.architecture.Architecture` with matplotlib.

One box per block at ``(col, row)`` (rows: resolution levels or lanes, labelled on the left), its
label and output ``C@h x w``; one arrow per path, styled by kind (legend). For a CPM the figure has a
second panel: the theoretical receptive field of a belief-map location per stage, against the
image side (Wei et al. 2016, Sec. 3.2: each stage sees more context).
"""
from __future__ import annotations

import dataclasses

import matplotlib.pyplot as plt
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from matplotlib.path import Path as MplPath

from .architecture_blocks import PATH_KINDS

__all__ = ["draw_architecture", "BLOCK_COLORS", "PATH_STYLES"]

BLOCK_COLORS = {"input": "#e0e0e0", "conv": "#9ecae1", "pool": "#deebf7", "norm": "#f0f0f0", "fc": "#fdd0a2",
                "head": "#fc9272", "crop": "#c7e9c0", "add": "#fff7bc", "concat": "#fee391", "residual": "#bcbddc",
                "skip": "#dadaeb", "down": "#9e9ac8", "up": "#9e9ac8", "bottom": "#807dba", "bottleneck": "#bcbddc",
                "branch": "#a1d99b", "fuse": "#fdae6b", "transition": "#c7e9c0"}
# kind: (colour, line style, arc curvature)
PATH_STYLES = {"flow": ("#525252", "-", 0.0), "skip": ("#6a51a3", "--", -0.3), "belief": ("#e6550d", "-", 0.15),
               "features": ("#3182bd", "-", 0.1), "center": ("#31a354", ":", 0.1), "reinject": ("#de2d26", "-", 0.5),
               "fusion": ("#fd8d3c", "-", 0.0), "transition": ("#2ca25f", "-", 0.0), "cascade": ("#e6550d", "--", -0.3)}
DX, DY, W, H = 1.45, 1.0, 1.25, 0.72


def _rf_panel(ax, arch) -> None:
    rfs = arch.extras["receptive_field"]
    stages = list(range(1, len(rfs) + 1))
    ax.bar_label(ax.bar(stages, rfs, color="#9ecae1", edgecolor="k", lw=0.6), fontsize=7)
    ax.axhline(arch.input_size[0], color="#de2d26", ls="--", lw=1, label=f"image side ({arch.input_size[0]} px)")
    ax.set_xticks(stages)
    ax.set_xlabel("stage t", fontsize=8)
    ax.set_ylabel("receptive field (px, one side)", fontsize=8)
    ax.set_title("theoretical receptive field\nof a belief-map location", fontsize=8)
    ax.legend(fontsize=7, loc="upper left")
    ax.tick_params(labelsize=7)


def _first_stages(arch, max_stage: int):
    """``arch`` restricted to the blocks of stages ``<= max_stage`` (0: stem) and the paths between them."""
    blocks = [b for b in arch.blocks if b.stage <= max_stage]
    keep = {b.name for b in blocks}
    paths = [p for p in arch.paths if p.src in keep and p.dst in keep]
    rows = {b.row for b in blocks}
    labels = {r: t for r, t in arch.row_labels.items() if r in rows}
    return dataclasses.replace(arch, blocks=blocks, paths=paths, row_labels=labels)


def draw_architecture(arch, ax=None, title: str | None = None, max_stage: int | None = None):
    """Draw ``arch`` into ``ax`` (or a new figure sized to it; for a CPM with a receptive-field panel
    beside it). Returns the ``Figure``. Block boxes are ``ax.patches`` in ``arch.blocks`` order,
    followed by one arrow per path (in ``arch.paths`` order). ``max_stage``: draw only the stem and
    stages (stacks, cascade stages) up to this one, e.g. 2 of the paper's 8 hourglasses."""
    shown = ""
    if max_stage is not None:
        last = max(b.stage for b in arch.blocks)
        if max_stage < last:
            arch, shown = _first_stages(arch, max_stage), f" (stages up to {max_stage} of {last} shown)"

    ncols = int(max(b.col for b in arch.blocks)) + 1
    nrows = int(max(b.row for b in arch.blocks)) + 1
    rf = "receptive_field" in arch.extras
    if ax is None:
        width = min(1.25 * ncols + 2.5 + 3.5 * rf, 60)
        fig = plt.figure(figsize=(width, 0.95 * nrows + 1.6))
        if rf:
            gs = fig.add_gridspec(1, 2, width_ratios=[width - 3.5, 3.0], wspace=0.08)
            ax, ax_rf = fig.add_subplot(gs[0]), fig.add_subplot(gs[1])
            _rf_panel(ax_rf, arch)
        else:
            ax = fig.add_subplot(1, 1, 1)
    fig = ax.figure
    patches = {}
    for b in arch.blocks:
        x, y = b.col * DX, -b.row * DY
        p = FancyBboxPatch((x - W / 2, y - H / 2), W, H, boxstyle="round,pad=0.02,rounding_size=0.08",
                           fc=BLOCK_COLORS.get(b.type, "white"), ec="k", lw=0.6, zorder=2)
        ax.add_patch(p)
        size = f"{b.channels}@{b.resolution[0]}x{b.resolution[1]}" if b.resolution else f"{b.channels}"
        ax.text(x, y, f"{b.label}\n{size}", ha="center", va="center", fontsize=6.5, zorder=3)
        patches[b.name] = p
    for path in arch.paths:
        color, ls, rad = PATH_STYLES.get(path.kind, ("k", "-", 0.0))
        a, c = arch.block(path.src), arch.block(path.dst)
        if path.kind in ("skip", "cascade") and a.row != c.row:
            rad = 0.0  # only the long same-row arrows need to bow around the boxes between them
        style = dict(arrowstyle="-|>", mutation_scale=7, color=color, linestyle=ls, lw=0.8, zorder=1)
        if c.col < a.col and c.row > a.row:  # back to the left and down (CPM: b_{t-1} -> stage t): through the row gap
            ya, yc = -a.row * DY - H / 2, -c.row * DY + H / 2
            ym = ya - (DY - H) / 2
            verts = [(a.col * DX, ya), (a.col * DX, ym), (c.col * DX, ym), (c.col * DX, yc)]
            ax.add_patch(FancyArrowPatch(path=MplPath(verts, [MplPath.MOVETO] + [MplPath.LINETO] * 3), **style))
            continue
        ax.add_patch(FancyArrowPatch((a.col * DX, -a.row * DY), (c.col * DX, -c.row * DY), patchA=patches[path.src],
                                     patchB=patches[path.dst], connectionstyle=f"arc3,rad={rad}", **style))
    for row, text in arch.row_labels.items():
        ax.text(-0.6 * DX, -row * DY, text, ha="right", va="center", fontsize=7, style="italic")
    kinds = dict.fromkeys(p.kind for p in arch.paths)
    handles = [Line2D([], [], color=PATH_STYLES[k][0], ls=PATH_STYLES[k][1], label=PATH_KINDS.get(k, k)) for k in kinds]
    ax.legend(handles=handles, fontsize=6.5, loc="upper center", bbox_to_anchor=(0.5, -0.01), ncol=min(len(handles), 5),
              frameon=False)
    ax.set_xlim(-2.4 * DX, (ncols - 0.4) * DX)
    ax.set_ylim(-(nrows - 0.4) * DY, 0.75 * DY)
    ax.set_axis_off()
    params = arch.extras.get("parameters")
    ax.set_title(title or f"{arch.family}: input {arch.input_size[0]}x{arch.input_size[1]}"
                 + (f", {params / 1e6:.2f} M parameters" if params else "") + shown, fontsize=9)
    return fig
