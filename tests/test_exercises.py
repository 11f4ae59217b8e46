"""The exercise notebooks: exercises/ is exactly what nbgrader generates from solutions/, solutions score full
marks, released student versions score zero on every graded cell, and every graded cell can fail."""
from __future__ import annotations

import nbformat
import pytest

from posecourse import grading

LECTURES = ["ex01_deeppose", "ex02_cpm", "ex03_hourglass", "ex04_openpose", "ex05_hrnet"]


def test_one_exercise_per_lecture(repo_root):
    assert sorted(p.stem for p in (repo_root / "solutions").glob("*.ipynb")) == LECTURES
    assert sorted(p.stem for p in (repo_root / "exercises").glob("*.ipynb")) == LECTURES


@pytest.mark.parametrize("name", LECTURES)
def test_solution_format(repo_root, name):
    nb = nbformat.read(repo_root / "solutions" / f"{name}.ipynb", as_version=4)
    meta = [c.metadata.get("nbgrader", {}) for c in nb.cells]
    graded = [m for m in meta if m.get("grade")]
    assert graded and all(m["points"] > 0 and m["locked"] for m in graded)
    ids = [m["grade_id"] for m in meta if m]
    assert len(ids) == len(set(ids)), "grade_id must be unique"
    for cell, m in zip(nb.cells, meta):
        if m.get("solution"):
            assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source
        if m.get("grade"):
            assert "### BEGIN HIDDEN TESTS" in cell.source, f"{m['grade_id']} has no hidden tests"
            assert "assert" in cell.source.split("### BEGIN HIDDEN TESTS")[0], f"{m['grade_id']} has no visible test"


def test_exercises_are_not_stale(repo_root, tmp_path):
    fresh = grading.generate(repo_root / "solutions", tmp_path)
    for path in fresh:
        committed = repo_root / "exercises" / path.name
        assert committed.exists(), f"{path.name} missing from exercises/: run `make exercises`"
        assert grading.cell_signature(committed) == grading.cell_signature(path), \
            f"exercises/{path.name} is stale: run `make exercises`"


@pytest.mark.parametrize("name", LECTURES)
def test_student_version_has_no_solution_or_hidden_test(repo_root, name):
    text = (repo_root / "exercises" / f"{name}.ipynb").read_text()
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    assert "raise NotImplementedError()" in text


@pytest.mark.slow
@pytest.mark.parametrize("name", LECTURES)
def test_solution_scores_full_and_release_scores_zero(repo_root, name):
    assert grading.validate(repo_root / "solutions" / f"{name}.ipynb"), f"solutions/{name} fails a test"
    assert grading.validate(repo_root / "exercises" / f"{name}.ipynb", invert=True), \
        f"exercises/{name}: some graded cell passes with the stubs"
