"""Show the library's own source in a notebook: the code that runs, never a pasted copy.

``show_source(paf.line_integral)`` renders the function (or class, or method) as highlighted code,
read from the installed module with :func:`inspect.getsource`, so the page always shows what executes.
"""
from __future__ import annotations

import inspect
from pathlib import Path

__all__ = ["source_text", "source_html", "show_source"]


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
    return "\n".join(lines)


def source_html(obj, start: str | None = None, stop: str | None = None) -> str:
    """:func:`source_text` as self-contained HTML (inline styles: renders in JupyterLab, Colab and nbviewer),
    headed by the module and line where it lives."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    code = source_text(obj, start, stop)
    where = f"{inspect.getmodule(obj).__name__}.{getattr(obj, '__qualname__', '')}"
    line = inspect.getsourcelines(obj)[1]
    body = highlight(code, PythonLexer(), HtmlFormatter(noclasses=True, nobackground=True))
    path = Path(inspect.getsourcefile(obj))
    return (f'<div style="font-size:85%"><div style="color:#666">{where} (line {line} of '
            f"{path.parent.name}/{path.name})</div>{body}</div>")


def show_source(obj, start: str | None = None, stop: str | None = None):
    """Display :func:`source_html` in a notebook (plain text where HTML can't render)."""
    from IPython.display import HTML, display

    class _Source(HTML):
        def __repr__(self):  # the text/plain fallback (and what nbval compares) is the code itself
            return source_text(obj, start, stop)

    display(_Source(source_html(obj, start, stop)))
