"""Typical wrong implementations (tests/wrong_implementations/) each fail the visible test a student runs, and the
reference passes every visible test: the visible tests tell the typical mistakes apart (issue 20, item 4)."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from paths import TESTS

from posecourse.lectures import LECTURES

WRONG = TESTS / "wrong_implementations"
EXERCISES = [lec.exercise for lec in LECTURES.values()]


def _wrongs(name: str) -> list[tuple[str, str, dict[str, str]]]:
    text = (WRONG / f"{name}.py").read_text()
    blocks = re.split(r"^# wrong: (\w+) -> (\w+)\n", text, flags=re.M)
    out = []
    for wrong, test, body in zip(blocks[1::3], blocks[2::3], blocks[3::3]):
        parts = re.split(r"^# cell: (\w+)\n", body, flags=re.M)
        out.append((wrong, test, dict(zip(parts[1::2], parts[2::2]))))
    return out


CASES = [(name, *w) for name in EXERCISES for w in _wrongs(name)]


def _run_visible(repo_root: Path, name: str, test: str, replace: dict[str, str]) -> None:
    """The student's view: locked cells, solution cells (reference unless replaced), then the visible part of one
    test cell (what the released notebook holds)."""
    nb = nbformat.read(repo_root / "solutions" / f"{name}.ipynb", as_version=4)
    ns: dict = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        gid = meta.get("grade_id")
        if cell.cell_type != "code" or (meta.get("grade") and gid != test):
            continue
        source = replace.get(gid, re.sub(r"\s*### (BEGIN|END) SOLUTION", "", cell.source))
        if gid == test:
            source = source.split("### BEGIN HIDDEN TESTS")[0]
        exec(compile(source, f"<{name}/{gid}>", "exec"), ns)
        if gid == test:
            return
    raise AssertionError(f"{name}: no test cell {test}")


def test_every_exercise_has_typical_wrong_implementations():
    for name in EXERCISES:
        wrongs = _wrongs(name)
        assert len(wrongs) >= 5, f"{name}: only {len(wrongs)} wrong implementations"
        assert len({w[0] for w in wrongs}) == len(wrongs), f"{name}: two wrong implementations share a name"


@pytest.mark.parametrize("name", EXERCISES)
def test_the_reference_passes_every_visible_test(repo_root, name):
    nb = nbformat.read(repo_root / "solutions" / f"{name}.ipynb", as_version=4)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            _run_visible(repo_root, name, meta["grade_id"], {})


@pytest.mark.parametrize("name, wrong, test, replace", CASES, ids=[f"{c[0][:4]}-{c[1]}" for c in CASES])
def test_a_typical_mistake_fails_a_visible_test(repo_root, name, wrong, test, replace):
    with pytest.raises(Exception) as failure:      # an assert's message, or the error the mistake raises
        _run_visible(repo_root, name, test, replace)
    if failure.type is AssertionError:
        assert str(failure.value).strip(), f"{name}/{wrong}: the failing check has no message"
