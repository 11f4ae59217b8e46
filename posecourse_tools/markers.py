"""Generated blocks in hand-written Markdown: the text between a begin and an end marker (an HTML comment)
is replaced by a freshly generated block; everything else stays as written."""
from __future__ import annotations


def replace_between(text: str, begin: str, end: str, block: str, where: str) -> str:
    """``text`` with what lies between the first ``begin`` and the first ``end`` after it replaced by ``block``
    (on lines of its own). A ``ValueError`` naming ``where`` (e.g. the file and the table) when either marker
    is missing."""
    head, found_begin, rest = text.partition(begin)
    _, found_end, tail = rest.partition(end)
    if not (found_begin and found_end):
        raise ValueError(f"{where}: no {begin} ... {end} markers around it")
    return f"{head}{begin}\n{block}\n{end}{tail}"
