"""posecourse_tools.spread: measuring a lecture's metric over seeds and merging it into the spread file."""
from __future__ import annotations

import fnmatch
import json
import sys
import tomllib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from paths import ROOT

sys.path.insert(0, str(ROOT))

from posecourse.lectures import SPREAD_FILE  # noqa: E402
from posecourse_tools import spread  # noqa: E402

_row = st.fixed_dictionaries({"lecture": st.sampled_from(["01_deeppose", "02_cpm"]), "seed": st.integers(0, 6),
                              "value": st.floats(0, 1)})


@given(st.lists(_row), st.lists(_row))
def test_merge_replaces_per_lecture_and_seed_and_is_idempotent(old, new):
    merged = spread.merge(old, new)
    assert spread.merge(merged, new) == merged and spread.merge(merged, []) == merged
    keys = [(r["lecture"], r["seed"]) for r in merged]
    assert keys == sorted(set(keys)) and set(keys) == {(r["lecture"], r["seed"]) for r in old + new}
    latest = {(r["lecture"], r["seed"]): r for r in new}
    assert all(r is latest[k] for r, k in zip(merged, keys) if k in latest)   # a new row wins


def test_smoke_run_merges_into_its_own_file(tmp_path, capsys):
    """Two seeds on a 2-step budget: one row per seed with the recipe and the machine; a rerun of one seed
    replaces its row only; a budget other than the record's never goes into the shipped file."""
    out = tmp_path / "spread.json"
    assert spread.main(["--only", "01", "--seeds", "2", "--steps", "2", "--out", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [(r["lecture"], r["seed"], r["steps"]) for r in rows] == [("01_deeppose", 0, 2), ("01_deeppose", 1, 2)]
    assert all(0 <= r["value"] <= 1 and r["metric"] == "PDJ@0.2" and r["cpu"] and r["torch"] for r in rows)
    printed = capsys.readouterr().out
    assert "no stored live headline at 2 steps" in printed     # seed 0 is compared with the notebook only at its budget
    assert "(no spread of the current recipe: floor)" in printed  # 2-step rows never set a minimum
    assert spread.main(["--only", "01", "--seeds", "1,", "--steps", "2", "--out", str(out)]) == 0
    again = json.loads(out.read_text())
    assert again[0] == rows[0] and again[1]["seed"] == 1 and len(again) == 2
    assert again[1]["value"] == rows[1]["value"]              # same seed, same machine: the same number
    with pytest.raises(SystemExit):
        spread.main(["--only", "01", "--steps", "2", "--out", str(SPREAD_FILE)])
    with pytest.raises(SystemExit):                            # nor merged into it from another file
        spread.main(["--merge", str(out)])
    assert spread.main(["--merge", str(out), "--out", str(tmp_path / "copy.json")]) == 0
    assert json.loads((tmp_path / "copy.json").read_text()) == again


def test_seed0_comparison_names_a_difference(tmp_path):
    (tmp_path / "lectures").mkdir()
    (tmp_path / "lectures" / "results.json").write_text(json.dumps([{"lecture": "01_deeppose", "value": 0.7, "steps": 573}]))
    row = {"lecture": "01_deeppose", "value": 0.7, "steps": 573}
    assert spread.compare_seed0(row, tmp_path).endswith("identical")
    assert "DIFFERS by +0.010000" in spread.compare_seed0({**row, "value": 0.71}, tmp_path)


def test_readme_shows_the_stored_spread():
    """The README's spread table is generated from the stored file (``python -m posecourse_tools.spread``)."""
    table = spread.readme_table(spread.load(SPREAD_FILE))
    assert table in (ROOT / "README.md").read_text(), "README's spread table is stale: run python -m posecourse_tools.spread"
    assert table.count("\n| 0") == 5  # one row per lecture, measured or not


def test_update_readme_replaces_only_the_marked_table(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- spread:start -->\nold\n<!-- spread:end -->\nrest\n")
    spread.update_readme([], readme)
    assert readme.read_text() == f"intro\n<!-- spread:start -->\n{spread.readme_table([])}\n<!-- spread:end -->\nrest\n"
    readme.write_text("no markers")
    with pytest.raises(ValueError, match="markers"):
        spread.update_readme([], readme)


def test_spread_file_is_package_data():
    """``pip install`` ships the spread with the records that read it (pyproject's package-data)."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["posecourse"]
    rel = SPREAD_FILE.relative_to(ROOT / "posecourse").as_posix()
    assert any(fnmatch.fnmatch(rel, pattern) for pattern in data), (rel, data)
