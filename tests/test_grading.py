"""End to end instructor workflow: release, submissions (honest, broken, hostile), sandboxed autograde, CSV export."""
from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from posecourse import grading

FIXTURES = Path(__file__).parent / "grading_fixtures"
NOTEBOOK = "ex01_deeppose.ipynb"
FULL = 6.0  # points of ex01: test_normalize 3 + test_pdj 3


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _submission(release: Path, solutions: Path, variant: str, subs: dict[str, str]) -> nbformat.NotebookNode:
    nb = nbformat.read(release, as_version=4)
    if variant == "correct":
        source = {c.metadata["nbgrader"]["grade_id"]: c.source for c in nbformat.read(solutions, as_version=4).cells
                  if c.metadata.get("nbgrader", {}).get("solution")}
        replace = {k: re.sub(r"\s*### (BEGIN|END) SOLUTION", "", v) for k, v in source.items()}
    else:
        text = (FIXTURES / f"{variant}.py").read_text()
        for key, value in subs.items():
            text = text.replace(key, value)
        parts = re.split(r"^# cell: (\w+)\n", text, flags=re.M)
        replace = dict(zip(parts[1::2], parts[2::2]))
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in replace:
            cell.source = replace[gid]
    return nb


VARIANTS = ["correct", "partial", "raises", "infinite_loop", "kill_kernel", "print_100mb", "sys_exit",
            "cheat_asserts", "read_hidden", "write_outside"]


@pytest.fixture(scope="module")
def graded(tmp_path_factory, repo_root):
    tmp = tmp_path_factory.mktemp("grading")
    course, sentinel = tmp / "course", tmp / "sentinel"
    (sentinel / "sub").mkdir(parents=True)
    (sentinel / "keep.txt").write_text("do not touch")
    (sentinel / "sub" / "data.bin").write_bytes(b"\x00" * 100)
    before = _snapshot(sentinel)
    (course / "source" / "ps1").mkdir(parents=True)
    shutil.copy(repo_root / "solutions" / NOTEBOOK, course / "source" / "ps1" / NOTEBOOK)
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", "ps1", "--force", "--create",
                    f"--CourseDirectory.root={course}", "--log-level=ERROR"], cwd=course, check=True,
                   capture_output=True, env=grading.tool_env())
    subs = {"{COURSE}": str(course), "{SENTINEL}": str(sentinel)}
    for v in VARIANTS:
        nb = _submission(course / "release" / "ps1" / NOTEBOOK, repo_root / "solutions" / NOTEBOOK, v, subs)
        (course / "submitted" / v / "ps1").mkdir(parents=True)
        nbformat.write(nb, course / "submitted" / v / "ps1" / NOTEBOOK)
    start = time.monotonic()
    status = grading.autograde(course, "ps1", cell_timeout=5, wall_timeout=120)
    elapsed = time.monotonic() - start
    rows = grading.export(course, tmp / "grades.csv")
    scores = {r["student_id"]: float(r["raw_score"]) for r in rows if r["assignment"] == "ps1"}
    return dict(course=course, sentinel=sentinel, before=before, status=status, scores=scores, rows=rows,
                elapsed=elapsed, tmp=tmp)


pytestmark = pytest.mark.slow


def test_every_student_has_a_row_and_grading_is_bounded(graded):
    assert set(graded["scores"]) == set(VARIANTS), graded["scores"]
    assert graded["elapsed"] < 150 * len(VARIANTS)
    assert all(v != "timeout" for v in graded["status"].values()), graded["status"]


def test_correct_gets_full_marks_and_partial_gets_part(graded):
    assert graded["scores"]["correct"] == FULL, graded["status"]["correct"]
    assert graded["scores"]["partial"] == 3.0


@pytest.mark.parametrize("variant", ["raises", "infinite_loop", "kill_kernel", "print_100mb", "sys_exit",
                                     "cheat_asserts", "read_hidden", "write_outside"])
def test_broken_and_hostile_submissions_score_zero(graded, variant):
    assert graded["scores"][variant] == 0.0, (variant, graded["status"][variant])


def test_hidden_tests_are_not_readable(graded):
    leak = graded["course"] / "autograded" / "read_hidden" / "ps1" / "leak.txt"
    assert leak.exists(), "the submission's own folder must be writable"
    if True:
        text = leak.read_text()
        assert "HIDDEN TESTS" not in text and "SQLite" not in text, text[:500]
        assert "correct" not in text   # no other student's notebook either


def test_nothing_outside_the_course_changes(graded):
    if not grading.filesystem_isolation_available():
        pytest.skip("no mount namespaces here (needs root and unshare): filesystem isolation is off")
    assert _snapshot(graded["sentinel"]) == graded["before"]
    assert not (graded["tmp"] / "pwned_abs.txt").exists()
    assert not Path("/tmp/pwned_posecourse.txt").exists()
    course = graded["course"]
    assert not (course / "pwned.txt").exists() and not (course / "autograded" / "pwned.txt").exists()


def test_big_output_is_truncated(graded):
    nb = graded["course"] / "autograded" / "print_100mb" / "ps1" / NOTEBOOK
    assert nb.stat().st_size < 5_000_000
