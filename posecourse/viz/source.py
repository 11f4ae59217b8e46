"""Show the library's own source in a notebook: the code that runs, never a pasted copy.

``show_source(paf.line_integral)`` renders a function, class or method read with :func:`inspect.getsource`,
with metadata naming what it shows (:data:`SOURCE_KEY`), so ``tests/lectures/test_notebooks.py`` recomputes
every stored listing from the current source and fails on stale code. ``show_training_step()`` shows one
optimizer step of :func:`posecourse.train.fit.fit`.
"""
from __future__ import annotations

import importlib
import inspect
from pathlib import Path

from IPython.display import HTML, display
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

__all__ = ["source_text", "source_html", "show_source", "show_training_step", "source_ref", "resolve",
           "SOURCE_KEY", "TRAINING_STEP"]

#: the display metadata key under which a listing names its object (``{"object", "start", "stop"}``)
SOURCE_KEY = "posecourse/source"

#: the listings of :func:`show_training_step`: (object path, start, stop) as :func:`show_source` takes them
TRAINING_STEP = (("posecourse.train.fit:loss_function", None, None),
                 ("posecourse.train:train", "with autocast():", "if not isinstance(loss"),      # forward, loss
                 ("posecourse.train:train", "optimizer.zero_grad(", "history.losses.append"))  # backward, step


def source_text(obj, start: str | None = None, stop: str | None = None) -> str:
    """The source of ``obj``; with ``start``/``stop``, only the lines from the first containing ``start``
    up to (excluding) the first after it containing ``stop`` (to show the heart of a long function)."""
    lines = inspect.getsource(obj).splitlines()
    if start is not None:
        hits = [i for i, ln in enumerate(lines) if start in ln]
        if not hits:
            raise ValueError(f"start: {start!r} is not in the source of {getattr(obj, '__qualname__', obj)}")
        lines = lines[hits[0]:]
    if stop is not None:
        ends = [i for i, ln in enumerate(lines) if stop in ln and i > 0]
        if not ends:
            raise ValueError(f"stop: {stop!r} is not in the source of {getattr(obj, '__qualname__', obj)}")
        lines = lines[:ends[0]]
    while lines and not lines[-1].strip():  # no trailing blank lines (a display's text drops them too)
        lines.pop()
    return "\n".join(lines)


def source_ref(obj) -> str:
    """``"module:qualname"`` of a function, class or method (what :func:`resolve` reads back)."""
    return f"{inspect.getmodule(obj).__name__}:{obj.__qualname__}"


def resolve(ref: str):
    """The object a :func:`source_ref` string names (``"posecourse.models.cpm:CPM.forward"``)."""
    module, _, qualname = ref.partition(":")
    if not module or not qualname:
        raise ValueError(f"ref: expected 'module:qualname', got {ref!r}")
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def source_html(obj, start: str | None = None, stop: str | None = None) -> str:
    """:func:`source_text` as self-contained HTML (inline styles: renders in JupyterLab, Colab and nbviewer),
    headed by the module and line where it lives."""
    code = source_text(obj, start, stop)
    where = f"{inspect.getmodule(obj).__name__}.{getattr(obj, '__qualname__', '')}"
    line = inspect.getsourcelines(obj)[1]
    body = highlight(code, PythonLexer(), HtmlFormatter(noclasses=True, nobackground=True))
    path = Path(inspect.getsourcefile(obj))
    return (f'<div style="font-size:85%"><div style="color:#666">{where} (line {line} of '
            f"{path.parent.name}/{path.name})</div>{body}</div>")


def show_source(obj, start: str | None = None, stop: str | None = None):
    """Display :func:`source_html` in a notebook (plain text where HTML can't render), with metadata
    ``{SOURCE_KEY: {"object": source_ref(obj), "start": start, "stop": stop}}``."""
    class _Source(HTML):
        def __repr__(self):  # the text/plain fallback (and what nbval compares) is the code itself
            return source_text(obj, start, stop)

    display(_Source(source_html(obj, start, stop)),
            metadata={SOURCE_KEY: {"object": source_ref(obj), "start": start, "stop": stop}})


def show_training_step():
    """Show the training step :func:`posecourse.train.fit.fit` runs (see :data:`TRAINING_STEP`): how the loss is
    computed from a batch (the codec's targets, the lecture's loss), then the heart of one optimizer step of
    :func:`posecourse.train.train`: forward and loss, then backward and step (the checks between them, on
    the loss's shape and finiteness, are left out)."""
    for ref, start, stop in TRAINING_STEP:
        show_source(resolve(ref), start, stop)
