"""posecourse_tools.course: results table, minimums, and --inplace writing only successful runs (atomically)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from hypothesis import given
from hypothesis import strategies as st
from paths import ROOT

sys.path.insert(0, str(ROOT))

from posecourse_tools import course  # noqa: E402


def _notebook(path: Path, value: str, fail: bool = False) -> None:
    """A stand-in lecture: a parameters cell, then a cell writing the results JSON (or raising)."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("seed = 0\nsmoke = False\nresults_path = None")
    params.metadata["tags"] = ["parameters"]
    body = ("import json, time\n" + ("raise RuntimeError('boom')\n" if fail else "") +
            "for i in range(3):\n    print(f'\\rbar {i}/3', end='', flush=True); time.sleep(0.3)\nprint()\n" +
            f"json.dump({{'lecture': '01_deeppose', 'metric': 'PDJ@0.2', 'value': {value}, 'train_seconds': 1.0, "
            "'steps': 3}, open(results_path, 'w'))")
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


@pytest.mark.slow
def test_inplace_replaces_only_after_a_successful_run(tmp_path):
    stored = tmp_path / "lectures" / "01_deeppose.ipynb"
    for value, fail, error in (("0.9", True, "boom"), ("0.1", False, "below the minimum")):
        _notebook(stored, value, fail)
        before = stored.read_bytes()
        with pytest.raises(Exception, match=error):
            course.run_lecture("01_deeppose", tmp_path, tmp_path / "out", smoke=False, seed=0, inplace=True)
        assert stored.read_bytes() == before, "a failed run must leave the stored lecture untouched"
        assert sorted(p.name for p in stored.parent.iterdir()) == ["01_deeppose.ipynb"]  # no temporary left
    _notebook(stored, "0.9")
    res = course.run_lecture("01_deeppose", tmp_path, tmp_path / "out", smoke=False, seed=0, inplace=True)
    assert res["value"] == 0.9 and res["seconds"] > 0
    # the slowest cells are named by their index in the stored notebook (the injected cell does not count)
    assert [c["cell"] for c in res["slowest_cells"]][:2] in ([1, 0], [0, 1])
    assert {c["source"] for c in res["slowest_cells"]} == {"seed = 0", "import json, time"}
    nb = nbformat.read(stored, as_version=4)
    assert all(c.execution_count for c in nb.cells) and "papermill" not in nb.metadata
    # the progress bar is stored as its final line, in one stream output
    assert [o.get("text") for o in nb.cells[1].outputs if o.output_type == "stream"] == ["bar 2/3\n"]
    assert not any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells)
    table = course.format_table([res])
    assert "01_deeppose" in table and "0.900" in table and "total" in table


_bar = st.text(alphabet="ab %|0123456789", min_size=1, max_size=12)


@given(st.lists(st.tuples(st.lists(_bar, min_size=1, max_size=4), _bar), max_size=5))
def test_stored_streams_keep_what_a_terminal_shows(lines):
    """A progress bar's redraws (``\\r`` + text, in any number of stream fragments) are stored as the final state
    of each line; the text a reader sees is unchanged, only the overwritten states go."""
    text = "".join("".join("\r" + d for d in draws) + "\n" + tail + "\n" for draws, tail in lines)
    shown = "".join(draws[-1] + "\n" + tail + "\n" for draws, tail in lines)
    cuts = sorted({len(text) // 3, len(text) // 2})
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]
    cells = [{"outputs": [{"output_type": "stream", "name": "stdout", "text": t} for t in pieces] +
                         [{"output_type": "display_data", "data": {}, "metadata": {}},
                          {"output_type": "stream", "name": "stdout", "text": "after\r\n"}]}]
    course.clean_streams(cells)
    outs = cells[0]["outputs"]
    assert [o["output_type"] for o in outs] == ["stream", "display_data", "stream"]
    assert outs[0]["text"] == shown and outs[2]["text"] == "after\n" and course.final_text(shown) == shown


def test_main_rejects_use_shipped_inplace(capsys):
    with pytest.raises(SystemExit):
        course.main(["--use-shipped", "--inplace", "--only", "01"])
    assert "--use-shipped with --inplace" in capsys.readouterr().err


def test_main_rejects_an_unknown_lecture(capsys):
    with pytest.raises(SystemExit):
        course.main(["--only", "nope"])
    assert "no lecture matches" in capsys.readouterr().err


def test_stored_results_regenerate_the_readme_table(tmp_path):
    (tmp_path / "lectures").mkdir()
    (tmp_path / "README.md").write_text("intro\n<!-- results:start -->\nold table\n<!-- results:end -->\nrest\n")
    rows = [{"lecture": "03_hourglass", "metric": "PCKh@0.5", "value": 0.9, "steps": 375, "train_seconds": 99.0,
             "seconds": 120.0, "per_stack": [0.85, 0.9]}]
    course.store_results(tmp_path, rows)
    course.store_results(tmp_path, [{**rows[0], "lecture": "01_deeppose", "metric": "PDJ@0.2", "value": 0.7}])
    stored = json.loads((tmp_path / "lectures" / "results.json").read_text())
    assert [r["lecture"] for r in stored] == ["01_deeppose", "03_hourglass"]  # merged, in lecture order
    course.update_readme(tmp_path, stored)
    text = (tmp_path / "README.md").read_text()
    assert "old table" not in text and text.startswith("intro\n") and text.endswith("<!-- results:end -->\nrest\n")
    assert "| 03_hourglass | `hourglass_tiny` | 375 × 32 | 99 s | 120 s | PCKh@0.5 | 0.900 (first stage: 0.850) |" in text
    assert "All 2 notebooks: 240 s = 4.0 min of wall time" in text and "busy" not in text
    busy = course.readme_table([{**rows[0], "load_average": 9.3, "cpus": 2}])
    assert "Stored on a busy machine, so slower than alone: 03_hourglass (load average 9.3 on 2 cores)." in busy
    (tmp_path / "README.md").write_text("no markers")
    with pytest.raises(ValueError, match="markers"):
        course.update_readme(tmp_path, stored)
