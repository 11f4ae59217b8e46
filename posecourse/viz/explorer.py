"""The widget shell every lecture explorer is built on (core ipywidgets only, so it works in Colab)."""
from __future__ import annotations

import base64
import io
from typing import Callable

import ipywidgets as W
import matplotlib.pyplot as plt
from IPython.display import Image

__all__ = ["figure_png", "Explorer", "slider", "dropdown"]


def figure_png(fig) -> bytes:
    """Render a matplotlib figure to PNG bytes (and close it)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


class Explorer(W.VBox):
    """``VBox(title, note, controls, Output)``: whenever a control changes it calls ``render(**values)`` (a pure
    function returning a matplotlib ``Figure``) and shows the PNG in its ``Output``. ``note``: optional HTML under
    the title (how to read the figure); ``values()``: the controls' values; ``last_png``: the PNG last shown.
    Its display bundle also carries that PNG, so a front end that cannot render widgets (an untrusted notebook,
    nbviewer) shows a static figure instead of "Error displaying widget"."""

    def __init__(self, render: Callable, controls: dict, title: str = "", note: str = ""):
        self._render, self.controls = render, controls
        self.out = W.Output()
        self.last_png = b""
        header = ([W.HTML(f"<b>{title}</b>")] if title else []) + ([W.HTML(note)] if note else [])
        super().__init__(header + [W.HBox(list(controls.values())), self.out])
        for c in controls.values():
            c.observe(lambda _change: self.redraw(), names="value")
        self.redraw()

    def values(self) -> dict:
        return {k: c.value for k, c in self.controls.items()}

    def redraw(self) -> None:
        png = figure_png(self._render(**self.values()))
        self.last_png = png
        # the widget's state, not output captured with `with self.out:` -- that capture makes a headless
        # executor (nbclient) send comm messages on the kernel's shell channel during the cell, where
        # nbclient 0.10-0.11 can wait for ever on the cell's reply (jupyter/nbclient#312)
        self.out.outputs = ()
        self.out.append_display_data(Image(png))

    def _repr_mimebundle_(self, **kwargs):
        data = super()._repr_mimebundle_(**kwargs)
        data["image/png"] = base64.b64encode(self.last_png).decode("ascii")
        return data


def slider(description, lo, hi, value, step=1):
    """An ``IntSlider`` that fires on release only (each redraw runs the model)."""
    return W.IntSlider(value=int(value), min=int(lo), max=int(hi), step=step, description=description,
                       continuous_update=False)


def dropdown(description, options, value=None):
    """A ``Dropdown`` over ``options`` (values or ``(label, value)`` pairs); default: the first."""
    options = list(options)
    if value is None:
        value = options[0][1] if isinstance(options[0], tuple) else options[0]
    return W.Dropdown(options=options, value=value, description=description)
