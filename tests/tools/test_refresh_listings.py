"""posecourse_tools.course.refresh_listings (``--refresh-listings``): a stored notebook's source listings
re-rendered from the current source, and nothing else of the notebook changed."""
from __future__ import annotations

import copy
import sys

import nbformat
import pytest
from paths import ROOT

sys.path.insert(0, str(ROOT))

from posecourse.viz.source import SOURCE_KEY, resolve, source_html, source_text  # noqa: E402
from posecourse_tools import course  # noqa: E402

SHOWN = ("posecourse.viz.source:source_text", None, None)  #: a stale listing (wrong code, wrong line)
CURRENT = ("posecourse.viz.source:resolve", "module, _, qualname", "return obj")  #: a listing stored up to date


def _listing(ref, start, stop, text, html):
    return nbformat.v4.new_output("display_data", data={"text/plain": text, "text/html": html},
                                  metadata={SOURCE_KEY: {"object": ref, "start": start, "stop": stop}})


def _fresh(ref, start, stop):
    shown = resolve(ref), start, stop
    return {"text/plain": source_text(*shown), "text/html": source_html(*shown)}


def _notebook(path):
    """A stored lecture in miniature: markdown, printed text, a plain result, a stale and a current listing."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    printed = nbformat.v4.new_code_cell("print(1)", execution_count=3,
                                        outputs=[nbformat.v4.new_output("stream", name="stdout", text="1\n")])
    shown = nbformat.v4.new_code_cell("show_source(source_text)\nshow_source(resolve, ...)\n1 + 1", execution_count=7)
    shown.outputs = [_listing(*SHOWN, "def source_text(obj):\n    old", "<div>source_text (line 1 of viz/x.py)</div>"),
                     _listing(*CURRENT, *_fresh(*CURRENT).values()),
                     nbformat.v4.new_output("execute_result", data={"text/plain": "2"}, execution_count=7)]
    nb.cells = [nbformat.v4.new_markdown_cell("# A lecture\n\nThe page is the code."), printed, shown,
                nbformat.v4.new_code_cell("x = 1", execution_count=9)]
    nbformat.write(nb, path)
    return nb


def test_refresh_replaces_only_the_stale_listings_outputs(tmp_path):
    path = tmp_path / "01_deeppose.ipynb"
    stored = _notebook(path)
    expected = copy.deepcopy(stored)
    expected.cells[2].outputs[0]["data"].update(_fresh(*SHOWN))  # the stale listing as re-executing stores it
    assert course.refresh_listings(path) == 1
    written = path.read_bytes()
    nbformat.write(expected, tmp_path / "expected.ipynb")
    assert written == (tmp_path / "expected.ipynb").read_bytes()  # every other byte as stored
    data = nbformat.read(path, as_version=4).cells[2].outputs[0]["data"]
    assert data == _fresh(*SHOWN) and f"(line {resolve(SHOWN[0]).__code__.co_firstlineno} of viz/source.py)" \
        in data["text/html"]
    # deterministic: a second refresh finds nothing to do and leaves the file alone
    mtime = path.stat().st_mtime_ns
    assert course.refresh_listings(path) == 0
    assert path.read_bytes() == written and path.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in tmp_path.iterdir()) == ["01_deeppose.ipynb", "expected.ipynb"]  # no temporary left


def test_a_listing_of_what_no_longer_exists_names_the_notebook_cell_and_object(tmp_path):
    path = tmp_path / "02_cpm.ipynb"
    nb = _notebook(path)
    nb.cells[2].outputs[0]["metadata"][SOURCE_KEY]["object"] = "posecourse.viz.source:gone"
    nbformat.write(nb, path)
    before = path.read_bytes()
    with pytest.raises(ValueError, match=r"02_cpm.ipynb: cell 2: the listing of 'posecourse.viz.source:gone'.*execute"):
        course.refresh_listings(path)
    assert path.read_bytes() == before


def test_the_cli_refreshes_the_selected_lectures_only(tmp_path, capsys):
    (tmp_path / "lectures").mkdir()
    for name in ("01_deeppose", "02_cpm"):
        _notebook(tmp_path / "lectures" / f"{name}.ipynb")
    untouched = (tmp_path / "lectures" / "02_cpm.ipynb").read_bytes()
    assert course.main(["--refresh-listings", "--only", "01", "--root", str(tmp_path)]) == 0
    assert "01_deeppose.ipynb: 1 source listings refreshed" in capsys.readouterr().out
    assert course.refresh_listings(tmp_path / "lectures" / "01_deeppose.ipynb") == 0
    assert (tmp_path / "lectures" / "02_cpm.ipynb").read_bytes() == untouched
    with pytest.raises(SystemExit):
        course.main(["--refresh-listings", "--inplace", "--only", "01", "--root", str(tmp_path)])
