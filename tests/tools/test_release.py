"""The student's course: the start page, its links, the student release and the self-check.

- START.md's table is what the lecture records, ``lectures/results.json`` and the notebooks say now.
- Every link in the start page, the README and every lecture and exercise notebook resolves inside the folder
  ``make lab`` serves (the repository root), so JupyterLab can open it.
- ``make release`` builds a course without solutions, hidden tests, answers, gradebook or grader; the scan that
  says so finds a solution, a hidden test and an answer when they are put in.
- ``make check EX=01`` (``posecourse_tools.check``) runs a student's notebook and names each failing test.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from posecourse.lectures import LECTURES
from posecourse_tools import check, release
from paths import ROOT

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|href=\"([^\"]+)\"")


def _markdown_sources(path: Path) -> list[str]:
    if path.suffix == ".ipynb":
        return [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown"]
    return [path.read_text()]


def _strip_code(text: str) -> str:
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)  # fenced code
    return re.sub(r"`[^`\n]*`", "", text)  # inline code


def links(path: Path) -> list[str]:
    """Relative link targets in the markdown of ``path`` (a notebook's markdown cells, or a .md file)."""
    found = []
    for src in _markdown_sources(path):
        for m in LINK.finditer(_strip_code(src)):
            target = m.group(1) or m.group(2)
            if not re.match(r"^(https?:|mailto:|#)", target):
                found.append(target)
    return found


def served_files() -> list[Path]:
    return [ROOT / "START.md", ROOT / "README.md", *release.notebooks(ROOT / "lectures"),
            *release.notebooks(ROOT / "exercises")]


def test_make_lab_serves_the_root_and_opens_the_start_page():
    out = subprocess.run(["make", "-n", "lab", "VENV=/nonexistent-venv"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    lab = [ln for ln in out.stdout.splitlines() if "jupyter lab" in ln]
    assert lab and lab[-1].split()[-1] == "START.md", f"make lab must open START.md from the root: {lab}"
    assert "lectures" not in lab[-1], lab[-1]
    assert (ROOT / ".lab" / "overrides.json").is_file(), "the Markdown-preview default for START.md"


def test_start_page_table_is_current():
    problems = release.start_differences(ROOT)
    assert not problems, "START.md's table is stale: run `make start`\n" + "\n".join(problems)


def test_start_page_check_sees_a_wrong_time_and_a_wrong_link(tmp_path):
    root = tmp_path / "course"
    for rel in ("lectures", "exercises"):
        shutil.copytree(ROOT / rel, root / rel)
    start = (ROOT / "START.md").read_text()
    (root / "START.md").write_text(release._replace_block(start, release.start_table(ROOT), root / "START.md"))
    assert release.start_differences(root) == []
    table = release.start_table(ROOT)
    run_time = re.search(r"\| (\d+\.\d) min \|", table).group(1)
    for wrong in (table.replace(f"| {run_time} min |", f"| {float(run_time) * 2:.1f} min |", 1),
                  table.replace("exercises/ex02_cpm.ipynb", "exercises/ex03_hourglass.ipynb", 1)):
        (root / "START.md").write_text(release._replace_block(start, wrong, root / "START.md"))
        assert len(release.start_differences(root)) == 1, release.start_differences(root)


def test_start_page_links_every_lecture_and_exercise_in_record_order():
    text = (ROOT / "START.md").read_text()
    positions = []
    for lec in LECTURES.values():
        assert f"]({lec.notebook})" in text, f"START.md: no link to {lec.notebook}"
        assert f"](exercises/{lec.exercise}.ipynb)" in text, f"START.md: no link to exercise {lec.exercise}"
        positions.append(text.index(f"]({lec.notebook})"))
    assert positions == sorted(positions), "START.md lists the lectures out of the records' order"
    for heading in ("## Prerequisites", "## Doing an exercise", "make check EX="):
        assert heading in text


def test_readme_begins_with_taking_the_course():
    readme = (ROOT / "README.md").read_text()
    first = re.findall(r"^## (.+)$", readme, flags=re.M)[0]
    assert first == "Taking the course", f"README's first section is {first!r}"
    section = readme.split("## Taking the course", 1)[1].split("\n## ", 1)[0]
    assert "make lab" in section and "START.md" in section and "make check EX=" in section
    assert "results:start" not in section, "the measurement table belongs below"


@pytest.mark.parametrize("path", served_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_resolves_in_the_served_folder(path):
    targets = links(path)
    if path.parent.name == "lectures" and path.name[:2].isdigit():
        assert targets, f"{path.name}: no links at all (its exercise link is expected)"
    if path.parent.name == "exercises":
        lecture = next(lec.notebook for lec in LECTURES.values() if lec.exercise == path.stem)
        assert f"../{lecture}" in targets, f"{path.name}: no link back to its lecture {lecture}"
    for target in targets:
        file_part = target.split("#", 1)[0].split("?", 1)[0]
        resolved = (path.parent / file_part).resolve()
        assert resolved == ROOT or ROOT in resolved.parents, f"{path.name}: {target!r} leaves the served folder"
        assert resolved.exists(), f"{path.name}: link {target!r} -> {resolved} does not exist"


def test_links_finds_relative_links_only(tmp_path):
    md = tmp_path / "x.md"
    md.write_text("[a](lectures/01.ipynb) [b](https://x.org) [c](#top) `[d](e)` <a href=\"f.md\">f</a>\n"
                  "```\n[g](h)\n```\n")
    assert links(md) == ["lectures/01.ipynb", "f.md"]


# --------------------------------------------------------------------------------------------- the release
@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return release.build(tmp_path_factory.mktemp("rel") / "posecourse", ROOT)


@pytest.fixture(scope="module")
def known():
    return release.secrets(ROOT)


def test_instructors_texts_are_found(known):
    where = {s.where.split(":")[0] for s in known}
    kinds = {s.where.split(": ")[-1] for s in known}
    assert "solutions/answers.md" in where and {"solution", "hidden test"} <= kinds, sorted(where | kinds)
    assert len(known) >= 50, f"only {len(known)} distinctive solution/hidden-test/answer texts: the scan is weak"


def test_release_holds_the_course_and_nothing_for_instructors(built, known):
    for rel in ("START.md", "Makefile", "README.md", "pyproject.toml", "posecourse/__init__.py",
                "posecourse_tools/check.py", ".lab/overrides.json"):
        assert (built / rel).is_file(), rel
    for lec in LECTURES.values():
        assert (built / lec.notebook).is_file() and (built / "exercises" / f"{lec.exercise}.ipynb").is_file()
        assert (built / "posecourse" / "checkpoints" / lec.checkpoint()).is_file(), lec.checkpoint()
    for rel in release.INSTRUCTORS_ONLY:
        assert not (built / rel).exists(), f"{rel} is in the student release"
    assert not list(built.rglob("gradebook*")) and not list(built.rglob("*.pyc"))
    assert release.scan(built, ROOT, known) == []


def test_scan_finds_a_solution_a_hidden_test_and_an_answer(built, known, tmp_path):
    leaky = tmp_path / "leaky"
    shutil.copytree(built / "exercises", leaky / "exercises")
    src = nbformat.read(ROOT / "solutions" / "ex01_deeppose.ipynb", as_version=4)
    nbformat.write(src, leaky / "exercises" / "ex01_deeppose.ipynb")
    answer = next(s.text for s in known if s.where == "solutions/answers.md")
    (leaky / "notes.txt").write_text(f"copied from a friend:\n{answer}\n")
    found = release.scan(leaky, ROOT, known)
    assert any("solution" in f and "ex01_deeppose" in f for f in found), found[:5]
    assert any("hidden test" in f for f in found), found[:5]
    assert any(f.startswith("notes.txt: solutions/answers.md") for f in found), found[:5]


def test_release_is_a_course_of_its_own(built):
    mk = (built / "Makefile").read_text()
    repo_torch, _ = release._makefile_torch_block(ROOT)
    assert repo_torch in mk, "the release installs torch as the repository does"
    out = subprocess.run(["make", "-n", "lab", "check", "EX=01", "VENV=/nonexistent-venv"], cwd=built,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "pip install --quiet -e ." in out.stdout and ".[dev]" not in out.stdout, "students need no dev extra"
    assert "jupyter lab --LabApp.app_settings_dir=.lab START.md" in out.stdout
    assert "posecourse_tools.check 01" in out.stdout
    readme = (built / "README.md").read_text()
    assert "## Taking the course" in readme and "make lab" in readme and "make check EX=01" in readme
    assert "solutions" not in readme and "instructors" not in readme


# --------------------------------------------------------------------------------------------- self-check
def _run_check(args, cwd):
    return subprocess.run([sys.executable, "-m", "posecourse_tools.check", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600, env={"PYTHONPATH": str(cwd), "PATH": str(Path(sys.executable).parent)
                                                       + ":/usr/bin:/bin", "HOME": str(cwd)})


@pytest.mark.slow
def test_check_names_the_failing_test_and_its_message(built, tmp_path):
    """In the release, on the student's notebook with one wrong function (the box corner taken for its centre)
    and the rest unwritten: every test fails, and the wrong one with its assertion's message."""
    nb_path = built / "exercises" / "ex01_deeppose.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "normalize")
    cell.source = ("def normalize(y, box):\n    x0, y0, w, h = box\n    return (np.asarray(y) - [x0, y0]) / [w, h]\n\n"
                   "def denormalize(n, box):\n    x0, y0, w, h = box\n    return np.asarray(n) * [w, h] + [x0, y0]\n")
    mine = tmp_path / "mine.ipynb"
    nbformat.write(nb, mine)
    before = mine.read_bytes()
    out = _run_check(["01", "--notebook", str(mine)], built)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "0 of 3 test cells pass" in out.stdout, out.stdout
    assert re.search(r"FAIL test_normalize \(2 points\)\n\s+AssertionError: \S", out.stdout), out.stdout
    assert "not written yet" in out.stdout, out.stdout
    assert mine.read_bytes() == before, "the check changed the student's notebook"
    # the reference solution passes (run from the repository: the release has none)
    ok = _run_check(["01", "--notebook", str(ROOT / "solutions" / "ex01_deeppose.ipynb")], built)
    assert ok.returncode == 0 and "3 of 3 test cells pass" in ok.stdout, ok.stdout + ok.stderr


def test_check_results_of_an_executed_notebook():
    nb = nbformat.v4.new_notebook()
    grade = {"grade": True, "solution": False, "points": 2}
    nb.cells = [nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("assert x"),
                nbformat.v4.new_code_cell("assert x == 2"), nbformat.v4.new_code_cell("1/0")]
    nb.cells[1].metadata["nbgrader"] = {**grade, "grade_id": "t1"}
    nb.cells[2].metadata["nbgrader"] = {**grade, "grade_id": "t2"}
    nb.cells[2].outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="want 2", traceback=[])]
    nb.cells[3].outputs = [nbformat.v4.new_output("error", ename="ZeroDivisionError", evalue="division by zero",
                                                  traceback=[])]
    found = check.results(nb)
    assert [(r.name, r.test, r.passed) for r in found] == [("t1", True, True), ("t2", True, False),
                                                           ("cell 3", False, False)]
    text = check.report("demo", found)
    assert "1 of 2 test cells pass (2 of 4 points" in text and "AssertionError: want 2" in text


def test_check_refuses_an_unknown_exercise(capsys):
    assert check.main(["09"]) == 2
    assert "lecture: unknown '09'" in capsys.readouterr().err
    assert check.main([]) == 2


@pytest.mark.slow
def test_release_builds_as_a_package(built, tmp_path):
    """`pip install -e .` in the release: its pyproject builds a wheel with the library and its checkpoints and
    no course tooling (``make check`` runs ``posecourse_tools.check`` from the release folder, tested above)."""
    import zipfile

    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                          "-w", str(tmp_path), str(built)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    (whl,) = tmp_path.glob("posecourse-*.whl")
    names = zipfile.ZipFile(whl).namelist()
    assert "posecourse/lectures/__init__.py" in names
    assert any(n.startswith("posecourse/checkpoints/") and n.endswith(".pt") for n in names)
    assert not any(n.startswith("posecourse_tools/") for n in names), [n for n in names if "posecourse_tools" in n]


def test_readme_lecture_table_follows_the_records():
    """The README's table of lectures is the records' list, in order, with each record's title."""
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## The lectures", 1)[1].split("\n\n", 2)[1]
    rows = [r for r in table.splitlines() if re.match(r"^\| \d+ \|", r)]
    assert len(rows) == len(LECTURES), rows
    for row, lec in zip(rows, LECTURES.values()):
        assert f"`{lec.notebook}`" in row and lec.title in row, f"README row {row!r} is not {lec.name}: {lec.title}"
